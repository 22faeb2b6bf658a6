/* One trace as a tree, its critical path, and its text waterfall (`bmcctl trace show`).
 *
 * Tree: spans of one trace id; a span whose parent is not in the set (lost, not yet exported, or
 * the true root) is a root. Roots, and the children of each span, are ordered by start time
 * (ties by end time, then span id), and the tree is flattened depth first: that is the row
 * order of the waterfall.
 *
 * Critical path (as Jaeger computes it): starting at the earliest root, follow the child that
 * finishes last (child ends clipped to the parent's end), then, going back in time, the child
 * that finishes last before that child started, and so on; each visited span is on the critical
 * path. A critical-path span without children is a leaf of it; the slowest leaf is the one with
 * the longest duration (when every critical span has children, the one with the longest
 * duration not covered by its children). Other roots are not on the path.
 *
 * Ownership: a cli_trace_tree points into the cli_span_set it was built from (which must outlive
 * it) and owns its arrays. Not thread safe. */
#ifndef CLI_WATERFALL_H
#define CLI_WATERFALL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "cli/trace.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cli_trace_row {
    const cli_span *span; /* borrowed from the set */
    int depth;            /* 0 for roots */
    long parent;          /* row index of the parent, -1 for roots */
    bool critical;        /* on the critical path */
} cli_trace_row;

typedef struct cli_trace_tree {
    cli_trace_row *rows; /* in display order (depth first, by start) */
    size_t n;
    long slowest_leaf;   /* row index of the slowest critical-path leaf, -1 when no rows */
    uint64_t start_ns;   /* earliest start */
    uint64_t end_ns;     /* latest end */
    size_t n_services;   /* distinct service names */
} cli_trace_tree;

/* Builds the tree of trace `trace_id` from set. Returns 0 (a trace with no span gives n == 0)
 * or -1 when memory ran out. *t is overwritten (not freed first). */
int cli_trace_tree_build(const cli_span_set *set, const uint8_t trace_id[16], cli_trace_tree *t);
/* Frees what t owns and zeroes it. */
void cli_trace_tree_cleanup(cli_trace_tree *t);

typedef struct cli_waterfall_opts {
    int width;   /* total line width to aim at; 0: 120. The bar gets what the other columns
                    leave (at least 10 characters). */
    bool color;  /* ANSI colours (errors red, critical path bold) */
} cli_waterfall_opts;

/* Writes the waterfall of t (plain ASCII, one line per span):
 *   Trace <id>  <n> spans, <k> services, <duration>
 *   SERVICE  SPAN (indented two spaces per level)  START  DURATION  |bar|  STATUS
 * START is the offset from the trace's first span; the bar spans the trace's whole duration;
 * STATUS is "ok", "ERROR: <message>" or empty for unset. A '*' before the service marks the
 * critical path and "<-- slowest" follows the slowest leaf; a legend line ends the output.
 * Long names are cut with "~". o may be NULL. Returns 0 or -1 on a write error. */
int cli_waterfall_write(const cli_trace_tree *t, const cli_waterfall_opts *o, FILE *out);

/* Writes t as one JSON object: {"trace_id","duration_ns","span_count","service_count",
 * "spans":[{"span_id","parent_span_id","service","name","kind","depth","start_offset_ns",
 * "duration_ns","status","status_message","critical_path","slowest_leaf"}]} and a newline.
 * Returns 0 or -1. */
int cli_waterfall_write_json(const cli_trace_tree *t, FILE *out);

/* Formats a duration in ns for people: "850ns", "12.3us", "4.567ms", "1.234s" (NUL-terminated,
 * at most 15 characters). Returns buf. */
char *cli_format_duration(uint64_t ns, char buf[16]);

#ifdef __cplusplus
}
#endif
#endif
