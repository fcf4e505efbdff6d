/* Unit tests for the INI reader (src/ini.c). Every callback is recorded so
 * that each test can assert the exact sequence of sections, keys and errors,
 * with their line numbers. */
#include "gevinst/ini.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define MAX_EVENTS 64

typedef struct rec_key {
    char section[300];
    int section_line;
    char key[128];
    char value[9000];
    int line;
} rec_key_t;

typedef struct rec {
    rec_key_t keys[MAX_EVENTS];
    int nkeys;
    struct {
        int line;
        char reason[128];
    } errors[MAX_EVENTS];
    int nerrors;
    struct {
        char name[300];
        int line;
    } sections[MAX_EVENTS];
    int nsections;
    int stop_after; /* on_key returns false after this many keys; 0: never */
} rec_t;

static void rec_section(void *opaque, const char *section, int line)
{
    rec_t *r = opaque;
    assert_true(r->nsections < MAX_EVENTS);
    assert_true(strlen(section) < sizeof(r->sections[0].name));
    strcpy(r->sections[r->nsections].name, section);
    r->sections[r->nsections++].line = line;
}

static bool rec_key(void *opaque, const char *section, int section_line, const char *key,
                    const char *value, int line)
{
    rec_t *r = opaque;
    assert_true(r->nkeys < MAX_EVENTS);
    rec_key_t *k = &r->keys[r->nkeys++];
    assert_true(strlen(section) < sizeof(k->section));
    assert_true(strlen(key) < sizeof(k->key));
    assert_true(strlen(value) < sizeof(k->value));
    strcpy(k->section, section);
    strcpy(k->key, key);
    strcpy(k->value, value);
    k->section_line = section_line;
    k->line = line;
    return r->stop_after == 0 || r->nkeys < r->stop_after;
}

static void rec_error(void *opaque, int line, const char *reason)
{
    rec_t *r = opaque;
    assert_true(r->nerrors < MAX_EVENTS);
    assert_true(strlen(reason) < sizeof(r->errors[0].reason));
    strcpy(r->errors[r->nerrors].reason, reason);
    r->errors[r->nerrors++].line = line;
}

static rec_t *rec_new(void)
{
    rec_t *r = calloc(1, sizeof(*r));
    assert_non_null(r);
    return r;
}

/* Parses text[0..len) into a fresh record; returns ini_parse's line count. */
static int parse_n(rec_t *r, const char *text, size_t len)
{
    return ini_parse(text, len, rec_section, rec_key, rec_error, r);
}

static int parse(rec_t *r, const char *text)
{
    return parse_n(r, text, strlen(text));
}

static void assert_key(const rec_t *r, int i, const char *section, int section_line,
                       const char *key, const char *value, int line)
{
    assert_true(i < r->nkeys);
    assert_string_equal(r->keys[i].section, section);
    assert_int_equal(r->keys[i].section_line, section_line);
    assert_string_equal(r->keys[i].key, key);
    assert_string_equal(r->keys[i].value, value);
    assert_int_equal(r->keys[i].line, line);
}

static void assert_error(const rec_t *r, int i, int line, const char *reason)
{
    assert_true(i < r->nerrors);
    assert_int_equal(r->errors[i].line, line);
    assert_string_equal(r->errors[i].reason, reason);
}

/* A single "key = value" line in section [s]: returns the parsed value, or
 * fails when the line is not accepted as exactly one key. */
static void assert_value(const char *line_text, const char *expected)
{
    rec_t *r = rec_new();
    char text[512];
    snprintf(text, sizeof(text), "[s]\n%s\n", line_text);
    parse(r, text);
    if (r->nerrors)
        fail_msg("'%s': unexpected error '%s'", line_text, r->errors[0].reason);
    assert_int_equal(r->nkeys, 1);
    if (strcmp(r->keys[0].value, expected) != 0)
        fail_msg("'%s': value '%s', expected '%s'", line_text, r->keys[0].value, expected);
    assert_int_equal(r->keys[0].line, 2);
    free(r);
}

