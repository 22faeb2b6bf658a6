/* Unit tests of the batch log record processor (log_processor.c): configuration, record copies,
 * full queue (drops counted, caller never blocks), flush, batches, scheduled export, bounded
 * shutdown with a hanging exporter, concurrent emitters, and fork.
 * ctest-labels: concurrency */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "telemetry/log_data.h"
#include "telemetry/redact.h"

/* A test exporter: counts records and batches, keeps a copy of the first records' bodies and
 * attributes; can block (until released, or also until shut down when honour_shutdown). */
typedef struct tex {
    tel_log_exporter base;
    atomic_uint_fast64_t records, batches, max_batch;
    atomic_bool block, honour_shutdown, shut, in_export, destroyed;
    pthread_mutex_t mu;
    int kept;
    char body[4][TEL_LOG_BODY_MAX + 1];
    tel_log_record rec[4];
    char attr_text[4][512];
} tex;

static void describe_attrs(char *out, size_t cap, const tel_log_record *r)
{
    size_t o = 0;
    out[0] = '\0';
    for (uint32_t i = 0; i < r->n_attrs && o < cap; i++) {
        const tel_attr *a = &r->attrs[i];
        int w = 0;
        switch (a->type) {
        case TEL_ATTR_STRING:
            w = snprintf(out + o, cap - o, "%s=%.*s;", a->key, (int)a->len, a->v.s);
            break;
        case TEL_ATTR_INT:
            w = snprintf(out + o, cap - o, "%s=%lld;", a->key, (long long)a->v.i);
            break;
        case TEL_ATTR_STRING_ARRAY:
            w = snprintf(out + o, cap - o, "%s=[", a->key);
            for (uint32_t k = 0; k < a->len && w >= 0 && o + (size_t)w < cap; k++)
                w += snprintf(out + o + w, cap - o - (size_t)w, "%s,",
                              ((const char *const *)a->v.arr)[k]);
            if (o + (size_t)w < cap) w += snprintf(out + o + w, cap - o - (size_t)w, "];");
            break;
        case TEL_ATTR_DOUBLE_ARRAY:
            w = snprintf(out + o, cap - o, "%s=[%g..%g];", a->key, ((const double *)a->v.arr)[0],
                         ((const double *)a->v.arr)[a->len - 1]);
            break;
        default:
            w = snprintf(out + o, cap - o, "%s=?;", a->key);
        }
        if (w < 0) break;
        o += (size_t)w;
    }
}

static int tex_export(tel_log_exporter *self, const tel_resource *res,
                      const tel_log_record *const *recs, size_t n, uint64_t deadline)
{
    tex *t = (tex *)self;
    (void)res;
    atomic_store(&t->in_export, true);
    while (atomic_load(&t->block) && tel_mono_ns() < deadline &&
           !(atomic_load(&t->honour_shutdown) && atomic_load(&t->shut)))
        usleep(1000);
    atomic_store(&t->in_export, false);
    if (atomic_load(&t->honour_shutdown) && atomic_load(&t->shut)) return TEL_ESHUTDOWN;
    pthread_mutex_lock(&t->mu);
    for (size_t i = 0; i < n && t->kept < 4; i++, t->kept++) {
        t->rec[t->kept] = *recs[i];
        snprintf(t->body[t->kept], sizeof t->body[0], "%.*s", (int)recs[i]->body_len,
                 recs[i]->body);
        describe_attrs(t->attr_text[t->kept], sizeof t->attr_text[0], recs[i]);
    }
    pthread_mutex_unlock(&t->mu);
    atomic_fetch_add(&t->records, n);
    atomic_fetch_add(&t->batches, 1);
    if (n > atomic_load(&t->max_batch)) atomic_store(&t->max_batch, n);
    return TEL_OK;
}

static int tex_shutdown(tel_log_exporter *self)
{
    atomic_store(&((tex *)self)->shut, true);
    return TEL_OK;
}

static void tex_destroy(tel_log_exporter *self)
{
    tex *t = (tex *)self;
    pthread_mutex_destroy(&t->mu);
    atomic_store(&t->destroyed, true);
}

static void tex_init(tex *t)
{
    memset(t, 0, sizeof *t);
    pthread_mutex_init(&t->mu, NULL);
    t->base.export_logs = tex_export;
    t->base.shutdown = tex_shutdown;
    t->base.destroy = tex_destroy;
}

