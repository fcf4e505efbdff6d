/* bench_pseudonym: ways to compute HMAC-SHA256(key, kind ":" id) with
 * OpenSSL 3 for many short ids under one key; pseudo_make() is the one used.
 *
 * Usage: bench_pseudonym [IDS [RUNS]]   (defaults 1000000 and 5) */
#define OPENSSL_SUPPRESS_DEPRECATED /* HMAC_CTX_copy is one of the contenders */
#include "gevinst/pseudonym.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const unsigned char key[] =
    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
#define KEY_LEN (sizeof(key) - 1)

/* Thread CPU time: the host is shared, and descheduled time is not ours. */
static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct state {
    EVP_MAC_CTX *mac;
    EVP_MD_CTX *inner, *outer, *work;
    HMAC_CTX *hmac, *hwork;
    pseudo_t *pseudo;
} state_t;

/* Each variant writes the 32-byte MAC of msg into out (pseudo_make: the hex). */
typedef void (*variant_fn)(state_t *s, const char *msg, size_t len,
                           unsigned char out[PSEUDO_HEX_LEN + 1]);

static void v_hmac_oneshot(state_t *s, const char *msg, size_t len,
                           unsigned char out[PSEUDO_HEX_LEN + 1])
{
    unsigned int n = 32;
    (void)s;
    HMAC(EVP_sha256(), key, (int)KEY_LEN, (const unsigned char *)msg, len, out, &n);
}

static void v_evp_mac_dup(state_t *s, const char *msg, size_t len,
                          unsigned char out[PSEUDO_HEX_LEN + 1])
{
    size_t n = 32;
    EVP_MAC_CTX *c = EVP_MAC_CTX_dup(s->mac);
    EVP_MAC_update(c, (const unsigned char *)msg, len);
    EVP_MAC_final(c, out, &n, 32);
    EVP_MAC_CTX_free(c);
}

static void v_evp_mac_reinit(state_t *s, const char *msg, size_t len,
                             unsigned char out[PSEUDO_HEX_LEN + 1])
{
    size_t n = 32;
    /* NULL key: OpenSSL 3 restarts from the stored ipad state. */
    EVP_MAC_init(s->mac, NULL, 0, NULL);
    EVP_MAC_update(s->mac, (const unsigned char *)msg, len);
    EVP_MAC_final(s->mac, out, &n, 32);
}

static void v_md_ctx_copy(state_t *s, const char *msg, size_t len,
                          unsigned char out[PSEUDO_HEX_LEN + 1])
{
    unsigned char inner[32];
    unsigned int n;
    EVP_MD_CTX_copy_ex(s->work, s->inner);
    EVP_DigestUpdate(s->work, msg, len);
    EVP_DigestFinal_ex(s->work, inner, &n);
    EVP_MD_CTX_copy_ex(s->work, s->outer);
    EVP_DigestUpdate(s->work, inner, 32);
    EVP_DigestFinal_ex(s->work, out, &n);
}

static void v_hmac_ctx_copy(state_t *s, const char *msg, size_t len,
                            unsigned char out[PSEUDO_HEX_LEN + 1])
{
    unsigned int n;
    HMAC_CTX_copy(s->hwork, s->hmac);
    HMAC_Update(s->hwork, (const unsigned char *)msg, len);
    HMAC_Final(s->hwork, out, &n);
}

static void v_pseudo_make(state_t *s, const char *msg, size_t len,
                          unsigned char out[PSEUDO_HEX_LEN + 1])
{
    /* msg is "patient:" id here; pseudo_make adds the prefix itself. */
    pseudo_make(s->pseudo, PSEUDO_PATIENT, msg + 8, len - 8, (char *)out);
}

static void to_hex(const unsigned char mac[32], char hex[65])
{
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        hex[2 * i] = digits[mac[i] >> 4];
        hex[2 * i + 1] = digits[mac[i] & 15];
    }
    hex[64] = '\0';
}

