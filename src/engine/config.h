/*
 * config.h - options: one table describes every key=value option.
 *
 * Each option (core or module) is a `struct joy_option`: its key, type,
 * where its value lives (an offset into a config block), its range, its
 * default and its help text.  The same table drives the command line
 * (`key=value` words and getopt letters), the `-x` configuration file,
 * `--help`, the metadata line of the output and options.cfg checks.
 *
 * The core options live in `struct joy_config`; each module has its own
 * block (`config_size` bytes, see module.h), reached through modcfg[].
 * Strings are owned by the configuration (freed by config_free()).
 */
#ifndef JOY_CONFIG_H
#define JOY_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct jsonw;

enum opt_type {
    OPT_BOOL,   /* 0 or 1 (also accepts yes/no/true/false/on/off) */
    OPT_UINT,   /* unsigned decimal within [min, max] */
    OPT_STR,    /* text; "none" or empty unsets */
    OPT_LIST,   /* repeatable text: each use appends */
};

struct strlist {
    char **v;
    size_t n;
};

struct joy_option {
    const char *key;
    enum opt_type type;
    size_t offset;       /* into the config block */
    uint64_t min, max;   /* OPT_UINT range */
    const char *def;     /* default as text, NULL for none */
    const char *arg;     /* metavariable for help, e.g. "N", "FILE" */
    const char *help;
};

#define JOY_MAX_MODULES 32

struct joy_config {
    /* core options (see config.c for the table) */
    bool bidir;
    uint64_t num_pkts;
    bool zeros;
    bool retrans;
    uint64_t inactive_timeout;  /* seconds */
    uint64_t active_timeout;    /* seconds */
    uint64_t max_flows;
    char *output;
    /* export (src/output/, src/ipfix/): read by the joy command */
    struct strlist outputs;
    bool metadata;
    uint64_t export_queue;
    char *export_on_full;
    char *export_spill_dir;
    char *kafka_acks;
    char *kafka_compression;
    bool kafka_idempotence;
    struct strlist kafka_property;
    uint64_t kafka_flush_timeout;
    uint64_t ipfix_export_port;
    char *ipfix_export_remote_host;
    uint64_t ipfix_export_remote_port;
    char *ipfix_export_template;
    uint64_t ipfix_template_refresh;
    uint64_t ipfix_mtu;
    uint64_t ipfix_collect_port;
    bool ipfix_collect_online;
    uint64_t nfv9_port;
    char *interface;
    char *bpf;
    bool promisc;
    uint64_t snaplen;
    uint64_t threads;
    char *capture;
    char *fanout;
    bool fanout_unsafe;
    uint64_t verbosity;
    uint64_t gzip_level;
    bool progress;
    /* operating joy as a sensor (the joy command's; stored and shown) */
    char *outdir;
    uint64_t rotate;            /* seconds (-G) */
    uint64_t rotate_size;       /* bytes (-C) */
    uint64_t count;             /* records per file (Joy's count=) */
    uint64_t keep;              /* files (-W) */
    uint64_t flush_interval;    /* seconds */
    uint64_t max_packets;       /* -c */
    char *username;             /* -Z */
    char *logfile;
    bool show_config;
    bool show_interfaces;
    bool community_id;
    bool fpx;
    uint64_t tunnels;           /* tunnel layers taken off (0: key on the outer header) */

    /* one config block per module, indexed like joy_modules[] */
    void *modcfg[JOY_MAX_MODULES];
};

/* Fill in every default (core and modules).  0 on success. */
int config_init(struct joy_config *cfg, char *err, size_t errlen);
void config_free(struct joy_config *cfg);

/* Is `key` a known option? */
bool config_has_key(const char *key);

/*
 * Set one option from text.  `where` names the origin for messages
 * ("command line", "options.cfg:12").  Returns 0, or -1 with a one-line
 * message in err.
 */
int config_set(struct joy_config *cfg, const char *key, const char *value, const char *where,
               char *err, size_t errlen);

/* Read `key = value` lines; `#` starts a comment; a bare `key` means 1. */
int config_load_file(struct joy_config *cfg, const char *path, char *err, size_t errlen);

/* The same, also telling why it failed: the file (cannot be read, or a
 * malformed line), an unknown key, or a bad value. */
enum config_fail { CONFIG_FAIL_FILE, CONFIG_FAIL_KEY, CONFIG_FAIL_VALUE };
int config_load_file_why(struct joy_config *cfg, const char *path, char *err, size_t errlen,
                         enum config_fail *why);

/* The same from an open stream; `name` is used in messages. */
int config_load_stream(struct joy_config *cfg, FILE *f, const char *name, char *err, size_t errlen);

/* A deep copy of src into dst (dst need not be initialised; free it with
 * config_free() whatever the result).  0, or -1 with a message. */
int config_copy(struct joy_config *dst, const struct joy_config *src, char *err, size_t errlen);

/* The value of `key` as text (joy_config_get() in joy.h); *fits says
 * whether it fitted buflen.  0, or -1 for an unknown key. */
int config_get(const struct joy_config *cfg, const char *key, char *buf, size_t buflen,
               bool *fits);

/* Write every option and its value as members of the current object. */
void config_to_json(const struct joy_config *cfg, struct jsonw *w);

/* options.cfg: every option with its default, help as comments. */
void config_write_cfg(FILE *out);

/* The option list for --help. */
void config_print_help(FILE *out);

#endif
