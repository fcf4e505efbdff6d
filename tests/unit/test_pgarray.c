/* Unit tests for the PostgreSQL array literal builder (src/pgarray.c). The
 * round trip through a real server is in test_pg_pgarray.c. */
#include "gevinst/pgarray.h"

#include <float.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static void test_empty(void **state)
{
    (void)state;
    pgarray_t a;
    pgarray_init(&a);
    assert_string_equal(pgarray_str(&a), "{}");
    assert_int_equal(a.count, 0);
    /* Asking twice changes nothing. */
    assert_string_equal(pgarray_str(&a), "{}");
    pgarray_free(&a);
    assert_null(a.buf);
    pgarray_free(&a); /* twice is fine */
}

static void test_text(void **state)
{
    (void)state;
    pgarray_t a;
    pgarray_init(&a);
    pgarray_add_text(&a, "a");
    assert_string_equal(pgarray_str(&a), "{\"a\"}");
    pgarray_add_text(&a, "b c");
    pgarray_add_text(&a, "");
    assert_string_equal(pgarray_str(&a), "{\"a\",\"b c\",\"\"}");
    assert_int_equal(a.count, 3);
    pgarray_free(&a);
}

static void test_escaping(void **state)
{
    (void)state;
    pgarray_t a;
    pgarray_init(&a);
    pgarray_add_text(&a, "say \"hi\"");
    pgarray_add_text(&a, "back\\slash");
    pgarray_add_text(&a, "\\\"");
    pgarray_add_text(&a, "{a,b}");
    pgarray_add_text(&a, "'quote'");
    pgarray_add_text(&a, " lead and trail ");
    pgarray_add_text(&a, "tab\tnew\nline");
    pgarray_add_text(&a, "Ærø ✓");
    assert_string_equal(pgarray_str(&a), "{\"say \\\"hi\\\"\","
                                         "\"back\\\\slash\","
                                         "\"\\\\\\\"\","
                                         "\"{a,b}\","
                                         "\"'quote'\","
                                         "\" lead and trail \","
                                         "\"tab\tnew\nline\","
                                         "\"Ærø ✓\"}");
    assert_int_equal(a.count, 8);
    pgarray_free(&a);
}

static void test_null(void **state)
{
    (void)state;
    pgarray_t a;
    pgarray_init(&a);
    pgarray_add_text(&a, NULL);
    pgarray_add_text(&a, "NULL");
    pgarray_add_text(&a, "null");
    pgarray_add_text(&a, NULL);
    /* SQL NULL is the bare word; the text "NULL" is quoted. */
    assert_string_equal(pgarray_str(&a), "{NULL,\"NULL\",\"null\",NULL}");
    assert_int_equal(a.count, 4);
    pgarray_free(&a);
}

static void test_textn(void **state)
{
    (void)state;
    pgarray_t a;
    pgarray_init(&a);
    pgarray_add_textn(&a, "abcdef", 3);
    pgarray_add_textn(&a, "x\"yz", 2);
    pgarray_add_textn(&a, "ignored", 0);
    assert_string_equal(pgarray_str(&a), "{\"abc\",\"x\\\"\",\"\"}");
    pgarray_free(&a);
}

static void test_ints(void **state)
{
    (void)state;
    pgarray_t a;
    pgarray_init(&a);
    pgarray_add_int(&a, 0);
    pgarray_add_int(&a, -1);
    pgarray_add_int(&a, 42);
    pgarray_add_int(&a, INT64_MIN);
    pgarray_add_int(&a, INT64_MAX);
    assert_string_equal(pgarray_str(&a), "{0,-1,42,-9223372036854775808,9223372036854775807}");
    assert_int_equal(a.count, 5);
    pgarray_free(&a);
}

static void test_doubles_round_trip(void **state)
{
    (void)state;
    static const double values[] = {
        0.0,    -0.0,  0.1,    1.0 / 3.0,           -2.5,     DBL_MAX, -DBL_MAX, DBL_MIN,
        5e-324, 1e300, 1e-300, 123456789.123456789, 1439.991, 5.0,     M_PI};
    size_t n = sizeof(values) / sizeof(values[0]);
    pgarray_t a;
    pgarray_init(&a);
    for (size_t i = 0; i < n; i++)
        pgarray_add_double(&a, values[i]);
    const char *s = pgarray_str(&a);
    assert_non_null(s);
    assert_int_equal(s[0], '{');
    assert_int_equal(a.count, n);

    /* Parse the elements back: each must be the very same double. */
    const char *p = s + 1;
    for (size_t i = 0; i < n; i++) {
        char *end;
        double v = strtod(p, &end);
        assert_true(end > p);
        if (memcmp(&v, &values[i], sizeof(v)) != 0)
            fail_msg("element %zu: '%.*s' is %.17g, expected %.17g", i, (int)(end - p), p, v,
                     values[i]);
        assert_int_equal(*end, i + 1 < n ? ',' : '}');
        p = end + 1;
    }
    assert_int_equal(*p, '\0');

    /* The format is %.17g. */
    pgarray_reset(&a);
    pgarray_add_double(&a, 0.1);
    pgarray_add_double(&a, 2.0);
    assert_string_equal(pgarray_str(&a), "{0.10000000000000001,2}");
    pgarray_free(&a);
}

