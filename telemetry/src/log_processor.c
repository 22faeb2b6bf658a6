/* Batch log record processor: records are copied into fixed-size slots of the batch engine's
 * bounded lock-free queue (batch.c) and exported in batches by its thread. The emitting thread
 * never blocks and never allocates: a full queue drops the record and counts it. */
#include <stdlib.h>
#include <string.h>

#include "batch_internal.h"
#include "telemetry/env.h"
#include "telemetry/log_data.h"
#include "telemetry/redact.h"

/* A queued record: the record itself, its attributes and the strings both point to. Pointers
 * into `arena` are rebased when a slot is moved; others (scope names, "[REDACTED]") are kept. */
typedef struct log_slot {
    tel_log_record rec;
    uint32_t arena_used;
    tel_attr attrs[TEL_LOG_SLOT_ATTRS];
    _Alignas(8) char arena[TEL_LOG_SLOT_ARENA];
} log_slot;

struct tel_log_processor {
    tel_log_exporter *exporter;
    const tel_resource *resource;
    atomic_bool shut;
    tel__batch q;
    log_slot *batch; /* max_export_batch_size slots, export thread only */
    const tel_log_record **batch_ptrs;
};

void tel_blrp_config_from_env(tel_blrp_config *c)
{
    c->max_queue_size = (uint32_t)tel_env_int("OTEL_BLRP_MAX_QUEUE_SIZE", 2048, 1, 1 << 24);
    c->max_export_batch_size =
        (uint32_t)tel_env_int("OTEL_BLRP_MAX_EXPORT_BATCH_SIZE", 512, 1, 1 << 24);
    c->schedule_delay_ms = (uint32_t)tel_env_int("OTEL_BLRP_SCHEDULE_DELAY", 1000, 0, 1 << 30);
    c->export_timeout_ms = (uint32_t)tel_env_int("OTEL_BLRP_EXPORT_TIMEOUT", 30000, 0, 1 << 30);
    if (c->max_export_batch_size > c->max_queue_size) c->max_export_batch_size = c->max_queue_size;
}

/* ---- Copying a record into a slot (emitting thread) ---- */

static void *arena_alloc(log_slot *s, size_t n, size_t align)
{
    size_t off = (s->arena_used + align - 1) & ~(align - 1);
    if (off > TEL_LOG_SLOT_ARENA || n > TEL_LOG_SLOT_ARENA - off) return NULL;
    s->arena_used = (uint32_t)(off + n);
    return s->arena + off;
}

static const char *arena_str(log_slot *s, const char *p, size_t n)
{
    char *d = arena_alloc(s, n + 1, 1);
    if (!d) return NULL;
    if (n) memcpy(d, p, n);
    d[n] = '\0';
    return d;
}

/* Length of s[0..n) cut to at most max bytes without splitting a UTF-8 sequence. */
static size_t utf8_cut(const char *s, size_t n, size_t max)
{
    if (n <= max) return n;
    while (max > 0 && ((unsigned char)s[max] & 0xC0) == 0x80)
        max--;
    return max;
}

static size_t array_elem_size(uint8_t type)
{
    switch (type) {
    case TEL_ATTR_BOOL_ARRAY:
        return sizeof(bool);
    case TEL_ATTR_INT_ARRAY:
        return sizeof(int64_t);
    case TEL_ATTR_DOUBLE_ARRAY:
        return sizeof(double);
    default:
        return sizeof(const char *);
    }
}

/* Copies src into dst with its strings in the slot; false when it does not fit (the arena is
 * then as before). */
