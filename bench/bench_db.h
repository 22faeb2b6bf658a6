/* The benchmarks' SQLite database (bench_http, bench_grpc): a file with a table of
 * BENCH_DB_ROWS servers, opened through core_db (traced with the tracer given), that the
 * handlers under measurement read one row of.
 *
 * Each benchmark child keeps its SQLite files (the database, its -wal and -shm) in a directory
 * of its own, /tmp/<prefix><pid>.XXXXXX (mkdtemp: not guessable, mode 0700), removed when it
 * ends. A child killed before that (SIGKILL, a crash) leaves it behind: every child first
 * removes the directories of processes that no longer exist. Only real directories of this
 * user are touched, through a descriptor (no symbolic link is followed), and only the files a
 * database makes in them. */
#ifndef BENCH_DB_H
#define BENCH_DB_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/db.h"

#define BENCH_DB_ROWS 1000
/* The query the handlers run (one row by primary key). */
#define BENCH_DB_SELECT "SELECT id, name, bmc_address FROM servers WHERE id = ?"

typedef struct bench_db {
    core_db *db; /* owned: bench_db_close */
    char dir[64];
} bench_db;

/* Removes the directory name of parent (a descriptor) and the database files in it, when it is
 * a directory owned by this user. Errors are ignored: another child may be at it too. */
static inline void bench_db_dir_remove_at(int parent, const char *name)
{
    static const char *const files[] = {"db", "db-wal", "db-shm", "db-journal"};
    int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return;
    struct stat st;
    if (fstat(fd, &st) == 0 && st.st_uid == geteuid()) {
        for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
            unlinkat(fd, files[i], 0);
        unlinkat(parent, name, AT_REMOVEDIR);
    }
    close(fd);
}

/* Removes the directories /tmp/<prefix>... left by children that no longer run. */
static inline void bench_db_dir_sweep(const char *prefix)
{
    DIR *d = opendir("/tmp");
    if (!d)
        return;
    size_t plen = strlen(prefix);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, prefix, plen) != 0)
            continue;
        const char *num = e->d_name + plen;
        char *end;
        errno = 0;
        long pid = strtol(num, &end, 10);
        if (end == num || *end != '.' || strlen(end) != 7 || errno || pid <= 0 ||
            pid > INT32_MAX)
            continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
            continue; /* still running (or not ours to ask about) */
        bench_db_dir_remove_at(dirfd(d), e->d_name);
    }
    closedir(d);
}

/* Sweeps, creates this process's directory under prefix ("bench_http."), opens the database
 * there with the servers table (tracer and meters may be NULL) and fills it. Returns 0, or -1
 * with a line on stderr (nothing left to clean up then). */
static inline int bench_db_open(bench_db *b, const char *prefix, tel_tracer *tracer,
                                tel_meter_provider *meters)
{
    static const core_db_migration schema[] = {
        {1, "servers",
         "CREATE TABLE servers (id INTEGER PRIMARY KEY, name TEXT NOT NULL, "
         "bmc_address TEXT NOT NULL)"},
    };
    memset(b, 0, sizeof *b);
    bench_db_dir_sweep(prefix);
    snprintf(b->dir, sizeof b->dir, "/tmp/%s%ld.XXXXXX", prefix, (long)getpid());
    if (!mkdtemp(b->dir)) {
        fprintf(stderr, "bench: cannot create %s: %s\n", b->dir, strerror(errno));
        return -1;
    }
    char path[sizeof b->dir + 8];
    snprintf(path, sizeof path, "%s/db", b->dir);
    core_db_options o = {.migrations = schema, .n_migrations = 1, .tracer = tracer,
                         .meters = meters};
    if (core_db_open(&b->db, path, &o) != 0) {
        fprintf(stderr, "bench: cannot open the database %s\n", path);
        bench_db_dir_remove_at(AT_FDCWD, b->dir);
        return -1;
    }
    for (int i = 1; i <= BENCH_DB_ROWS; i++) {
        char name[32], addr[32];
        snprintf(name, sizeof name, "node-%04d", i);
        snprintf(addr, sizeof addr, "10.0.%d.%d", i / 250, i % 250);
        core_db_param p[3] = {CORE_DB_P_INT(i), CORE_DB_P_TEXT(name), CORE_DB_P_TEXT(addr)};
        core_db_exec(b->db, NULL, "INSERT INTO servers (id, name, bmc_address) VALUES (?, ?, ?)",
                     p, 3, NULL);
    }
    return 0;
}

/* Closes the database and removes its directory. */
static inline void bench_db_close(bench_db *b)
{
    core_db_close(b->db);
    b->db = NULL;
    bench_db_dir_remove_at(AT_FDCWD, b->dir);
}

#endif
