/* Starting and reading the OTLP receiver peer (tests/peers/otlp_receiver.js, decoding with the
 * OpenTelemetry project's generated code) from the integration tests. */
#ifndef OTLP_PEER_H
#define OTLP_PEER_H

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef BMC_PEERS_DIR
#error "BMC_PEERS_DIR must name tests/peers"
#endif
#ifndef BMC_NODE
#define BMC_NODE "node"
#endif

#define SKIP_CODE 77

/* Exits with SKIP_CODE (ctest: skipped) and a clear message when the peer's npm packages are
 * not installed. */
static inline void peer_require_or_skip(void)
{
    struct stat st;
    const char *mod = BMC_PEERS_DIR "/node_modules/@opentelemetry/otlp-transformer/package.json";
    if (stat(mod, &st) != 0) {
        printf("SKIP: %s is missing: the OTLP decoder peer is not installed; run "
               "`make -f Makefile.dev deps` (npm ci in tests/peers)\n",
               mod);
        exit(SKIP_CODE);
    }
    if (access(BMC_NODE, X_OK) != 0 && strchr(BMC_NODE, '/')) {
        printf("SKIP: node (%s) not found\n", BMC_NODE);
        exit(SKIP_CODE);
    }
}

typedef struct peer {
    pid_t pid;
    int port;
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
    int pipefd[2];
    if (pipe(pipefd) != 0) return -1;
    const char *argv[32];
    int n = 0;
    argv[n++] = BMC_NODE;
    argv[n++] = BMC_PEERS_DIR "/otlp_receiver.js";
    argv[n++] = "--port";
    argv[n++] = "0";
    argv[n++] = "--out";
    argv[n++] = p->out;
    argv[n++] = "--lifetime";
    argv[n++] = "120";
    for (int i = 0; extra && extra[i] && n < 31; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        dup2(pipefd[1], 1);
        close(pipefd[0]);
        close(pipefd[1]);
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(pipefd[1]);
    p->pid = pid;
    char line[64];
    size_t have = 0;
    while (have < sizeof line - 1) {
        struct pollfd pf = {pipefd[0], POLLIN, 0};
        if (poll(&pf, 1, 15000) <= 0) break;
        ssize_t r = read(pipefd[0], line + have, sizeof line - 1 - have);
        if (r <= 0) break;
        have += (size_t)r;
        line[have] = '\0';
        if (strchr(line, '\n')) break;
    }
    close(pipefd[0]);
    line[have] = '\0';
    if (sscanf(line, "PORT %d", &p->port) != 1) {
        fprintf(stderr, "receiver did not report its port (got \"%s\")\n", line);
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        return -1;
    }
    return 0;
}

static inline void peer_stop(peer *p)
{
    if (p->pid > 0) {
        kill(p->pid, SIGTERM);
        for (int i = 0; i < 100; i++) {
            if (waitpid(p->pid, NULL, WNOHANG) == p->pid) {
                p->pid = 0;
                break;
            }
            usleep(20000);
        }
        if (p->pid > 0) {
            kill(p->pid, SIGKILL);
            waitpid(p->pid, NULL, 0);
        }
        p->pid = 0;
    }
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