static tel_log_record simple_rec(const char *body)
{
    tel_log_record r = {.time_ns = 1700000000000000000ull,
                        .observed_time_ns = 1700000000000000001ull,
                        .severity_number = TEL_SEVERITY_INFO,
                        .severity_text = "INFO",
                        .body = body,
                        .body_len = (uint32_t)strlen(body),
                        .scope_name = "test"};
    return r;
}

static void wait_for(atomic_bool *flag)
{
    for (int i = 0; i < 5000 && !atomic_load(flag); i++)
        usleep(1000);
    assert_true(atomic_load(flag));
}

/* ---- Tests ---- */

static void test_config_from_env(void **state)
{
    (void)state;
    tel_blrp_config c;
    unsetenv("OTEL_BLRP_MAX_QUEUE_SIZE");
    unsetenv("OTEL_BLRP_MAX_EXPORT_BATCH_SIZE");
    unsetenv("OTEL_BLRP_SCHEDULE_DELAY");
    unsetenv("OTEL_BLRP_EXPORT_TIMEOUT");
    tel_blrp_config_from_env(&c);
    assert_int_equal(c.max_queue_size, 2048);
    assert_int_equal(c.max_export_batch_size, 512);
    assert_int_equal(c.schedule_delay_ms, 1000);
    assert_int_equal(c.export_timeout_ms, 30000);
    setenv("OTEL_BLRP_MAX_QUEUE_SIZE", "100", 1);
    setenv("OTEL_BLRP_MAX_EXPORT_BATCH_SIZE", "200", 1); /* clamped to the queue */
    setenv("OTEL_BLRP_SCHEDULE_DELAY", "250", 1);
    setenv("OTEL_BLRP_EXPORT_TIMEOUT", "bogus", 1); /* invalid: default, with a warning */
    tel_blrp_config_from_env(&c);
    assert_int_equal(c.max_queue_size, 100);
    assert_int_equal(c.max_export_batch_size, 100);
    assert_int_equal(c.schedule_delay_ms, 250);
    assert_int_equal(c.export_timeout_ms, 30000);
    unsetenv("OTEL_BLRP_MAX_QUEUE_SIZE");
    unsetenv("OTEL_BLRP_MAX_EXPORT_BATCH_SIZE");
    unsetenv("OTEL_BLRP_SCHEDULE_DELAY");
    unsetenv("OTEL_BLRP_EXPORT_TIMEOUT");
}

static void test_record_is_copied(void **state)
{
    (void)state;
    tex t;
    tex_init(&t);
    tel_blrp_config cfg = {16, 16, 60000, 5000};
    tel_log_processor *p = tel_blrp_create(&t.base, NULL, &cfg);
    assert_non_null(p);

    char body[64], key[16], val[16], s0[8];
    strcpy(body, "power on srv-1");
    strcpy(key, "server_id");
    strcpy(val, "srv-1");
    strcpy(s0, "a");
    const char *strs[] = {s0, "b"};
    double dbl[] = {0.5, 1.5, 2.5};
    tel_attr attrs[] = {
        {.key = key, .type = TEL_ATTR_STRING, .len = 5, .v.s = val},
        TEL_ATTR_INT64("n", 7),
        {.key = "names", .type = TEL_ATTR_STRING_ARRAY, .len = 2, .v.arr = strs},
        {.key = "d", .type = TEL_ATTR_DOUBLE_ARRAY, .len = 3, .v.arr = dbl},
        TEL_ATTR_STR("bmc.password", "hunter2"),
    };
    tel_log_record r = simple_rec(body);
    r.attrs = attrs;
    r.n_attrs = 5;
    r.has_span = true;
    memset(r.trace_id, 0xab, 16);
    memset(r.span_id, 0xcd, 8);
    r.trace_flags = 1;
    assert_int_equal(tel_log_processor_emit(p, &r), TEL_OK);
    /* The caller's buffers change right after: the queued copy must not. */
    strcpy(body, "XXXXXXXXXXXXXX");
    strcpy(key, "YYYYYYYY");
    strcpy(val, "ZZZZZ");
    strcpy(s0, "Q");
    dbl[0] = -1;
    assert_int_equal(tel_log_processor_force_flush(p, 5000), TEL_OK);
    assert_int_equal(t.kept, 1);
    assert_string_equal(t.body[0], "power on srv-1");
    assert_string_equal(t.attr_text[0],
                        "server_id=srv-1;n=7;names=[a,b,];d=[0.5..2.5];bmc.password=[REDACTED];");
    assert_int_equal(t.rec[0].severity_number, TEL_SEVERITY_INFO);
    assert_true(t.rec[0].has_span);
    assert_int_equal(t.rec[0].trace_id[15], 0xab);
    assert_int_equal(t.rec[0].span_id[7], 0xcd);
    assert_int_equal(t.rec[0].trace_flags, 1);
    assert_true(t.rec[0].time_ns == 1700000000000000000ull);
    assert_true(t.rec[0].observed_time_ns == 1700000000000000001ull);
    assert_int_equal(t.rec[0].dropped_attrs, 0);
    tel_log_processor_destroy(p);
    assert_true(atomic_load(&t.destroyed));
}

