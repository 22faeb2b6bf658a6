/* bmcctl's stored login: see cli/config.h. */
#include "cli/config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

int cli_config_dir(char *buf, size_t cap)
{
    const char *own = getenv("BMCCTL_CONFIG_DIR");
    const char *xdg = getenv("XDG_CONFIG_HOME");
    const char *home = getenv("HOME");
    int n;
    if (own && *own == '/')
        n = snprintf(buf, cap, "%s", own);
    else if (xdg && *xdg == '/')
        n = snprintf(buf, cap, "%s/bmcctl", xdg);
    else if (home && *home)
        n = snprintf(buf, cap, "%s/.config/bmcctl", home);
    else
        return CLI_CFG_EIO;
    return n > 0 && (size_t)n < cap ? CLI_CFG_OK : CLI_CFG_EIO;
}

/* mkdir -p with mode 0700 for the last component (parents 0700 too when created). */
static int make_dirs(const char *path)
{
    char tmp[1024];
    if (snprintf(tmp, sizeof tmp, "%s", path) >= (int)sizeof tmp)
        return -1;
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, 0700) < 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    if (mkdir(tmp, 0700) < 0 && errno != EEXIST)
        return -1;
    return 0;
}

/* Writes data to dir/name atomically with mode 0600. */
static int write_private(const char *dir, const char *name, const char *data, size_t len,
                         char *err, size_t errcap)
{
    char path[1100], tmp[1100];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    snprintf(tmp, sizeof tmp, "%s/.%s.tmp.%ld", dir, name, (long)getpid());
    unlink(tmp);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        snprintf(err, errcap, "cannot create %s: %s", tmp, strerror(errno));
        return CLI_CFG_EIO;
    }
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fd, data + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            snprintf(err, errcap, "cannot write %s: %s", tmp, strerror(errno));
            close(fd);
            unlink(tmp);
            return CLI_CFG_EIO;
        }
        off += (size_t)w;
    }
    if (fchmod(fd, 0600) < 0 || close(fd) < 0 || rename(tmp, path) < 0) {
        snprintf(err, errcap, "cannot store %s: %s", path, strerror(errno));
        unlink(tmp);
        return CLI_CFG_EIO;
    }
    return CLI_CFG_OK;
}

int cli_config_save(const char *token, const cli_login *login, char *err, size_t errcap)
{
    char dir[1024];
    if (cli_config_dir(dir, sizeof dir) != 0) {
        snprintf(err, errcap, "neither XDG_CONFIG_HOME nor HOME is set");
        return CLI_CFG_EIO;
    }
    if (make_dirs(dir) < 0) {
        snprintf(err, errcap, "cannot create %s: %s", dir, strerror(errno));
        return CLI_CFG_EIO;
    }
    json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "manager_url", login->manager_url,
                          "gateway_url", login->gateway_url, "username", login->username,
                          "user_id", login->user_id, "customer_id", login->customer_id,
                          "expires_at", login->expires_at);
    char *text = o ? json_dumps(o, JSON_INDENT(2)) : NULL;
    json_decref(o);
    if (!text) {
        snprintf(err, errcap, "out of memory");
        return CLI_CFG_EIO;
    }
    size_t tlen = strlen(text);
    char *withnl = malloc(tlen + 2);
    if (!withnl) {
        free(text);
        snprintf(err, errcap, "out of memory");
        return CLI_CFG_EIO;
    }
    memcpy(withnl, text, tlen);
    withnl[tlen] = '\n';
    withnl[tlen + 1] = '\0';
    free(text);
    int rc = write_private(dir, "config.json", withnl, tlen + 1, err, errcap);
    free(withnl);
    if (rc != 0)
        return rc;
    size_t klen = strlen(token);
    char *line = malloc(klen + 2);
    if (!line) {
        snprintf(err, errcap, "out of memory");
        return CLI_CFG_EIO;
    }
    memcpy(line, token, klen);
    line[klen] = '\n';
    rc = write_private(dir, "token", line, klen + 1, err, errcap);
    /* the copy held the token: wipe it before freeing */
    memset(line, 0, klen + 1);
    free(line);
    return rc;
}

static void copy_field(json_t *o, const char *key, char *dst, size_t cap)
{
    const char *v = json_string_value(json_object_get(o, key));
    snprintf(dst, cap, "%s", v ? v : "");
}

int cli_config_load(cli_login *login)
{
    memset(login, 0, sizeof *login);
    char dir[1024], path[1100];
    if (cli_config_dir(dir, sizeof dir) != 0)
        return CLI_CFG_EIO;
    snprintf(path, sizeof path, "%s/config.json", dir);
    json_error_t e;
    json_t *o = json_load_file(path, 0, &e);
    if (!o)
        return access(path, F_OK) == 0 ? CLI_CFG_EIO : CLI_CFG_ENOENT;
    copy_field(o, "manager_url", login->manager_url, sizeof login->manager_url);
    copy_field(o, "gateway_url", login->gateway_url, sizeof login->gateway_url);
    copy_field(o, "username", login->username, sizeof login->username);
    copy_field(o, "user_id", login->user_id, sizeof login->user_id);
    copy_field(o, "customer_id", login->customer_id, sizeof login->customer_id);
    copy_field(o, "expires_at", login->expires_at, sizeof login->expires_at);
    json_decref(o);
    return CLI_CFG_OK;
}

int cli_config_token(char *buf, size_t cap)
{
    char dir[1024], path[1100];
    if (cli_config_dir(dir, sizeof dir) != 0)
        return CLI_CFG_EIO;
    snprintf(path, sizeof path, "%s/token", dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return errno == ENOENT ? CLI_CFG_ENOENT : CLI_CFG_EIO;
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return CLI_CFG_EIO;
    }
    if (st.st_mode & 077) {
        close(fd);
        return CLI_CFG_EPERM;
    }
    size_t len = 0;
    for (;;) {
        if (len + 1 >= cap) {
            close(fd);
            memset(buf, 0, cap);
            return CLI_CFG_EIO;
        }
        ssize_t r = read(fd, buf + len, cap - 1 - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            close(fd);
            return CLI_CFG_EIO;
        }
        if (r == 0)
            break;
        len += (size_t)r;
    }
    close(fd);
    buf[len] = '\0';
    while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' ' ||
                   buf[len - 1] == '\t'))
        buf[--len] = '\0';
    size_t lead = strspn(buf, " \t\r\n");
    if (lead)
        memmove(buf, buf + lead, len - lead + 1);
    return buf[0] ? CLI_CFG_OK : CLI_CFG_ENOENT;
}

int cli_config_forget_token(void)
{
    char dir[1024], path[1100];
    if (cli_config_dir(dir, sizeof dir) != 0)
        return CLI_CFG_EIO;
    snprintf(path, sizeof path, "%s/token", dir);
    return unlink(path) == 0 || errno == ENOENT ? CLI_CFG_OK : CLI_CFG_EIO;
}
