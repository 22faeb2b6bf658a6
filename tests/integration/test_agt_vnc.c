/* VNC dial and RFB handshake (agent/src/vnc.c) against a real Xvnc (TigerVNC) on a loopback
 * port, plus small in-process servers for the failure cases. Every Xvnc this test starts runs
 * under `timeout` (killed after 90 s whatever happens) and is stopped in the teardown.
 *
 * Usage: test_agt_vnc [scenario-name-pattern]. Exits 77 (skip) when Xvnc is not installed. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/vnc.h"
#include "test_tracing.h"

#define MS (1000000ull)

typedef struct fx {
    test_tracing tt;
    tel_span *root;
    tel_context ctx;
    uint8_t root_span_id[8];
    pid_t xvnc;
    int port;
    char tmpdir[64];
    /* in-process fake server */
    int listen_fd;
    pthread_t thread;
    bool thread_running;
    const void *reply;
    size_t reply_len;
} fx;

static fx *live_fx;

static int free_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t l = sizeof a;
    if (bind(s, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(s, (struct sockaddr *)&a, &l) != 0) {
        close(s);
        return -1;
    }
    close(s);
    return ntohs(a.sin_port);
}

static void stop_xvnc(fx *f)
{
    if (f->xvnc <= 0) return;
    kill(f->xvnc, SIGTERM);
    for (int i = 0; i < 300; i++) { /* 3 s, then SIGKILL */
        if (waitpid(f->xvnc, NULL, WNOHANG) == f->xvnc) {
            f->xvnc = 0;
            return;
        }
        struct timespec ts = {0, 10000000};
        nanosleep(&ts, NULL);
    }
    kill(f->xvnc, SIGKILL);
    waitpid(f->xvnc, NULL, 0);
    f->xvnc = 0;
}

static void stop_at_exit(void)
{
    if (live_fx) stop_xvnc(live_fx);
}

static bool port_accepts(int port)
{
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bool ok = connect(s, (struct sockaddr *)&a, sizeof a) == 0;
    close(s);
    return ok;
}

/* Starts Xvnc on a free display and port with the given security arguments; returns 0 when it
 * accepts connections. */
static int start_xvnc(fx *f, const char *const *sec_args)
{
    for (int attempt = 0; attempt < 5; attempt++) {
        int display = -1;
        for (int d = 60 + (int)(getpid() % 300) + attempt * 7, k = 0; k < 50; d++, k++) {
            char lock[64], sock[64];
            snprintf(lock, sizeof lock, "/tmp/.X%d-lock", d);
            snprintf(sock, sizeof sock, "/tmp/.X11-unix/X%d", d);
            struct stat st;
            if (stat(lock, &st) != 0 && stat(sock, &st) != 0) {
                display = d;
                break;
            }
        }
        int port = free_port();
        if (display < 0 || port < 0) return -1;
        char disp[16], portstr[16];
        snprintf(disp, sizeof disp, ":%d", display);
        snprintf(portstr, sizeof portstr, "%d", port);
        const char *argv[32];
        int n = 0;
        argv[n++] = "/usr/bin/timeout";
        argv[n++] = "-k";
        argv[n++] = "2";
        argv[n++] = "90";
        argv[n++] = BMC_XVNC;
        argv[n++] = disp;
        argv[n++] = "-rfbport";
        argv[n++] = portstr;
        argv[n++] = "-localhost";
        argv[n++] = "-nolisten";
        argv[n++] = "tcp";
        argv[n++] = "-geometry";
        argv[n++] = "320x240";
        argv[n++] = "-depth";
        argv[n++] = "24";
        for (int i = 0; sec_args[i] && n < 31; i++)
            argv[n++] = sec_args[i];
        argv[n] = NULL;
        pid_t pid = fork();
        if (pid < 0) return -1;
        if (pid == 0) {
            int devnull = open("/dev/null", O_RDWR);
            dup2(devnull, 0);
            dup2(devnull, 1);
            dup2(devnull, 2);
            execv(argv[0], (char *const *)argv);
            _exit(127);
        }
        f->xvnc = pid;
        f->port = port;
        for (int i = 0; i < 200; i++) { /* 10 s */
            if (waitpid(pid, NULL, WNOHANG) == pid) {
                f->xvnc = 0;
                break; /* display or port taken: try another */
            }
            if (port_accepts(port)) return 0;
            struct timespec ts = {0, 50000000};
            nanosleep(&ts, NULL);
        }
        stop_xvnc(f);
    }
    return -1;
}

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    test_tracing_init(&f->tt, TEL_SAMPLER_ALWAYS_ON, 1.0, NULL);
    f->root = test_root_context(f->tt.tracer, "test.caller", "session_id", "vnc-7", &f->ctx);
    tel_span_context sc = tel_span_get_context(f->root);
    memcpy(f->root_span_id, sc.span_id, 8);
    f->listen_fd = -1;
    live_fx = f;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    stop_xvnc(f);
    if (f->thread_running) {
        shutdown(f->listen_fd, SHUT_RDWR);
        pthread_join(f->thread, NULL);
    }
    if (f->listen_fd >= 0) close(f->listen_fd);
    if (f->tmpdir[0]) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->tmpdir);
        if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", f->tmpdir);
    }
    if (f->root->recording) tel_span_end(f->root);
    tel_context_cleanup(&f->ctx);
    test_tracing_cleanup(&f->tt);
    live_fx = NULL;
    free(f);
    return 0;
}

