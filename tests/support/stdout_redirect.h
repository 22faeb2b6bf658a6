/* Sending what a test process writes to stdout (file descriptor 1, so also what libraries write,
 * such as the console exporter) into a file for a while, to read it back. */
#ifndef STDOUT_REDIRECT_H
#define STDOUT_REDIRECT_H

#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

/* Redirects stdout into path (created or truncated). Returns the original stdout's duplicate for
 * stdout_restore, or -1 (stdout unchanged). */
static inline int stdout_redirect(const char *path)
{
    fflush(stdout);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) return -1;
    int saved = dup(1);
    if (saved < 0) {
        close(fd);
        return -1;
    }
    dup2(fd, 1);
    close(fd);
    return saved;
}

/* Puts back the stdout stdout_redirect saved (nothing for -1). */
static inline void stdout_restore(int saved)
{
    if (saved < 0) return;
    fflush(stdout);
    dup2(saved, 1);
    close(saved);
}

#endif