static void test_slot_limits(void **state)
{
    (void)state;
    tex t;
    tex_init(&t);
    tel_blrp_config cfg = {16, 16, 60000, 5000};
    tel_log_processor *p = tel_blrp_create(&t.base, NULL, &cfg);

    /* A body past TEL_LOG_BODY_MAX is cut at a character boundary. */
    char big[TEL_LOG_BODY_MAX + 50];
    memset(big, 'a', sizeof big);
    memcpy(big + TEL_LOG_BODY_MAX - 1, "\xc3\xa9", 2); /* straddles the limit */
    tel_log_record r = simple_rec("");
    r.body = big;
    r.body_len = sizeof big;
    assert_int_equal(tel_log_processor_emit(p, &r), TEL_OK);

    /* More attributes than slots, and strings that do not fit: dropped and counted. */
    tel_attr many[TEL_LOG_SLOT_ATTRS + 4];
    for (int i = 0; i < TEL_LOG_SLOT_ATTRS + 4; i++)
        many[i] = TEL_ATTR_INT64("i", i);
    r = simple_rec("many");
    r.attrs = many;
    r.n_attrs = TEL_LOG_SLOT_ATTRS + 4;
    r.dropped_attrs = 1; /* already dropped upstream */
    assert_int_equal(tel_log_processor_emit(p, &r), TEL_OK);

    char huge[TEL_LOG_SLOT_ARENA];
    memset(huge, 'h', sizeof huge);
    tel_attr fat[] = {{.key = "huge", .type = TEL_ATTR_STRING, .len = sizeof huge, .v.s = huge},
                      TEL_ATTR_STR("small", "ok")};
    r = simple_rec("fat");
    r.attrs = fat;
    r.n_attrs = 2;
    assert_int_equal(tel_log_processor_emit(p, &r), TEL_OK);

    assert_int_equal(tel_log_processor_force_flush(p, 5000), TEL_OK);
    assert_int_equal(t.kept, 3);
    assert_int_equal(strlen(t.body[0]), TEL_LOG_BODY_MAX - 1);
    assert_int_equal(t.rec[1].dropped_attrs, 5);
    assert_int_equal(t.rec[2].dropped_attrs, 1);
    assert_string_equal(t.attr_text[2], "small=ok;");
    tel_log_processor_destroy(p);
}

static void test_full_queue_drops_and_counts(void **state)
{
    (void)state;
    tex t;
    tex_init(&t);
    atomic_store(&t.block, true);
    tel_blrp_config cfg = {8, 8, 60000, 10000};
    tel_log_processor *p = tel_blrp_create(&t.base, NULL, &cfg);
    tel_log_record r = simple_rec("r");
    /* One record that the export thread takes and then blocks on. */
    assert_int_equal(tel_log_processor_emit(p, &r), TEL_OK);
    assert_int_equal(tel_log_processor_force_flush(p, 1), TEL_ETIMEDOUT);
    wait_for(&t.in_export);
    /* The queue holds 8 more; the next ones are dropped at once (the caller never waits). */
    for (int i = 0; i < 8; i++)
        assert_int_equal(tel_log_processor_emit(p, &r), TEL_OK);
    uint64_t t0 = tel_mono_ns();
    for (int i = 0; i < 5; i++)
        assert_int_equal(tel_log_processor_emit(p, &r), TEL_EFULL);
    assert_true(tel_mono_ns() - t0 < 50000000u);
    tel_blrp_stats st;
    tel_blrp_get_stats(p, &st);
    assert_int_equal(st.emitted, 14);
    assert_int_equal(st.dropped_queue_full, 5);
    atomic_store(&t.block, false);
    assert_int_equal(tel_log_processor_force_flush(p, 5000), TEL_OK);
    tel_blrp_get_stats(p, &st);
    assert_int_equal(st.exported, 9);
    assert_int_equal(atomic_load(&t.records), 9);
    assert_int_equal(tel_log_processor_shutdown(p, 5000), TEL_OK);
    assert_int_equal(tel_log_processor_emit(p, &r), TEL_ESHUTDOWN);
    tel_blrp_get_stats(p, &st);
    assert_int_equal(st.emitted, st.exported + st.dropped_queue_full + st.export_failed);
    tel_log_processor_destroy(p);
}

