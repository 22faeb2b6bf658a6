/* Running node peers (node scripts in tests/peers) from integration tests: a long-running peer that
 * prints "PORT <n>" once it listens, or a one-shot peer whose stdout is captured. Generic over
 * the script, so every node-based peer shares it. */
#ifndef NODE_PEER_H
#define NODE_PEER_H

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef BMC_PEERS_DIR
#error "BMC_PEERS_DIR must name tests/peers"
#endif
#ifndef BMC_NODE
#define BMC_NODE "node"
#endif

#define NODE_PEER_SKIP 77

/* Exits with NODE_PEER_SKIP (ctest: skipped) and a message when an npm package the peer needs
 * (e.g. "@grpc/grpc-js") is not installed in tests/peers/node_modules. */
static inline void node_peer_require_or_skip(const char *package)
{
    char p[512];
    struct stat st;
    snprintf(p, sizeof p, "%s/node_modules/%s/package.json", BMC_PEERS_DIR, package);
    if (stat(p, &st) != 0) {
        printf("SKIP: %s is missing: run `make -f Makefile.dev deps` (npm ci in tests/peers)\n", p);
        exit(NODE_PEER_SKIP);
    }
}

typedef struct node_peer {
    pid_t pid;
    int port;
    int out_fd; /* the peer's stdout (after the PORT line), -1 when closed */
} node_peer;

static inline pid_t node_peer_spawn(const char *script, const char *const *args, int *out_fd)
{
    int pipefd[2];
    if (pipe(pipefd) != 0) return -1;
    const char *argv[40];
    int n = 0;
    char path[512];
    snprintf(path, sizeof path, "%s/%s", BMC_PEERS_DIR, script);
    argv[n++] = BMC_NODE;
    argv[n++] = path;
    for (int i = 0; args && args[i] && n < 39; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    pid_t pid = fork();
    if (pid < 0) {
        close(pipefd[0]);
        close(pipefd[1]);
        return -1;
    }
    if (pid == 0) {
        dup2(pipefd[1], 1);
        close(pipefd[0]);
        close(pipefd[1]);
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(pipefd[1]);
    *out_fd = pipefd[0];
    return pid;
}

/* Reads one line (up to cap-1 bytes) from fd within timeout_ms. Returns its length or -1. */
static inline int node_peer_read_line(int fd, char *line, size_t cap, int timeout_ms)
{
    size_t have = 0;
    while (have < cap - 1) {
        struct pollfd pf = {fd, POLLIN, 0};
        if (poll(&pf, 1, timeout_ms) <= 0) return -1;
        ssize_t r = read(fd, line + have, 1);
        if (r <= 0) return -1;
        if (line[have] == '\n') break;
        have++;
    }
    line[have] = '\0';
    return (int)have;
}

/* Starts a peer that prints "PORT <n>" when ready. Returns 0 with p filled, -1 on failure. */
static inline int node_peer_start(node_peer *p, const char *script, const char *const *args)
{
    memset(p, 0, sizeof *p);
    p->out_fd = -1;
    p->pid = node_peer_spawn(script, args, &p->out_fd);
    if (p->pid < 0) return -1;
    char line[128];
    if (node_peer_read_line(p->out_fd, line, sizeof line, 15000) < 0 ||
        sscanf(line, "PORT %d", &p->port) != 1) {
        fprintf(stderr, "%s did not report its port\n", script);
        kill(p->pid, SIGKILL);
        waitpid(p->pid, NULL, 0);
        close(p->out_fd);
        p->pid = 0;
        return -1;
    }
    return 0;
}

/* Stops a peer (SIGTERM, then SIGKILL after 2 s). */
static inline void node_peer_stop(node_peer *p)
{
    if (p->pid > 0) {
        kill(p->pid, SIGTERM);
        int i;
        for (i = 0; i < 100 && waitpid(p->pid, NULL, WNOHANG) != p->pid; i++)
            usleep(20000);
        if (i == 100) {
            kill(p->pid, SIGKILL);
            waitpid(p->pid, NULL, 0);
        }
    }
    if (p->out_fd >= 0) close(p->out_fd);
    p->pid = 0;
    p->out_fd = -1;
}

/* Runs a one-shot peer to completion (killed after timeout_ms) and returns its stdout
 * (malloc'd, NUL-terminated; the caller frees) or NULL. *status gets the exit status. */
static inline char *node_peer_run(const char *script, const char *const *args, int timeout_ms,
                                  int *status)
{
    int fd;
    pid_t pid = node_peer_spawn(script, args, &fd);
    if (pid < 0) return NULL;
    size_t len = 0, cap = 4096;
    char *buf = malloc(cap);
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        clock_gettime(CLOCK_MONOTONIC, &now);
        long left =
            timeout_ms - ((now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000);
        struct pollfd pf = {fd, POLLIN, 0};
        if (left <= 0 || poll(&pf, 1, (int)left) <= 0) {
            kill(pid, SIGKILL);
            break;
        }
        if (len + 1024 > cap) {
            cap *= 2;
            char *nb = realloc(buf, cap);
            if (!nb) break;
            buf = nb;
        }
        ssize_t r = read(fd, buf + len, cap - len - 1);
        if (r <= 0) break;
        len += (size_t)r;
    }
    buf[len] = '\0';
    close(fd);
    int st = 0;
    waitpid(pid, &st, 0);
    if (status) *status = st;
    return buf;
}

#endif
