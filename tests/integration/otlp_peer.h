/* Starting and reading the OTLP receiver peer (tests/peers/otlp_receiver.js, decoding with the
 * OpenTelemetry project's generated code) from the integration tests. */
#ifndef OTLP_PEER_H
#define OTLP_PEER_H

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "node_peer.h"

/* Exits with NODE_PEER_SKIP (ctest: skipped) and a clear message when the peer's npm packages
 * or node itself are not installed. */
static inline void peer_require_or_skip(void)
{
    node_peer_require_or_skip("@opentelemetry/otlp-transformer");
    if (access(BMC_NODE, X_OK) != 0 && strchr(BMC_NODE, '/')) {
        printf("SKIP: node (%s) not found\n", BMC_NODE);
        exit(NODE_PEER_SKIP);
    }
}

typedef struct peer {
    node_peer np;  /* the receiver process */
    int port;      /* where it listens (np.port) */
    char out[128]; /* JSON lines file */
} peer;

/* Starts the receiver with the given extra arguments (NULL-terminated list, may be NULL).
 * Returns 0 with p filled, -1 on failure (message on stderr). */
static inline int peer_start(peer *p, const char *const *extra)
{
    memset(p, 0, sizeof *p);
    snprintf(p->out, sizeof p->out, "/tmp/otlp_peer_%d_XXXXXX", (int)getpid());
    int fd = mkstemp(p->out);
    if (fd < 0) return -1;
    close(fd);
    const char *args[32];
    int n = 0;
    args[n++] = "--port";
    args[n++] = "0";
    args[n++] = "--out";
    args[n++] = p->out;
    args[n++] = "--lifetime";
    args[n++] = "120";
    for (int i = 0; extra && extra[i] && n < 31; i++)
        args[n++] = extra[i];
    args[n] = NULL;
    if (node_peer_start(&p->np, "otlp_receiver.js", args) != 0) {
        p->np.out_fd = -1; /* closed by node_peer_start */
        unlink(p->out);
        return -1;
    }
    p->port = p->np.port;
    return 0;
}

static inline void peer_stop(peer *p)
{
    node_peer_stop(&p->np);
    unlink(p->out);
}

/* Every line of the receiver's output as a JSON array (caller decrefs); lines from index
 * `from` on. */
static inline json_t *peer_lines(const peer *p, size_t from)
{
    json_t *arr = json_array();
    FILE *f = fopen(p->out, "r");
    if (!f) return arr;
    char *line = NULL;
    size_t cap = 0, idx = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, f)) > 0) {
        if (idx++ < from) continue;
        json_error_t err;
        json_t *j = json_loadb(line, (size_t)n, 0, &err);
        if (!j) {
            fprintf(stderr, "receiver wrote a bad line: %s\n", err.text);
            continue;
        }
        json_array_append_new(arr, j);
    }
    free(line);
    fclose(f);
    return arr;
}

#endif
