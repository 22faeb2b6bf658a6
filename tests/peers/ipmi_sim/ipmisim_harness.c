/* ipmi_sim test harness: see ipmisim_harness.h. */
#include "ipmisim_harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <ftw.h>
#include <time.h>
#include <unistd.h>

#include <freeipmi/freeipmi.h>
#include <ipmiconsole.h>

#define SERIAL_CAP (4u << 20) /* received bytes kept (bounded) */
#define MAX_SIMS 32

struct ipmisim {
    ipmisim_config cfg;
    char dir[128];
    char endpoint[64];
    int port;
    pid_t pid;
    /* serial listener */
    int listen_fd;
    int serial_port;
    pthread_t thread;
    bool thread_started;
    atomic_bool stop;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int conn_fd;     /* guarded by mu */
    int connections; /* accepted so far */
    unsigned char *rx;
    size_t rx_len;   /* bytes kept in rx */
    size_t rx_total; /* bytes received since the last clear */
    bool echo;
};

/* Every live simulator, so the atexit handler can kill them. */
static pthread_mutex_t registry_mu = PTHREAD_MUTEX_INITIALIZER;
static ipmisim *registry[MAX_SIMS];
static bool atexit_set;

static void kill_all_at_exit(void)
{
    pthread_mutex_lock(&registry_mu);
    for (int i = 0; i < MAX_SIMS; i++) {
        if (registry[i] && registry[i]->pid > 0) {
            kill(registry[i]->pid, SIGKILL);
            waitpid(registry[i]->pid, NULL, 0);
            registry[i]->pid = -1;
        }
    }
    pthread_mutex_unlock(&registry_mu);
}

static void registry_add(ipmisim *s)
{
    pthread_mutex_lock(&registry_mu);
    if (!atexit_set) {
        atexit(kill_all_at_exit);
        atexit_set = true;
    }
    for (int i = 0; i < MAX_SIMS; i++) {
        if (!registry[i]) {
            registry[i] = s;
            break;
        }
    }
    pthread_mutex_unlock(&registry_mu);
}

static void registry_remove(ipmisim *s)
{
    pthread_mutex_lock(&registry_mu);
    for (int i = 0; i < MAX_SIMS; i++)
        if (registry[i] == s)
            registry[i] = NULL;
    pthread_mutex_unlock(&registry_mu);
}

static bool find_program(const char *name, char *out, size_t cap);

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static int write_file(const char *dir, const char *name, const char *text, mode_t mode)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0)
        return -1;
    size_t len = strlen(text), off = 0;
    while (off < len) {
        ssize_t w = write(fd, text + off, len - off);
        if (w <= 0) {
            close(fd);
            return -1;
        }
        off += (size_t)w;
    }
    return close(fd);
}

/* How many UDP sockets are bound to port (from /proc/net/udp and udp6; -1: unknown). */
static int udp_port_users(int port)
{
    const char *files[] = {"/proc/net/udp", "/proc/net/udp6"};
    int n = 0;
    for (size_t i = 0; i < 2; i++) {
        FILE *f = fopen(files[i], "r");
        if (!f)
            return -1;
        char line[512];
        while (fgets(line, sizeof line, f)) {
            char local[128];
            unsigned p;
            /* "  sl  local_address rem_address ...": local_address is ADDR:PORT in hex */
            if (sscanf(line, " %*d: %127s", local) == 1) {
                const char *colon = strrchr(local, ':');
                if (colon && sscanf(colon + 1, "%x", &p) == 1 && (int)p == port)
                    n++;
            }
        }
        fclose(f);
    }
    return n;
}

/* A UDP port on 127.0.0.1 that is free right now, below 32768: libipmiconsole 1.6.10 cannot
 * connect to higher ports (its getaddrinfo call fails with "Servname not supported for
 * ai_socktype", reported as "hostname invalid"), and the kernel's ephemeral range starts above. */
