/*
 * config: the router's INI file (format in DESIGN.md, "Configuration").
 *
 *   [router]                 settings of this process         struct router_settings
 *   [statestore]             where the routing records live   struct store_settings
 *   [security]               how clients authenticate         struct security_settings
 *   [nameservice NAME]  \
 *   [mount /path]        >   records (the `file` driver)      struct record_set
 *   [metastore NAME]    /
 *
 * Every [router], [statestore] and [security] key is declared once in a table (type,
 * default, bounds, one line of doc); defaults are applied by parsing the
 * table's default text through the same code as the file's values, so
 * config_print_keys() (for --help) always shows the real defaults.
 *
 * The parser never logs and never exits: problems are collected into a
 * struct cfg_error as "FILE:LINE: reason" lines (up to CFG_MAX_ERRORS).
 * Unknown sections and keys, bad values, duplicate keys or sections, and
 * records that fail validation are all errors; an unknown key gets a
 * did-you-mean when one is close.
 */
#ifndef FR_CONFIG_H
#define FR_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "records.h"
#include "snapshot.h"

enum store_driver { STORE_FILE = 0, STORE_ZOOKEEPER = 1 };
enum cfg_log_level { CFG_LOG_ERROR = 0, CFG_LOG_WARN = 1, CFG_LOG_INFO = 2, CFG_LOG_DEBUG = 3 };

/* [router]. Strings are owned; "" means off / not set. */
struct router_settings {
    char *id;                           /* router id (default: the host name) */
    char *hdfs_listen;                  /* host:port for HDFS clients */
    char *hms_listen;                   /* host:port for metastore clients, "" = off */
    char *admin_listen;                 /* host:port for /metrics and /healthz, "" = off */
    int workers;                        /* worker threads; 0 in the file = number of cores (resolved) */
    int crypto_threads;                 /* threads for slow transport work (SASL privacy); 0 = on the workers */
    int crypto_nice;                    /* their niceness (0..19) */
    int crypto_sched;                   /* CFG_CRYPTO_IDLE: SCHED_IDLE; CFG_CRYPTO_NICE: at crypto_nice */
    char *default_ns;                   /* nameservice for paths under no mount point, "" = none */
    int upstream_connect_timeout_ms;
    int upstream_call_timeout_ms;       /* 0 = no limit */
    int upstream_max_conns_per_user;    /* per worker, per NameNode, per user */
    int upstream_max_conns_per_namenode; /* per worker, per NameNode, all users */
    int upstream_max_calls_per_conn;    /* calls in flight on one upstream connection */
    int upstream_idle_timeout_ms;       /* idle upstream connections are closed after this */
    int upstream_max_attempts;          /* NameNodes of a nameservice one call tries */
    int64_t client_max_frame;           /* largest client request frame, bytes */
    int client_max_inflight;            /* calls read from one client before reading pauses */
    int64_t client_max_output;          /* response bytes queued for one client before reading pauses */
    int client_max_conns;               /* client connections, both protocols; 0 = no limit */
    int client_idle_timeout_ms;         /* a client making no progress is closed after this; 0 = never */
    int client_handshake_timeout_ms;    /* HDFS handshake / first metastore call must arrive within; 0 = no limit */
    int shutdown_grace_ms;              /* drain time on SIGTERM */
    int cluster_refresh_ms;             /* SPACE/LOCAL figures refresh interval */
    int log_level;                      /* enum cfg_log_level */
    int hms_mode;                       /* 0 prefixed, 1 manual */
    int hms_down;                       /* 0 skip, 1 fail */
    int hms_call_timeout_ms;            /* a metastore's reply, or between its parts; 0 = no limit */
    int hms_fanout_timeout_ms;          /* each metastore's part of a fan-out */
    int64_t hms_max_buffered_reply;     /* largest metastore reply held whole, bytes */
    int64_t hms_max_message;            /* largest call a metastore client may send, bytes */
    int hdfs_down;                      /* 0 partial, 1 fail */
    char *audit_hdfs;                   /* HDFS audit log file, "" = off */
    char *audit_hms;                    /* metastore audit log file, "" = off */
};