static const tel_span_data *find(fx *f, const char *name)
{
    return tel_memory_exporter_find(f->tt.mem, name);
}

static const tel_attr *attr(const tel_span_data *d, const char *key)
{
    return test_attr(d, key);
}

/* Dials the server of the test (127.0.0.1:f->port) in the caller's context, within ms. */
static int dial(fx *f, uint64_t ms, int *fd, agt_rfb_info *info, agt_result *res)
{
    return agt_vnc_dial("127.0.0.1", f->port, &f->ctx, tel_mono_ns() + ms * MS, f->tt.tracer, fd,
                        info, res);
}

/* Ends the caller's span, so that every span is exported; the teardown does not end it again. */
static void end_root(fx *f)
{
    tel_span_end(f->root);
    f->root = &tel__noop_span;
}

static void check_dial_span(fx *f, bool ok)
{
    const tel_span_data *d = find(f, "tcp.dial");
    assert_non_null(d);
    assert_int_equal(d->kind, TEL_SPAN_KIND_CLIENT);
    assert_memory_equal(d->parent_span_id, f->root_span_id, 8);
    assert_string_equal(attr(d, "server.address")->v.s, "127.0.0.1");
    assert_int_equal(attr(d, "server.port")->v.i, f->port);
    assert_string_equal(attr(d, "network.transport")->v.s, "tcp");
    assert_string_equal(attr(d, "session_id")->v.s, "vnc-7"); /* from the caller's baggage */
    if (ok) {
        assert_int_equal(d->status, TEL_STATUS_UNSET);
        assert_string_equal(attr(d, "network.peer.address")->v.s, "127.0.0.1");
        assert_string_equal(attr(d, "network.type")->v.s, "ipv4");
    } else {
        assert_int_equal(d->status, TEL_STATUS_ERROR);
        assert_non_null(attr(d, "error.type"));
    }
}

static void read_exact(int fd, void *buf, size_t n)
{
    size_t got = 0;
    for (int i = 0; got < n && i < 100; i++) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        assert_true(poll(&p, 1, 5000) > 0);
        ssize_t r = read(fd, (char *)buf + got, n - got);
        assert_true(r > 0 || (r < 0 && errno == EAGAIN));
        if (r > 0) got += (size_t)r;
    }
    assert_int_equal(got, n);
}

