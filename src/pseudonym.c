/* pseudonym: keyed pseudonyms for personal identifiers (events.md, Privacy).
 *
 * HMAC-SHA256 over a fixed key spends half its compression calls on the key
 * (one block for key^ipad, one for key^opad). We absorb those two blocks once,
 * at start, and copy the two SHA-256 states per id: a struct copy, no malloc,
 * two compressions per short id. bench/bench_pseudonym measures it against
 * the alternatives (bench/README.md): 142 ns per id, against 199 ns for
 * EVP_MD_CTX_copy_ex() of keyed states, 242 ns for EVP_MAC_init() with the
 * key kept, 492 ns for EVP_MAC_CTX_dup() and 1282 ns for HMAC() one-shot.
 *
 * The SHA256_* calls are deprecated in OpenSSL 3 (they bypass providers, so a
 * FIPS-only deployment would need the EVP route back) but remain supported
 * and use the same SHA-NI/AVX2 code. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include "gevinst/pseudonym.h"

#include "gevinst/log.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Key files are a few dozen bytes; refuse to slurp something unrelated. */
#define PSEUDO_MAX_KEY_FILE_BYTES 65536

struct pseudo {
    SHA256_CTX inner; /* state after key ^ ipad */
    SHA256_CTX outer; /* state after key ^ opad */
};

static const struct {
    const char *prefix;
    size_t len;
} kind_prefix[] = {
    [PSEUDO_PATIENT] = {"patient:", 8},
    [PSEUDO_USER] = {"user:", 5},
    [PSEUDO_APPOINTMENT] = {"appointment:", 12},
    [PSEUDO_ENTRY] = {"entry:", 6},
};

const char *pseudo_kind_name(pseudo_kind_t kind)
{
    switch (kind) {
    case PSEUDO_PATIENT:
        return "patient";
    case PSEUDO_USER:
        return "user";
    case PSEUDO_APPOINTMENT:
        return "appointment";
    case PSEUDO_ENTRY:
        return "entry";
    }
    return "?";
}

static void hmac_prepare(SHA256_CTX *inner, SHA256_CTX *outer, const unsigned char *key,
                         size_t key_len)
{
    unsigned char k[SHA256_CBLOCK] = {0};
    unsigned char pad[SHA256_CBLOCK];

    /* RFC 2104: keys longer than a block are hashed first. */
    if (key_len > SHA256_CBLOCK)
        SHA256(key, key_len, k);
    else if (key_len > 0)
        memcpy(k, key, key_len);
    for (size_t i = 0; i < SHA256_CBLOCK; i++)
        pad[i] = k[i] ^ 0x36;
    SHA256_Init(inner);
    SHA256_Update(inner, pad, sizeof(pad));
    for (size_t i = 0; i < SHA256_CBLOCK; i++)
        pad[i] = k[i] ^ 0x5c;
    SHA256_Init(outer);
    SHA256_Update(outer, pad, sizeof(pad));
    OPENSSL_cleanse(k, sizeof(k));
    OPENSSL_cleanse(pad, sizeof(pad));
}

/* HMAC over the concatenation a || b with prepared states. */
static void hmac_finish(const SHA256_CTX *inner, const SHA256_CTX *outer, const void *a,
                        size_t a_len, const void *b, size_t b_len,
                        unsigned char mac[SHA256_DIGEST_LENGTH])
{
    SHA256_CTX c = *inner;
    unsigned char digest[SHA256_DIGEST_LENGTH];

    SHA256_Update(&c, a, a_len);
    if (b_len)
        SHA256_Update(&c, b, b_len);
    SHA256_Final(digest, &c);
    c = *outer;
    SHA256_Update(&c, digest, sizeof(digest));
    SHA256_Final(mac, &c);
}

void pseudo_hmac_sha256(const unsigned char *key, size_t key_len, const void *msg, size_t msg_len,
                        unsigned char out[32])
{
    SHA256_CTX inner, outer;
    hmac_prepare(&inner, &outer, key, key_len);
    hmac_finish(&inner, &outer, msg, msg_len, NULL, 0, out);
    OPENSSL_cleanse(&inner, sizeof(inner));
    OPENSSL_cleanse(&outer, sizeof(outer));
}