static void setup(state_t *s)
{
    char err[256];
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0),
                           OSSL_PARAM_construct_end()};
    s->mac = EVP_MAC_CTX_new(mac);
    EVP_MAC_init(s->mac, key, KEY_LEN, params);
    EVP_MAC_free(mac);

    unsigned char pad[64];
    s->inner = EVP_MD_CTX_new();
    s->outer = EVP_MD_CTX_new();
    s->work = EVP_MD_CTX_new();
    for (int i = 0; i < 64; i++)
        pad[i] = key[i] ^ 0x36; /* KEY_LEN is exactly one block */
    EVP_DigestInit_ex(s->inner, EVP_sha256(), NULL);
    EVP_DigestUpdate(s->inner, pad, 64);
    for (int i = 0; i < 64; i++)
        pad[i] = key[i] ^ 0x5c;
    EVP_DigestInit_ex(s->outer, EVP_sha256(), NULL);
    EVP_DigestUpdate(s->outer, pad, 64);

    s->hmac = HMAC_CTX_new();
    s->hwork = HMAC_CTX_new();
    HMAC_Init_ex(s->hmac, key, (int)KEY_LEN, EVP_sha256(), NULL);

    s->pseudo = pseudo_new(key, KEY_LEN, err, sizeof(err));
}

int main(int argc, char **argv)
{
    int nids = argc > 1 ? atoi(argv[1]) : 1000000;
    int runs = argc > 2 ? atoi(argv[2]) : 5;
    if (nids <= 0 || runs <= 0 || runs > 50) {
        fprintf(stderr, "usage: bench_pseudonym [IDS [RUNS<=50]]\n");
        return 2;
    }
    static const struct {
        const char *name;
        variant_fn fn;
    } variants[] = {
        {"HMAC() one-shot (re-keys per id)", v_hmac_oneshot},
        {"EVP_MAC_CTX_dup per id", v_evp_mac_dup},
        {"EVP_MAC_init(NULL key) per id", v_evp_mac_reinit},
        {"HMAC_CTX_copy per id", v_hmac_ctx_copy},
        {"EVP_MD_CTX_copy_ex inner/outer", v_md_ctx_copy},
        {"pseudo_make (SHA256_CTX copy)", v_pseudo_make},
    };
    state_t s;
    setup(&s);

    char msg[64];
    unsigned char ref[PSEUDO_HEX_LEN + 1];
    snprintf(msg, sizeof(msg), "patient:P-%07d", 77812);
    char ref_hex[65], got_hex[65];
    v_hmac_oneshot(&s, msg, strlen(msg), ref);
    to_hex(ref, ref_hex);
    for (size_t v = 0; v < sizeof(variants) / sizeof(variants[0]); v++) {
        unsigned char buf[PSEUDO_HEX_LEN + 1];
        variants[v].fn(&s, msg, strlen(msg), buf);
        if (variants[v].fn == v_pseudo_make)
            memcpy(got_hex, buf, sizeof(got_hex));
        else
            to_hex(buf, got_hex);
        if (strcmp(got_hex, ref_hex) != 0) {
            fprintf(stderr, "bench_pseudonym: %s disagrees\n", variants[v].name);
            return 1;
        }
    }

    /* Messages are made before timing so that only the MAC is measured. */
    char(*msgs)[24] = malloc((size_t)nids * sizeof(*msgs));
    size_t *lens = malloc((size_t)nids * sizeof(*lens));
    for (int i = 0; i < nids; i++)
        lens[i] = (size_t)snprintf(msgs[i], sizeof(msgs[i]), "patient:P-%07d", i);

    printf("%d ids of 9 bytes (+ \"patient:\") per run, %d runs, median\n", nids, runs);
    for (size_t v = 0; v < sizeof(variants) / sizeof(variants[0]); v++) {
        double t[50];
        unsigned sink = 0;
        for (int r = 0; r < runs; r++) {
            double t0 = now_s();
            for (int i = 0; i < nids; i++) {
                /* Every route ends in the 64 hex chars a pseudonym is. */
                unsigned char buf[PSEUDO_HEX_LEN + 1];
                char hex[PSEUDO_HEX_LEN + 1];
                variants[v].fn(&s, msgs[i], lens[i], buf);
                if (variants[v].fn != v_pseudo_make)
                    to_hex(buf, hex);
                else
                    hex[0] = (char)buf[0];
                sink += (unsigned char)hex[0];
            }
            t[r] = now_s() - t0;
        }
        qsort(t, (size_t)runs, sizeof(t[0]), cmp_double);
        double med = t[runs / 2];
        printf("%-34s %8.0f ns/id %12.0f ids/s (%u)\n", variants[v].name, med * 1e9 / nids,
               nids / med, sink & 1);
    }
    free(msgs);
    free(lens);
    return 0;
}
