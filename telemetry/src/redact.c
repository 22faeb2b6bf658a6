/* Secrets policy: the attribute key denylist, and the redaction pass over span records. */
#include <link.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "telemetry/redact.h"
#include "trace_internal.h"

/* Fragments added at run time: written under add_lock into the next free slot, then published by
 * a release store of n_added, so readers never see a half-written fragment. */
static pthread_mutex_t add_lock = PTHREAD_MUTEX_INITIALIZER;
static char added[TEL_REDACT_MAX_FRAGMENTS][TEL_REDACT_FRAGMENT_MAX + 1];
static atomic_size_t n_added;

/* Case folding for the match: ASCII letters to lowercase, '-' to '_'. */
static inline unsigned char fold(unsigned char c)
{
    if ((unsigned)(c - 'A') < 26u) return (unsigned char)(c + ('a' - 'A'));
    return c == '-' ? '_' : c;
}

/* True when the folded key at k starts with frag (already folded). The key's NUL ends it. */
static inline bool starts_with(const unsigned char *k, const char *frag)
{
    for (; *frag; k++, frag++)
        if (fold(*k) != (unsigned char)*frag) return false;
    return true;
}

/* The built-in fragments, dispatched on their first letter. */
static bool builtin_at(const unsigned char *k)
{
    switch (fold(*k)) {
    case 'p':
        return starts_with(k, "password") || starts_with(k, "passwd") ||
               starts_with(k, "private_key");
    case 't':
        return starts_with(k, "token");
    case 'a':
        return starts_with(k, "authorization") || starts_with(k, "api_key") ||
               starts_with(k, "apikey");
    case 's':
        return starts_with(k, "secret");
    case 'c':
        return starts_with(k, "cookie") || starts_with(k, "credential");
    default:
        return false;
    }
}

static bool denied_slow(const char *key, size_t extra)
{
    for (const unsigned char *k = (const unsigned char *)key; *k; k++) {
        if (builtin_at(k)) return true;
        for (size_t i = 0; i < extra; i++)
            if (starts_with(k, added[i])) return true;
    }
    return false;
}

/* Verdicts of recently checked keys, per thread. Keys are mostly string literals seen again and
 * again (every span of a kind, every log line of a call site), so the verdict is looked up by
 * address; the key text is compared too, because an address can be reused for another key
 * (copied dynamic keys, freed strings). An entry is valid for one denylist generation. The
 * cache is set-associative (a span's dozen or two of keys must not evict one another: a miss
 * costs a scan of the key for every fragment) and also keeps the key's length and a hash of its
 * text, which the export pass uses to find repeated keys without comparing every pair. */
#define VCACHE_SETS 16
#define VCACHE_WAYS 4
#define VCACHE_KEY_MAX 50
/* One set: what a hit reads fills the first cache line; the texts (compared only for keys
 * outside the program's read-only data) follow. */
typedef struct vcache_set {
    const char *ptr[VCACHE_WAYS];
    uint32_t hash[VCACHE_WAYS]; /* of the text */
    uint8_t gen[VCACHE_WAYS];   /* <= TEL_REDACT_MAX_FRAGMENTS */
    uint8_t len[VCACHE_WAYS];
    bool denied[VCACHE_WAYS];
    bool fixed[VCACHE_WAYS]; /* ptr is in the program's read-only data: its text cannot change */
    uint32_t victim;         /* round robin */
    char text[VCACHE_WAYS][VCACHE_KEY_MAX + 1];
} __attribute__((aligned(64))) vcache_set;
static _Thread_local vcache_set vcache[VCACHE_SETS];
_Static_assert(TEL_REDACT_MAX_FRAGMENTS <= UINT8_MAX, "the generation is kept in a byte");

/* The read-only segments of the main program (string literals live there). Their contents never
 * change and the program is never unmapped, so a key found there needs no text comparison on a
 * cache hit. Filled once, on the first cache miss. */
#define RO_RANGES_MAX 8
static uintptr_t ro_lo[RO_RANGES_MAX], ro_hi[RO_RANGES_MAX];
static int n_ro;
static pthread_once_t ro_once = PTHREAD_ONCE_INIT;

static int ro_visit(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    (void)arg;
    for (int i = 0; i < info->dlpi_phnum && n_ro < RO_RANGES_MAX; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_LOAD && !(ph->p_flags & PF_W) && ph->p_memsz) {
            ro_lo[n_ro] = (uintptr_t)(info->dlpi_addr + ph->p_vaddr);
            ro_hi[n_ro] = ro_lo[n_ro] + (uintptr_t)ph->p_memsz;
            n_ro++;
        }
    }
    return 1; /* the first object visited is the main program: done */
}

static void ro_init(void)
{
    dl_iterate_phdr(ro_visit, NULL);
}

static bool in_program_ro(const char *p)
{
    pthread_once(&ro_once, ro_init);
    uintptr_t a = (uintptr_t)p;
    for (int i = 0; i < n_ro; i++)
        if (a >= ro_lo[i] && a < ro_hi[i]) return true;
    return false;
}

