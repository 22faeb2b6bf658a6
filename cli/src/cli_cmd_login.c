/* `bmcctl login` and `bmcctl logout`. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "cli_cmd.h"

/* Reads one line from fd into buf (without the newline). Returns its length or -1. */
static long read_line_fd(int fd, char *buf, size_t cap)
{
    size_t n = 0;
    for (;;) {
        char c;
        ssize_t r = read(fd, &c, 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        if (c == '\n')
            break;
        if (n + 1 >= cap)
            return -1;
        buf[n++] = c;
    }
    if (n && buf[n - 1] == '\r')
        n--;
    buf[n] = '\0';
    return (long)n;
}

/* Prompts on the terminal; echo off when secret. Returns 0 or -1 (no terminal). */
static int prompt_tty(const char *prompt, bool secret, char *buf, size_t cap)
{
    int fd = open("/dev/tty", O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return -1;
    struct termios old, raw;
    bool restore = false;
    if (secret && tcgetattr(fd, &old) == 0) {
        raw = old;
        raw.c_lflag &= ~(tcflag_t)ECHO;
        raw.c_lflag |= ECHONL;
        restore = tcsetattr(fd, TCSAFLUSH, &raw) == 0;
    }
    if (write(fd, prompt, strlen(prompt)) < 0) {
        /* nothing to do: the read below still works */
    }
    long n = read_line_fd(fd, buf, cap);
    if (restore)
        tcsetattr(fd, TCSAFLUSH, &old);
    close(fd);
    return n < 0 ? -1 : 0;
}

int cli_cmd_login(cli_inv *inv)
{
    const char *username = getenv("BMCCTL_USERNAME");
    bool password_stdin = false;
    for (int i = 0; i < inv->argc; i++) {
        const char *a = inv->argv[i];
        if ((strcmp(a, "--username") == 0 || strcmp(a, "-u") == 0) && i + 1 < inv->argc)
            username = inv->argv[++i];
        else if (strncmp(a, "--username=", 11) == 0)
            username = a + 11;
        else if (strcmp(a, "--password-stdin") == 0)
            password_stdin = true;
        else if (a[0] != '-' && !username)
            username = a;
        else
            return cli_fail(inv, CLI_EXIT_USAGE, "usage",
                            "login: unexpected argument \"%s\" (usage: bmcctl login "
                            "[--username NAME] [--password-stdin])", a);
    }
    char user_buf[128], password[512];
    if (!username || !*username) {
        if (prompt_tty("Username: ", false, user_buf, sizeof user_buf) < 0 || !user_buf[0])
            return cli_fail(inv, CLI_EXIT_USAGE, "usage",
                            "login: no username (give --username NAME)");
        username = user_buf;
    }
    if (password_stdin) {
        if (read_line_fd(0, password, sizeof password) < 0)
            return cli_fail(inv, CLI_EXIT_USAGE, "usage", "login: password too long");
    } else if (prompt_tty("Password: ", true, password, sizeof password) < 0) {
        return cli_fail(inv, CLI_EXIT_USAGE, "usage",
                        "login: no terminal to ask for the password; use --password-stdin");
    }
    if (!password[0])
        return cli_fail(inv, CLI_EXIT_USAGE, "usage", "login: empty password");

    tel_span_set_str(inv->root, "user.name", username);
    json_t *body = json_pack("{s:s,s:s}", "username", username, "password", password);
    memset(password, 0, sizeof password);
    if (!body)
        return cli_fail(inv, CLI_EXIT_OTHER, "internal", "login: out of memory");
    cli_api_result r;
    cli_api_call(inv->api, &inv->ctx, "manager", "POST", inv->manager_url, "/v1/auth/login", NULL,
                 body, &r);
    /* jansson keeps a heap copy of the password in the object: wipe it before freeing */
    json_t *pw = json_object_get(body, "password");
    if (json_is_string(pw))
        memset((char *)(uintptr_t)json_string_value(pw), 0, json_string_length(pw));
    json_decref(body);
    if (r.exit_code != CLI_EXIT_OK) {
        if (r.status == 401)
            snprintf(r.message, sizeof r.message,
                     "login failed: wrong username or password (HTTP 401 from the manager)");
        int rc = cli_fail_api(inv, &r);
        cli_api_result_cleanup(&r);
        return rc;
    }
    const char *token = json_string_value(json_object_get(r.body, "token"));
    json_t *user = json_object_get(r.body, "user");
    if (!token || !*token) {
        cli_api_result_cleanup(&r);
        return cli_fail(inv, CLI_EXIT_OTHER, "bad_response",
                        "the manager's login answer has no token");
    }
    cli_login login;
    memset(&login, 0, sizeof login);
    snprintf(login.manager_url, sizeof login.manager_url, "%s", inv->manager_url);
    snprintf(login.gateway_url, sizeof login.gateway_url, "%s", inv->gateway_url);
    const char *uname = json_string_value(json_object_get(user, "username"));
    snprintf(login.username, sizeof login.username, "%s", uname ? uname : username);
    const char *uid = json_string_value(json_object_get(user, "id"));
    snprintf(login.user_id, sizeof login.user_id, "%s", uid ? uid : "");
    json_t *cst = json_object_get(user, "customer_id");
    if (json_is_string(cst))
        snprintf(login.customer_id, sizeof login.customer_id, "%s", json_string_value(cst));
    else if (json_is_integer(cst))
        snprintf(login.customer_id, sizeof login.customer_id, "%lld",
                 (long long)json_integer_value(cst));
    json_t *exp = json_object_get(r.body, "expires_at");
    if (json_is_string(exp))
        snprintf(login.expires_at, sizeof login.expires_at, "%s", json_string_value(exp));
    else if (json_is_integer(exp))
        snprintf(login.expires_at, sizeof login.expires_at, "%lld",
                 (long long)json_integer_value(exp));
    if (login.customer_id[0])
        tel_span_set_str(inv->root, "customer_id", login.customer_id);
    char err[512];
    int rc = cli_config_save(token, &login, err, sizeof err);
    cli_note_trace(inv, &r, NULL);
    if (rc != CLI_CFG_OK) {
        cli_api_result_cleanup(&r);
        return cli_fail(inv, CLI_EXIT_OTHER, "config", "login: %s", err);
    }
    char dir[1024];
    if (cli_config_dir(dir, sizeof dir) != 0)
        snprintf(dir, sizeof dir, "(config dir)");
    if (inv->json) {
        json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "username", login.username, "user_id",
                              login.user_id, "customer_id", login.customer_id, "expires_at",
                              login.expires_at, "manager_url", login.manager_url, "gateway_url",
                              login.gateway_url);
        if (o) {
            json_object_set(o, "roles", json_object_get(user, "roles") ? json_object_get(user, "roles")
                                                                        : json_null());
            cli_print_json(inv, o);
            json_decref(o);
        }
    } else {
        printf("Logged in as %s (customer %s); token stored in %s/token (mode 0600)%s%s\n",
               login.username, login.customer_id[0] ? login.customer_id : "?", dir,
               login.expires_at[0] ? ", expires " : "", login.expires_at);
    }
    cli_api_result_cleanup(&r);
    return CLI_EXIT_OK;
}

int cli_cmd_logout(cli_inv *inv)
{
    if (inv->argc > 0)
        return cli_fail(inv, CLI_EXIT_USAGE, "usage", "logout takes no arguments");
    if (cli_config_forget_token() != CLI_CFG_OK)
        return cli_fail(inv, CLI_EXIT_OTHER, "config", "cannot remove the stored token");
    if (inv->json) {
        json_t *o = json_pack("{s:b}", "logged_out", 1);
        if (o) {
            cli_print_json(inv, o);
            json_decref(o);
        }
    } else {
        printf("Logged out (token removed)\n");
    }
    return CLI_EXIT_OK;
}
