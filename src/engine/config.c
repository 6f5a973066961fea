/*
 * config.c - the option table, parsing of key=value text and -x files.
 *
 * Keys are matched exactly (the original matched prefixes, so `dhcpv6`
 * set `dhcp` and `logfile` set `log`).  Every value is parsed into a field
 * of its own type and checked against its range; an error names the key,
 * the value and where it came from.
 */
#include "config.h"
#include "jsonw.h"
#include "module.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define CORE(field) offsetof(struct joy_config, field)
#define DAY 86400ull

static const struct joy_option core_options[] = {
    {"bidir", OPT_BOOL, CORE(bidir), 0, 1, "1", "0|1",
     "one record per conversation (1) or one per direction (0)"},
    {"num_pkts", OPT_UINT, CORE(num_pkts), 0, 65535, "50", "N",
     "packet lengths and times (and IPv4 ids) kept per record"},
    {"zeros", OPT_BOOL, CORE(zeros), 0, 1, "0", "0|1",
     "include packets without payload in the packets array"},
    {"retrans", OPT_BOOL, CORE(retrans), 0, 1, "0", "0|1",
     "count TCP retransmissions in counters and packets"},
    {"inactive_timeout", OPT_UINT, CORE(inactive_timeout), 1, 3650 * DAY, "10", "SECONDS",
     "a flow idle this long is written (expire_type \"i\")"},
    {"active_timeout", OPT_UINT, CORE(active_timeout), 1, 3650 * DAY, "30", "SECONDS",
     "a flow older than this is written and continued in a new record (\"a\")"},
    {"max_flows", OPT_UINT, CORE(max_flows), 1, 1ull << 32, "1000000", "N",
     "concurrent flows kept; beyond it the least recently active is written (\"r\")"},
    {"output", OPT_STR, CORE(output), 0, 0, NULL, "FILE",
     "output file (-w); gzip unless it ends in .json/.jsonl; '-' or none: stdout"},
    {"outputs", OPT_LIST, CORE(outputs), 0, 0, NULL, "TARGET",
     "another destination, repeatable (each further -w): a file, '-', kafka://HOST:PORT[,...]/TOPIC, "
     "ipfix://HOST:PORT, ipfix+tcp://HOST:PORT, ipfix+file:PATH, tcp://HOST:PORT, unix:PATH"},
    {"metadata", OPT_BOOL, CORE(metadata), 0, 1, "1", "0|1",
     "write the metadata line (versions, schema, options, inputs) before the records"},
    {"export_queue", OPT_UINT, CORE(export_queue), 1, 100000000, "100000", "N",
     "records a network output may hold while its peer is slow or down (then export_on_full)"},
    {"export_on_full", OPT_STR, CORE(export_on_full), 0, 0, "block", "block|spill|drop",
     "when a network output's queue is full: wait, spill to a local file and replay it, or drop and count"},
    {"export_spill_dir", OPT_STR, CORE(export_spill_dir), 0, 0, ".", "DIR",
     "directory of spill files (joy-spill-*.jsonl) for export_on_full=spill"},
    {"kafka_acks", OPT_STR, CORE(kafka_acks), 0, 0, "all", "all|1|0",
     "Kafka producer acks (librdkafka 'acks')"},
    {"kafka_compression", OPT_STR, CORE(kafka_compression), 0, 0, "zstd", "zstd|lz4|gzip|snappy|none",
     "Kafka message compression (librdkafka 'compression.codec', at 'compression.level' 1)"},
    {"kafka_idempotence", OPT_BOOL, CORE(kafka_idempotence), 0, 1, "1", "0|1",
     "idempotent Kafka producer (no duplicates on retries, order kept per partition)"},
    {"kafka_property", OPT_LIST, CORE(kafka_property), 0, 0, NULL, "KEY=VALUE",
     "any librdkafka producer property, repeatable (e.g. kafka_property=linger.ms=100)"},
    {"kafka_flush_timeout", OPT_UINT, CORE(kafka_flush_timeout), 0, 86400, "30", "SECONDS",
     "at exit, wait this long for Kafka to acknowledge outstanding records"},
    {"ipfix_export_port", OPT_UINT, CORE(ipfix_export_port), 0, 65535, "0", "PORT",
     "Joy's key: export IPFIX over UDP from this local port (0: off; or use -w ipfix://)"},
    {"ipfix_export_remote_host", OPT_STR, CORE(ipfix_export_remote_host), 0, 0, NULL, "HOST",
     "Joy's key: the IPFIX collector's host (unset: 127.0.0.1)"},
    {"ipfix_export_remote_port", OPT_UINT, CORE(ipfix_export_remote_port), 1, 65535, "4739", "PORT",
     "Joy's key: the IPFIX collector's port"},
    {"ipfix_export_template", OPT_STR, CORE(ipfix_export_template), 0, 0, "simple", "simple|idp|splt|eta",
     "IPFIX feature profile: simple (IANA elements), idp, splt, eta (Cisco ETA PEN 9: SPLT, byte_dist, IDP)"},
    {"ipfix_template_refresh", OPT_UINT, CORE(ipfix_template_refresh), 1, 86400, "60", "SECONDS",
     "IPFIX over UDP: send the templates again after this many seconds (and every 1000 messages)"},
    {"ipfix_mtu", OPT_UINT, CORE(ipfix_mtu), 0, 65535, "0", "BYTES",
     "IPFIX over UDP: the largest IP packet a message may fill (0: the path MTU the kernel "
     "knows for the collector, e.g. 1500 on Ethernet, 65536 on loopback; 1428 if it knows none)"},
    {"ipfix_collect_port", OPT_UINT, CORE(ipfix_collect_port), 0, 65535, "0", "PORT",
     "collect IPFIX / NetFlow v9 / v5: from UDP payloads to this port in the capture (-r), "
     "or with ipfix_collect_online=1 from a socket"},
    {"ipfix_collect_online", OPT_BOOL, CORE(ipfix_collect_online), 0, 1, "0", "0|1",
     "listen on ipfix_collect_port (UDP and TCP) instead of reading a capture"},
    {"nfv9_port", OPT_UINT, CORE(nfv9_port), 0, 65535, "0", "PORT",
     "Joy's key: collect NetFlow v9 from UDP payloads to this port in the capture (same as ipfix_collect_port)"},
    {"interface", OPT_STR, CORE(interface), 0, 0, NULL, "IFACE",
     "capture live from this interface (-i)"},
    {"bpf", OPT_STR, CORE(bpf), 0, 0, NULL, "FILTER",
     "BPF filter expression applied to every packet (-f)"},
    {"promisc", OPT_BOOL, CORE(promisc), 0, 1, "0", "0|1",
     "put the live interface in promiscuous mode"},
    {"snaplen", OPT_UINT, CORE(snaplen), 64, 262144, "262144", "BYTES",
     "bytes captured per packet in live capture"},
    {"threads", OPT_UINT, CORE(threads), 1, 64, "1", "N",
     "worker threads (-t): each its own meter; flows spread by address pair (doc/internals/threads.md)"},
    {"capture", OPT_STR, CORE(capture), 0, 0, NULL, "afpacket|pcap",
     "live capture method: afpacket (Linux TPACKET_V3 ring per worker, fanout) or pcap; default pcap"},
    {"fanout", OPT_STR, CORE(fanout), 0, 0, "addr", "addr|hash|cpu|lb",
     "how capture=afpacket spreads packets over workers: addr (address pair, fragments too) or hash"},
    {"fanout_unsafe", OPT_BOOL, CORE(fanout_unsafe), 0, 1, "0", "0|1",
     "allow fanout=cpu|lb, which split flows between workers (records become partial)"},
    {"verbosity", OPT_UINT, CORE(verbosity), 0, 5, "3", "0-5",
     "messages shown: 0 none, 1 debug and up, 2 info, 3 warnings, 4 errors, 5 critical"},
    {"gzip_level", OPT_UINT, CORE(gzip_level), 1, 9, "1", "1-9",
     "gzip level of the output file (1 fastest ... 9 smallest; 1-3 use ISA-L when built with it)"},
    {"progress", OPT_BOOL, CORE(progress), 0, 1, "1", "0|1",
     "a status line on a terminal (stderr): file and percent read, or packets/s live"},
    {"outdir", OPT_STR, CORE(outdir), 0, 0, NULL, "DIR",
     "directory of a relative output name (Joy's outdir)"},
    {"rotate", OPT_UINT, CORE(rotate), 0, 3650 * DAY, "0", "SECONDS",
     "a new output file every SECONDS (-G; wall clock live, packet time offline; 0 off)"},
    {"rotate_size", OPT_UINT, CORE(rotate_size), 0, 1ull << 50, "0", "BYTES",
     "a new output file once BYTES were written to it (-C MB; 0 off)"},
    {"count", OPT_UINT, CORE(count), 0, 2147483647, "0", "N",
     "a new output file after N records (Joy's count; 0 off)"},
    {"keep", OPT_UINT, CORE(keep), 0, 1000000, "0", "N",
     "keep at most N output files of this run, removing the oldest (-W; 0 all)"},
    {"flush_interval", OPT_UINT, CORE(flush_interval), 0, 3600, "1", "SECONDS",
     "live capture: records pending are pushed to the output every SECONDS (0 never)"},
    {"max_packets", OPT_UINT, CORE(max_packets), 0, UINT64_MAX, "0", "N",
     "stop after N packets (-c; 0 no limit)"},
    {"username", OPT_STR, CORE(username), 0, 0, NULL, "USER",
     "after opening the capture and the output, run as USER with no capabilities (-Z)"},
    {"logfile", OPT_STR, CORE(logfile), 0, 0, NULL, "FILE",
     "append messages to FILE instead of stderr (reopened on SIGHUP)"},
    {"show_config", OPT_BOOL, CORE(show_config), 0, 1, "0", "0|1",
     "print the configuration (the metadata line) to the log at start"},
    {"show_interfaces", OPT_BOOL, CORE(show_interfaces), 0, 1, "0", "0|1",
     "print the capture interfaces (as -D) to the log at start"},
    {"community_id", OPT_BOOL, CORE(community_id), 0, 1, "1", "0|1",
     "add the Community ID v1 flow hash (seed 0)"},
    {"fpx", OPT_BOOL, CORE(fpx), 0, 1, "0", "0|1",
     "add \"fingerprints\" / \"fingerprints_in\" objects (TCP, TLS, JA3, JA4 ...)"},
    {"tunnels", OPT_UINT, CORE(tunnels), 0, 8, "4", "0-8",
     "tunnel layers taken off (GRE, IP in IP, VXLAN, GENEVE, GTP-U, ...): each inner flow "
     "gets a record of its own with a \"tunnel\" member; 0: flows keyed on the outer header"},
    {NULL, 0, 0, 0, 0, NULL, NULL, NULL},
};

