/* bmcctl's stored login: the token and the fleet's URLs.
 *
 * Directory: $BMCCTL_CONFIG_DIR when set (an absolute path; the local fleet's env.sh uses it),
 * else $XDG_CONFIG_HOME/bmcctl, else $HOME/.config/bmcctl (created with mode 0700).
 * Files: `token` (the JWT alone, one line, mode 0600) and `config.json` (mode 0600:
 * {"manager_url","gateway_url","username","user_id","customer_id","expires_at"}). Both are
 * replaced atomically (temporary file + rename). A token file that is readable by group or
 * others is refused on read (the user is told to fix the mode or log in again).
 *
 * Not thread safe (the CLI is one thread). */
#ifndef CLI_CONFIG_H
#define CLI_CONFIG_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cli_login {
    char manager_url[512];
    char gateway_url[512];
    char username[128];
    char user_id[128];
    char customer_id[128];
    char expires_at[64];
} cli_login;

/* Return codes of this module. */
enum {
    CLI_CFG_OK = 0,
    CLI_CFG_ENOENT = -1, /* nothing stored (never logged in, or logged out) */
    CLI_CFG_EPERM = -2,  /* the token file is readable by others */
    CLI_CFG_EIO = -3,    /* cannot create, read or write (err says why) */
};

/* Writes the configuration directory's path into buf. Returns 0, or CLI_CFG_EIO when neither
 * XDG_CONFIG_HOME nor HOME is set or the path does not fit. */
int cli_config_dir(char *buf, size_t cap);

/* Stores token (not printed anywhere) and login. Returns 0 or CLI_CFG_EIO with a reason in err
 * (capacity errcap). */
int cli_config_save(const char *token, const cli_login *login, char *err, size_t errcap);

/* Reads the stored login (missing fields empty). Returns 0, CLI_CFG_ENOENT or CLI_CFG_EIO. */
int cli_config_load(cli_login *login);

/* Reads the token into buf (cap bytes, NUL-terminated, surrounding whitespace removed).
 * Returns 0, CLI_CFG_ENOENT, CLI_CFG_EPERM or CLI_CFG_EIO (also for a token over cap). */
int cli_config_token(char *buf, size_t cap);

/* Removes the stored token (config.json is kept for the URLs). Returns 0 (also when there was
 * none) or CLI_CFG_EIO. */
int cli_config_forget_token(void);

#ifdef __cplusplus
}
#endif
#endif
