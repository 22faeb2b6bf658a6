/* Per-thread recording cells of bound attribute sets (see metrics_internal.h).
 *
 * A thread gets a recorder number the first time it records through a bound set, and gives it
 * back when it exits; a later thread reuses the number, and with it the cells the earlier one
 * filled (their sums are cumulative, so they simply go on). The number's release and reuse go
 * through recorders_lock, which orders the old owner's last writes before the new owner's
 * first. With every number taken (TEL__CELL_SLOTS threads recording at once), a thread records
 * into the series' shared values with atomic operations, as unbound recordings do. */
#include <stdlib.h>

#include "metrics_internal.h"

_Thread_local unsigned tel__recorder;

static pthread_mutex_t recorders_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t recorders_used; /* bit r: number r + 1 is some live thread's */
static pthread_key_t recorders_key;
static pthread_once_t recorders_once = PTHREAD_ONCE_INIT;

_Static_assert(TEL__CELL_SLOTS <= 64, "recorders_used is one 64-bit word");

/* At a thread's exit (run by that thread): its number back to the free set. A recording the
 * thread still makes afterwards (from a later destructor) goes to the shared values, not to the
 * cell a new owner of the number may be writing. */
static void recorder_release(void *v)
{
    unsigned r = (unsigned)(uintptr_t)v;
    tel__recorder = TEL__RECORDER_NONE;
    pthread_mutex_lock(&recorders_lock);
    recorders_used &= ~(1ull << (r - 1));
    pthread_mutex_unlock(&recorders_lock);
}

static void recorders_init(void)
{
    pthread_key_create(&recorders_key, recorder_release);
}

/* The calling thread's recorder number (1..TEL__CELL_SLOTS), taking one if it has none;
 * TEL__RECORDER_NONE when every number is taken. */
static unsigned recorder_get(void)
{
    if (tel__recorder)
        return tel__recorder;
    pthread_once(&recorders_once, recorders_init);
    pthread_mutex_lock(&recorders_lock);
    unsigned r = TEL__RECORDER_NONE;
    if (~recorders_used) {
        unsigned i = (unsigned)__builtin_ctzll(~recorders_used);
        recorders_used |= 1ull << i;
        r = i + 1;
    }
    pthread_mutex_unlock(&recorders_lock);
    if (r != TEL__RECORDER_NONE && pthread_setspecific(recorders_key, (void *)(uintptr_t)r) != 0) {
        recorder_release((void *)(uintptr_t)r);
        r = TEL__RECORDER_NONE;
    }
    tel__recorder = r;
    return r;
}

static size_t cell_size(const tel_instrument *in)
{
    size_t n = in->rec == TEL__REC_HIST ? (size_t)(in->n_bounds + 1) * (in->ex_mode ? 2 : 1) : 0;
    return (sizeof(tel__cell) + n * sizeof(uint64_t) + 63) & ~(size_t)63;
}

static void cell_zero(const tel_instrument *in, tel__cell *c)
{
    atomic_store_explicit(&c->value, in->rec == TEL__REC_HIST || !in->is_int ? tel__d2u(0.0) : 0,
                          memory_order_relaxed);
    atomic_store_explicit(&c->min_bits, tel__d2u(__builtin_inf()), memory_order_relaxed);
    atomic_store_explicit(&c->max_bits, tel__d2u(-__builtin_inf()), memory_order_relaxed);
    size_t n = (cell_size(in) - sizeof(tel__cell)) / sizeof(uint64_t);
    for (size_t i = 0; i < n; i++)
        atomic_store_explicit(&c->n[i], 0, memory_order_relaxed);
}

int tel__cells_enable(tel__series *s)
{
    if (atomic_load_explicit(&s->cells, memory_order_acquire))
        return TEL_OK;
    _Atomic(tel__cell *) *cells = calloc(TEL__CELL_SLOTS, sizeof *cells);
    if (!cells)
        return TEL_ENOMEM;
    for (size_t i = 0; i < TEL__CELL_SLOTS; i++)
        atomic_init(&cells[i], NULL);
    atomic_store_explicit(&s->cells, cells, memory_order_release);
    return TEL_OK;
}

