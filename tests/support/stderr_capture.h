/* Capturing what a test process writes to stderr (file descriptor 2, so also what libraries
 * write), to check it for secrets, and replaying it afterwards so nothing is hidden from the test
 * log. */
#ifndef STDERR_CAPTURE_H
#define STDERR_CAPTURE_H

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

typedef struct stderr_capture {
    int saved; /* the original stderr while capturing, else -1 */
    char path[64];
} stderr_capture;

#define STDERR_CAPTURE_INIT {.saved = -1}

/* Redirects stderr into a new file /tmp/<prefix>-XXXXXX. Returns 0, or -1 (stderr unchanged). */
static inline int stderr_capture_start(stderr_capture *c, const char *prefix)
{
    snprintf(c->path, sizeof c->path, "/tmp/%s-XXXXXX", prefix);
    int fd = mkstemp(c->path);
    if (fd < 0) return -1;
    fflush(stderr);
    c->saved = dup(2);
    dup2(fd, 2);
    close(fd);
    return 0;
}

/* Puts stderr back, copies what was captured into copy[0..cap) (*len bytes; 0 when nothing was
 * being captured), removes the file and writes the capture to the restored stderr. */
static inline void stderr_capture_stop(stderr_capture *c, char *copy, size_t cap, size_t *len)
{
    *len = 0;
    if (c->saved < 0) return;
    fflush(stderr);
    dup2(c->saved, 2);
    close(c->saved);
    c->saved = -1;
    int fd = open(c->path, O_RDONLY);
    if (fd >= 0) {
        ssize_t n;
        while (*len < cap && (n = read(fd, copy + *len, cap - *len)) > 0)
            *len += (size_t)n;
        close(fd);
    }
    unlink(c->path);
    if (*len) fprintf(stderr, "%.*s", (int)*len, copy);
}

#endif
