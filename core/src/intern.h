/* Private to core/: a process-wide pool of immutable strings that live until the process exits.
 *
 * Span records reference string values that are not copied (tel_span_set_str_static, a span name
 * started without copy_name) until the export thread is done with them, which can be after the
 * object that produced them is gone (a route of a destroyed server, an evicted cached statement,
 * a closed database). Strings that are the same on every request (span names "{method} {route}",
 * route patterns, statement texts and summaries, database names) are interned once where they are
 * registered or prepared, then set on every span without a copy.
 *
 * The pool is bounded (CORE_INTERN_MAX_BYTES in total): past it, core_intern returns NULL and the
 * caller copies per span as before, so a program that builds unbounded numbers of distinct texts
 * cannot make it grow without limit. Thread safe (a mutex: call it at registration or preparation
 * time, or once per connection for a peer's texts (core_intern_capped), not per request). */
#ifndef CORE_INTERN_H
#define CORE_INTERN_H

#include <stddef.h>

#define CORE_INTERN_MAX_BYTES (1u << 20)

/* The interned copy of s[0..len) (NUL-terminated; the same pointer for the same text), or NULL
 * when s is NULL, the pool is full or memory is short. */
const char *core_intern(const char *s, size_t len);
/* core_intern for texts that come from peers (addresses): a text already in the pool is found
 * as always, but a new one is added only while the pool holds less than cap bytes, so that
 * such texts can never take the room of the registered ones (cap below CORE_INTERN_MAX_BYTES). */
const char *core_intern_capped(const char *s, size_t len, size_t cap);

#endif