static void test_security_none(void **state)
{
    fx *f = *state;
    const char *sec[] = {"-SecurityTypes", "None", NULL};
    assert_int_equal(start_xvnc(f, sec), 0);
    int fd = -1;
    agt_rfb_info info;
    agt_result res;
    int rc = dial(f, 5000, &fd, &info, &res);
    if (rc != AGT_OK) fail_msg("dial: %s", res.message);
    assert_true(fd >= 0);
    assert_int_equal(info.server_major, 3);
    assert_int_equal(info.server_minor, 8);
    assert_int_equal(info.minor, 8);
    assert_int_equal(info.n_sec_types, 1);
    assert_int_equal(info.sec_types[0], AGT_RFB_SEC_NONE);

    /* The socket is positioned right after the security types: carry on with the protocol. */
    uint8_t choose = AGT_RFB_SEC_NONE;
    assert_int_equal(write(fd, &choose, 1), 1);
    uint8_t result[4];
    read_exact(fd, result, 4);
    assert_memory_equal(result, "\0\0\0\0", 4); /* SecurityResult OK */
    uint8_t shared = 1;
    assert_int_equal(write(fd, &shared, 1), 1);
    uint8_t init[24];
    read_exact(fd, init, 24); /* ServerInit: width, height, pixel format, name length */
    assert_int_equal(init[0] << 8 | init[1], 320);
    assert_int_equal(init[2] << 8 | init[3], 240);
    close(fd);
    end_root(f);

    check_dial_span(f, true);
    const tel_span_data *h = find(f, "rfb.handshake");
    assert_non_null(h);
    assert_int_equal(h->kind, TEL_SPAN_KIND_CLIENT);
    assert_memory_equal(h->parent_span_id, f->root_span_id, 8);
    assert_int_equal(h->status, TEL_STATUS_UNSET);
    assert_string_equal(attr(h, "rfb.server_version")->v.s, "3.8");
    assert_string_equal(attr(h, "rfb.version")->v.s, "3.8");
    assert_string_equal(attr(h, "session_id")->v.s, "vnc-7");
    const tel_attr *types = attr(h, "rfb.security_types");
    assert_non_null(types);
    assert_int_equal(types->type, TEL_ATTR_STRING_ARRAY);
    assert_int_equal(types->len, 1);
    assert_string_equal(((const char *const *)types->v.arr)[0], "None");
    const tel_span_data *dial = find(f, "tcp.dial");
    assert_true(dial->end_ns <= h->start_ns + 1000); /* dial, then handshake */
}

static void test_security_vncauth(void **state)
{
    fx *f = *state;
    snprintf(f->tmpdir, sizeof f->tmpdir, "/tmp/agt_vnc.XXXXXX");
    assert_non_null(mkdtemp(f->tmpdir));
    char pwfile[96], cmd[256];
    snprintf(pwfile, sizeof pwfile, "%s/passwd", f->tmpdir);
    snprintf(cmd, sizeof cmd, "echo 'vnc-test' | vncpasswd -f > '%s'", pwfile);
    assert_int_equal(system(cmd), 0);
    const char *sec[] = {"-SecurityTypes", "VncAuth", "-PasswordFile", pwfile, NULL};
    assert_int_equal(start_xvnc(f, sec), 0);
    int fd = -1;
    agt_rfb_info info;
    agt_result res;
    assert_int_equal(dial(f, 5000, &fd, &info, &res), AGT_OK);
    assert_int_equal(info.n_sec_types, 1);
    assert_int_equal(info.sec_types[0], AGT_RFB_SEC_VNCAUTH);
    uint8_t choose = AGT_RFB_SEC_VNCAUTH;
    assert_int_equal(write(fd, &choose, 1), 1);
    uint8_t challenge[16];
    read_exact(fd, challenge, 16); /* the VncAuth challenge comes next */
    close(fd);
    end_root(f);
    check_dial_span(f, true);
    const tel_span_data *h = find(f, "rfb.handshake");
    const tel_attr *types = attr(h, "rfb.security_types");
    assert_string_equal(((const char *const *)types->v.arr)[0], "VncAuth");
    const tel_attr *ids = attr(h, "rfb.security_type_ids");
    assert_int_equal(((const int64_t *)ids->v.arr)[0], 2);
}

static void test_unreachable(void **state)
{
    fx *f = *state;
    f->port = free_port();
    int fd = 7;
    agt_rfb_info info;
    agt_result res;
    uint64_t t0 = tel_mono_ns();
    assert_int_equal(dial(f, 3000, &fd, &info, &res), AGT_EUNREACHABLE);
    assert_true(tel_mono_ns() - t0 < 500 * MS);
    assert_int_equal(fd, -1);
    end_root(f);
    check_dial_span(f, false);
    assert_string_equal(attr(find(f, "tcp.dial"), "error.type")->v.s, "connection_refused");
    assert_null(find(f, "rfb.handshake"));
    /* Bad arguments. */
    assert_int_equal(
        agt_vnc_dial("127.0.0.1", 0, NULL, tel_mono_ns() + MS, f->tt.tracer, &fd, &info, &res),
        AGT_EINVAL);
}