static int free_udp_port(void)
{
    static unsigned seed;
    if (!seed) {
        /* Test processes start together with neighbouring pids: pid ^ time gave two of them
         * the same seed, hence the same ports. */
        if (getrandom(&seed, sizeof seed, GRND_NONBLOCK) != (ssize_t)sizeof seed)
            seed = (unsigned)getpid() * 2654435761u ^ (unsigned)now_ms();
        seed |= 1;
    }
    for (int attempt = 0; attempt < 200; attempt++) {
        int port = 20000 + (int)(rand_r(&seed) % 12000u);
        int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
            return -1;
        struct sockaddr_in a = {.sin_family = AF_INET,
                                .sin_port = htons((uint16_t)port),
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        int ok = bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
        close(fd);
        if (ok)
            return port;
    }
    return -1;
}

/* The chassis_control program: ipmi_sim runs "<script> <statefile> <dev> get power [boot]" and
 * "<script> <statefile> <dev> set power 0|1" (also "set reset 1", "set shutdown 1"). A soft
 * shutdown turns the simulated host off at once; a reset leaves the power as it is. */
static const char chassis_script[] =
    "#!/bin/sh\n"
    "# chassis_control for ipmi_sim, written by tests/peers/ipmi_sim/ipmisim_harness.c\n"
    "st=\"$1\"; shift; shift\n"
    "[ -f \"$st\" ] || echo 0 > \"$st\"\n"
    "echo \"$*\" >> \"$st.log\"\n"
    "case \"$1\" in\n"
    "get) shift; for w in \"$@\"; do case \"$w\" in\n"
    "       power) echo \"power:$(cat \"$st\")\" ;;\n"
    "       boot) echo \"boot:none\" ;;\n"
    "     esac; done ;;\n"
    "set) case \"$2\" in\n"
    "       power) echo \"$3\" > \"$st.tmp\" && mv \"$st.tmp\" \"$st\" ;;\n"
    "       shutdown) echo 0 > \"$st.tmp\" && mv \"$st.tmp\" \"$st\" ;;\n"
    "     esac ;;\n"
    "esac\n"
    "exit 0\n";

/* One Full Sensor Record (SDR type 01h), linear, unsigned, M as given, B = 0, no thresholds. */
static void append_full_sdr(char *buf, size_t cap, unsigned rid, unsigned num, unsigned type,
                            unsigned unit, unsigned m, const char *name)
{
    unsigned char body[64];
    size_t n = 0;
    const unsigned char fixed[] = {
        0x03, 0x01,             /* entity: processor, instance 1 */
        0x7f,                   /* initialisation: scanning and events enabled */
        0x40,                   /* capabilities: auto re-arm, no thresholds */
        (unsigned char)type,    /* sensor type */
        0x01,                   /* event/reading type: threshold */
        0, 0, 0, 0, 0, 0,       /* masks */
        0x00,                   /* units 1: unsigned */
        (unsigned char)unit,    /* base unit */
        0x00,                   /* modifier unit */
        0x00,                   /* linearisation: linear */
        (unsigned char)m, 0x00, /* M, tolerance */
        0x00, 0x00,             /* B, accuracy */
        0x00,                   /* accuracy, direction */
        0x00,                   /* R and B exponents */
        0x00,                   /* analog characteristics */
        0x00, 0x00, 0x00,       /* nominal, normal max, normal min */
        0xff, 0x00,             /* sensor max, min */
        0, 0, 0, 0, 0, 0,       /* thresholds */
        0, 0,                   /* hysteresis */
        0, 0,                   /* reserved */
        0x00,                   /* OEM */
    };
    memcpy(body, fixed, sizeof fixed);
    n = sizeof fixed;
    size_t nl = strlen(name);
    body[n++] = (unsigned char)(0xC0 | nl);
    memcpy(body + n, name, nl);
    n += nl;
    size_t off = strlen(buf);
    off += (size_t)snprintf(buf + off, cap - off, "main_sdr_add 0x20 0x%02x 0x%02x 0x51 0x01 0x%02x 0x20 0x00 0x%02x",
                            rid & 0xff, rid >> 8, (unsigned)(n + 3), num);
    for (size_t i = 0; i < n && off < cap; i++)
        off += (size_t)snprintf(buf + off, cap - off, " 0x%02x", body[i]);
    if (off < cap)
        snprintf(buf + off, cap - off, "\n");
}

static int write_config(ipmisim *s)
{
    char lan[2048];
    char sol[128] = "";
    if (s->cfg.sol)
        snprintf(sol, sizeof sol, "  sol \"tcp:127.0.0.1:%d\" 115200\n", s->serial_port);
    snprintf(lan, sizeof lan,
             "# written by tests/peers/ipmi_sim/ipmisim_harness.c\n"
             "name \"bmc%d\"\n"
             "set_working_mc 0x20\n"
             "  startlan 1\n"
             "    addr 127.0.0.1 %d\n"
             "    priv_limit admin\n"
             "    allowed_auths_callback none md2 md5 straight\n"
             "    allowed_auths_user none md2 md5 straight\n"
             "    allowed_auths_operator none md2 md5 straight\n"
             "    allowed_auths_admin none md2 md5 straight\n"
             "    guid a123456789abcdefa123456789abcdef\n"
             "  endlan\n"
             "  chassis_control \"%s/chassis_control.sh %s/power 0x20\"\n"
             "%s"
             "  user 2 true \"%s\" \"%s\" admin 10 none md2 md5 straight\n",
             s->port, s->port, s->dir, s->dir, sol, IPMISIM_USER, IPMISIM_PASSWORD);
    char emu[4096] = "mc_setbmc 0x20\nmc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02\n";
    if (s->cfg.sensors) {
        append_full_sdr(emu, sizeof emu, 1, 1, 0x01, 1, 1, "CPU Temp");   /* degrees C */
        append_full_sdr(emu, sizeof emu, 2, 2, 0x04, 18, 50, "Fan 1");    /* RPM */
        append_full_sdr(emu, sizeof emu, 3, 3, 0x0b, 6, 2, "PSU Power");  /* Watts */
        size_t off = strlen(emu);
        snprintf(emu + off, sizeof emu - off,
                 "sensor_add 0x20 0 1 0x01 0x01\nsensor_add 0x20 0 2 0x04 0x01\n"
                 "sensor_add 0x20 0 3 0x0b 0x01\nsensor_set_value 0x20 0 1 45 0\n"
                 "sensor_set_value 0x20 0 2 60 0\nsensor_set_value 0x20 0 3 90 0\n");
    }
    size_t off = strlen(emu);
    snprintf(emu + off, sizeof emu - off, "mc_enable 0x20\n");
    if (write_file(s->dir, "lan.conf", lan, 0600) < 0 ||
        write_file(s->dir, "emu.cmd", emu, 0600) < 0 ||
        write_file(s->dir, "chassis_control.sh", chassis_script, 0700) < 0)
        return -1;
    char state[160];
    snprintf(state, sizeof state, "%s/state", s->dir);
    if (mkdir(state, 0700) < 0 && errno != EEXIST)
        return -1;
    return write_file(s->dir, "power", "0\n", 0600);
}

/* ---- serial listener ---- */

static void rx_append(ipmisim *s, const unsigned char *b, size_t n)
{
    pthread_mutex_lock(&s->mu);
    size_t room = SERIAL_CAP - s->rx_len;
    size_t take = n < room ? n : room;
    memcpy(s->rx + s->rx_len, b, take);
    s->rx_len += take;
    s->rx_total += n;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

static void *serial_thread(void *arg)
{
    ipmisim *s = arg;
    unsigned char buf[4096];
    while (!atomic_load(&s->stop)) {
        pthread_mutex_lock(&s->mu);
        int cfd = s->conn_fd;
        pthread_mutex_unlock(&s->mu);
        struct pollfd p[2] = {{.fd = s->listen_fd, .events = POLLIN}, {.fd = cfd, .events = POLLIN}};
        int np = cfd >= 0 ? 2 : 1;
        int r = poll(p, (nfds_t)np, 50);
        if (r <= 0)
            continue;
        if (p[0].revents & POLLIN) {
            int nfd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC);
            if (nfd >= 0) {
                pthread_mutex_lock(&s->mu);
                if (s->conn_fd >= 0)
                    close(s->conn_fd);
                s->conn_fd = nfd;
                s->connections++;
                pthread_cond_broadcast(&s->cv);
                pthread_mutex_unlock(&s->mu);
                continue;
            }
        }
        if (np == 2 && (p[1].revents & (POLLIN | POLLHUP | POLLERR))) {
            ssize_t n = read(cfd, buf, sizeof buf);
            if (n > 0) {
                rx_append(s, buf, (size_t)n);
                pthread_mutex_lock(&s->mu);
                bool echo = s->echo;
                if (echo && s->conn_fd == cfd) {
                    size_t off = 0;
                    while (off < (size_t)n) {
                        ssize_t w = send(cfd, buf + off, (size_t)n - off, MSG_NOSIGNAL);
                        if (w <= 0)
                            break;
                        off += (size_t)w;
                    }
                }
                pthread_mutex_unlock(&s->mu);
            } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
                pthread_mutex_lock(&s->mu);
                if (s->conn_fd == cfd) {
                    close(cfd);
                    s->conn_fd = -1;
                }
                pthread_mutex_unlock(&s->mu);
            }
        }
    }
    return NULL;
}

