/* ini: line-oriented INI reader used by config. No allocation per key. */
#include "gevinst/ini.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#define INI_MAX_LINE 8192

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    char *e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
        *--e = '\0';
    return s;
}

/* Cuts a trailing comment: '#' or ';' preceded by whitespace (or at the start). */
static void cut_comment(char *s)
{
    for (char *p = s; *p; p++) {
        if ((*p == '#' || *p == ';') && (p == s || p[-1] == ' ' || p[-1] == '\t')) {
            *p = '\0';
            return;
        }
    }
}

/* Unquotes "..." in place. Returns NULL with *reason set on a bad quote. */
static char *unquote(char *v, const char **reason)
{
    if (*v != '"') {
        cut_comment(v);
        return trim(v);
    }
    char *out = v, *p = v + 1;
    while (*p && *p != '"') {
        if (*p == '\\' && (p[1] == '"' || p[1] == '\\'))
            p++;
        *out++ = *p++;
    }
    if (*p != '"') {
        *reason = "unterminated quoted value";
        return NULL;
    }
    p++;
    char *rest = trim(p);
    if (*rest && *rest != '#' && *rest != ';') {
        *reason = "text after quoted value";
        return NULL;
    }
    *out = '\0';
    return v;
}

int ini_parse(const char *text, size_t len, ini_section_cb on_section, ini_key_cb on_key,
              ini_error_cb on_error, void *opaque)
{
    char section[256] = "";
    int section_line = 0;
    char buf[INI_MAX_LINE];
    int line = 0;
    size_t pos = 0;

    /* Skip a UTF-8 byte order mark: editors on Windows write one. */
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
        pos = 3;

    while (pos < len) {
        const char *start = text + pos;
        const char *nl = memchr(start, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - start) : len - pos;
        pos += n + (nl ? 1 : 0);
        line++;

        if (memchr(start, '\0', n)) {
            on_error(opaque, line, "NUL byte in line");
            continue;
        }
        if (n >= sizeof(buf)) {
            on_error(opaque, line, "line too long");
            continue;
        }
        memcpy(buf, start, n);
        buf[n] = '\0';
        char *s = trim(buf);
        if (*s == '\0' || *s == '#' || *s == ';')
            continue;

        if (*s == '[') {
            char *end = strchr(s, ']');
            if (!end) {
                on_error(opaque, line, "section header without ']'");
                continue;
            }
            *end = '\0';
            char *rest = end + 1;
            cut_comment(rest);
            if (*trim(rest)) {
                on_error(opaque, line, "text after section header");
                continue;
            }
            char *name = trim(s + 1);
            if (*name == '\0' || strlen(name) >= sizeof(section)) {
                on_error(opaque, line, "bad section name");
                continue;
            }
            strcpy(section, name);
            section_line = line;
            if (on_section)
                on_section(opaque, section, line);
            continue;
        }

        char *eq = strchr(s, '=');
        if (!eq) {
            on_error(opaque, line, "expected 'key = value'");
            continue;
        }
        *eq = '\0';
        char *key = trim(s);
        if (*key == '\0') {
            on_error(opaque, line, "empty key");
            continue;
        }
        for (char *k = key; *k; k++) {
            if (!isalnum((unsigned char)*k) && *k != '_' && *k != '.' && *k != '-') {
                on_error(opaque, line, "bad character in key");
                key = NULL;
                break;
            }
        }
        if (!key)
            continue;
        const char *reason = NULL;
        char *value = unquote(trim(eq + 1), &reason);
        if (!value) {
            on_error(opaque, line, reason);
            continue;
        }
        if (!on_key(opaque, section, section_line, key, value, line))
            break;
    }
    return line;
}