/* A one-connection server that writes `reply` and then waits for the peer to close. */
static void *fake_server(void *p)
{
    fx *f = p;
    int c = accept(f->listen_fd, NULL, NULL);
    if (c < 0) return NULL;
    if (f->reply_len && write(c, f->reply, f->reply_len) < 0) perror("fake server write");
    char buf[64];
    struct pollfd pf = {.fd = c, .events = POLLIN};
    for (int i = 0; i < 50 && poll(&pf, 1, 100) >= 0; i++) { /* at most 5 s */
        if ((pf.revents & POLLIN) && read(c, buf, sizeof buf) <= 0) break;
    }
    close(c);
    return NULL;
}

static void start_fake(fx *f, const void *reply, size_t len)
{
    f->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t l = sizeof a;
    assert_int_equal(bind(f->listen_fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(f->listen_fd, 4), 0);
    assert_int_equal(getsockname(f->listen_fd, (struct sockaddr *)&a, &l), 0);
    f->port = ntohs(a.sin_port);
    f->reply = reply;
    f->reply_len = len;
    assert_int_equal(pthread_create(&f->thread, NULL, fake_server, f), 0);
    f->thread_running = true;
}

static void test_not_rfb(void **state)
{
    fx *f = *state;
    static const char http[] = "HTTP/1.1 400 Bad Request\r\n\r\n";
    start_fake(f, http, sizeof http - 1);
    int fd;
    agt_rfb_info info;
    agt_result res;
    assert_int_equal(dial(f, 3000, &fd, &info, &res), AGT_EPROTO);
    assert_int_equal(fd, -1);
    end_root(f);
    check_dial_span(f, true);
    const tel_span_data *h = find(f, "rfb.handshake");
    assert_int_equal(h->status, TEL_STATUS_ERROR);
    assert_string_equal(attr(h, "error.type")->v.s, "protocol");
}

static void test_refused(void **state)
{
    fx *f = *state;
    static const char msg[] = "RFB 003.008\n\0\0\0\0\x11Too many attempts";
    start_fake(f, msg, sizeof msg - 1);
    int fd;
    agt_rfb_info info;
    agt_result res;
    assert_int_equal(dial(f, 3000, &fd, &info, &res), AGT_EBMC);
    assert_string_equal(info.failure_reason, "Too many attempts");
    assert_non_null(strstr(res.message, "Too many attempts"));
    end_root(f);
    const tel_span_data *h = find(f, "rfb.handshake");
    assert_int_equal(h->status, TEL_STATUS_ERROR);
    assert_string_equal(attr(h, "rfb.failure_reason")->v.s, "Too many attempts");
}

static void test_silent_server(void **state)
{
    fx *f = *state;
    start_fake(f, NULL, 0);
    int fd;
    agt_rfb_info info;
    agt_result res;
    uint64_t t0 = tel_mono_ns();
    assert_int_equal(dial(f, 300, &fd, &info, &res), AGT_ETIMEOUT);
    uint64_t took = tel_mono_ns() - t0;
    assert_true(took >= 290 * MS && took < 800 * MS);
    end_root(f);
    check_dial_span(f, true);
    const tel_span_data *h = find(f, "rfb.handshake");
    assert_int_equal(h->status, TEL_STATUS_ERROR);
    assert_string_equal(attr(h, "error.type")->v.s, "timeout");
}

int main(int argc, char **argv)
{
    if (access(BMC_XVNC, X_OK) != 0 && system("command -v " BMC_XVNC " >/dev/null") != 0) {
        fprintf(stderr, "Xvnc not installed (tigervnc-standalone-server): skipping\n");
        return 77;
    }
    atexit(stop_at_exit);
    signal(SIGPIPE, SIG_IGN);
    if (argc > 1) cmocka_set_test_filter(argv[1]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_security_none, setup, teardown),
        cmocka_unit_test_setup_teardown(test_security_vncauth, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unreachable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_rfb, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_silent_server, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