static int start_listener(ipmisim *s)
{
    s->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s->listen_fd < 0)
        return -1;
    int one = 1;
    setsockopt(s->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (bind(s->listen_fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(s->listen_fd, 4) < 0 ||
        getsockname(s->listen_fd, (struct sockaddr *)&a, &len) < 0)
        return -1;
    s->serial_port = ntohs(a.sin_port);
    if (pthread_create(&s->thread, NULL, serial_thread, s) != 0)
        return -1;
    s->thread_started = true;
    return 0;
}

/* ---- process control ---- */

/* True once a Get Device ID over an RMCP+ session succeeds. */
static bool sim_answers(const ipmisim *s)
{
    char host[64];
    snprintf(host, sizeof host, "127.0.0.1:%d", s->port);
    ipmi_ctx_t c = ipmi_ctx_create();
    if (!c)
        return false;
    bool ok = false;
    if (ipmi_ctx_open_outofband_2_0(c, host, IPMISIM_USER, IPMISIM_PASSWORD, NULL, 0,
                                    IPMI_PRIVILEGE_LEVEL_USER, 3, 300, 100,
                                    IPMI_WORKAROUND_FLAGS_OUTOFBAND_2_0_OPEN_SESSION_PRIVILEGE,
                                    IPMI_FLAGS_DEFAULT) == 0) {
        fiid_obj_t rs = fiid_obj_create(tmpl_cmd_get_device_id_rs);
        ok = rs && ipmi_cmd_get_device_id(c, rs) == 0;
        fiid_obj_destroy(rs);
        ipmi_ctx_close(c);
    }
    ipmi_ctx_destroy(c);
    return ok;
}

int ipmisim_start(ipmisim *s)
{
    if (s->pid > 0)
        return 0;
    int connections_before;
    pthread_mutex_lock(&s->mu);
    connections_before = s->connections;
    pthread_mutex_unlock(&s->mu);
    char conf[192], emu[192], state[192], log[192];
    snprintf(conf, sizeof conf, "%s/lan.conf", s->dir);
    snprintf(emu, sizeof emu, "%s/emu.cmd", s->dir);
    snprintf(state, sizeof state, "%s/state", s->dir);
    snprintf(log, sizeof log, "%s/ipmi_sim.log", s->dir);
    char prog[256];
    if (!find_program("ipmi_sim", prog, sizeof prog)) {
        fprintf(stderr, "ipmisim: ipmi_sim not found in PATH (Debian package openipmi)\n");
        return -1;
    }
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
        int nul = open("/dev/null", O_RDONLY);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        if (nul >= 0)
            dup2(nul, 0);
        execl(prog, "ipmi_sim", "-c", conf, "-f", emu, "-s", state, "-n", (char *)NULL);
        _exit(127);
    }
    s->pid = pid;
    uint64_t until = now_ms() + 10000;
    bool up = false;
    while (now_ms() < until) {
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            fprintf(stderr, "ipmisim: ipmi_sim exited at start (see %s)\n", log);
            s->pid = -1;
            return -1;
        }
        if (sim_answers(s)) {
            up = true;
            break;
        }
        sleep_ms(20);
    }
    if (!up) {
        fprintf(stderr, "ipmisim: ipmi_sim on port %d does not answer\n", s->port);
        ipmisim_stop(s);
        return -1;
    }
    if (s->cfg.sol && !ipmisim_serial_wait_connected(s, connections_before + 1, 5000)) {
        fprintf(stderr, "ipmisim: ipmi_sim did not connect to the serial listener\n");
        ipmisim_stop(s);
        return -1;
    }
    return 0;
}