tel__cell *tel__cell_slow(const tel_instrument *in, tel__series *s)
{
    _Atomic(tel__cell *) *cells = atomic_load_explicit(&s->cells, memory_order_acquire);
    unsigned r = recorder_get();
    if (!cells || r == TEL__RECORDER_NONE)
        return NULL;
    tel__cell *c = atomic_load_explicit(&cells[r - 1], memory_order_relaxed);
    if (c)
        return c;
    c = aligned_alloc(64, cell_size(in));
    if (!c)
        return NULL;
    cell_zero(in, c);
    /* Only this thread stores this entry; the collection reads it. */
    atomic_store_explicit(&cells[r - 1], c, memory_order_release);
    return c;
}

void tel__cells_fold(const tel_instrument *in, const tel__series *s, tel__fold *f)
{
    _Atomic(tel__cell *) *cells = atomic_load_explicit(&s->cells, memory_order_acquire);
    if (!cells)
        return;
    bool hist = in->rec == TEL__REC_HIST;
    uint32_t nb = hist ? in->n_bounds + 1 : 0;
    for (size_t r = 0; r < TEL__CELL_SLOTS; r++) {
        tel__cell *c = atomic_load_explicit(&cells[r], memory_order_acquire);
        if (!c)
            continue;
        uint64_t v = atomic_load_explicit(&c->value, memory_order_relaxed);
        if (!hist && in->is_int) {
            f->ival += v;
            continue;
        }
        f->sum += tel__u2d(v);
        if (!hist)
            continue;
        double mn = tel__u2d(atomic_load_explicit(&c->min_bits, memory_order_relaxed));
        double mx = tel__u2d(atomic_load_explicit(&c->max_bits, memory_order_relaxed));
        if (mn < f->min)
            f->min = mn;
        if (mx > f->max)
            f->max = mx;
        for (uint32_t b = 0; b < nb; b++) {
            uint64_t k = atomic_load_explicit(&c->n[b], memory_order_relaxed);
            f->counts[b] += k;
            /* The bucket's reservoir interval starts over at this count for this thread. */
            if (in->ex_mode)
                atomic_store_explicit(&c->n[nb + b], k, memory_order_relaxed);
        }
    }
}

void tel__cells_reset(const tel_instrument *in, tel__series *s)
{
    _Atomic(tel__cell *) *cells = atomic_load_explicit(&s->cells, memory_order_relaxed);
    if (!cells)
        return;
    for (size_t r = 0; r < TEL__CELL_SLOTS; r++) {
        tel__cell *c = atomic_load_explicit(&cells[r], memory_order_relaxed);
        if (c)
            cell_zero(in, c);
    }
}

void tel__cells_free(tel__series *s)
{
    _Atomic(tel__cell *) *cells = atomic_load_explicit(&s->cells, memory_order_relaxed);
    if (!cells)
        return;
    for (size_t r = 0; r < TEL__CELL_SLOTS; r++)
        free(atomic_load_explicit(&cells[r], memory_order_relaxed));
    free(cells);
    atomic_store_explicit(&s->cells, NULL, memory_order_relaxed);
}

void tel__recorders_atfork_prepare(void)
{
    pthread_mutex_lock(&recorders_lock);
}

void tel__recorders_atfork_parent(void)
{
    pthread_mutex_unlock(&recorders_lock);
}

void tel__recorders_atfork_child(void)
{
    /* Only the forking thread lives on in the child: the other numbers are free again. */
    unsigned r = tel__recorder;
    recorders_used = r && r != TEL__RECORDER_NONE ? 1ull << (r - 1) : 0;
    pthread_mutex_unlock(&recorders_lock);
}