/* An option and where its block is: the core block (module -1) or the
 * block of joy_modules[module]. */
struct opt_ref {
    const struct joy_option *opt;
    int module;
};

static bool find_option(const char *key, struct opt_ref *ref)
{
    for (const struct joy_option *o = core_options; o->key; o++) {
        if (strcmp(o->key, key) == 0) {
            ref->opt = o;
            ref->module = -1;
            return true;
        }
    }
    for (size_t i = 0; i < joy_module_count; i++) {
        for (const struct joy_option *o = joy_modules[i]->options; o && o->key; o++) {
            if (strcmp(o->key, key) == 0) {
                ref->opt = o;
                ref->module = (int)i;
                return true;
            }
        }
    }
    return false;
}

/* The option's field in cfg, for writing and for reading. */
static char *field_of(struct joy_config *cfg, const struct opt_ref *r)
{
    return (char *)(r->module < 0 ? (void *)cfg : cfg->modcfg[r->module]) + r->opt->offset;
}

static const char *cfield_of(const struct joy_config *cfg, const struct opt_ref *r)
{
    const void *block = r->module < 0 ? (const void *)cfg : cfg->modcfg[r->module];
    return (const char *)block + r->opt->offset;
}

bool config_has_key(const char *key)
{
    struct opt_ref r;
    return find_option(key, &r);
}

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

