/* Unit tests of the secrets policy (redact.c): the key denylist, fragments added at run time,
 * the per-thread verdict cache, attribute rewriting, and the redaction pass over span records
 * through the simple and the batch processors.
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

#include "telemetry/redact.h"
#include "test_tracing.h"
#include "trace_internal.h"

static void test_builtin_denylist(void **state)
{
    (void)state;
    static const char *const denied[] = {
        "password",
        "bmc.password",
        "PASSWORD",
        "db.Passwd",
        "http.request.header.authorization",
        "http.request.header.proxy-authorization",
        "Authorization",
        "token",
        "session_token",
        "access-token",
        "jwt.TOKEN.raw",
        "client_secret",
        "SecretKey",
        "http.response.header.set-cookie",
        "Cookie",
        "bmc.credentials",
        "credential",
        "api_key",
        "x-api-key",
        "http.request.header.x-api-key",
        "X-API-KEY",
        "apikey",
        "ApiKey",
        "private_key",
        "ssh.private-key",
        "tls.privatekey.pem.private_key",
    };
    static const char *const allowed[] = {
        "",
        "http.request.method",
        "server_id",
        "session_id",
        "customer_id",
        "passage",
        "pass",
        "tok",
        "author",
        "cooki",
        "api",
        "apik",
        "private",
        "privatekey", /* no separator: not a listed fragment */
        "url.path",
        "bmc.address",
    };
    for (size_t i = 0; i < sizeof denied / sizeof denied[0]; i++) {
        if (!tel_redact_key_denied(denied[i])) fail_msg("%s should be denied", denied[i]);
        /* twice: the second answer comes from the cache */
        assert_true(tel_redact_key_denied(denied[i]));
    }
    for (size_t i = 0; i < sizeof allowed / sizeof allowed[0]; i++) {
        if (tel_redact_key_denied(allowed[i])) fail_msg("%s should be allowed", allowed[i]);
        assert_false(tel_redact_key_denied(allowed[i]));
    }
    assert_false(tel_redact_key_denied(NULL));
}

static void test_cache_follows_content(void **state)
{
    (void)state;
    /* The same address with different text: the verdict must follow the text. */
    char key[64];
    strcpy(key, "user");
    assert_false(tel_redact_key_denied(key));
    strcpy(key, "password");
    assert_true(tel_redact_key_denied(key));
    strcpy(key, "pass");
    assert_false(tel_redact_key_denied(key));
    strcpy(key, "x.token");
    assert_true(tel_redact_key_denied(key));
    /* A key longer than the cache keeps: always computed. */
    char longk[200];
    memset(longk, 'a', sizeof longk - 1);
    longk[sizeof longk - 1] = '\0';
    assert_false(tel_redact_key_denied(longk));
    memcpy(longk + 150, "secret", 6);
    assert_true(tel_redact_key_denied(longk));
}

static void test_add_key(void **state)
{
    (void)state;
    char key[] = "bmc.widget_serial";
    assert_false(tel_redact_key_denied(key));
    assert_int_equal(tel_redact_add_key("Widget-Serial"), TEL_OK); /* folded: widget_serial */
    assert_true(tel_redact_key_denied(key)); /* the cached "allowed" verdict is not reused */
    assert_true(tel_redact_key_denied("X-WIDGET-SERIAL-NUMBER"));
    assert_int_equal(tel_redact_add_key("my_password_field"), TEL_OK); /* covered already */
    assert_int_equal(tel_redact_add_key(""), TEL_EINVAL);
    assert_int_equal(tel_redact_add_key(NULL), TEL_EINVAL);
    char big[TEL_REDACT_FRAGMENT_MAX + 2];
    memset(big, 'z', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(tel_redact_add_key(big), TEL_ETOOBIG);

    /* The table is bounded (in a child: the parent's policy stays as it is). */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int rc = TEL_OK, added = 0;
        for (int i = 0; i < 100 && rc == TEL_OK; i++) {
            char frag[32];
            snprintf(frag, sizeof frag, "frag%03dx", i);
            rc = tel_redact_add_key(frag);
            added += rc == TEL_OK;
        }
        _exit(rc == TEL_EFULL && added == TEL_REDACT_MAX_FRAGMENTS - 1 &&
                      tel_redact_key_denied("a.frag005x.b") && !tel_redact_key_denied("frag099x")
                  ? 0
                  : 1);
    }
    int st;
    waitpid(pid, &st, 0);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static void test_redact_attr(void **state)
{
    (void)state;
    static const int64_t ints[] = {1, 2};
    tel_attr a[] = {
        TEL_ATTR_STR("bmc.password", "hunter2"),
        TEL_ATTR_INT64("token_expiry", 3600),
        {.key = "cookies", .type = TEL_ATTR_INT_ARRAY, .len = 2, .v.arr = ints},
        TEL_ATTR_STR("user", "alice"),
        TEL_ATTR_BOOLEAN("ok", true),
    };
    assert_int_equal(tel_redact_attrs(a, 5), 3);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(a[i].type, TEL_ATTR_STRING);
        assert_string_equal(a[i].v.s, TEL_REDACTED);
        assert_int_equal(a[i].len, strlen(TEL_REDACTED));
    }
    assert_string_equal(a[0].key, "bmc.password"); /* the key stays */
    assert_string_equal(a[3].v.s, "alice");
    assert_true(a[4].v.b);
    assert_false(tel_redact_attr(&a[3]));
    assert_false(tel_redact_attr(NULL));
}

