/* File exporter: OTLP/JSON lines, one ExportTraceServiceRequest per export call. */
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
    tel_span_exporter base;
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

static int file_export(tel_span_exporter *self, const tel_resource *res,
                       const tel_span_data *const *spans, size_t n, uint64_t deadline_ns)
{
    file_exporter *f = (file_exporter *)self;
    if (atomic_load(&f->shut_down)) return TEL_ESHUTDOWN;
    if (n == 0) return TEL_OK;
    pthread_mutex_lock(&f->mu);
    f->buf.len = 0;
    int rc = tel_otlp_encode_traces_json(&f->buf, res, spans, n);
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

static int file_flush(tel_span_exporter *self, int64_t timeout_ms)
{
    file_exporter *f = (file_exporter *)self;
    /* Lines are written with write(2) at once, so readers already see them; this also asks
     * the kernel to put them on disk. */
    return fdatasync(f->fd) == 0 || errno == EINVAL ? TEL_OK : TEL_EIO;
}

static int file_shutdown(tel_span_exporter *self)
{
    atomic_store(&((file_exporter *)self)->shut_down, true);
    return TEL_OK;
}

static void file_destroy(tel_span_exporter *self)
{
    file_exporter *f = (file_exporter *)self;
    if (!f) return;
    close(f->fd);
    pthread_mutex_destroy(&f->mu);
    tel_buf_free(&f->buf);
    free(f);
}

tel_span_exporter *tel_file_exporter_create(const char *path)
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
    f->base.export_spans = file_export;
    f->base.force_flush = file_flush;
    f->base.shutdown = file_shutdown;
    f->base.destroy = file_destroy;
    return &f->base;
}