static void test_mixed_and_reset(void **state)
{
    (void)state;
    pgarray_t a;
    pgarray_init(&a);
    pgarray_add_text(&a, "x");
    assert_string_equal(pgarray_str(&a), "{\"x\"}");
    /* Adding after pgarray_str continues the same array. */
    pgarray_add_text(&a, "y");
    assert_string_equal(pgarray_str(&a), "{\"x\",\"y\"}");

    pgarray_reset(&a);
    assert_int_equal(a.count, 0);
    assert_string_equal(pgarray_str(&a), "{}");
    pgarray_add_int(&a, 7);
    assert_string_equal(pgarray_str(&a), "{7}");
    pgarray_reset(&a);
    pgarray_add_text(&a, NULL);
    assert_string_equal(pgarray_str(&a), "{NULL}");
    pgarray_free(&a);

    /* Usable again after free. */
    pgarray_add_text(&a, "again");
    assert_string_equal(pgarray_str(&a), "{\"again\"}");
    pgarray_free(&a);
}

/* Many elements, long ones, escapes everywhere: the buffer grows right. */
static void test_growth(void **state)
{
    (void)state;
    pgarray_t a;
    pgarray_init(&a);
    size_t n = 20000;
    size_t cap = 16;
    size_t len = 1;
    char *expected = malloc(cap);
    assert_non_null(expected);
    strcpy(expected, "{");
    char elem[600];
    for (size_t i = 0; i < n; i++) {
        /* Lengths 0..599, a third of them quotes or backslashes. */
        size_t el = (i * 37) % sizeof(elem);
        for (size_t j = 0; j < el; j++)
            elem[j] = "ab\"c\\d"[(i + j) % 6];
        pgarray_add_textn(&a, elem, el);

        if (len + 2 * el + 8 > cap) {
            cap = (len + 2 * el + 8) * 2;
            expected = realloc(expected, cap);
            assert_non_null(expected);
        }
        if (i)
            expected[len++] = ',';
        expected[len++] = '"';
        for (size_t j = 0; j < el; j++) {
            if (elem[j] == '"' || elem[j] == '\\')
                expected[len++] = '\\';
            expected[len++] = elem[j];
        }
        expected[len++] = '"';
    }
    expected[len++] = '}';
    expected[len] = '\0';
    const char *s = pgarray_str(&a);
    assert_non_null(s);
    assert_int_equal(strlen(s), len);
    assert_string_equal(s, expected);
    assert_int_equal(a.count, n);
    free(expected);
    pgarray_free(&a);

    /* Many small numbers: each append reserves at the edge of the buffer. */
    pgarray_init(&a);
    for (int64_t i = 0; i < 100000; i++)
        pgarray_add_int(&a, INT64_MIN + i);
    s = pgarray_str(&a);
    assert_non_null(s);
    assert_int_equal(strlen(s), 2 + 100000 * 20 + 99999);
    pgarray_free(&a);
    pgarray_init(&a);
    for (int i = 0; i < 100000; i++)
        pgarray_add_double(&a, -DBL_MIN * (i + 1));
    s = pgarray_str(&a);
    assert_non_null(s);
    assert_int_equal(a.count, 100000);
    assert_int_equal(s[strlen(s) - 1], '}');
    pgarray_free(&a);
}

/* Once out of memory, adds do nothing and the literal is NULL until reset. */
static void test_oom_sticks_until_reset(void **state)
{
    (void)state;
    pgarray_t a;
    pgarray_init(&a);
    pgarray_add_text(&a, "x");
    a.oom = true;
    pgarray_add_text(&a, "y");
    pgarray_add_int(&a, 1);
    pgarray_add_double(&a, 1.0);
    pgarray_add_text(&a, NULL);
    assert_int_equal(a.count, 1);
    assert_null(pgarray_str(&a));
    pgarray_reset(&a);
    assert_false(a.oom);
    pgarray_add_text(&a, "z");
    assert_string_equal(pgarray_str(&a), "{\"z\"}");
    pgarray_free(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_text),
        cmocka_unit_test(test_escaping),
        cmocka_unit_test(test_null),
        cmocka_unit_test(test_textn),
        cmocka_unit_test(test_ints),
        cmocka_unit_test(test_doubles_round_trip),
        cmocka_unit_test(test_mixed_and_reset),
        cmocka_unit_test(test_growth),
        cmocka_unit_test(test_oom_sticks_until_reset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