static int parse_bool(const char *v, bool *out)
{
    static const char *const yes[] = {"1", "yes", "true", "on"};
    static const char *const no[] = {"0", "no", "false", "off"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(v, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcasecmp(v, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return -1;
}

static int parse_uint(const char *v, uint64_t *out)
{
    if (!*v)
        return -1;
    uint64_t x = 0;
    for (const char *p = v; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        if (x > (UINT64_MAX - 9) / 10)
            return -1;
        x = x * 10 + (uint64_t)(*p - '0');
    }
    *out = x;
    return 0;
}

/*
 * Joy 4.5's keys that joy does not have as options (doc/joy-compat.md).
 *
 * Retired: features deliberately not carried over.  The key is accepted,
 * whatever its value, and does nothing; config_set() leaves one notice
 * line in err so that the joy command can say so.
 */
static const struct {
    const char *key, *why;
} retired_keys[] = {
    {"upload", "Joy's upload after rotation (scp) was never triggered in 4.x; ship the files of "
     "outdir with your own tool (rsync, a systemd path unit)"},
    {"keyfile", "it served Joy's upload, which is not carried over"},
    {"retain", "it served Joy's upload, which is not carried over"},
    {"updater", "Joy's updater thread did nothing"},
    {"nat", "it had no effect in Joy 4.x"},
    {"aux_resource_path", "it had no effect in Joy 4.x (its only reader was compiled out)"},
    {"example", "Joy's demonstration module (total payload bytes): bytes_out + bytes_in say the "
     "same"},
    {"preemptive_timeout", "joy always ends a record at active_timeout and continues it in a new "
     "one (expire_type \"a\"), which is what preemptive_timeout=1 did"},
    {"type", "Joy 4.5 documented it but rejected it itself"},
    {"URLmodel", "Joy 4.5 documented it but rejected it itself"},
    {"URLlabel", "Joy 4.5 documented it but rejected it itself"},
};

/* 1: a retired Joy key (a notice in err); 0: not one.  (Every other key
 * of Joy 4.5 is an option of joy's: doc/joy-compat.md.) */
static int original_joy_key(const char *key, const char *where, char *err, size_t errlen)
{
    for (size_t i = 0; i < sizeof retired_keys / sizeof retired_keys[0]; i++) {
        if (strcmp(key, retired_keys[i].key) == 0) {
            if (err && errlen)
                snprintf(err, errlen, "%s: '%s' is not carried over from Joy and is ignored: %s",
                         where, key, retired_keys[i].why);
            return 1;
        }
    }
    return 0;
}

int config_set(struct joy_config *cfg, const char *key, const char *value, const char *where,
               char *err, size_t errlen)
{
    struct opt_ref r;
    if (err && errlen)
        err[0] = '\0';
    if (!find_option(key, &r)) {
        if (original_joy_key(key, where, err, errlen))
            return 0;
        return fail(err, errlen, "%s: unknown option '%s' (see joy -h)", where, key);
    }
    const struct joy_option *o = r.opt;
    char *field = field_of(cfg, &r);
    switch (o->type) {
    case OPT_BOOL: {
        bool b;
        if (parse_bool(value, &b) != 0)
            return fail(err, errlen, "%s: option '%s' takes 0 or 1, not '%s'", where, key, value);
        memcpy(field, &b, sizeof b);
        return 0;
    }
    case OPT_UINT: {
        uint64_t x;
        if (parse_uint(value, &x) != 0 || x < o->min || x > o->max)
            return fail(err, errlen, "%s: option '%s' takes a whole number from %llu to %llu, not '%s'",
                        where, key, (unsigned long long)o->min, (unsigned long long)o->max, value);
        memcpy(field, &x, sizeof x);
        return 0;
    }
    case OPT_STR: {
        char *old;
        memcpy(&old, field, sizeof old);
        free(old);
        char *s = NULL;
        if (*value && strcmp(value, "none") != 0 && !(s = strdup(value)))
            return fail(err, errlen, "out of memory");
        memcpy(field, &s, sizeof s);
        return 0;
    }
    case OPT_LIST: {
        struct strlist *l = (struct strlist *)field;
        if (!*value || strcmp(value, "none") == 0) {
            for (size_t i = 0; i < l->n; i++)
                free(l->v[i]);
            free(l->v);
            l->v = NULL;
            l->n = 0;
            return 0;
        }
        if (l->n >= 1024)
            return fail(err, errlen, "%s: option '%s' given more than 1024 times", where, key);
        char **nv = realloc(l->v, (l->n + 1) * sizeof *nv);
        if (!nv)
            return fail(err, errlen, "out of memory");
        l->v = nv;
        if (!(l->v[l->n] = strdup(value)))
            return fail(err, errlen, "out of memory");
        l->n++;
        return 0;
    }
    }
    return fail(err, errlen, "%s: option '%s' has an unknown type", where, key);
}

static int set_defaults(struct joy_config *cfg, const struct joy_option *opts, char *err,
                        size_t errlen)
{
    for (const struct joy_option *o = opts; o && o->key; o++)
        if (o->def && config_set(cfg, o->key, o->def, "default", err, errlen) != 0)
            return -1;
    return 0;
}

int config_init(struct joy_config *cfg, char *err, size_t errlen)
{
    memset(cfg, 0, sizeof *cfg);
    if (joy_module_count > JOY_MAX_MODULES)
        return fail(err, errlen, "too many modules compiled in");
    for (size_t i = 0; i < joy_module_count; i++) {
        size_t sz = joy_modules[i]->config_size;
        cfg->modcfg[i] = calloc(1, sz ? sz : 1);
        if (!cfg->modcfg[i])
            return fail(err, errlen, "out of memory");
    }
    if (set_defaults(cfg, core_options, err, errlen) != 0)
        return -1;
    for (size_t i = 0; i < joy_module_count; i++)
        if (set_defaults(cfg, joy_modules[i]->options, err, errlen) != 0)
            return -1;
    return 0;
}

static void free_block(void *block, const struct joy_option *opts)
{
    for (const struct joy_option *o = opts; o && o->key; o++) {
        char *field = (char *)block + o->offset;
        if (o->type == OPT_STR) {
            char *s;
            memcpy(&s, field, sizeof s);
            free(s);
        } else if (o->type == OPT_LIST) {
            struct strlist *l = (struct strlist *)field;
            for (size_t i = 0; i < l->n; i++)
                free(l->v[i]);
            free(l->v);
        }
    }
}

void config_free(struct joy_config *cfg)
{
    free_block(cfg, core_options);
    for (size_t i = 0; i < joy_module_count; i++) {
        if (cfg->modcfg[i]) {
            free_block(cfg->modcfg[i], joy_modules[i]->options);
            free(cfg->modcfg[i]);
            cfg->modcfg[i] = NULL;
        }
    }
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
        s[--n] = '\0';
    return s;
}

int config_load_file(struct joy_config *cfg, const char *path, char *err, size_t errlen)
{
    return config_load_file_why(cfg, path, err, errlen, NULL);
}

static int load_stream(struct joy_config *cfg, FILE *f, const char *path, char *err,
                       size_t errlen, enum config_fail *why);

int config_load_file_why(struct joy_config *cfg, const char *path, char *err, size_t errlen,
                         enum config_fail *why)
{
    enum config_fail dummy;
    if (!why)
        why = &dummy;
    *why = CONFIG_FAIL_FILE;
    FILE *f = fopen(path, "r");
    if (!f)
        return fail(err, errlen, "%s: cannot open configuration file: %s", path, strerror(errno));
    int rc = load_stream(cfg, f, path, err, errlen, why);
    fclose(f);
    return rc;
}

int config_load_stream(struct joy_config *cfg, FILE *f, const char *path, char *err, size_t errlen)
{
    enum config_fail why;
    return load_stream(cfg, f, path, err, errlen, &why);
}

static int load_stream(struct joy_config *cfg, FILE *f, const char *path, char *err,
                       size_t errlen, enum config_fail *why)
{
    char *line = NULL;
    size_t linecap = 0;
    ssize_t got;
    unsigned lineno = 0;
    int rc = 0;
    if (err && errlen)
        err[0] = '\0';
    while ((got = getline(&line, &linecap, f)) >= 0) {
        lineno++;
        char where[512];
        snprintf(where, sizeof where, "%s:%u", path, lineno);
        if (got > 4096) {
            rc = fail(err, errlen, "%s: line longer than 4096 bytes", where);
            break;
        }
        if (strlen(line) != (size_t)got) {
            rc = fail(err, errlen, "%s: NUL byte in configuration file", where);
            break;
        }
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        char *s = trim(line);
        if (!*s)
            continue;
        char *key = s, *value;
        char *eq = strchr(s, '=');
        if (eq) {
            *eq = '\0';
            value = trim(eq + 1);
            key = trim(key);
        } else {
            /* "key value" or a bare "key" (meaning 1) */
            char *sp = strpbrk(s, " \t");
            if (sp) {
                *sp = '\0';
                value = trim(sp + 1);
            } else {
                value = "1";
            }
        }
        for (char *p = key; *p; p++) {
            if (!isalnum((unsigned char)*p) && *p != '_' && *p != '-') {
                rc = fail(err, errlen, "%s: '%s' is not an option name", where, key);
                goto out;
            }
        }
        char msg[1024];
        if (config_set(cfg, key, value, where, msg, sizeof msg) != 0) {
            *why = config_has_key(key) ? CONFIG_FAIL_VALUE : CONFIG_FAIL_KEY;
            snprintf(err, errlen, "%s", msg);
            rc = -1;
            break;
        }
        if (msg[0] && err && errlen) {
            /* a notice: kept, one a line, for the caller */
            size_t used = strlen(err);
            snprintf(err + used, errlen - used, "%s%s", used ? "\n" : "", msg);
        }
    }
    if (rc == 0 && ferror(f))
        rc = fail(err, errlen, "%s: read error: %s", path, strerror(errno));
out:
    free(line);
    return rc;
}

static void block_to_json(const void *block, const struct joy_option *opts, struct jsonw *w)
{
    for (const struct joy_option *o = opts; o && o->key; o++) {
        const char *field = (const char *)block + o->offset;
        jw_key(w, o->key);
        switch (o->type) {
        case OPT_BOOL: {
            bool b;
            memcpy(&b, field, sizeof b);
            jw_uint(w, b);
            break;
        }
        case OPT_UINT: {
            uint64_t x;
            memcpy(&x, field, sizeof x);
            jw_uint(w, x);
            break;
        }
        case OPT_STR: {
            const char *s;
            memcpy(&s, field, sizeof s);
            if (s)
                jw_cstr(w, s);
            else
                jw_null(w);
            break;
        }
        case OPT_LIST: {
            const struct strlist *l = (const struct strlist *)field;
            jw_arr_open(w);
            for (size_t i = 0; i < l->n; i++)
                jw_cstr(w, l->v[i]);
            jw_close(w);
            break;
        }
        }
    }
}

void config_to_json(const struct joy_config *cfg, struct jsonw *w)
{
    block_to_json(cfg, core_options, w);
    for (size_t i = 0; i < joy_module_count; i++)
        block_to_json(cfg->modcfg[i], joy_modules[i]->options, w);
}

static void print_opts(FILE *out, const struct joy_option *opts)
{
    for (const struct joy_option *o = opts; o && o->key; o++) {
        char lhs[64];
        snprintf(lhs, sizeof lhs, "%s=%s", o->key, o->arg ? o->arg : "V");
        fprintf(out, "  %-26s %s", lhs, o->help);
        if (o->def)
            fprintf(out, " [%s]", o->def);
        if (o->type == OPT_LIST)
            fprintf(out, " (repeatable)");
        fputc('\n', out);
    }
}

void config_print_help(FILE *out)
{
    fprintf(out, "Flow options (key=value on the command line, or key = value lines in -x FILE):\n");
    print_opts(out, core_options);
    for (size_t i = 0; i < joy_module_count; i++) {
        fprintf(out, "\n%s: %s\n", joy_modules[i]->name, joy_modules[i]->summary);
        print_opts(out, joy_modules[i]->options);
    }
}

static void cfg_opts(FILE *out, const struct joy_option *opts)
{
    for (const struct joy_option *o = opts; o && o->key; o++) {
        fprintf(out, "\n# %s", o->help);
        if (o->type == OPT_UINT)
            fprintf(out, " (%llu..%llu)", (unsigned long long)o->min, (unsigned long long)o->max);
        if (o->type == OPT_LIST)
            fprintf(out, " (repeatable)");
        fputc('\n', out);
        if (o->def)
            fprintf(out, "%s = %s\n", o->key, o->def);
        else
            fprintf(out, "# %s = %s\n", o->key, o->arg ? o->arg : "VALUE");
    }
}

void config_write_cfg(FILE *out)
{
    fprintf(out, "# options.cfg - every joy option with its default value.\n"
                 "#\n"
                 "# Use: joy -x options.cfg [key=value ...] [capture ...]\n"
                 "# Lines are 'key = value'; '#' starts a comment; a bare 'key' means key = 1.\n"
                 "# Values given on the command line override this file.\n"
                 "# Generated by 'joy --options-cfg'; make check verifies it is current.\n"
                 "\n# ---- core ----\n");
    cfg_opts(out, core_options);
    for (size_t i = 0; i < joy_module_count; i++) {
        fprintf(out, "\n# ---- %s: %s ----\n", joy_modules[i]->name, joy_modules[i]->summary);
        cfg_opts(out, joy_modules[i]->options);
    }
}

/* Copy the option values of one block (strings and lists duplicated). */
static int copy_block(void *dst, const void *src, const struct joy_option *opts)
{
    for (const struct joy_option *o = opts; o && o->key; o++) {
        char *d = (char *)dst + o->offset;
        const char *s = (const char *)src + o->offset;
        switch (o->type) {
        case OPT_BOOL:
            memcpy(d, s, sizeof(bool));
            break;
        case OPT_UINT:
            memcpy(d, s, sizeof(uint64_t));
            break;
        case OPT_STR: {
            char *old, *from, *dup = NULL;
            memcpy(&old, d, sizeof old);
            memcpy(&from, s, sizeof from);
            if (from && !(dup = strdup(from)))
                return -1;
            free(old);
            memcpy(d, &dup, sizeof dup);
            break;
        }
        case OPT_LIST: {
            struct strlist *dl = (struct strlist *)d;
            const struct strlist *sl = (const struct strlist *)s;
            for (size_t i = 0; i < dl->n; i++)
                free(dl->v[i]);
            free(dl->v);
            dl->v = NULL;
            dl->n = 0;
            if (!sl->n)
                break;
            if (!(dl->v = calloc(sl->n, sizeof *dl->v)))
                return -1;
            for (size_t i = 0; i < sl->n; i++, dl->n++)
                if (!(dl->v[i] = strdup(sl->v[i])))
                    return -1;
            break;
        }
        }
    }
    return 0;
}

int config_copy(struct joy_config *dst, const struct joy_config *src, char *err, size_t errlen)
{
    if (config_init(dst, err, errlen) != 0)
        return -1;
    if (copy_block(dst, src, core_options) != 0)
        return fail(err, errlen, "out of memory");
    for (size_t i = 0; i < joy_module_count; i++)
        if (copy_block(dst->modcfg[i], src->modcfg[i], joy_modules[i]->options) != 0)
            return fail(err, errlen, "out of memory");
    return 0;
}

int config_get(const struct joy_config *cfg, const char *key, char *buf, size_t buflen,
               bool *fits)
{
    struct opt_ref r;
    if (!find_option(key, &r))
        return -1;
    const char *field = cfield_of(cfg, &r);
    size_t n = 0;
    switch (r.opt->type) {
    case OPT_BOOL: {
        bool b;
        memcpy(&b, field, sizeof b);
        n = (size_t)snprintf(buf, buflen, "%d", b ? 1 : 0);
        break;
    }
    case OPT_UINT: {
        uint64_t x;
        memcpy(&x, field, sizeof x);
        n = (size_t)snprintf(buf, buflen, "%llu", (unsigned long long)x);
        break;
    }
    case OPT_STR: {
        const char *s;
        memcpy(&s, field, sizeof s);
        n = (size_t)snprintf(buf, buflen, "%s", s ? s : "");
        break;
    }
    case OPT_LIST: {
        const struct strlist *l = (const struct strlist *)field;
        if (buflen)
            buf[0] = '\0';
        for (size_t i = 0; i < l->n; i++) {
            size_t at = n < buflen ? n : buflen;
            n += (size_t)snprintf(buf + at, buflen - at, "%s%s", i ? "\n" : "", l->v[i]);
        }
        break;
    }
    }
    *fits = n < buflen;
    return 0;
}
