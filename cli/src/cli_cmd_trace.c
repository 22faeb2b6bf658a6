/* `bmcctl trace show <trace-id|file>`: the waterfall of traces read from OTLP JSON lines. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "cli/trace.h"
#include "cli/waterfall.h"
#include "cli_cmd.h"

static int term_width(void)
{
    struct winsize ws;
    if (isatty(1) && ioctl(1, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 40)
        return ws.ws_col;
    const char *c = getenv("COLUMNS");
    int n = c ? atoi(c) : 0;
    return n >= 40 ? n : 120;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* True when every span's parent (if any) is in the set. */
static bool parents_present(const cli_span_set *s)
{
    for (size_t i = 0; i < s->n; i++) {
        const uint8_t *p = s->spans[i].parent_id;
        bool zero = true;
        for (int k = 0; k < 8; k++)
            zero = zero && p[k] == 0;
        if (zero)
            continue;
        bool found = false;
        for (size_t j = 0; j < s->n && !found; j++)
            found = memcmp(s->spans[j].span_id, p, 8) == 0 &&
                    memcmp(s->spans[j].trace_id, s->spans[i].trace_id, 16) == 0;
        if (!found)
            return false;
    }
    return true;
}

static int load(cli_span_set *set, const char *path, const uint8_t *only)
{
    cli_span_set_cleanup(set);
    cli_span_set_init(set);
    if (strcmp(path, "-") == 0)
        return cli_span_set_load_stream(set, stdin, only);
    return cli_span_set_load_file(set, path, only);
}

static int show(cli_inv *inv, const cli_span_set *set, const uint8_t id[16], int width)
{
    cli_trace_tree t;
    if (cli_trace_tree_build(set, id, &t) < 0)
        return cli_fail(inv, CLI_EXIT_OTHER, "internal", "out of memory");
    cli_waterfall_opts o = {.width = width, .color = inv->color};
    int rc = inv->json ? cli_waterfall_write_json(&t, stdout) : cli_waterfall_write(&t, &o, stdout);
    cli_trace_tree_cleanup(&t);
    return rc == 0 ? CLI_EXIT_OK : cli_fail(inv, CLI_EXIT_OTHER, "io", "cannot write the output");
}

int cli_cmd_trace_show(cli_inv *inv)
{
    const char *target = NULL, *file = NULL;
    long wait_ms = 0;
    int width = 0;
    bool last = false;
    for (int i = 0; i < inv->argc; i++) {
        const char *a = inv->argv[i];
        if (strcmp(a, "--file") == 0 && i + 1 < inv->argc)
            file = inv->argv[++i];
        else if (strncmp(a, "--file=", 7) == 0)
            file = a + 7;
        else if (strcmp(a, "--wait") == 0 && i + 1 < inv->argc)
            wait_ms = (long)(atof(inv->argv[++i]) * 1000);
        else if (strncmp(a, "--wait=", 7) == 0)
            wait_ms = (long)(atof(a + 7) * 1000);
        else if (strcmp(a, "--width") == 0 && i + 1 < inv->argc)
            width = atoi(inv->argv[++i]);
        else if (strcmp(a, "--last") == 0)
            last = true;
        else if (!target && (a[0] != '-' || strcmp(a, "-") == 0))
            target = a;
        else
            return cli_fail(inv, CLI_EXIT_USAGE, "usage",
                            "trace show: unexpected argument \"%s\" (usage: bmcctl trace show "
                            "<trace-id|file> [--file FILE] [--wait SECONDS] [--last])", a);
    }
    if (!target)
        return cli_fail(inv, CLI_EXIT_USAGE, "usage",
                        "usage: bmcctl trace show <trace-id|file> [--file FILE] [--wait SECONDS]");
    if (wait_ms < 0 || wait_ms > 600000)
        return cli_fail(inv, CLI_EXIT_USAGE, "usage", "--wait takes 0 to 600 seconds");
    if (width <= 0)
        width = term_width();
    uint8_t id[16];
    bool by_id = cli_trace_id_parse(target, id) && access(target, F_OK) != 0;
    if (by_id) {
        snprintf(inv->trace_id, sizeof inv->trace_id, "%s", target);
        if (!file)
            file = getenv("BMC_TRACES_FILE");
        if (!file || !*file)
            return cli_fail(inv, CLI_EXIT_USAGE, "usage",
                            "trace show: which file? give --file FILE or set BMC_TRACES_FILE "
                            "(make local-env-up TRACES=file writes .local-env/traces.jsonl)");
    } else {
        if (file)
            return cli_fail(inv, CLI_EXIT_USAGE, "usage",
                            "trace show: \"%s\" is not a trace id (32 hex digits)", target);
        file = target;
    }
    cli_span_set set;
    cli_span_set_init(&set);
    long deadline = now_ms() + wait_ms;
    size_t prev = (size_t)-1;
    long stable_since = now_ms();
    for (;;) {
        int rc = load(&set, file, by_id ? id : NULL);
        if (rc < 0 && !(errno == ENOENT && now_ms() < deadline)) {
            int e = errno;
            cli_span_set_cleanup(&set);
            if (e == ENOENT)
                return cli_fail(inv, CLI_EXIT_NOT_FOUND, "no_file", "no such file: %s", file);
            return cli_fail(inv, CLI_EXIT_OTHER, "io", "cannot read %s: %s", file, strerror(e));
        }
        if (set.n != prev) {
            prev = set.n;
            stable_since = now_ms();
        }
        /* Complete: spans present, every parent present, nothing new for 700 ms. */
        bool complete = set.n > 0 && (!by_id || parents_present(&set)) && now_ms() - stable_since >= 700;
        if (wait_ms == 0 || complete || now_ms() >= deadline)
            break;
        sleep_ms(100);
    }
    if (set.bad)
        fprintf(stderr, "bmcctl: %s: skipped %zu malformed line%s or span%s\n", file, set.bad,
                set.bad == 1 ? "" : "s", set.bad == 1 ? "" : "s");
    if (set.n == 0) {
        cli_span_set_cleanup(&set);
        if (by_id)
            return cli_fail(inv, CLI_EXIT_NOT_FOUND, "trace_not_found",
                            "trace %s not found in %s%s", target, file,
                            wait_ms ? "" : " (spans may still be on their way: try --wait 5)");
        return cli_fail(inv, CLI_EXIT_NOT_FOUND, "no_spans", "no spans in %s", file);
    }
    int rc = CLI_EXIT_OK;
    if (by_id) {
        rc = show(inv, &set, id, width);
    } else {
        size_t n = cli_span_set_trace_ids(&set, NULL, 0);
        uint8_t(*ids)[16] = calloc(n ? n : 1, sizeof *ids);
        if (!ids) {
            cli_span_set_cleanup(&set);
            return cli_fail(inv, CLI_EXIT_OTHER, "internal", "out of memory");
        }
        cli_span_set_trace_ids(&set, ids, n);
        for (size_t i = last ? n - 1 : 0; i < n && rc == CLI_EXIT_OK; i++) {
            if (i > (last ? n - 1 : 0) && !inv->json)
                fputc('\n', stdout);
            rc = show(inv, &set, ids[i], width);
        }
        free(ids);
    }
    cli_span_set_cleanup(&set);
    return rc;
}
