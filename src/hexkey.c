/* hexkey: binary keys for pseudonyms, and FNV-1a. */
#include "gevinst/hexkey.h"

static int hexval(char c)
{
    return c <= '9' ? c - '0' : c - 'a' + 10;
}

void hexkey_decode(uint8_t out[HEXKEY_BYTES], const char *hex)
{
    for (int i = 0; i < HEXKEY_BYTES; i++)
        out[i] = (uint8_t)(hexval(hex[2 * i]) << 4 | hexval(hex[2 * i + 1]));
}

void hexkey_encode(const uint8_t key[HEXKEY_BYTES], char out[2 * HEXKEY_BYTES + 1])
{
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < HEXKEY_BYTES; i++) {
        out[2 * i] = digits[key[i] >> 4];
        out[2 * i + 1] = digits[key[i] & 15];
    }
    out[2 * HEXKEY_BYTES] = '\0';
}

uint64_t hexkey_fnv1a(const void *data, size_t len)
{
    const unsigned char *p = data;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++)
        h = (h ^ p[i]) * 1099511628211ull;
    return h;
}
