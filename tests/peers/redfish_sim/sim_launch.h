/* Starting and stopping the Redfish simulator (redfish_sim.py) from C tests and benches.
 *
 * The simulator binds a free loopback port itself and reports it on stdout; its stdin is a pipe
 * held by this process, so it exits by itself when this process dies. rf_sim_stop (also run for
 * every live simulator at exit) closes the pipe, sends SIGTERM and reaps it, with SIGKILL after
 * 2 s. Header-only; define BMC_PYTHON and BMC_REDFISH_SIM (paths) when compiling. */
#ifndef REDFISH_SIM_LAUNCH_H
#define REDFISH_SIM_LAUNCH_H

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef BMC_PYTHON
#define BMC_PYTHON "/usr/bin/python3"
#endif

typedef struct rf_sim {
    pid_t pid;
    int port;
    int stdin_fd;
    bool tls; /* set before rf_sim_start when the simulator serves HTTPS (--tls-cert) */
} rf_sim;

#define RF_SIM_MAX_LIVE 16
static rf_sim *rf_sim_live[RF_SIM_MAX_LIVE];

static inline void rf_sim_stop(rf_sim *s)
{
    if (!s || s->pid <= 0) return;
    if (s->stdin_fd >= 0) close(s->stdin_fd);
    s->stdin_fd = -1;
    kill(s->pid, SIGTERM);
    for (int i = 0; i < 200; i++) { /* 2 s, then SIGKILL */
        if (waitpid(s->pid, NULL, WNOHANG) == s->pid) {
            s->pid = 0;
            break;
        }
        struct timespec ts = {0, 10000000};
        nanosleep(&ts, NULL);
    }
    if (s->pid > 0) {
        kill(s->pid, SIGKILL);
        waitpid(s->pid, NULL, 0);
        s->pid = 0;
    }
    for (int i = 0; i < RF_SIM_MAX_LIVE; i++)
        if (rf_sim_live[i] == s) rf_sim_live[i] = NULL;
}

static inline void rf_sim_stop_all(void)
{
    for (int i = 0; i < RF_SIM_MAX_LIVE; i++)
        if (rf_sim_live[i]) rf_sim_stop(rf_sim_live[i]);
}

/* Starts the simulator with extra arguments (NULL-terminated list, may be NULL). Returns 0 with
 * s->port set, or -1 (message on stderr). */
static inline int rf_sim_start(rf_sim *s, const char *const *extra)
{
    static int registered;
    if (!registered) {
        atexit(rf_sim_stop_all);
        registered = 1;
    }
    bool tls = s->tls;
    memset(s, 0, sizeof *s);
    s->tls = tls;
    s->stdin_fd = -1;
    int in[2], out[2];
    if (pipe2(in, O_CLOEXEC) != 0) return -1;
    if (pipe2(out, O_CLOEXEC) != 0) {
        close(in[0]);
        close(in[1]);
        return -1;
    }
    const char *argv[40];
    int n = 0;
    argv[n++] = BMC_PYTHON;
    argv[n++] = BMC_REDFISH_SIM;
    argv[n++] = "--port";
    argv[n++] = "0";
    argv[n++] = "--max-lifetime";
    argv[n++] = "120";
    for (int i = 0; extra && extra[i] && n < 39; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    s->pid = pid;
    s->stdin_fd = in[1];
    for (int i = 0; i < RF_SIM_MAX_LIVE; i++)
        if (!rf_sim_live[i]) {
            rf_sim_live[i] = s;
            break;
        }
    char line[64];
    size_t len = 0;
    for (int waited = 0; waited < 100 && len < sizeof line - 1;) { /* up to 10 s */
        struct pollfd p = {.fd = out[0], .events = POLLIN};
        int r = poll(&p, 1, 100);
        if (r == 0) {
            waited++;
            continue;
        }
        ssize_t got = read(out[0], line + len, sizeof line - 1 - len);
        if (got <= 0) break;
        len += (size_t)got;
        line[len] = '\0';
        if (strchr(line, '\n')) break;
    }
    close(out[0]);
    line[len] = '\0';
    if (sscanf(line, "PORT %d", &s->port) != 1 || s->port <= 0) {
        fprintf(stderr, "redfish simulator did not start (said '%s')\n", line);
        rf_sim_stop(s);
        return -1;
    }
    return 0;
}

static inline size_t rf_sim_collect(char *p, size_t size, size_t nmemb, void *ud)
{
    char **buf = ud;
    size_t old = *buf ? strlen(*buf) : 0, n = size * nmemb;
    char *nb = realloc(*buf, old + n + 1);
    if (!nb) return 0;
    memcpy(nb + old, p, n);
    nb[old + n] = '\0';
    *buf = nb;
    return n;
}

/* A plain request to the simulator's test endpoints (no tracing, no auth). Returns the HTTP
 * status (0 on failure); *body (may be NULL) receives the answer, which the caller frees. */
static inline long rf_sim_request(const rf_sim *s, const char *method, const char *path,
                                  const char *json, char **body)
{
    char url[128];
    snprintf(url, sizeof url, "%s://127.0.0.1:%d%s", s->tls ? "https" : "http", s->port, path);
    CURL *c = curl_easy_init();
    if (!c) return 0;
    char *buf = NULL;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, rf_sim_collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &buf);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L); /* test endpoints of a test peer */
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
    if (strcmp(method, "POST") == 0) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, json ? json : "{}");
    }
    long status = 0;
    if (curl_easy_perform(c) == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    if (body)
        *body = buf;
    else
        free(buf);
    return status;
}

/* GET /_test/log as JSON (caller json_decref's it), or NULL. */
static inline json_t *rf_sim_log(const rf_sim *s)
{
    char *body = NULL;
    json_t *j = NULL;
    if (rf_sim_request(s, "GET", "/_test/log", NULL, &body) == 200 && body)
        j = json_loads(body, 0, NULL);
    free(body);
    return j;
}

static inline int rf_sim_config(const rf_sim *s, const char *json)
{
    return rf_sim_request(s, "POST", "/_test/config", json, NULL) == 204 ? 0 : -1;
}

#endif