/* A single line that must be rejected with reason at line 2 (after "[s]"). */
static void assert_line_error(const char *line_text, const char *reason)
{
    rec_t *r = rec_new();
    char text[512];
    snprintf(text, sizeof(text), "[s]\n%s\nok = 1\n", line_text);
    int lines = parse(r, text);
    assert_int_equal(lines, 3);
    if (r->nerrors != 1)
        fail_msg("'%s': %d errors, expected 1", line_text, r->nerrors);
    if (strcmp(r->errors[0].reason, reason) != 0 || r->errors[0].line != 2)
        fail_msg("'%s': error %d '%s', expected 2 '%s'", line_text, r->errors[0].line,
                 r->errors[0].reason, reason);
    /* Reading goes on after the error. */
    assert_int_equal(r->nkeys, 1);
    assert_key(r, 0, "s", 1, "ok", "1", 3);
    free(r);
}

static void test_sections_and_keys(void **state)
{
    (void)state;
    rec_t *r = rec_new();
    int lines = parse(r, "[kafka]\n"
                         "brokers = localhost:9092\n"
                         "\n"
                         "  [ postgres ]  \n"
                         "\tconninfo\t=\tdbname=x\t\n"
                         "x.y-z_9 = 1\n"
                         "[kafka]\n"
                         "group_id=g");
    assert_int_equal(lines, 8); /* the last line has no newline and still counts */
    assert_int_equal(r->nerrors, 0);
    assert_int_equal(r->nsections, 3);
    assert_string_equal(r->sections[0].name, "kafka");
    assert_int_equal(r->sections[0].line, 1);
    assert_string_equal(r->sections[1].name, "postgres");
    assert_int_equal(r->sections[1].line, 4);
    assert_string_equal(r->sections[2].name, "kafka");
    assert_int_equal(r->sections[2].line, 7);
    assert_int_equal(r->nkeys, 4);
    assert_key(r, 0, "kafka", 1, "brokers", "localhost:9092", 2);
    assert_key(r, 1, "postgres", 4, "conninfo", "dbname=x", 5);
    assert_key(r, 2, "postgres", 4, "x.y-z_9", "1", 6);
    assert_key(r, 3, "kafka", 7, "group_id", "g", 8);
    free(r);
}

static void test_empty_input(void **state)
{
    (void)state;
    rec_t *r = rec_new();
    assert_int_equal(parse(r, ""), 0);
    assert_int_equal(parse(r, "\n"), 1);
    assert_int_equal(parse(r, "\n\n  \n\t\n"), 4);
    assert_int_equal(r->nkeys + r->nerrors + r->nsections, 0);
    free(r);
}

static void test_section_callback_optional(void **state)
{
    (void)state;
    rec_t *r = rec_new();
    static const char text[] = "[a]\nk = v\n";
    int lines = ini_parse(text, strlen(text), NULL, rec_key, rec_error, r);
    assert_int_equal(lines, 2);
    assert_int_equal(r->nerrors, 0);
    assert_key(r, 0, "a", 1, "k", "v", 2);
    free(r);
}

/* The reader does not judge a key outside any section: config does. */
static void test_key_before_section(void **state)
{
    (void)state;
    rec_t *r = rec_new();
    parse(r, "top = 1\n[s]\nk = 2\n");
    assert_int_equal(r->nerrors, 0);
    assert_int_equal(r->nkeys, 2);
    assert_key(r, 0, "", 0, "top", "1", 1);
    assert_key(r, 1, "s", 2, "k", "2", 3);
    free(r);
}

static void test_comments(void **state)
{
    (void)state;
    rec_t *r = rec_new();
    int lines = parse(r, "# full line\n"
                         "; full line\n"
                         "   # indented\n"
                         "\t; indented with a tab\n"
                         "[s] # after a section\n"
                         "[t] ; after a section\n"
                         "[u]# directly after a section\n"
                         "#[not] = a section\n"
                         ";k = v\n");
    assert_int_equal(lines, 9);
    assert_int_equal(r->nerrors, 0);
    assert_int_equal(r->nkeys, 0);
    assert_int_equal(r->nsections, 3);
    assert_string_equal(r->sections[0].name, "s");
    assert_string_equal(r->sections[1].name, "t");
    assert_string_equal(r->sections[2].name, "u");
    assert_int_equal(r->sections[2].line, 7);
    free(r);

    /* Trailing comments need whitespace before them; otherwise the
     * character is part of the value. */
    assert_value("a = b # comment", "b");
    assert_value("a = b ; comment", "b");
    assert_value("a = b\t# comment", "b");
    assert_value("a = b\t;comment", "b");
    assert_value("a=b;c", "b;c");
    assert_value("a=b#c", "b#c");
    assert_value("a = b;c d", "b;c d");
    assert_value("a = x;y #z", "x;y");
    assert_value("a = http://h/p#frag", "http://h/p#frag");
    assert_value("a = note., flowsheet. ; list", "note., flowsheet.");
}

