/* Tests for hugemem: zeroed, aligned, writable, given back; small sizes too. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "gevinst/hugemem.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define MB ((size_t)1 << 20)

static void check_zeroed_writable(uint8_t *p, size_t size)
{
    for (size_t i = 0; i < size; i += 4096)
        assert_int_equal(p[i], 0);
    assert_int_equal(p[size - 1], 0);
    memset(p, 0xa5, size);
    assert_int_equal(p[size / 2], 0xa5);
}

static void test_big(void **state)
{
    (void)state;
    /* Not a multiple of the huge page: the tail is usable too. */
    size_t size = 64 * MB + 12345;
    uint8_t *p = hugemem_zalloc(size);
    assert_non_null(p);
    assert_int_equal((uintptr_t)p % (2 * MB), 0);
    check_zeroed_writable(p, size);
    hugemem_free(p, size);
    /* Again: fresh memory is zeroed, whatever the last table held. */
    p = hugemem_zalloc(size);
    assert_non_null(p);
    check_zeroed_writable(p, size);
    hugemem_free(p, size);
}

static void test_small(void **state)
{
    (void)state;
    for (size_t size = 1; size <= 16 * MB; size *= 4) {
        uint8_t *p = hugemem_zalloc(size);
        assert_non_null(p);
        check_zeroed_writable(p, size);
        hugemem_free(p, size);
    }
    assert_null(hugemem_zalloc(0));
    hugemem_free(NULL, 0);
    hugemem_free(NULL, 64 * MB);
}

static void test_impossible(void **state)
{
    (void)state;
    /* More than any machine maps: NULL, not a crash. */
    assert_null(hugemem_zalloc(SIZE_MAX - 4096));
    assert_null(hugemem_zalloc((size_t)1 << 62));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_big),
        cmocka_unit_test(test_small),
        cmocka_unit_test(test_impossible),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