static void test_batches_and_schedule(void **state)
{
    (void)state;
    tex t;
    tex_init(&t);
    tel_blrp_config cfg = {64, 4, 50, 5000};
    tel_log_processor *p = tel_blrp_create(&t.base, NULL, &cfg);
    tel_log_record r = simple_rec("r");
    for (int i = 0; i < 10; i++)
        assert_int_equal(tel_log_processor_emit(p, &r), TEL_OK);
    /* No flush: the scheduled runs (every 50 ms) export everything in batches of <= 4. */
    for (int i = 0; i < 2000 && atomic_load(&t.records) < 10; i++)
        usleep(1000);
    assert_int_equal(atomic_load(&t.records), 10);
    assert_true(atomic_load(&t.max_batch) <= 4);
    assert_true(atomic_load(&t.batches) >= 3);
    tel_log_processor_destroy(p);
}

static void test_shutdown_exports_queued(void **state)
{
    (void)state;
    tex t;
    tex_init(&t);
    tel_blrp_config cfg = {64, 64, 60000, 5000};
    tel_log_processor *p = tel_blrp_create(&t.base, NULL, &cfg);
    tel_log_record r = simple_rec("r");
    for (int i = 0; i < 20; i++)
        tel_log_processor_emit(p, &r);
    assert_int_equal(tel_log_processor_shutdown(p, 5000), TEL_OK);
    assert_int_equal(atomic_load(&t.records), 20);
    assert_true(atomic_load(&t.shut));
    assert_int_equal(tel_log_processor_shutdown(p, 5000), TEL_OK); /* idempotent */
    assert_int_equal(tel_log_processor_force_flush(p, 100), TEL_ESHUTDOWN);
    tel_log_processor_destroy(p);
}

static void test_bounded_shutdown_hanging_exporter(void **state)
{
    (void)state;
    /* An exporter that hangs until it is shut down: shutdown aborts it after 80% of the bound. */
    tex t;
    tex_init(&t);
    atomic_store(&t.block, true);
    atomic_store(&t.honour_shutdown, true);
    tel_blrp_config cfg = {64, 64, 60000, 60000};
    tel_log_processor *p = tel_blrp_create(&t.base, NULL, &cfg);
    tel_log_record r = simple_rec("r");
    tel_log_processor_emit(p, &r);
    tel_log_processor_force_flush(p, 1);
    wait_for(&t.in_export);
    uint64_t t0 = tel_mono_ns();
    assert_int_equal(tel_log_processor_shutdown(p, 500), TEL_OK);
    uint64_t ms = (tel_mono_ns() - t0) / 1000000u;
    assert_true(ms >= 350 && ms < 1500);
    tel_blrp_stats st;
    tel_blrp_get_stats(p, &st);
    assert_int_equal(st.export_failed, 1);
    tel_log_processor_destroy(p);

    /* One that ignores shutdown too: the call still returns within the bound (the export thread
     * is left behind until the exporter returns). */
    tex u;
    tex_init(&u);
    atomic_store(&u.block, true);
    p = tel_blrp_create(&u.base, NULL, &cfg);
    tel_log_processor_emit(p, &r);
    tel_log_processor_force_flush(p, 1);
    wait_for(&u.in_export);
    t0 = tel_mono_ns();
    assert_int_equal(tel_log_processor_shutdown(p, 300), TEL_ETIMEDOUT);
    ms = (tel_mono_ns() - t0) / 1000000u;
    assert_true(ms >= 250 && ms < 1500);
    atomic_store(&u.block, false); /* the abandoned export ends now */
    tel_log_processor_destroy(p);  /* waits briefly for the abandoned thread, then frees */
    assert_true(atomic_load(&u.destroyed));
}