/* Length and FNV-1a hash of key. */
static inline uint32_t text_hash(const char *key, uint32_t *len)
{
    uint32_t h = 2166136261u;
    const unsigned char *k = (const unsigned char *)key;
    size_t n = 0;
    for (; k[n]; n++) {
        h ^= k[n];
        h *= 16777619u;
    }
    *len = n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
    return h;
}

static inline vcache_set *vcache_set_of(const char *key)
{
    uint64_t a = (uint64_t)(uintptr_t)key * 0x9E3779B97F4A7C15ull;
    return &vcache[a >> 60]; /* VCACHE_SETS == 16 */
}

/* The verdict on key under denylist generation `gen` (the number of added fragments), with the
 * key's text hash and length. */
static inline __attribute__((always_inline)) bool key_lookup(const char *key, size_t gen,
                                                             uint32_t *hash, uint32_t *len,
                                                             bool *fixed)
{
    vcache_set *set = vcache_set_of(key);
    int victim = -1;
    *fixed = false;
    for (int w = 0; w < VCACHE_WAYS; w++) {
        if (set->ptr[w] != key)
            continue;
        if (TEL_LIKELY(set->gen[w] == gen && (set->fixed[w] || strcmp(set->text[w], key) == 0))) {
            *hash = set->hash[w];
            *len = set->len[w];
            *fixed = set->fixed[w];
            return set->denied[w];
        }
        victim = w; /* a stale entry for this address: replaced */
        break;
    }
    *hash = text_hash(key, len);
    bool denied = denied_slow(key, gen);
    if (*len <= VCACHE_KEY_MAX) {
        if (victim < 0) {
            victim = (int)set->victim;
            set->victim = (set->victim + 1) % VCACHE_WAYS;
        }
        set->ptr[victim] = key;
        set->gen[victim] = (uint8_t)gen;
        set->hash[victim] = *hash;
        set->len[victim] = (uint8_t)*len;
        set->denied[victim] = denied;
        set->fixed[victim] = in_program_ro(key);
        *fixed = set->fixed[victim];
        memcpy(set->text[victim], key, *len + 1);
    }
    return denied;
}

static inline bool denied_gen(const char *key, size_t gen)
{
    uint32_t h, l;
    bool f;
    return key_lookup(key, gen, &h, &l, &f);
}

bool tel_redact_key_denied(const char *key)
{
    return key && denied_gen(key, atomic_load_explicit(&n_added, memory_order_acquire));
}

int tel_redact_add_key(const char *fragment)
{
    if (!fragment || !*fragment) return TEL_EINVAL;
    size_t n = strlen(fragment);
    if (n > TEL_REDACT_FRAGMENT_MAX) return TEL_ETOOBIG;
    char folded[TEL_REDACT_FRAGMENT_MAX + 1];
    for (size_t i = 0; i < n; i++)
        folded[i] = (char)fold((unsigned char)fragment[i]);
    folded[n] = '\0';
    if (denied_slow(folded, atomic_load(&n_added)))
        return TEL_OK; /* an existing fragment already covers it */
    pthread_mutex_lock(&add_lock);
    size_t have = atomic_load_explicit(&n_added, memory_order_relaxed);
    int rc = TEL_OK;
    if (have >= TEL_REDACT_MAX_FRAGMENTS) {
        rc = TEL_EFULL;
    } else {
        memcpy(added[have], folded, n + 1);
        atomic_store_explicit(&n_added, have + 1, memory_order_release);
    }
    pthread_mutex_unlock(&add_lock);
    return rc;
}

static inline void redact(tel_attr *a)
{
    a->type = TEL_ATTR_STRING;
    a->v.s = TEL_REDACTED;
    a->len = (uint32_t)(sizeof TEL_REDACTED - 1);
}

bool tel_redact_attr(tel_attr *a)
{
    if (!a || !tel_redact_key_denied(a->key)) return false;
    redact(a);
    return true;
}

/* The pass over attrs[0..n) with the generation read once. */
static inline size_t redact_all(tel_attr *attrs, size_t n, size_t gen)
{
    size_t r = 0;
    for (size_t i = 0; i < n; i++) {
        if (attrs[i].key && denied_gen(attrs[i].key, gen)) {
            redact(&attrs[i]);
            r++;
        }
    }
    return r;
}

size_t tel_redact_attrs(tel_attr *attrs, size_t n)
{
    return attrs ? redact_all(attrs, n, atomic_load_explicit(&n_added, memory_order_acquire)) : 0;
}

/* Plans for the inline key sequences spans repeat (every span of a kind sets the same keys, by
 * the same literal addresses, in the same order), per thread (the export thread's): for a
 * sequence of keys that all lie in the program's read-only data and hold no repeated text, the
 * positions the denylist redacts. A span matching a plan needs neither the key cache nor the
 * duplicate search: a comparison of its key addresses. */
#define PLAN_SETS 64
typedef struct key_plan {
    const char *keys[TEL_SPAN_INLINE_ATTRS];
    uint16_t denied; /* bit i: redact position i */
    uint8_t n;
    uint8_t gen; /* denylist generation + 1; 0: empty */
} key_plan;
static _Thread_local key_plan plans[PLAN_SETS];

