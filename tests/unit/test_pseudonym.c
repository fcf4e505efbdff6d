/* Tests for pseudonym: HMAC-SHA256 against RFC 4231 and the openssl CLI,
 * key files. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "gevinst/pseudonym.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void hex_to_bytes(const char *hex, unsigned char *out, size_t *len)
{
    size_t n = strlen(hex) / 2;
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
        out[i] = (unsigned char)v;
    }
    *len = n;
}

static void bytes_to_hex(const unsigned char *in, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", in[i]);
}

/* RFC 4231 section 4: all seven HMAC-SHA256 test cases. */
static void test_rfc4231(void **state)
{
    (void)state;
    static const struct {
        const char *key_hex, *data_hex, *mac_hex;
        size_t mac_len; /* case 5 is truncated to 128 bits */
    } cases[] = {
        {"0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", "4869205468657265",
         "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7", 32},
        {"4a656665", "7768617420646f2079612077616e7420666f72206e6f7468696e673f",
         "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843", 32},
        {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
         "dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd"
         "dddddddddddd",
         "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe", 32},
        {"0102030405060708090a0b0c0d0e0f10111213141516171819",
         "cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd"
         "cdcdcdcdcdcd",
         "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b", 32},
        {"0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c", "546573742057697468205472756e636174696f6e",
         "a3b6167473100ee06e0c796c2955552b", 16},
        {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
         "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
         "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
         "54657374205573696e67204c6172676572205468616e20426c6f636b2d53697a65204b6579202d2048617368"
         "204b6579204669727374",
         "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54", 32},
        {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
         "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
         "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
         "5468697320697320612074657374207573696e672061206c6172676572207468616e20626c6f636b2d73697a"
         "65206b657920616e642061206c6172676572207468616e20626c6f636b2d73697a6520646174612e20546865"
         "206b6579206e6565647320746f20626520686173686564206265666f7265206265696e672075736564206279"
         "2074686520484d414320616c676f726974686d2e",
         "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2", 32},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        unsigned char key[256], data[256], mac[32];
        size_t key_len, data_len;
        char hex[65];
        hex_to_bytes(cases[i].key_hex, key, &key_len);
        hex_to_bytes(cases[i].data_hex, data, &data_len);
        pseudo_hmac_sha256(key, key_len, data, data_len, mac);
        bytes_to_hex(mac, cases[i].mac_len, hex);
        assert_string_equal(hex, cases[i].mac_hex);
    }
}

/* pseudo_make() is pseudo_hmac_sha256() over "kind:" id, for keys from 32
 * bytes to beyond a block (hashed first) and ids beyond a block. */
static void test_make_matches_core(void **state)
{
    (void)state;
    unsigned char key[131];
    char err[256], hex[PSEUDO_HEX_LEN + 1], want[65];
    unsigned char mac[32];
    memset(key, 0xaa, sizeof(key));
    for (size_t key_len = 32; key_len <= sizeof(key); key_len += 33) {
        pseudo_t *p = pseudo_new(key, key_len, err, sizeof(err));
        assert_non_null(p);
        static const struct {
            pseudo_kind_t kind;
            const char *prefix;
        } kinds[] = {{PSEUDO_PATIENT, "patient:"},
                     {PSEUDO_USER, "user:"},
                     {PSEUDO_APPOINTMENT, "appointment:"},
                     {PSEUDO_ENTRY, "entry:"}};
        for (size_t k = 0; k < 4; k++) {
            char msg[600];
            /* Ids from empty to longer than a SHA-256 block. */
            for (size_t id_len = 0; id_len <= 300; id_len += 37) {
                char id[301];
                memset(id, 'a' + (int)(id_len % 26), id_len);
                int n = snprintf(msg, sizeof(msg), "%s%.*s", kinds[k].prefix, (int)id_len, id);
                pseudo_hmac_sha256(key, key_len, msg, (size_t)n, mac);
                bytes_to_hex(mac, 32, want);
                pseudo_make(p, kinds[k].kind, id, id_len, hex);
                assert_string_equal(hex, want);
            }
        }
        pseudo_destroy(p);
    }
    assert_string_equal(pseudo_kind_name(PSEUDO_APPOINTMENT), "appointment");
    assert_string_equal(pseudo_kind_name(PSEUDO_ENTRY), "entry");
}

