/* A small direct JSON writer for the hot log path (log.c) and the UTF-8 rules every JSON output
 * of the library shares (otlp_json.c repairs strings with the same validator). */
#ifndef TELEMETRY_JSON_WRITE_H
#define TELEMETRY_JSON_WRITE_H

#include "telemetry/otlp.h"

/* Length of the valid UTF-8 sequence at s[0..n) (n > 0), or 0 when it is not valid (overlong
 * forms, surrogates, code points past U+10FFFF and truncated sequences are invalid). */
size_t tel__utf8_seq(const unsigned char *s, size_t n);

/* Appends s[0..n) as a quoted JSON string: '"' and '\\' escaped, control characters as \n, \t,
 * \r, \b, \f or \u00XX, invalid UTF-8 bytes replaced by U+FFFD, everything else as is. s may be
 * NULL when n is 0. Never allocates except to grow b. Returns TEL_OK or TEL_ENOMEM (b then
 * holds a partial string: callers restore b->len). */
int tel__json_put_str(tel_buf *b, const char *s, size_t n);

/* Appends a JSON number for an int64. Returns TEL_OK or TEL_ENOMEM. */
int tel__json_put_int(tel_buf *b, int64_t v);

/* Appends a double as the shortest JSON number that reads back to the same value, or as the
 * strings "NaN", "Infinity", "-Infinity" (as OTLP/JSON does). Returns TEL_OK or TEL_ENOMEM. */
int tel__json_put_double(tel_buf *b, double d);

/* Appends an attribute's value: string, true/false, number, or an array of those.
 * Returns TEL_OK or TEL_ENOMEM. */
int tel__json_put_attr_value(tel_buf *b, const tel_attr *a);

#endif