static void stop_with(ipmisim *s, int sig)
{
    if (s->pid <= 0)
        return;
    kill(s->pid, sig);
    uint64_t until = now_ms() + 1000;
    int st;
    while (waitpid(s->pid, &st, WNOHANG) == 0) {
        if (now_ms() > until) {
            kill(s->pid, SIGKILL);
            waitpid(s->pid, &st, 0);
            break;
        }
        sleep_ms(5);
    }
    s->pid = -1;
}

void ipmisim_stop(ipmisim *s)
{
    stop_with(s, SIGTERM);
}

void ipmisim_kill(ipmisim *s)
{
    stop_with(s, SIGKILL);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    return flag == FTW_DP ? rmdir(path) : unlink(path);
}

/* Removes the directory and what ipmi_sim left in it (state/<name>/...). */
static void remove_dir(const char *dir)
{
    if (strncmp(dir, "/tmp/ipmisim-", 13) == 0)
        nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

/* The absolute path of a program found in PATH (resolved before fork: the child only execs). */
static bool find_program(const char *name, char *out, size_t cap)
{
    const char *path = getenv("PATH");
    if (!path || !*path)
        path = "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin";
    while (*path) {
        size_t n = strcspn(path, ":");
        if (n > 0 && (size_t)snprintf(out, cap, "%.*s/%s", (int)n, path, name) < cap &&
            access(out, X_OK) == 0)
            return true;
        path += n;
        if (*path == ':')
            path++;
    }
    return false;
}

ipmisim *ipmisim_create(const ipmisim_config *cfg)
{
    ipmisim *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    if (cfg)
        s->cfg = *cfg;
    else
        s->cfg.sensors = true;
    s->echo = s->cfg.serial_echo;
    s->pid = -1;
    s->listen_fd = -1;
    s->conn_fd = -1;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    s->rx = malloc(SERIAL_CAP);
    snprintf(s->dir, sizeof s->dir, "/tmp/ipmisim-XXXXXX");
    if (!s->rx || !mkdtemp(s->dir)) {
        free(s->rx);
        free(s);
        return NULL;
    }
    registry_add(s);
    if (s->cfg.sol && start_listener(s) < 0) {
        ipmisim_destroy(s);
        return NULL;
    }
    /* The port was free when picked; another process may take it before ipmi_sim binds it.
     * ipmi_sim binds it even when another simulator has it too: then requests may reach the
     * other one, so a shared port is given up as well. */
    for (int attempt = 0; attempt < 5; attempt++) {
        s->port = free_udp_port();
        snprintf(s->endpoint, sizeof s->endpoint, "ipmi://127.0.0.1:%d", s->port);
        if (s->port > 0 && write_config(s) == 0 && ipmisim_start(s) == 0) {
            if (udp_port_users(s->port) <= 1)
                return s;
            fprintf(stderr, "ipmisim: UDP port %d is shared with another process; again\n",
                    s->port);
            ipmisim_stop(s);
        }
    }
    ipmisim_destroy(s);
    return NULL;
}

void ipmisim_destroy(ipmisim *s)
{
    if (!s)
        return;
    ipmisim_stop(s);
    registry_remove(s);
    if (s->thread_started) {
        atomic_store(&s->stop, true);
        pthread_join(s->thread, NULL);
    }
    if (s->conn_fd >= 0)
        close(s->conn_fd);
    if (s->listen_fd >= 0)
        close(s->listen_fd);
    remove_dir(s->dir);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s->rx);
    free(s);
}