/* An independent implementation: the openssl command line. */
static void openssl_hmac(const char *key, const char *msg, char out[65])
{
    char path[] = "/tmp/gevinst-test-pseudo-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, msg, strlen(msg)), (ssize_t)strlen(msg));
    close(fd);
    char cmd[512];
    /* Keys here are [A-Za-z0-9-] only, so no shell quoting issues. */
    snprintf(cmd, sizeof(cmd), "openssl dgst -sha256 -hmac '%s' < %s", key, path);
    FILE *pp = popen(cmd, "r");
    assert_non_null(pp);
    char line[256] = "";
    char *got = fgets(line, sizeof(line), pp);
    int rc = pclose(pp);
    unlink(path);
    if (!got || rc != 0)
        skip(); /* no openssl binary: the RFC vectors still cover the core */
    /* "SHA2-256(stdin)= <hex>" (3.x) or "(stdin)= <hex>" (1.1) */
    char *eq = strstr(line, "= ");
    assert_non_null(eq);
    assert_int_equal(sscanf(eq + 2, "%64s", out), 1);
    assert_int_equal(strlen(out), 64);
}

static void test_against_openssl_cli(void **state)
{
    (void)state;
    static const char key[] = "gevinst-test-key-0123456789abcdef";
    static const struct {
        pseudo_kind_t kind;
        const char *kind_name, *id;
    } cases[] = {
        {PSEUDO_PATIENT, "patient", "P-77812"},
        {PSEUDO_USER, "user", "U-2044"},
        {PSEUDO_APPOINTMENT, "appointment", "A-100234"},
        {PSEUDO_ENTRY, "entry", "J-5550001"},
        {PSEUDO_PATIENT, "patient", "12345678901"},
        {PSEUDO_USER, "user",
         "a very long user id that spans more than one SHA-256 block of "
         "sixty-four bytes, to exercise the multi-block path"},
    };
    char err[256];
    pseudo_t *p = pseudo_new((const unsigned char *)key, strlen(key), err, sizeof(err));
    assert_non_null(p);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char msg[256], want[65], got[PSEUDO_HEX_LEN + 1];
        snprintf(msg, sizeof(msg), "%s:%s", cases[i].kind_name, cases[i].id);
        openssl_hmac(key, msg, want);
        memset(got, 'X', sizeof(got));
        pseudo_make(p, cases[i].kind, cases[i].id, strlen(cases[i].id), got);
        assert_int_equal(got[PSEUDO_HEX_LEN], '\0');
        assert_string_equal(got, want);
    }
    pseudo_destroy(p);
}

static void test_short_key_refused(void **state)
{
    (void)state;
    unsigned char key[32];
    char err[256] = "";
    memset(key, 'k', sizeof(key));
    assert_null(pseudo_new(key, 31, err, sizeof(err)));
    assert_non_null(strstr(err, "31"));
    assert_null(strstr(err, "kkkk"));
    assert_null(pseudo_new(NULL, 0, err, sizeof(err)));
    pseudo_t *p = pseudo_new(key, 32, err, sizeof(err));
    assert_non_null(p);
    pseudo_destroy(p);
    pseudo_destroy(NULL);
}

