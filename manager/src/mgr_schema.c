/* The manager's SQLite schema, as migrations (core_db applies the pending ones at open).
 *
 * customers            tenants
 * users                login accounts of a customer: argon2id hash (crypto_pwhash_str), roles
 *                      as bits (1 admin, 2 operator, 4 viewer)
 * gateways             gateway base URLs
 * gateway_datacenters  which gateway serves a datacenter (one gateway per datacenter)
 * servers              a customer's servers: datacenter, BMC type/host (shown to users), the
 *                      full endpoint and the sealed credentials (crypto_secretbox of
 *                      {"username","password"} under BMC_CRED_KEY with a fresh 24-byte nonce per
 *                      write; only the internal API opens them). AUTOINCREMENT: a deleted
 *                      server's id is never reused (gateways cache lookups by id). */
#include "mgr.h"

static const core_db_migration migrations[] = {
    {1, "customers",
     "CREATE TABLE customers ("
     " id INTEGER PRIMARY KEY AUTOINCREMENT,"
     " name TEXT NOT NULL UNIQUE,"
     " created_at INTEGER NOT NULL)"},
    {2, "users",
     "CREATE TABLE users ("
     " id INTEGER PRIMARY KEY AUTOINCREMENT,"
     " customer_id INTEGER NOT NULL REFERENCES customers(id),"
     " username TEXT NOT NULL UNIQUE,"
     " password_hash TEXT NOT NULL,"
     " roles INTEGER NOT NULL CHECK (roles BETWEEN 1 AND 7),"
     " created_at INTEGER NOT NULL);"
     "CREATE INDEX users_customer ON users(customer_id)"},
    {3, "gateways",
     "CREATE TABLE gateways ("
     " id INTEGER PRIMARY KEY AUTOINCREMENT,"
     " url TEXT NOT NULL UNIQUE,"
     " created_at INTEGER NOT NULL);"
     "CREATE TABLE gateway_datacenters ("
     " datacenter TEXT PRIMARY KEY,"
     " gateway_id INTEGER NOT NULL REFERENCES gateways(id) ON DELETE CASCADE);"
     "CREATE INDEX gateway_datacenters_gateway ON gateway_datacenters(gateway_id)"},
    {4, "servers",
     "CREATE TABLE servers ("
     " id INTEGER PRIMARY KEY AUTOINCREMENT,"
     " customer_id INTEGER NOT NULL REFERENCES customers(id),"
     " name TEXT NOT NULL,"
     " datacenter TEXT NOT NULL,"
     " bmc_type TEXT NOT NULL CHECK (bmc_type IN ('ipmi', 'redfish')),"
     " bmc_host TEXT NOT NULL,"
     " bmc_endpoint TEXT NOT NULL,"
     " bmc_creds BLOB NOT NULL,"
     " bmc_nonce BLOB NOT NULL CHECK (length(bmc_nonce) = 24),"
     " created_at INTEGER NOT NULL,"
     " updated_at INTEGER NOT NULL,"
     " UNIQUE (customer_id, name));"
     "CREATE INDEX servers_customer ON servers(customer_id)"},
};

const core_db_migration *mgr_schema_migrations(size_t *n)
{
    *n = sizeof migrations / sizeof migrations[0];
    return migrations;
}