static bool copy_attr(log_slot *s, tel_attr *dst, const tel_attr *src)
{
    uint32_t mark = s->arena_used;
    const char *key = src->key ? src->key : "";
    *dst = *src;
    dst->key = arena_str(s, key, strlen(key));
    if (!dst->key) goto nospace;
    /* Checked on the caller's key: mostly a literal, whose verdict is cached by address. */
    if (tel_redact_key_denied(key)) {
        dst->type = TEL_ATTR_STRING;
        dst->v.s = TEL_REDACTED;
        dst->len = (uint32_t)(sizeof TEL_REDACTED - 1);
        return true; /* a static string: nothing to copy */
    }
    switch (src->type) {
    case TEL_ATTR_STRING:
        dst->v.s = arena_str(s, src->v.s, src->v.s ? src->len : 0);
        dst->len = src->v.s ? src->len : 0;
        if (!dst->v.s) goto nospace;
        return true;
    case TEL_ATTR_BOOL_ARRAY:
    case TEL_ATTR_INT_ARRAY:
    case TEL_ATTR_DOUBLE_ARRAY:
    case TEL_ATTR_STRING_ARRAY: {
        uint32_t n = src->v.arr ? src->len : 0;
        size_t el = array_elem_size(src->type);
        if (n > TEL_LOG_SLOT_ARENA / el) goto nospace;
        void *a = arena_alloc(s, el * n, 8);
        if (!a) goto nospace;
        dst->len = n;
        dst->v.arr = a;
        if (src->type != TEL_ATTR_STRING_ARRAY) {
            if (n) memcpy(a, src->v.arr, el * n);
            return true;
        }
        const char **out = a;
        for (uint32_t i = 0; i < n; i++) {
            const char *e = ((const char *const *)src->v.arr)[i];
            out[i] = arena_str(s, e ? e : "", e ? strlen(e) : 0);
            if (!out[i]) goto nospace;
        }
        return true;
    }
    default:
        return true; /* scalars live in the attribute itself */
    }
nospace:
    s->arena_used = mark;
    return false;
}

static void slot_fill(log_slot *s, const tel_log_record *rec)
{
    s->rec = *rec;
    s->arena_used = 0;
    const char *sev = rec->severity_text ? rec->severity_text : "";
    s->rec.severity_text = arena_str(s, sev, utf8_cut(sev, strlen(sev), 31));
    size_t bl = rec->body ? utf8_cut(rec->body, rec->body_len, TEL_LOG_BODY_MAX) : 0;
    s->rec.body = arena_str(s, rec->body, bl);
    s->rec.body_len = (uint32_t)bl;
    uint32_t n = 0, dropped = rec->dropped_attrs;
    for (uint32_t i = 0; rec->attrs && i < rec->n_attrs; i++) {
        if (n < TEL_LOG_SLOT_ATTRS && copy_attr(s, &s->attrs[n], &rec->attrs[i]))
            n++;
        else
            dropped++;
    }
    s->rec.attrs = s->attrs;
    s->rec.n_attrs = n;
    s->rec.dropped_attrs = dropped;
}

/* ---- Moving a slot out of the queue (export thread) ---- */

static inline const void *rebase(log_slot *dst, const log_slot *src, const void *p)
{
    uintptr_t off = (uintptr_t)p - (uintptr_t)src->arena;
    return off < TEL_LOG_SLOT_ARENA ? dst->arena + off : p;
}

static void slot_move(log_slot *dst, const log_slot *src)
{
    dst->rec = src->rec;
    dst->arena_used = src->arena_used;
    memcpy(dst->arena, src->arena, src->arena_used);
    dst->rec.body = rebase(dst, src, src->rec.body);
    dst->rec.severity_text = rebase(dst, src, src->rec.severity_text);
    dst->rec.attrs = dst->attrs;
    for (uint32_t i = 0; i < src->rec.n_attrs; i++) {
        tel_attr *a = &dst->attrs[i];
        *a = src->attrs[i];
        a->key = rebase(dst, src, a->key);
        if (a->type == TEL_ATTR_STRING) {
            a->v.s = rebase(dst, src, a->v.s);
        } else if (a->type >= TEL_ATTR_STRING_ARRAY) {
            a->v.arr = rebase(dst, src, a->v.arr);
            if (a->type == TEL_ATTR_STRING_ARRAY) {
                const char **el = (const char **)a->v.arr;
                for (uint32_t k = 0; k < a->len; k++)
                    el[k] = rebase(dst, src, el[k]);
            }
        }
    }
}

/* ---- Batch engine callbacks ---- */

static void blrp_take(void *owner, void *cell, size_t i)
{
    tel_log_processor *p = owner;
    slot_move(&p->batch[i], cell);
    p->batch_ptrs[i] = &p->batch[i].rec;
}