/* A record with denied keys everywhere: inline and extra attributes, events, links. */
static void make_secret_span(tel_tracer *t)
{
    tel_span *s = tel_span_start(t, "POST /v1/login", TEL_SPAN_KIND_SERVER, NULL);
    tel_span_set_str(s, "http.request.header.authorization", "Bearer abc");
    tel_span_set_str(s, "bmc.password", "hunter2");
    tel_span_set_str(s, "user", "alice");
    for (int i = 0; i < 20; i++) { /* past the inline slots */
        static const char *const keys[] = {"k0",  "k1",  "k2",  "k3",  "k4",  "k5",  "k6",
                                           "k7",  "k8",  "k9",  "k10", "k11", "k12", "k13",
                                           "k14", "k15", "k16", "k17", "k18", "k19"};
        tel_span_set_int(s, keys[i], i);
    }
    tel_span_set_str(s, "client_secret", "s3cr3t");
    char dyn[32];
    snprintf(dyn, sizeof dyn, "x-api-key");
    tel_attr dk = TEL_ATTR_STR(dyn, "k-123");
    tel_span_set_attr_copy_key(s, &dk);
    tel_attr ev[] = {TEL_ATTR_STR("session_token", "tok-9"), TEL_ATTR_INT64("attempt", 1)};
    tel_span_add_event(s, "retry", ev, 2);
    tel_span_context lsc;
    memset(&lsc, 0, sizeof lsc);
    memset(lsc.trace_id, 1, 16);
    memset(lsc.span_id, 2, 8);
    tel_attr la[] = {TEL_ATTR_STR("cookie", "c=1")};
    tel_span_add_link(s, &lsc, NULL, la, 1);
    tel_span_end(s);
}

static void check_redacted(const tel_span_data *d)
{
    assert_non_null(d);
    static const char *const secrets[] = {"Bearer abc", "hunter2", "s3cr3t",
                                          "k-123",      "tok-9",   "c=1"};
    uint32_t n = tel_span_data_attr_count(d);
    assert_int_equal(n, 25);
    int redacted = 0;
    for (uint32_t i = 0; i < n; i++) {
        const tel_attr *a = tel_span_data_attr(d, i);
        if (a->type != TEL_ATTR_STRING) continue;
        for (size_t k = 0; k < sizeof secrets / sizeof secrets[0]; k++)
            assert_null(strstr(a->v.s, secrets[k]));
        redacted += strcmp(a->v.s, TEL_REDACTED) == 0;
    }
    assert_int_equal(redacted, 4);
    assert_string_equal(test_attr(d, "user")->v.s, "alice");
    const tel_event *e = &d->extra->events[0];
    assert_string_equal(e->attrs[0].v.s, TEL_REDACTED);
    assert_int_equal(e->attrs[1].v.i, 1);
    const tel_link *l = &d->extra->links[0];
    assert_string_equal(l->attrs[0].v.s, TEL_REDACTED);
}

static void test_span_redaction_simple(void **state)
{
    (void)state;
    test_tracing tt;
    test_tracing_init(&tt, TEL_SAMPLER_ALWAYS_ON, 1.0, NULL);
    make_secret_span(tt.tracer);
    check_redacted(tel_memory_exporter_find(tt.mem, "POST /v1/login"));
    test_tracing_cleanup(&tt);
}

static void test_span_redaction_batch(void **state)
{
    (void)state;
    tel_tracer_provider_config cfg = {0};
    tel_attr svc = TEL_ATTR_STR("service.name", "redact-test");
    cfg.resource = tel_resource_create(&svc, 1);
    cfg.has_sampler = true;
    tel_sampler_init(&cfg.sampler, TEL_SAMPLER_ALWAYS_ON, 1.0);
    tel_tracer_provider *p = tel_tracer_provider_create(&cfg);
    tel_memory_exporter *mem = tel_memory_exporter_create();
    tel_bsp_config bc = {64, 64, 60000, 5000};
    tel_tracer_provider_add_processor(p, tel_bsp_create(tel_memory_exporter_base(mem), &bc));
    make_secret_span(tel_tracer_get(p, "t", NULL));
    assert_int_equal(tel_tracer_provider_force_flush(p, 5000), TEL_OK);
    check_redacted(tel_memory_exporter_find(mem, "POST /v1/login"));
    tel_tracer_provider_destroy(p);
}

/* Checks from several threads while fragments are added (TSan: no race on the table). */
static atomic_bool stop_checks;
static void *checker(void *arg)
{
    (void)arg;
    char key[32];
    long n = 0;
    while (!atomic_load(&stop_checks)) {
        snprintf(key, sizeof key, "thread.%ld.password", n % 7);
        if (!tel_redact_key_denied(key)) abort();
        if (tel_redact_key_denied("http.route")) abort();
        (void)tel_redact_key_denied("conc_fragment_3.x");
        n++;
    }
    return NULL;
}

static void test_concurrent_checks(void **state)
{
    (void)state;
    pthread_t th[3];
    atomic_store(&stop_checks, false);
    for (int i = 0; i < 3; i++)
        pthread_create(&th[i], NULL, checker, NULL);
    for (int i = 0; i < 5; i++) {
        char frag[32];
        snprintf(frag, sizeof frag, "conc_fragment_%d", i);
        assert_int_equal(tel_redact_add_key(frag), TEL_OK);
        usleep(2000);
    }
    atomic_store(&stop_checks, true);
    for (int i = 0; i < 3; i++)
        pthread_join(th[i], NULL);
    assert_true(tel_redact_key_denied("conc_fragment_3.x"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_builtin_denylist),
        cmocka_unit_test(test_cache_follows_content),
        cmocka_unit_test(test_add_key),
        cmocka_unit_test(test_redact_attr),
        cmocka_unit_test(test_span_redaction_simple),
        cmocka_unit_test(test_span_redaction_batch),
        cmocka_unit_test(test_concurrent_checks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