typedef struct emitter_arg {
    tel_log_processor *p;
    int n;
    uint64_t ok, full;
} emitter_arg;

static void *emitter(void *arg)
{
    emitter_arg *a = arg;
    char body[32];
    tel_attr at[] = {TEL_ATTR_STR("k", "v"), TEL_ATTR_INT64("i", 0)};
    for (int i = 0; i < a->n; i++) {
        snprintf(body, sizeof body, "record %d", i);
        tel_log_record r = simple_rec(body);
        at[1].v.i = i;
        r.attrs = at;
        r.n_attrs = 2;
        int rc = tel_log_processor_emit(a->p, &r);
        if (rc == TEL_OK)
            a->ok++;
        else if (rc == TEL_EFULL)
            a->full++;
        else
            abort();
    }
    return NULL;
}

static void test_concurrent_emitters(void **state)
{
    (void)state;
    tex t;
    tex_init(&t);
    tel_blrp_config cfg = {256, 64, 5, 5000};
    tel_log_processor *p = tel_blrp_create(&t.base, NULL, &cfg);
    emitter_arg a[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        a[i] = (emitter_arg){p, 20000, 0, 0};
        pthread_create(&th[i], NULL, emitter, &a[i]);
    }
    uint64_t ok = 0, full = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        ok += a[i].ok;
        full += a[i].full;
    }
    assert_int_equal(tel_log_processor_shutdown(p, 10000), TEL_OK);
    tel_blrp_stats st;
    tel_blrp_get_stats(p, &st);
    assert_int_equal(ok + full, 80000);
    assert_int_equal(st.emitted, 80000);
    assert_int_equal(st.dropped_queue_full, full);
    assert_int_equal(st.exported, ok);
    assert_int_equal(atomic_load(&t.records), ok);
    printf("concurrent: %llu exported, %llu dropped\n", (unsigned long long)ok,
           (unsigned long long)full);
    tel_log_processor_destroy(p);
}

static void test_fork_child_gets_a_working_pipeline(void **state)
{
    (void)state;
    tex t;
    tex_init(&t);
    tel_blrp_config cfg = {64, 64, 60000, 5000};
    tel_log_processor *p = tel_blrp_create(&t.base, NULL, &cfg);
    tel_log_record r = simple_rec("parent");
    tel_log_processor_emit(p, &r); /* queued, not exported yet */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        tel_log_record c = simple_rec("child");
        int rc = tel_log_processor_emit(p, &c);
        int fl = tel_log_processor_force_flush(p, 5000);
        /* the child's queue started empty: only its own record was exported */
        _exit(rc == TEL_OK && fl == TEL_OK && atomic_load(&t.records) == 1 &&
                      strcmp(t.body[0], "child") == 0
                  ? 0
                  : 1);
    }
    int st;
    waitpid(pid, &st, 0);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    assert_int_equal(tel_log_processor_force_flush(p, 5000), TEL_OK);
    assert_int_equal(atomic_load(&t.records), 1);
    assert_string_equal(t.body[0], "parent");
    tel_log_processor_destroy(p);
}

static void test_invalid_arguments(void **state)
{
    (void)state;
    assert_null(tel_blrp_create(NULL, NULL, NULL));
    tel_log_record r = simple_rec("x");
    assert_int_equal(tel_log_processor_emit(NULL, &r), TEL_EINVAL);
    tel_log_processor_destroy(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_from_env),
        cmocka_unit_test(test_record_is_copied),
        cmocka_unit_test(test_slot_limits),
        cmocka_unit_test(test_full_queue_drops_and_counts),
        cmocka_unit_test(test_batches_and_schedule),
        cmocka_unit_test(test_shutdown_exports_queued),
        cmocka_unit_test(test_bounded_shutdown_hanging_exporter),
        cmocka_unit_test(test_concurrent_emitters),
        cmocka_unit_test(test_fork_child_gets_a_working_pipeline),
        cmocka_unit_test(test_invalid_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