int ipmisim_port(const ipmisim *s)
{
    return s->port;
}

pid_t ipmisim_pid(const ipmisim *s)
{
    return s->pid;
}

const char *ipmisim_endpoint(const ipmisim *s)
{
    return s->endpoint;
}

int ipmisim_power_file(const ipmisim *s)
{
    char path[192];
    snprintf(path, sizeof path, "%s/power", s->dir);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    int v = -1;
    if (fscanf(f, "%d", &v) != 1)
        v = -1;
    fclose(f);
    return v;
}

int ipmisim_power_gets(const ipmisim *s)
{
    char path[192], line[128];
    snprintf(path, sizeof path, "%s/power.log", s->dir);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    int n = 0;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "get power", 9) == 0)
            n++;
    fclose(f);
    return n;
}

void ipmisim_bmc_options(agt_bmc_options *opts)
{
    memset(opts, 0, sizeof *opts);
    opts->workaround_flags = IPMI_WORKAROUND_FLAGS_OUTOFBAND_2_0_OPEN_SESSION_PRIVILEGE;
    opts->sol_workaround_flags = IPMICONSOLE_WORKAROUND_OPEN_SESSION_PRIVILEGE |
                                 IPMICONSOLE_WORKAROUND_SKIP_CHANNEL_PAYLOAD_SUPPORT |
                                 IPMICONSOLE_WORKAROUND_IGNORE_SOL_PAYLOAD_SIZE;
    opts->sol_keepalive_ms = 400;
}

