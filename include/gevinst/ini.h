#ifndef GEVINST_INI_H
#define GEVINST_INI_H

#include <stdbool.h>
#include <stddef.h>

/* A small INI reader: "[section]", "key = value", full-line comments starting
 * with '#' or ';', and trailing comments introduced by whitespace then '#' or
 * ';'. A value in double quotes is taken literally (quotes removed; \" and \\
 * escape), so it may hold ';' or '#'. Keys and values are trimmed. */

/* Called for every key; section is "" before the first header. Strings are
 * valid only during the call. Return false to stop reading. */
typedef bool (*ini_key_cb)(void *opaque, const char *section, int section_line, const char *key,
                           const char *value, int line);
/* Called for every line that is not valid INI; reading goes on. */
typedef void (*ini_error_cb)(void *opaque, int line, const char *reason);
/* Called for every section header. May be NULL. */
typedef void (*ini_section_cb)(void *opaque, const char *section, int line);

/* Reads text[0..len). Returns the number of lines read. Embedded NUL bytes
 * are reported as errors, not silently cut. */
int ini_parse(const char *text, size_t len, ini_section_cb on_section, ini_key_cb on_key,
              ini_error_cb on_error, void *opaque);

#endif
