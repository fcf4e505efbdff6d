#ifndef GEVINST_PSEUDONYM_H
#define GEVINST_PSEUDONYM_H

#include <stdbool.h>
#include <stddef.h>

/* pseudonym(kind, x) = lowercase hex of HMAC-SHA256(key, kind ":" x), events.md. */
typedef struct pseudo pseudo_t;

typedef enum pseudo_kind {
    PSEUDO_PATIENT,
    PSEUDO_USER, /* also author_id: an author is a user */
    PSEUDO_APPOINTMENT,
    PSEUDO_ENTRY,
} pseudo_kind_t;

#define PSEUDO_HEX_LEN 64
#define PSEUDO_MIN_KEY_BYTES 32

/* Key bytes as given (copied). Fails (NULL + errstr) with fewer than 32 bytes. */
pseudo_t *pseudo_new(const unsigned char *key, size_t key_len, char *errstr, size_t errstr_size);

/* Reads the key file: its bytes less one trailing newline, at least 32 bytes.
 * The key never appears in errstr. */
pseudo_t *pseudo_new_from_file(const char *path, char *errstr, size_t errstr_size);

void pseudo_destroy(pseudo_t *p);

/* Writes PSEUDO_HEX_LEN hex chars and a NUL into out. Only reads the handle:
 * several threads may share one. */
void pseudo_make(pseudo_t *p, pseudo_kind_t kind, const char *id, size_t id_len,
                 char out[PSEUDO_HEX_LEN + 1]);

/* Additions by the intake module (not part of the lead's original API). */

/* "patient", "user", "appointment", "entry": the kind as hashed. */
const char *pseudo_kind_name(pseudo_kind_t kind);

/* Plain HMAC-SHA256(key, msg) through the same code path as pseudo_make(),
 * any key length; for tests against RFC 4231 and tools. */
void pseudo_hmac_sha256(const unsigned char *key, size_t key_len, const void *msg, size_t msg_len,
                        unsigned char out[32]);

#endif