int ipmisim_ipmitool(const ipmisim *s, const char *const *args, char *out, size_t cap,
                     int timeout_ms)
{
    const char *argv[40];
    char port[16];
    snprintf(port, sizeof port, "%d", s->port);
    size_t n = 0;
    const char *fixed[] = {"ipmitool", "-I", "lanplus", "-H", "127.0.0.1", "-p", port, "-U",
                           IPMISIM_USER, "-P", IPMISIM_PASSWORD, "-C", "3"};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        argv[n++] = fixed[i];
    for (size_t i = 0; args && args[i] && n < sizeof argv / sizeof argv[0] - 1; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    char prog[256];
    if (!find_program("ipmitool", prog, sizeof prog))
        return -1;
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) < 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0) {
        close(pfd[0]);
        close(pfd[1]);
        return -1;
    }
    if (pid == 0) {
        dup2(pfd[1], 1);
        dup2(pfd[1], 2);
        execv(prog, (char *const *)argv);
        _exit(127);
    }
    close(pfd[1]);
    size_t len = 0;
    uint64_t until = now_ms() + (uint64_t)timeout_ms;
    bool timed_out = false;
    for (;;) {
        int64_t left = (int64_t)(until - now_ms());
        if (left <= 0) {
            timed_out = true;
            break;
        }
        struct pollfd p = {.fd = pfd[0], .events = POLLIN};
        if (poll(&p, 1, (int)left) <= 0)
            continue;
        char tmp[1024];
        ssize_t r = read(pfd[0], tmp, sizeof tmp);
        if (r <= 0)
            break;
        size_t take = (size_t)r;
        if (cap && len + take > cap - 1)
            take = cap - 1 - len;
        if (cap)
            memcpy(out + len, tmp, take);
        len += take;
    }
    close(pfd[0]);
    if (cap)
        out[len] = '\0';
    if (timed_out)
        kill(pid, SIGKILL);
    int st = 0;
    waitpid(pid, &st, 0);
    if (timed_out || !WIFEXITED(st))
        return -1;
    return WEXITSTATUS(st);
}

/* ---- serial ---- */

bool ipmisim_serial_wait_connected(ipmisim *s, int n, int timeout_ms)
{
    uint64_t until = now_ms() + (uint64_t)timeout_ms;
    pthread_mutex_lock(&s->mu);
    while (s->connections < n || s->conn_fd < 0) {
        uint64_t t = now_ms();
        if (t >= until)
            break;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t wait = until - t < 50 ? until - t : 50;
        ts.tv_nsec += (long)(wait * 1000000u);
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&s->cv, &s->mu, &ts);
    }
    bool ok = s->connections >= n && s->conn_fd >= 0;
    pthread_mutex_unlock(&s->mu);
    return ok;
}

ssize_t ipmisim_serial_write(ipmisim *s, const void *buf, size_t len)
{
    pthread_mutex_lock(&s->mu);
    ssize_t rc = -1;
    if (s->conn_fd >= 0) {
        size_t off = 0;
        while (off < len) {
            ssize_t w = send(s->conn_fd, (const char *)buf + off, len - off, MSG_NOSIGNAL);
            if (w <= 0)
                break;
            off += (size_t)w;
        }
        rc = (ssize_t)off;
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

size_t ipmisim_serial_received(ipmisim *s, void *buf, size_t cap)
{
    pthread_mutex_lock(&s->mu);
    size_t n = s->rx_len < cap ? s->rx_len : cap;
    if (buf && n)
        memcpy(buf, s->rx, n);
    size_t total = s->rx_total;
    pthread_mutex_unlock(&s->mu);
    return total;
}

static bool contains(const unsigned char *hay, size_t hn, const void *needle, size_t n)
{
    if (n == 0)
        return true;
    for (size_t i = 0; i + n <= hn; i++)
        if (memcmp(hay + i, needle, n) == 0)
            return true;
    return false;
}

bool ipmisim_serial_wait_for(ipmisim *s, const void *needle, size_t n, int timeout_ms)
{
    uint64_t until = now_ms() + (uint64_t)timeout_ms;
    pthread_mutex_lock(&s->mu);
    bool found;
    while (!(found = contains(s->rx, s->rx_len, needle, n))) {
        uint64_t t = now_ms();
        if (t >= until)
            break;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t wait = until - t < 50 ? until - t : 50;
        ts.tv_nsec += (long)(wait * 1000000u);
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&s->cv, &s->mu, &ts);
    }
    pthread_mutex_unlock(&s->mu);
    return found;
}

void ipmisim_serial_clear(ipmisim *s)
{
    pthread_mutex_lock(&s->mu);
    s->rx_len = 0;
    s->rx_total = 0;
    pthread_mutex_unlock(&s->mu);
}

void ipmisim_serial_set_echo(ipmisim *s, bool echo)
{
    pthread_mutex_lock(&s->mu);
    s->echo = echo;
    pthread_mutex_unlock(&s->mu);
}