static int blrp_export_batch(void *owner, size_t n, uint64_t deadline_ns)
{
    tel_log_processor *p = owner;
    return p->exporter->export_logs(p->exporter, p->resource, p->batch_ptrs, n, deadline_ns);
}

static void blrp_discard(void *owner, size_t n)
{
    (void)owner;
    (void)n; /* slots own no memory */
}

static int blrp_exporter_flush(void *owner, int64_t timeout_ms)
{
    tel_log_processor *p = owner;
    return p->exporter->force_flush ? p->exporter->force_flush(p->exporter, timeout_ms) : TEL_OK;
}

static void blrp_exporter_shutdown(void *owner)
{
    tel_log_processor *p = owner;
    p->exporter->shutdown(p->exporter);
}

static const tel__batch_ops blrp_ops = {
    .take = blrp_take,
    .export_batch = blrp_export_batch,
    .discard = blrp_discard,
    .release_cell = NULL,
    .exporter_flush = blrp_exporter_flush,
    .exporter_shutdown = blrp_exporter_shutdown,
};

/* ---- API ---- */

int tel_log_processor_emit(tel_log_processor *p, const tel_log_record *rec)
{
    if (!p || !rec) return TEL_EINVAL;
    if (atomic_load_explicit(&p->shut, memory_order_relaxed)) return TEL_ESHUTDOWN;
    uint32_t buf;
    log_slot *s = tel__batch_reserve(&p->q, &buf);
    if (!s) return TEL_EFULL;
    slot_fill(s, rec);
    tel__batch_publish(&p->q, buf);
    return TEL_OK;
}

int tel_log_processor_force_flush(tel_log_processor *p, int64_t timeout_ms)
{
    return p ? tel__batch_force_flush(&p->q, timeout_ms) : TEL_EINVAL;
}

int tel_log_processor_shutdown(tel_log_processor *p, int64_t timeout_ms)
{
    if (!p) return TEL_EINVAL;
    atomic_store(&p->shut, true);
    return tel__batch_shutdown(&p->q, timeout_ms);
}

static void blrp_free(tel_log_processor *p)
{
    free(p->batch);
    free(p->batch_ptrs);
    free(p);
}

void tel_log_processor_destroy(tel_log_processor *p)
{
    if (!p) return;
    atomic_store(&p->shut, true);
    if (!tel__batch_destroy(&p->q)) return; /* a detached export thread still uses p: leaked */
    p->exporter->destroy(p->exporter);
    blrp_free(p);
}

void tel_blrp_get_stats(tel_log_processor *p, tel_blrp_stats *out)
{
    tel__batch_stats st;
    tel__batch_get_stats(&p->q, &st);
    out->emitted = st.accepted + st.dropped;
    out->dropped_queue_full = st.dropped;
    out->exported = st.exported;
    out->export_failed = st.export_failed;
}

tel_log_processor *tel_blrp_create(tel_log_exporter *exporter, const tel_resource *resource,
                                   const tel_blrp_config *cfg)
{
    if (!exporter) return NULL;
    tel_log_processor *p = calloc(1, sizeof *p);
    if (!p) {
        exporter->destroy(exporter);
        return NULL;
    }
    tel_blrp_config c;
    if (cfg)
        c = *cfg;
    else
        tel_blrp_config_from_env(&c);
    if (c.max_queue_size == 0) c.max_queue_size = 1;
    if (c.max_export_batch_size == 0 || c.max_export_batch_size > c.max_queue_size)
        c.max_export_batch_size = c.max_queue_size;
    p->exporter = exporter;
    p->resource = resource;
    atomic_init(&p->shut, false);
    p->batch = calloc(c.max_export_batch_size, sizeof *p->batch);
    p->batch_ptrs = calloc(c.max_export_batch_size, sizeof *p->batch_ptrs);
    tel__batch_cfg qc = {c.max_queue_size, c.max_export_batch_size, c.schedule_delay_ms,
                         c.export_timeout_ms};
    if (!p->batch || !p->batch_ptrs ||
        tel__batch_init(&p->q, &qc, sizeof(log_slot), &blrp_ops, p, "log record") != TEL_OK) {
        blrp_free(p);
        exporter->destroy(exporter);
        return NULL;
    }
    return p;
}
