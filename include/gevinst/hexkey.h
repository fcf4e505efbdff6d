#ifndef GEVINST_HEXKEY_H
#define GEVINST_HEXKEY_H

#include <stddef.h>
#include <stdint.h>

/* hexkey: the 32-byte binary form of a pseudonym (64 lowercase hex chars),
 * as audit_user keys by it (appt_state and journal_entry keep its first 16
 * bytes as a uuid), and a small string hash. */

#define HEXKEY_BYTES 32

/* hex must hold 64 lowercase hex chars (pseudonyms and encode(..., 'hex')
 * results always do). */
void hexkey_decode(uint8_t out[HEXKEY_BYTES], const char *hex);

void hexkey_encode(const uint8_t key[HEXKEY_BYTES], char out[2 * HEXKEY_BYTES + 1]);

/* FNV-1a over len bytes: for hash tables of short strings. */
uint64_t hexkey_fnv1a(const void *data, size_t len);

#endif
