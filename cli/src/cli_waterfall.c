/* Trace tree, critical path and waterfall rendering: see cli/waterfall.h. */
#include "cli/waterfall.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

typedef struct node {
    const cli_span *span;
    long parent;      /* node index or -1 */
    long first_child; /* node index or -1, children in display order */
    long next;        /* next sibling */
    bool critical;
    bool visited;
} node;

/* Span order among siblings: start, then end, then span id. */
static int span_cmp(const cli_span *a, const cli_span *b)
{
    if (a->start_ns != b->start_ns)
        return a->start_ns < b->start_ns ? -1 : 1;
    if (a->end_ns != b->end_ns)
        return a->end_ns < b->end_ns ? -1 : 1;
    return memcmp(a->span_id, b->span_id, 8);
}

static const node *sort_nodes;

static int by_span_id(const void *pa, const void *pb)
{
    const node *a = &sort_nodes[*(const long *)pa], *b = &sort_nodes[*(const long *)pb];
    return memcmp(a->span->span_id, b->span->span_id, 8);
}

static int by_start(const void *pa, const void *pb)
{
    return span_cmp(sort_nodes[*(const long *)pa].span, sort_nodes[*(const long *)pb].span);
}

/* Node index of the span with this id (ids sorted by span id), or -1. */
static long find_node(const node *nodes, const long *sorted, size_t n, const uint8_t id[8])
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = memcmp(nodes[sorted[mid]].span->span_id, id, 8);
        if (c == 0)
            return sorted[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

static bool is_zero8(const uint8_t id[8])
{
    for (int i = 0; i < 8; i++)
        if (id[i])
            return false;
    return true;
}

/* True when `anc` is an ancestor of (or is) `n` along already-set parent links. */
static bool creates_cycle(const node *nodes, long n, long parent)
{
    for (long p = parent; p >= 0; p = nodes[p].parent)
        if (p == n)
            return true;
    return false;
}

/* Jaeger's critical path over the subtree of `root` (see the header). */
static void critical_path(node *nodes, long root)
{
    long cur = root;
    uint64_t until = nodes[root].span->end_ns;
    for (;;) {
        nodes[cur].critical = true;
        long best = -1;
        uint64_t best_end = 0;
        for (long c = nodes[cur].first_child; c >= 0; c = nodes[c].next) {
            const cli_span *s = nodes[c].span;
            if (s->start_ns >= until)
                continue;
            uint64_t eff = s->end_ns < until ? s->end_ns : until;
            if (best < 0 || eff > best_end || (eff == best_end && s->start_ns > nodes[best].span->start_ns)) {
                best = c;
                best_end = eff;
            }
        }
        if (best >= 0) {
            cur = best;
            until = best_end;
            continue;
        }
        if (cur == root)
            break;
        until = nodes[cur].span->start_ns;
        cur = nodes[cur].parent;
    }
}

int cli_trace_tree_build(const cli_span_set *set, const uint8_t trace_id[16], cli_trace_tree *t)
{
    memset(t, 0, sizeof *t);
    t->slowest_leaf = -1;
    size_t m = 0;
    for (size_t i = 0; i < set->n; i++)
        if (memcmp(set->spans[i].trace_id, trace_id, 16) == 0)
            m++;
    if (m == 0)
        return 0;
    node *nodes = calloc(m, sizeof *nodes);
    long *sorted = calloc(m, sizeof *sorted);
    long *order = calloc(m, sizeof *order);
    long *stack = calloc(m, sizeof *stack);
    const char **services = calloc(m, sizeof *services);
    long *node_row = calloc(m, sizeof *node_row);
    t->rows = calloc(m, sizeof *t->rows);
    if (!nodes || !sorted || !order || !stack || !services || !node_row || !t->rows) {
        free(node_row);
        free(nodes);
        free(sorted);
        free(order);
        free(stack);
        free(services);
        free(t->rows);
        t->rows = NULL;
        return -1;
    }
    size_t k = 0;
    for (size_t i = 0; i < set->n; i++)
        if (memcmp(set->spans[i].trace_id, trace_id, 16) == 0) {
            nodes[k] = (node){&set->spans[i], -1, -1, -1, false, false};
            sorted[k] = (long)k;
            order[k] = (long)k;
            k++;
        }
    sort_nodes = nodes;
    qsort(sorted, m, sizeof *sorted, by_span_id);
    qsort(order, m, sizeof *order, by_start);
    /* Parent links (a link that would close a cycle is dropped: that span becomes a root). */
    for (size_t i = 0; i < m; i++) {
        long n = order[i];
        const cli_span *s = nodes[n].span;
        if (is_zero8(s->parent_id))
            continue;
        long p = find_node(nodes, sorted, m, s->parent_id);
        if (p >= 0 && p != n && !creates_cycle(nodes, n, p))
            nodes[n].parent = p;
    }
    /* Children lists in start order: append in global start order. */
    long *last_child = sorted; /* reuse: no longer needed for lookups */
    for (size_t i = 0; i < m; i++)
        last_child[i] = -1;
    for (size_t i = 0; i < m; i++) {
        long n = order[i], p = nodes[n].parent;
        if (p < 0)
            continue;
        if (last_child[p] < 0)
            nodes[p].first_child = n;
        else
            nodes[last_child[p]].next = n;
        last_child[p] = n;
    }
    /* Depth-first flattening, roots in start order. */
    size_t nrows = 0;
    long first_root = -1;
    for (size_t i = 0; i < m; i++) {
        long r = order[i];
        if (nodes[r].parent >= 0)
            continue;
        if (first_root < 0)
            first_root = r;
        size_t sp = 0;
        stack[sp++] = r;
        while (sp) {
            long n = stack[--sp];
            nodes[n].visited = true;
            long prow = nodes[n].parent >= 0 ? node_row[nodes[n].parent] : -1;
            int depth = prow >= 0 ? t->rows[prow].depth + 1 : 0;
            node_row[n] = (long)nrows;
            t->rows[nrows++] = (cli_trace_row){nodes[n].span, depth, prow, false};
            /* push children in reverse so the first child pops first */
            size_t nc = 0;
            for (long c = nodes[n].first_child; c >= 0; c = nodes[c].next)
                nc++;
            sp += nc;
            size_t j = sp;
            for (long c = nodes[n].first_child; c >= 0; c = nodes[c].next)
                stack[--j] = c;
        }
    }
    t->n = nrows;
    critical_path(nodes, first_root);
    /* Copy the marks to the rows; times, services; the slowest leaf. */
    t->start_ns = UINT64_MAX;
    uint64_t best = 0;
    long best_row = -1;
    for (size_t i = 0; i < m; i++)
        stack[node_row[i]] = (long)i; /* stack becomes row -> node */
    for (size_t r = 0; r < nrows; r++) {
        const cli_span *s = t->rows[r].span;
        long n = stack[r];
        t->rows[r].critical = nodes[n].critical;
        if (s->start_ns < t->start_ns)
            t->start_ns = s->start_ns;
        if (s->end_ns > t->end_ns)
            t->end_ns = s->end_ns;
        size_t j = 0;
        while (j < t->n_services && strcmp(services[j], s->service) != 0)
            j++;
        if (j == t->n_services)
            services[t->n_services++] = s->service;
        if (nodes[n].critical && nodes[n].first_child < 0) {
            uint64_t d = s->end_ns - s->start_ns;
            if (best_row < 0 || d > best) {
                best = d;
                best_row = (long)r;
            }
        }
    }
    if (best_row < 0) {
        /* Every critical span has children: the one with the most time not in its children. */
        for (size_t r = 0; r < nrows; r++) {
            if (!t->rows[r].critical)
                continue;
            const cli_span *s = t->rows[r].span;
            uint64_t d = s->end_ns - s->start_ns, covered = 0;
            for (size_t c = r + 1; c < nrows; c++)
                if (t->rows[c].parent == (long)r)
                    covered += t->rows[c].span->end_ns - t->rows[c].span->start_ns;
            uint64_t self = covered < d ? d - covered : 0;
            if (best_row < 0 || self > best) {
                best = self;
                best_row = (long)r;
            }
        }
    }
    t->slowest_leaf = best_row;
    free(node_row);
    free(nodes);
    free(sorted);
    free(order);
    free(stack);
    free(services);
    return 0;
}

void cli_trace_tree_cleanup(cli_trace_tree *t)
{
    free(t->rows);
    memset(t, 0, sizeof *t);
    t->slowest_leaf = -1;
}

char *cli_format_duration(uint64_t ns, char buf[16])
{
    if (ns == 0)
        snprintf(buf, 16, "0");
    else if (ns < 1000)
        snprintf(buf, 16, "%" PRIu64 "ns", ns);
    else if (ns < 1000000)
        snprintf(buf, 16, "%.1fus", (double)ns / 1e3);
    else if (ns < 1000000000)
        snprintf(buf, 16, "%.3fms", (double)ns / 1e6);
    else if (ns < 100000000000000ull)
        snprintf(buf, 16, "%.3fs", (double)ns / 1e9);
    else
        snprintf(buf, 16, "%.0fs", (double)ns / 1e9);
    return buf;
}

/* Writes s cut to width w (with '~' when cut), padded with spaces to w. */
static void put_cell(FILE *out, const char *s, size_t w)
{
    size_t len = strlen(s);
    if (len > w && w > 0) {
        fwrite(s, 1, w - 1, out);
        fputc('~', out);
    } else {
        fputs(s, out);
        for (size_t i = len; i < w; i++)
            fputc(' ', out);
    }
}

int cli_waterfall_write(const cli_trace_tree *t, const cli_waterfall_opts *o, FILE *out)
{
    int width = o && o->width > 0 ? o->width : 120;
    bool color = o && o->color;
    if (t->n == 0) {
        fprintf(out, "(no spans)\n");
        return ferror(out) ? -1 : 0;
    }
    char idhex[33], d[16];
    cli_hex(t->rows[0].span->trace_id, 16, idhex);
    uint64_t total = t->end_ns - t->start_ns;
    fprintf(out, "Trace %s  %zu span%s, %zu service%s, %s\n", idhex, t->n, t->n == 1 ? "" : "s",
            t->n_services, t->n_services == 1 ? "" : "s", cli_format_duration(total, d));
    /* Column widths. */
    size_t wsvc = strlen("SERVICE"), wspan = strlen("SPAN");
    for (size_t r = 0; r < t->n; r++) {
        size_t ls = strlen(t->rows[r].span->service);
        size_t ln = (size_t)t->rows[r].depth * 2 + strlen(t->rows[r].span->name);
        if (ls > wsvc)
            wsvc = ls;
        if (ln > wspan)
            wspan = ln;
    }
    if (wsvc > 20)
        wsvc = 20;
    if (wspan > 48)
        wspan = 48;
    const size_t wnum = 10;
    /* marker(2) svc 2 span 2 start 2 dur 2 |bar| 2 status(>=8) */
    long fixed = 2 + (long)wsvc + 2 + (long)wspan + 2 + (long)wnum + 2 + (long)wnum + 2 + 2 + 2 + 8;
    long wbar = width - fixed;
    if (wbar < 10)
        wbar = 10;
    if (wbar > 80)
        wbar = 80;
    fputs("  ", out);
    put_cell(out, "SERVICE", wsvc);
    fputs("  ", out);
    put_cell(out, "SPAN", wspan);
    fprintf(out, "  %*s  %*s  ", (int)wnum, "START", (int)wnum, "DURATION");
    put_cell(out, "TIMELINE", (size_t)wbar + 2);
    fputs("  STATUS\n", out);
    char *bar = malloc((size_t)wbar + 1);
    char *cell = malloc(wspan + 1 + 256);
    if (!bar || !cell) {
        free(bar);
        free(cell);
        return -1;
    }
    for (size_t r = 0; r < t->n; r++) {
        const cli_trace_row *row = &t->rows[r];
        const cli_span *s = row->span;
        bool slow = (long)r == t->slowest_leaf;
        if (color && row->critical)
            fputs("\033[1m", out);
        fputs(row->critical ? "* " : "  ", out);
        put_cell(out, s->service, wsvc);
        fputs("  ", out);
        size_t indent = (size_t)row->depth * 2;
        if (indent > wspan / 2)
            indent = wspan / 2;
        memset(cell, ' ', indent);
        snprintf(cell + indent, wspan + 1 + 256 - indent, "%s", s->name);
        put_cell(out, cell, wspan);
        char a[16], b[16];
        cli_format_duration(s->start_ns - t->start_ns, a);
        cli_format_duration(s->end_ns - s->start_ns, b);
        fprintf(out, "  %*s  %*s  ", (int)wnum, a, (int)wnum, b);
        /* Bar: columns [from, to) of wbar scaled over the trace's duration; at least one. */
        long from = 0, to = wbar;
        if (total > 0) {
            from = (long)((double)(s->start_ns - t->start_ns) * (double)wbar / (double)total);
            to = (long)(((double)(s->end_ns - t->start_ns) * (double)wbar + (double)total - 1) /
                        (double)total);
        }
        if (from >= wbar)
            from = wbar - 1;
        if (to <= from)
            to = from + 1;
        if (to > wbar)
            to = wbar;
        for (long i = 0; i < wbar; i++)
            bar[i] = i >= from && i < to ? '#' : ' ';
        bar[wbar] = '\0';
        fprintf(out, "|%s|", bar);
        if (s->status == CLI_STATUS_ERROR) {
            fprintf(out, "  %sERROR%s%s%s", color ? "\033[31m" : "",
                    s->status_message ? ": " : "", s->status_message ? s->status_message : "",
                    color ? "\033[39m" : "");
        } else if (s->status == CLI_STATUS_OK) {
            fputs("  ok", out);
        }
        if (slow)
            fputs("  <-- slowest", out);
        if (color && row->critical)
            fputs("\033[0m", out);
        fputc('\n', out);
    }
    free(bar);
    free(cell);
    if (t->slowest_leaf >= 0) {
        const cli_span *s = t->rows[t->slowest_leaf].span;
        fprintf(out, "* critical path; slowest leaf on it: %s \"%s\" (%s)\n", s->service, s->name,
                cli_format_duration(s->end_ns - s->start_ns, d));
    }
    return ferror(out) ? -1 : 0;
}

int cli_waterfall_write_json(const cli_trace_tree *t, FILE *out)
{
    char hex[33];
    json_t *root = json_object();
    json_t *spans = json_array();
    if (!root || !spans) {
        json_decref(root);
        json_decref(spans);
        return -1;
    }
    static const char *const st[] = {"unset", "ok", "error"};
    if (t->n) {
        cli_hex(t->rows[0].span->trace_id, 16, hex);
        json_object_set_new(root, "trace_id", json_string(hex));
    } else {
        json_object_set_new(root, "trace_id", json_null());
    }
    json_object_set_new(root, "duration_ns", json_integer((json_int_t)(t->end_ns - t->start_ns)));
    json_object_set_new(root, "span_count", json_integer((json_int_t)t->n));
    json_object_set_new(root, "service_count", json_integer((json_int_t)t->n_services));
    for (size_t r = 0; r < t->n; r++) {
        const cli_span *s = t->rows[r].span;
        json_t *o = json_object();
        if (!o)
            break;
        cli_hex(s->span_id, 8, hex);
        json_object_set_new(o, "span_id", json_string(hex));
        if (t->rows[r].parent >= 0 || !is_zero8(s->parent_id)) {
            cli_hex(s->parent_id, 8, hex);
            json_object_set_new(o, "parent_span_id", json_string(hex));
        } else {
            json_object_set_new(o, "parent_span_id", json_null());
        }
        json_object_set_new(o, "service", json_string(s->service));
        json_object_set_new(o, "name", json_string(s->name));
        json_object_set_new(o, "kind", json_integer(s->kind));
        json_object_set_new(o, "depth", json_integer(t->rows[r].depth));
        json_object_set_new(o, "start_offset_ns", json_integer((json_int_t)(s->start_ns - t->start_ns)));
        json_object_set_new(o, "duration_ns", json_integer((json_int_t)(s->end_ns - s->start_ns)));
        json_object_set_new(o, "status", json_string(st[s->status]));
        json_object_set_new(o, "status_message",
                            s->status_message ? json_string(s->status_message) : json_null());
        json_object_set_new(o, "critical_path", json_boolean(t->rows[r].critical));
        json_object_set_new(o, "slowest_leaf", json_boolean((long)r == t->slowest_leaf));
        json_array_append_new(spans, o);
    }
    json_object_set_new(root, "spans", spans);
    int rc = json_dumpf(root, out, JSON_COMPACT | JSON_ENSURE_ASCII) == 0 ? 0 : -1;
    fputc('\n', out);
    json_decref(root);
    return rc == 0 && !ferror(out) ? 0 : -1;
}