/* Writes a temporary key file; returns its path (static buffer). */
static const char *key_file(const void *bytes, size_t len)
{
    static char path[64];
    snprintf(path, sizeof(path), "/tmp/gevinst-test-key-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    if (len)
        assert_int_equal(write(fd, bytes, len), (ssize_t)len);
    fchmod(fd, 0600);
    close(fd);
    return path;
}

/* pseudo_make of one id with a key given in memory. */
static void make_with(const void *key, size_t len, char out[PSEUDO_HEX_LEN + 1])
{
    char err[256];
    pseudo_t *p = pseudo_new(key, len, err, sizeof(err));
    assert_non_null(p);
    pseudo_make(p, PSEUDO_PATIENT, "P-1", 3, out);
    pseudo_destroy(p);
}

static void make_from_file(const char *path, char out[PSEUDO_HEX_LEN + 1])
{
    char err[256];
    pseudo_t *p = pseudo_new_from_file(path, err, sizeof(err));
    if (!p)
        fail_msg("%s", err);
    pseudo_make(p, PSEUDO_PATIENT, "P-1", 3, out);
    pseudo_destroy(p);
}

static void test_key_file(void **state)
{
    (void)state;
    static const char key[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    char a[PSEUDO_HEX_LEN + 1], b[PSEUDO_HEX_LEN + 1];
    char buf[256];
    const char *path;

    /* `openssl rand -hex 32 > key`: one trailing newline, stripped. */
    snprintf(buf, sizeof(buf), "%s\n", key);
    path = key_file(buf, strlen(buf));
    make_from_file(path, a);
    unlink(path);
    make_with(key, strlen(key), b);
    assert_string_equal(a, b);

    /* No newline: bytes as they are. */
    path = key_file(key, strlen(key));
    make_from_file(path, a);
    unlink(path);
    assert_string_equal(a, b);

    /* Two newlines: only one goes, the other is key material. */
    snprintf(buf, sizeof(buf), "%s\n\n", key);
    path = key_file(buf, strlen(buf));
    make_from_file(path, a);
    unlink(path);
    snprintf(buf, sizeof(buf), "%s\n", key);
    make_with(buf, strlen(buf), b);
    assert_string_equal(a, b);

    /* CRLF: the \r stays (bytes as they are, less one newline). */
    snprintf(buf, sizeof(buf), "%s\r\n", key);
    path = key_file(buf, strlen(buf));
    make_from_file(path, a);
    unlink(path);
    snprintf(buf, sizeof(buf), "%s\r", key);
    make_with(buf, strlen(buf), b);
    assert_string_equal(a, b);

    /* Binary keys, NUL bytes included, are fine. */
    unsigned char bin[40];
    for (size_t i = 0; i < sizeof(bin); i++)
        bin[i] = (unsigned char)(i * 7);
    path = key_file(bin, sizeof(bin));
    make_from_file(path, a);
    unlink(path);
    make_with(bin, sizeof(bin), b);
    assert_string_equal(a, b);
}

static void test_key_file_refused(void **state)
{
    (void)state;
    char err[512];
    const char *path;
    static const char secret[] = "SECRETKEYMATERIAL-abcdefghijklm"; /* 31 bytes */
    char buf[64];

    /* 31 bytes plus a newline: too short once the newline goes. */
    snprintf(buf, sizeof(buf), "%s\n", secret);
    path = key_file(buf, strlen(buf));
    err[0] = '\0';
    assert_null(pseudo_new_from_file(path, err, sizeof(err)));
    assert_non_null(strstr(err, path));
    assert_non_null(strstr(err, "31"));
    assert_null(strstr(err, "SECRET"));
    assert_null(strstr(err, "abcdef"));
    unlink(path);

    /* 32 bytes without a newline: taken. */
    snprintf(buf, sizeof(buf), "%sX", secret);
    path = key_file(buf, strlen(buf));
    pseudo_t *p = pseudo_new_from_file(path, err, sizeof(err));
    assert_non_null(p);
    pseudo_destroy(p);
    unlink(path);

    /* Empty file. */
    path = key_file("", 0);
    assert_null(pseudo_new_from_file(path, err, sizeof(err)));
    assert_non_null(strstr(err, "0 bytes"));
    unlink(path);

    /* Missing file: the path and the system's reason. */
    assert_null(pseudo_new_from_file("/nonexistent/gevinst/key", err, sizeof(err)));
    assert_non_null(strstr(err, "/nonexistent/gevinst/key"));
    assert_non_null(strstr(err, "No such file"));

    /* A directory is not a key file. */
    assert_null(pseudo_new_from_file("/tmp", err, sizeof(err)));
    assert_non_null(strstr(err, "/tmp"));

    /* A tiny errstr is truncated, not overrun. */
    char small[8];
    memset(small, 'Z', sizeof(small));
    assert_null(pseudo_new_from_file("/nonexistent/gevinst/key", small, 4));
    assert_int_equal(small[3], '\0');
    assert_int_equal(small[4], 'Z');
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc4231),
        cmocka_unit_test(test_make_matches_core),
        cmocka_unit_test(test_against_openssl_cli),
        cmocka_unit_test(test_short_key_refused),
        cmocka_unit_test(test_key_file),
        cmocka_unit_test(test_key_file_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