pseudo_t *pseudo_new(const unsigned char *key, size_t key_len, char *errstr, size_t errstr_size)
{
    if (!key || key_len < PSEUDO_MIN_KEY_BYTES) {
        snprintf(errstr, errstr_size, "pseudonym key has %zu bytes; at least %d are required",
                 key ? key_len : 0, PSEUDO_MIN_KEY_BYTES);
        return NULL;
    }
    pseudo_t *p = calloc(1, sizeof(*p));
    if (!p) {
        snprintf(errstr, errstr_size, "pseudonym: out of memory");
        return NULL;
    }
    hmac_prepare(&p->inner, &p->outer, key, key_len);
    return p;
}

pseudo_t *pseudo_new_from_file(const char *path, char *errstr, size_t errstr_size)
{
    struct stat st;
    unsigned char *buf = NULL;
    size_t len = 0;
    pseudo_t *p = NULL;

    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(errstr, errstr_size, "pseudonym key file %s: %s", path, strerror(errno));
        return NULL;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(errstr, errstr_size, "pseudonym key file %s: not a regular file", path);
        goto out;
    }
    if (st.st_size > PSEUDO_MAX_KEY_FILE_BYTES) {
        snprintf(errstr, errstr_size, "pseudonym key file %s: larger than %d bytes", path,
                 PSEUDO_MAX_KEY_FILE_BYTES);
        goto out;
    }
    buf = malloc(PSEUDO_MAX_KEY_FILE_BYTES + 1);
    if (!buf) {
        snprintf(errstr, errstr_size, "pseudonym key file %s: out of memory", path);
        goto out;
    }
    for (;;) {
        ssize_t n = read(fd, buf + len, PSEUDO_MAX_KEY_FILE_BYTES + 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            snprintf(errstr, errstr_size, "pseudonym key file %s: %s", path, strerror(errno));
            goto out;
        }
        if (n == 0)
            break;
        len += (size_t)n;
        if (len > PSEUDO_MAX_KEY_FILE_BYTES) {
            snprintf(errstr, errstr_size, "pseudonym key file %s: larger than %d bytes", path,
                     PSEUDO_MAX_KEY_FILE_BYTES);
            goto out;
        }
    }
    /* Exactly one trailing newline goes: `openssl rand -hex 32 > key` writes one. */
    if (len > 0 && buf[len - 1] == '\n')
        len--;
    if (len < PSEUDO_MIN_KEY_BYTES) {
        snprintf(errstr, errstr_size,
                 "pseudonym key file %s: %zu bytes (less one trailing newline); at least %d "
                 "are required",
                 path, len, PSEUDO_MIN_KEY_BYTES);
        goto out;
    }
    p = pseudo_new(buf, len, errstr, errstr_size);
    if (p && (st.st_mode & (S_IRWXG | S_IRWXO)))
        log_warn("pseudonym key file %s is accessible to group or others (mode %03o)", path,
                 (unsigned)(st.st_mode & 0777));
out:
    if (buf) {
        OPENSSL_cleanse(buf, PSEUDO_MAX_KEY_FILE_BYTES + 1);
        free(buf);
    }
    close(fd);
    return p;
}

void pseudo_destroy(pseudo_t *p)
{
    if (!p)
        return;
    OPENSSL_cleanse(p, sizeof(*p));
    free(p);
}

void pseudo_make(pseudo_t *p, pseudo_kind_t kind, const char *id, size_t id_len,
                 char out[PSEUDO_HEX_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char mac[SHA256_DIGEST_LENGTH];

    hmac_finish(&p->inner, &p->outer, kind_prefix[kind].prefix, kind_prefix[kind].len, id, id_len,
                mac);
    for (size_t i = 0; i < sizeof(mac); i++) {
        out[2 * i] = hex[mac[i] >> 4];
        out[2 * i + 1] = hex[mac[i] & 15];
    }
    out[PSEUDO_HEX_LEN] = '\0';
}