static inline key_plan *plan_of(const tel_attr *attrs, uint16_t n)
{
    uint64_t h = n;
    for (uint16_t i = 0; i < n; i++)
        h = (h ^ (uint64_t)(uintptr_t)attrs[i].key) * 0x9E3779B97F4A7C15ull;
    return &plans[h >> 58]; /* PLAN_SETS == 64 */
}

static inline bool plan_matches(const key_plan *pl, const tel_attr *attrs, uint16_t n, size_t gen)
{
    if (pl->gen != gen + 1 || pl->n != n) return false;
    for (uint16_t i = 0; i < n; i++)
        if (pl->keys[i] != attrs[i].key) return false;
    return true;
}

static void redact_extra(tel_span_data *d, size_t gen)
{
    tel_span_extra *x = d->extra;
    if (!x) return;
    redact_all(x->attrs, x->n_attrs, gen);
    for (uint32_t i = 0; i < x->n_events; i++)
        redact_all(x->events[i].attrs, x->events[i].n_attrs, gen);
    for (uint32_t i = 0; i < x->n_links; i++)
        redact_all(x->links[i].attrs, x->links[i].n_attrs, gen);
}

void tel__span_data_dedupe_redact(tel_span_data *d)
{
    size_t gen = atomic_load_explicit(&n_added, memory_order_acquire);
    uint16_t n = d->n_attrs;
    if (n > TEL_SPAN_INLINE_ATTRS) n = TEL_SPAN_INLINE_ATTRS; /* never: the inline capacity */
    key_plan *pl = plan_of(d->attrs, n);
    if (plan_matches(pl, d->attrs, n, gen)) {
        for (uint16_t m = pl->denied; m; m &= (uint16_t)(m - 1))
            redact(&d->attrs[__builtin_ctz(m)]);
        redact_extra(d, gen);
        return;
    }
    uint32_t kh[TEL_SPAN_INLINE_ATTRS], kl[TEL_SPAN_INLINE_ATTRS];
    bool kd[TEL_SPAN_INLINE_ATTRS];
    bool plannable = true; /* every key fixed text: a plan can be kept */
    for (uint16_t i = 0; i < n; i++) {
        if (d->attrs[i].key) {
            bool fixed;
            kd[i] = key_lookup(d->attrs[i].key, gen, &kh[i], &kl[i], &fixed);
            plannable &= fixed;
        } else {
            kh[i] = 0;
            kl[i] = UINT32_MAX;
            kd[i] = false;
            plannable = false;
        }
    }
    const char *keys[TEL_SPAN_INLINE_ATTRS];
    for (uint16_t i = 0; i < n; i++)
        keys[i] = d->attrs[i].key;
    /* What tel__span_data_dedupe does (for each key text, the first position keeps the value
     * set last), in one pass: earlier keys are found through a small table by text hash, and
     * the text is compared only for equal hashes and lengths. */
    enum { SLOTS = 4 * TEL_SPAN_INLINE_ATTRS }; /* a power of two */
    uint8_t slot[SLOTS];
    memset(slot, 0xff, sizeof slot);
    uint16_t o = 0;
    for (uint16_t j = 0; j < n; j++) {
        const char *key = d->attrs[j].key;
        int first = -1;
        if (kl[j] != UINT32_MAX) {
            uint32_t p = kh[j] & (SLOTS - 1);
            for (; slot[p] != 0xff; p = (p + 1) & (SLOTS - 1)) {
                uint8_t f = slot[p];
                if (kh[f] == kh[j] && kl[f] == kl[j] && d->attrs[f].key != key &&
                    strcmp(d->attrs[f].key, key) == 0) {
                    first = f;
                    break;
                }
            }
            if (first < 0) slot[p] = (uint8_t)o;
        }
        if (first >= 0) {
            d->attrs[first] = d->attrs[j]; /* same text: same hash, length and verdict */
            continue;
        }
        if (o != j) {
            d->attrs[o] = d->attrs[j];
            kh[o] = kh[j];
            kl[o] = kl[j];
            kd[o] = kd[j];
        }
        o++;
    }
    uint16_t denied = 0;
    for (uint16_t i = 0; i < o; i++)
        if (kd[i]) {
            redact(&d->attrs[i]);
            denied |= (uint16_t)(1u << i);
        }
    if (plannable && o == n && gen < UINT8_MAX) { /* no repeated key: keep the plan */
        memcpy(pl->keys, keys, sizeof keys[0] * n);
        pl->n = (uint8_t)n;
        pl->denied = denied;
        pl->gen = (uint8_t)(gen + 1);
    }
    d->n_attrs = o;
    redact_extra(d, gen);
}

void tel__span_data_redact(tel_span_data *d)
{
    size_t gen = atomic_load_explicit(&n_added, memory_order_acquire);
    redact_all(d->attrs, d->n_attrs, gen);
    redact_extra(d, gen);
}