/* [statestore] */
struct store_settings {
    int driver;                         /* enum store_driver */
    char *zk_hosts;                     /* "host:port,host:port" (zookeeper) */
    char *zk_root;                      /* znode under which records live */
    int zk_session_timeout_ms;
    char *zk_auth_file;                 /* file with "scheme:credentials", "" = none */
    int file_settle_ms;                 /* file driver: quiet time before a changed file is loaded */
};

/* [security]: methods clients may authenticate with (bits of enum
 * cfg_auth), and the router's Kerberos identity. */
enum cfg_crypto_sched { CFG_CRYPTO_IDLE = 0, CFG_CRYPTO_NICE = 1 }; /* in the order of the key's choices */
enum cfg_auth { CFG_AUTH_SIMPLE = 1, CFG_AUTH_KERBEROS = 2 };
/* rpc.protection: Hadoop's hadoop.rpc.protection names, as bits. */
enum cfg_qop { CFG_QOP_AUTHENTICATION = 1, CFG_QOP_INTEGRITY = 2, CFG_QOP_PRIVACY = 4 };
struct proxyuser_rules;
struct security_settings {
    int auth;                           /* CFG_AUTH_* bits; default simple */
    char *principal;                    /* service/host@REALM, host may be _HOST; "" = none */
    char *keytab;                       /* "" = KRB5_KTNAME or the system default */
    char *auth_to_local;                /* hadoop.security.auth_to_local rules; "DEFAULT" by default */
    int rpc_protection;                 /* CFG_QOP_* bits; default authentication */
    /* The family proxyuser.<user>.hosts / .groups / .users (Hadoop's
     * hadoop.proxyuser.*): who may impersonate whom. NULL when none is set. */
    struct proxyuser_rules *proxyusers;
    int nproxyuser_keys;                /* keys of the family read */
};

struct config {
    char *path;                         /* the file read ("" for a buffer) */
    struct router_settings router;
    struct store_settings store;
    struct security_settings security;
    struct record_set records;          /* [nameservice], [mount], [metastore] (file driver) */
};

#define CFG_MAX_ERRORS 16
#define CFG_ERR_LEN 384

struct cfg_error {
    int n;                              /* lines in msg[] */
    int dropped;                        /* further problems not kept */
    char msg[CFG_MAX_ERRORS][CFG_ERR_LEN]; /* "FILE:LINE: reason" */
};

/* Sets every default (strings allocated). 0, or -1 when out of memory. */
int config_init(struct config *c);
void config_free(struct config *c);

/*
 * Parses text (len bytes) named `name` in messages into *c, which this call
 * initialises. 0 on success; -1 with err filled (and *c freed: nothing to
 * clean up). After success `workers` and `id` are resolved (cores, host name).
 */
int config_parse(const char *name, const char *text, size_t len, struct config *c, struct cfg_error *err);
/* Reads a file and parses it, as config_parse(). */
int config_load(const char *path, struct config *c, struct cfg_error *err);
/* The same for a mount table (fedrouter-admin -import): its records are
 * checked as a router's would be, but not against the settings of the
 * router reading the file (a kerberized nameservice needs [security]
 * principal only in the config of a router that serves it). */
int config_load_table(const char *path, struct config *c, struct cfg_error *err);

/* Writes the errors, one per line (plus "... and N more"). */
void cfg_error_print(const struct cfg_error *err, FILE *out);

/* Every section and key with its type, default and doc, for --help. */
void config_print_keys(FILE *out);

/*
 * Reload: calls fn for each [router] / [statestore] key whose value differs
 * between the running config and the one just read, in table order, with
 * applies = true when a reload puts the new value into effect (--help marks
 * it [reload]) and false when only a restart does ([restart]). Returns how
 * many differ.
 */
int config_reload_diff(const struct config *running, const struct config *next,
                       void (*fn)(void *arg, const char *section, const char *key, bool applies), void *arg);
/* Copies the values of the keys a reload applies from next into running,
 * so running stays what is in effect. 0, or -1 when out of memory. */
int config_take_reloadable(struct config *running, const struct config *next);

/* Builds the routing snapshot from c->records (file driver) with
 * c->router.default_ns. NULL when out of memory. */
struct snapshot *config_build_snapshot(const struct config *c, uint64_t version, struct snap_stats *stats);

#endif