static void test_values_trimmed(void **state)
{
    (void)state;
    assert_value("a=b", "b");
    assert_value("a   =   b c   ", "b c");
    assert_value("a\t=\tb\t", "b");
    assert_value("a = b = c", "b = c");
    assert_value("a = x \"y\"", "x \"y\""); /* quotes only count at the start */
    assert_value("a = [not a section]", "[not a section]");
}

static void test_empty_values(void **state)
{
    (void)state;
    assert_value("a =", "");
    assert_value("a=", "");
    assert_value("a =   ", "");
    assert_value("a = \"\"", "");
    assert_value("a =                 ; an owner id from the goals file", "");
    assert_value("a = # nothing", "");
    assert_value("a = \"\" # nothing", "");
}

static void test_quoted_values(void **state)
{
    (void)state;
    assert_value("a = \"plain\"", "plain");
    assert_value("a = \"  padded  \"", "  padded  ");
    assert_value("a = \"x ; y # z\"", "x ; y # z");
    assert_value("a = \";\"", ";");
    assert_value("a = \"#\"", "#");
    assert_value("a = \"q\\\"uote\"", "q\"uote");
    assert_value("a = \"back\\\\slash\"", "back\\slash");
    assert_value("a = \"\\\\\"", "\\");
    assert_value("a = \"\\\"\"", "\"");
    assert_value("a = \"end\\\\\\\"\"", "end\\\"");
    /* Any other backslash is kept as it is. */
    assert_value("a = \"a\\nb\"", "a\\nb");
    assert_value("a = \"x\" # comment", "x");
    assert_value("a = \"x\" ; comment", "x");
    assert_value("a = \"x\";comment", "x");
    assert_value("a = \"x\"   ", "x");
    assert_value("a=\"x\"", "x");
    assert_value("a = \"password='a b'\"", "password='a b'");
    assert_value("a = \"Ærø ✓\"", "Ærø ✓");
}

static void test_unterminated_quote(void **state)
{
    (void)state;
    assert_line_error("a = \"abc", "unterminated quoted value");
    assert_line_error("a = \"", "unterminated quoted value");
    assert_line_error("a = \"abc\\\"", "unterminated quoted value");
    assert_line_error("a = \"abc # comment", "unterminated quoted value");
}

static void test_text_after_quote(void **state)
{
    (void)state;
    assert_line_error("a = \"abc\" def", "text after quoted value");
    assert_line_error("a = \"abc\"def", "text after quoted value");
    assert_line_error("a = \"a\" \"b\"", "text after quoted value");
}

static void test_key_errors(void **state)
{
    (void)state;
    assert_line_error("= value", "empty key");
    assert_line_error("   = value", "empty key");
    assert_line_error("a b = c", "bad character in key");
    assert_line_error("a/b = c", "bad character in key");
    assert_line_error("a:b = c", "bad character in key");
    assert_line_error("\"a\" = c", "bad character in key");
    assert_line_error("k\xC3\xA6y = c", "bad character in key");
    assert_line_error("justtext", "expected 'key = value'");
    assert_line_error("key value", "expected 'key = value'");
}

static void test_section_errors(void **state)
{
    (void)state;
    assert_line_error("[kafka", "section header without ']'");
    assert_line_error("[kafka # comment", "section header without ']'");
    assert_line_error("[kafka] x", "text after section header");
    assert_line_error("[kafka]x", "text after section header");
    assert_line_error("[kafka]]", "text after section header");
    assert_line_error("[]", "bad section name");
    assert_line_error("[   ]", "bad section name");

    char longname[400];
    memset(longname, 'a', sizeof(longname));
    longname[0] = '[';
    longname[sizeof(longname) - 2] = ']';
    longname[sizeof(longname) - 1] = '\0';
    assert_line_error(longname, "bad section name");
}

