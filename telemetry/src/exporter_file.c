/* File exporter: OTLP/JSON lines, one Export<Signal>ServiceRequest per export call, for spans,
 * metrics and log records alike. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "otlp_internal.h"

#define BUF_KEEP_MAX (4u * 1024 * 1024)

typedef struct file_exporter {
    tel__exporter base;
    int fd;
    pthread_mutex_t mu; /* serialises encoding into buf and the write */
    tel_buf buf;
    atomic_bool shut_down;
    uint64_t write_errors;
} file_exporter;

static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return TEL_EIO;
        }
        p += w;
        n -= (size_t)w;
    }
    return TEL_OK;
}

static int file_export(tel__exporter *e, const tel__otlp_batch *b, uint64_t deadline_ns)
{
    file_exporter *f = (file_exporter *)e;
    if (atomic_load(&f->shut_down)) return TEL_ESHUTDOWN;
    if (b->n == 0) return TEL_OK;
    pthread_mutex_lock(&f->mu);
    f->buf.len = 0;
    int rc = tel__otlp_encode(&f->buf, true, b);
    if (rc == TEL_OK) rc = tel_buf_append(&f->buf, "\n", 1);
    if (rc == TEL_OK) {
        /* One write on an O_APPEND descriptor: the line lands whole at the end of the file. */
        rc = write_all(f->fd, f->buf.data, f->buf.len);
        if (rc != TEL_OK && f->write_errors++ == 0)
            tel__otlp_log("error", "file exporter: write failed: %s", strerror(errno));
    }
    tel_buf_reset(&f->buf, BUF_KEEP_MAX);
    pthread_mutex_unlock(&f->mu);
    return rc;
}

static int file_flush(tel__exporter *e, int64_t timeout_ms)
{
    file_exporter *f = (file_exporter *)e;
    /* Lines are written with write(2) at once, so readers already see them; this also asks
     * the kernel to put them on disk. */
    return fdatasync(f->fd) == 0 || errno == EINVAL ? TEL_OK : TEL_EIO;
}

static int file_shutdown(tel__exporter *e)
{
    atomic_store(&((file_exporter *)e)->shut_down, true);
    return TEL_OK;
}

static void file_destroy(tel__exporter *e)
{
    file_exporter *f = (file_exporter *)e;
    close(f->fd);
    pthread_mutex_destroy(&f->mu);
    tel_buf_free(&f->buf);
    free(f);
}

static const tel__exporter_ops file_ops = {file_export, file_flush, file_shutdown, file_destroy};

tel__exporter *tel__file_exporter_create(tel_otlp_signal signal, const char *path)
{
    if (!path || !*path) return NULL;
    file_exporter *f = calloc(1, sizeof *f);
    if (!f) return NULL;
    f->fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (f->fd < 0) {
        tel__otlp_log("error", "file exporter: cannot open %s: %s", path, strerror(errno));
        free(f);
        return NULL;
    }
    if (pthread_mutex_init(&f->mu, NULL) != 0) {
        close(f->fd);
        free(f);
        return NULL;
    }
    atomic_init(&f->shut_down, false);
    tel__exporter_bind(&f->base, signal, &file_ops);
    return &f->base;
}

tel_span_exporter *tel_file_exporter_create(const char *path)
{
    tel__exporter *e = tel__file_exporter_create(TEL_OTLP_TRACES, path);
    return e ? &e->pub.span : NULL;
}

tel_metric_exporter *tel_file_metric_exporter_create(const char *path)
{
    tel__exporter *e = tel__file_exporter_create(TEL_OTLP_METRICS, path);
    return e ? &e->pub.metric : NULL;
}

tel_log_exporter *tel_file_log_exporter_create(const char *path)
{
    tel__exporter *e = tel__file_exporter_create(TEL_OTLP_LOGS, path);
    return e ? &e->pub.log : NULL;
}