/* A rejected header is not reported as a section. */
static void test_bad_section_not_reported(void **state)
{
    (void)state;
    rec_t *r = rec_new();
    parse(r, "[a]\n[b\n[c] junk\n[]\n");
    assert_int_equal(r->nsections, 1);
    assert_string_equal(r->sections[0].name, "a");
    assert_int_equal(r->nerrors, 3);
    assert_error(r, 0, 2, "section header without ']'");
    assert_error(r, 1, 3, "text after section header");
    assert_error(r, 2, 4, "bad section name");
    free(r);
}

static void test_nul_byte(void **state)
{
    (void)state;
    static const char text[] = "[s]\na = b\0c\nd = e\n\0\nf = g";
    rec_t *r = rec_new();
    int lines = parse_n(r, text, sizeof(text) - 1);
    assert_int_equal(lines, 5);
    assert_int_equal(r->nerrors, 2);
    assert_error(r, 0, 2, "NUL byte in line");
    assert_error(r, 1, 4, "NUL byte in line");
    assert_int_equal(r->nkeys, 2);
    assert_key(r, 0, "s", 1, "d", "e", 3);
    assert_key(r, 1, "s", 1, "f", "g", 5);
    free(r);

    /* A NUL in a comment is still reported: nothing is cut silently. */
    static const char comment[] = "# x\0y\n";
    r = rec_new();
    parse_n(r, comment, sizeof(comment) - 1);
    assert_int_equal(r->nerrors, 1);
    assert_error(r, 0, 1, "NUL byte in line");
    free(r);
}

/* Builds "[s]\n" + a line of exactly `len` bytes "k = vvv..." + "\nnext = 1\n". */
static char *long_line_text(size_t len)
{
    char *text = malloc(len + 32);
    assert_non_null(text);
    strcpy(text, "[s]\nk = ");
    size_t o = strlen(text);
    size_t vlen = len - 4;
    memset(text + o, 'v', vlen);
    o += vlen;
    strcpy(text + o, "\nnext = 1\n");
    return text;
}

static void test_long_lines(void **state)
{
    (void)state;
    /* 8191 bytes fit the reader's buffer. */
    char *text = long_line_text(8191);
    rec_t *r = rec_new();
    assert_int_equal(parse(r, text), 3);
    assert_int_equal(r->nerrors, 0);
    assert_int_equal(r->nkeys, 2);
    assert_int_equal(strlen(r->keys[0].value), 8191 - 4);
    assert_int_equal(r->keys[0].line, 2);
    assert_key(r, 1, "s", 1, "next", "1", 3);
    free(r);
    free(text);

    /* 8192 and more are rejected at their line, and reading goes on. */
    size_t sizes[] = {8192, 8193, 100000};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        text = long_line_text(sizes[i]);
        r = rec_new();
        assert_int_equal(parse(r, text), 3);
        assert_int_equal(r->nerrors, 1);
        assert_error(r, 0, 2, "line too long");
        assert_int_equal(r->nkeys, 1);
        assert_key(r, 0, "s", 1, "next", "1", 3);
        free(r);
        free(text);
    }
}

static void test_crlf(void **state)
{
    (void)state;
    rec_t *r = rec_new();
    int lines = parse(r, "[kafka]\r\n"
                         "brokers = b:9092\r\n"
                         "\r\n"
                         "# comment\r\n"
                         "quoted = \"a b\"\r\n"
                         "trailing = x ; c\r\n"
                         "empty =\r\n"
                         "[http] \r\n"
                         "listen = h:1\r\n"
                         "bad\r\n");
    assert_int_equal(lines, 10);
    assert_int_equal(r->nsections, 2);
    assert_string_equal(r->sections[0].name, "kafka");
    assert_string_equal(r->sections[1].name, "http");
    assert_int_equal(r->sections[1].line, 8);
    assert_int_equal(r->nkeys, 5);
    assert_key(r, 0, "kafka", 1, "brokers", "b:9092", 2);
    assert_key(r, 1, "kafka", 1, "quoted", "a b", 5);
    assert_key(r, 2, "kafka", 1, "trailing", "x", 6);
    assert_key(r, 3, "kafka", 1, "empty", "", 7);
    assert_key(r, 4, "http", 8, "listen", "h:1", 9);
    assert_int_equal(r->nerrors, 1);
    assert_error(r, 0, 10, "expected 'key = value'");
    free(r);
}

static void test_bom(void **state)
{
    (void)state;
    rec_t *r = rec_new();
    int lines = parse(r, "\xEF\xBB\xBF[kafka]\nbrokers = b\n");
    assert_int_equal(lines, 2);
    assert_int_equal(r->nerrors, 0);
    assert_int_equal(r->nsections, 1);
    assert_string_equal(r->sections[0].name, "kafka");
    assert_int_equal(r->sections[0].line, 1);
    assert_key(r, 0, "kafka", 1, "brokers", "b", 2);
    free(r);

    /* A BOM before a key, too. */
    r = rec_new();
    parse(r, "\xEF\xBB\xBFk = v\n");
    assert_int_equal(r->nerrors, 0);
    assert_key(r, 0, "", 0, "k", "v", 1);
    free(r);

    /* Only at the very start: elsewhere the bytes are part of the line. */
    r = rec_new();
    parse(r, "[s]\n\xEF\xBB\xBFk = v\n");
    assert_int_equal(r->nkeys, 0);
    assert_int_equal(r->nerrors, 1);
    assert_error(r, 0, 2, "bad character in key");
    free(r);

    /* A BOM alone is an empty file; a truncated BOM is not skipped. */
    r = rec_new();
    assert_int_equal(parse(r, "\xEF\xBB\xBF"), 0);
    assert_int_equal(parse(r, "\xEF\xBB"), 1);
    assert_int_equal(r->nerrors, 1);
    assert_error(r, 0, 1, "expected 'key = value'");
    free(r);
}

/* Every kind of error in one text, each at its own line. */
static void test_error_lines(void **state)
{
    (void)state;
    static const char text[] = "; errors at known lines\n" /* 1 */
                               "[kafka\n"                  /* 2 */
                               "[s] x\n"                   /* 3 */
                               "[]\n"                      /* 4 */
                               "[s]\n"                     /* 5 */
                               "= v\n"                     /* 6 */
                               "a b = c\n"                 /* 7 */
                               "novalue\n"                 /* 8 */
                               "q = \"open\n"              /* 9 */
                               "q = \"x\" y\n"             /* 10 */
                               "good = 1\n"                /* 11 */
                               "nul = \0\n"                /* 12 */
                               "\r\n"                      /* 13 */
                               "also = 2\r\n";             /* 14 */
    rec_t *r = rec_new();
    int lines = parse_n(r, text, sizeof(text) - 1);
    assert_int_equal(lines, 14);
    assert_int_equal(r->nerrors, 9);
    assert_error(r, 0, 2, "section header without ']'");
    assert_error(r, 1, 3, "text after section header");
    assert_error(r, 2, 4, "bad section name");
    assert_error(r, 3, 6, "empty key");
    assert_error(r, 4, 7, "bad character in key");
    assert_error(r, 5, 8, "expected 'key = value'");
    assert_error(r, 6, 9, "unterminated quoted value");
    assert_error(r, 7, 10, "text after quoted value");
    assert_error(r, 8, 12, "NUL byte in line");
    assert_int_equal(r->nkeys, 2);
    assert_key(r, 0, "s", 5, "good", "1", 11);
    assert_key(r, 1, "s", 5, "also", "2", 14);
    free(r);
}

static void test_callback_stops(void **state)
{
    (void)state;
    rec_t *r = rec_new();
    r->stop_after = 2;
    int lines = parse(r, "[s]\na = 1\nb = 2\nc = 3\nbad line\n");
    assert_int_equal(lines, 3);
    assert_int_equal(r->nkeys, 2);
    assert_int_equal(r->nerrors, 0);
    assert_key(r, 1, "s", 1, "b", "2", 3);
    free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sections_and_keys),
        cmocka_unit_test(test_empty_input),
        cmocka_unit_test(test_section_callback_optional),
        cmocka_unit_test(test_key_before_section),
        cmocka_unit_test(test_comments),
        cmocka_unit_test(test_values_trimmed),
        cmocka_unit_test(test_empty_values),
        cmocka_unit_test(test_quoted_values),
        cmocka_unit_test(test_unterminated_quote),
        cmocka_unit_test(test_text_after_quote),
        cmocka_unit_test(test_key_errors),
        cmocka_unit_test(test_section_errors),
        cmocka_unit_test(test_bad_section_not_reported),
        cmocka_unit_test(test_nul_byte),
        cmocka_unit_test(test_long_lines),
        cmocka_unit_test(test_crlf),
        cmocka_unit_test(test_bom),
        cmocka_unit_test(test_error_lines),
        cmocka_unit_test(test_callback_stops),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
