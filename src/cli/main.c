/*
 * main.c - the joy command: argv -> configuration -> run -> exit status.
 *
 * The metering is the library's (include/joy/joy.h); packets come from a
 * packet source (src/capture/source.h: capture files and directories, or
 * a live interface through libpcap) and records go to an output
 * (src/output/output.h).  This file parses the command line, builds the
 * configuration, wires the three together, and owns the only
 * process-wide state: the signal handler that stops the source.
 *
 * Exit status: 0 success; 1 an input could not be fully read (damaged,
 * unreadable, unsupported) or the output failed - every flow seen is still
 * written; 2 a usage or configuration error (nothing was read).
 */
#include "joy/joy.h"

#include "export.h"
#include "output.h"
#include "source.h"

#include <getopt.h>
#include <openssl/crypto.h>
#include <pcap/pcap.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

/* Set by the signal handler; the only process-wide state, as signals are. */
static volatile sig_atomic_t stop_requested;
static volatile int collect_stop; /* the collector's stop flag (collect.c) */
static struct joy_source *volatile active_source;

enum severity {
    SEV_DEBUG = SOURCE_DEBUG,
    SEV_INFO = SOURCE_INFO,
    SEV_WARN = SOURCE_WARN,
    SEV_ERROR = SOURCE_ERROR,
};

/* The command line, sorted. */
struct setting {
    const char *key, *value;
};

struct args {
    char **inputs;                /* capture files, directories, '-' */
    char **xfiles;                /* -x option files */
    struct setting *set;          /* key=value, -w, -i, -f */
    size_t n_inputs, n_x, n_set;
    int verbose, quiet;
    int n_w;                      /* -w given so far: the first is output=, others outputs= */
};

/* The options that concern this program rather than the library: where
 * packets come from and where records go (read from the configuration). */
struct run_opts {
    char output[4096], interface[256], bpf[8192];
    bool promisc, progress;
    uint64_t snaplen, verbosity, gzip_level;
};

struct run {
    struct joy_config *cfg;
    struct run_opts opt;
    struct joy_context *ctx;
    struct joy_meter *meter;
    struct joy_output *out;
    struct joy_source *src;
    int status;                   /* exit status so far */
    bool output_failed;
    struct source_stats src_stats;/* the source's counts at the end */
    /* progress */
    bool show_progress;
    struct timespec t0, last_progress;
};

static void say(const struct run *r, enum severity sev, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void say(const struct run *r, enum severity sev, const char *fmt, ...)
{
    if (r && (r->opt.verbosity == 0 || (unsigned)sev < r->opt.verbosity))
        return;
    va_list ap;
    va_start(ap, fmt);
    fputs("joy: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
    collect_stop = 1;
    struct joy_source *src = active_source;
    if (src)
        source_breakloop(src);
}

static void install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: a stopped source needs interrupted reads */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: joy [options] [key=value ...] [capture file|directory ...]\n"
            "\n"
            "Reads pcap/pcapng files (or a live interface), groups packets into flows and\n"
            "writes one JSON object per flow (JSON Lines; gzip when written to a file).\n"
            "\n"
            "Options:\n"
            "  -r FILE      read a capture file ('-' = standard input); repeatable\n"
            "  -w FILE      write records to FILE (gzip unless it ends in .json/.jsonl);\n"
            "               '-' or no -w: plain JSON Lines on standard output\n"
            "  -i IFACE     capture live from IFACE (stop with Ctrl-C: every flow is written)\n"
            "  -f FILTER    BPF filter, e.g. 'tcp port 443' (same as bpf=FILTER)\n"
            "  -x FILE      read options from FILE (lines 'key = value', '#' comments)\n"
            "  -v           more messages (repeat for debug)\n"
            "  -q           only errors\n"
            "  -h, --help   this help\n"
            "  -V, --version  versions of joy, libpcap, OpenSSL and the gzip libraries\n"
            "  --options-cfg  print every option with its default (the options.cfg format)\n"
            "\n"
            "Directories are read file by file in name order; flows continue across files.\n"
            "Precedence: defaults < -x file(s) < command line.\n"
            "Exit status: 0 ok, 1 an input or the output failed (flows seen are still\n"
            "written), 2 usage or configuration error.\n"
            "\n"
            "Examples:\n"
            "  joy -r capture.pcap -w flows.json.gz\n"
            "  joy bidir=1 output=flows.json.gz capture.pcap\n"
            "  joy -r capture.pcapng -w - | jq .\n"
            "  joy -i eth0 -f 'tcp port 443' -w live.json.gz\n"
            "  joy -x options.cfg capture1.pcap capture2.pcap dir/\n"
            "\n");
    joy_config_print_help(out);
    fprintf(out, "\nSee joy(1) and doc/schema.md for every field of the output.\n");
}

static void version(void)
{
    printf("joy %s\n%s\n%s\nzlib %s\ngzip levels 1-3: %s, 4-9: zlib\n", joy_version(),
           pcap_lib_version(), OpenSSL_version(OPENSSL_VERSION), zlibVersion(),
           strcmp(output_gzip_engine(1), "isa-l") == 0 ? "ISA-L igzip" : "zlib");
    printf("outputs: file - %s\n", output_network_kinds());
}

/* ---------------------------------------------------------------------
 * Output
 */
static void on_record(void *user, const struct joy_record *rec)
{
    struct run *r = user;
    if (output_write_record(r->out, rec->json, rec->len, rec) != 0)
        r->output_failed = true;
}

static void say_output(void *user, const char *line)
{
    say(user, SEV_INFO, "%s", line);
}

static int write_metadata(struct run *r, char **inputs, size_t n_inputs)
{
    const char *const *in = (const char *const *)inputs;
    long n = joy_context_metadata(r->ctx, in, n_inputs, NULL, 0);
    char *buf = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (!buf || joy_context_metadata(r->ctx, in, n_inputs, buf, (size_t)n + 1) != n) {
        free(buf);
        say(r, SEV_ERROR, "out of memory");
        return -1;
    }
    if (output_write_metadata(r->out, buf, (size_t)n) != 0)
        r->output_failed = true;
    free(buf);
    return 0;
}

/* Read the program's own options from the configuration. */
static void get_str(const struct joy_config *c, const char *key, char *buf, size_t len)
{
    if (joy_config_get(c, key, buf, len) != JOY_OK)
        buf[0] = '\0';
}

static uint64_t get_uint(const struct joy_config *c, const char *key)
{
    char v[32];
    get_str(c, key, v, sizeof v);
    return strtoull(v, NULL, 10);
}

static int read_run_opts(const struct joy_config *c, struct run_opts *o)
{
    static const char *const too_long = "joy: option '%s' is too long\n";
    struct { const char *key; char *buf; size_t len; } strs[] = {
        {"output", o->output, sizeof o->output},
        {"interface", o->interface, sizeof o->interface},
        {"bpf", o->bpf, sizeof o->bpf},
    };
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) {
        if (joy_config_get(c, strs[i].key, strs[i].buf, strs[i].len) != JOY_OK) {
            fprintf(stderr, too_long, strs[i].key);
            return -1;
        }
    }
    o->promisc = get_uint(c, "promisc");
    o->progress = get_uint(c, "progress");
    o->snaplen = get_uint(c, "snaplen");
    o->verbosity = get_uint(c, "verbosity");
    o->gzip_level = get_uint(c, "gzip_level");
    return 0;
}

/* ---------------------------------------------------------------------
 * Progress line (only when stderr is a terminal)
 */
static double secs_between(const struct timespec *a, const struct timespec *b)
{
    return (double)(b->tv_sec - a->tv_sec) + (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

static void progress(struct run *r, bool final)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (!final && secs_between(&r->last_progress, &now) < 0.5)
        return;
    r->last_progress = now;
    struct joy_stats st;
    joy_meter_get_stats(r->meter, &st);
    double el = secs_between(&r->t0, &now);
    fprintf(stderr, "\rjoy: %llu packets, %llu flows open, %llu records, %.1f MB/s\033[K",
            (unsigned long long)st.packets, (unsigned long long)st.flows_open,
            (unsigned long long)st.records, el > 0 ? (double)st.bytes / 1e6 / el : 0.0);
    if (final)
        fputc('\n', stderr);
}

/* ---------------------------------------------------------------------
 * Step 1: the command line
 */
static bool looks_like_option(const char *arg)
{
    const char *eq = strchr(arg, '=');
    if (!eq || eq == arg)
        return false;
    for (const char *p = arg; p < eq; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
              (*p >= '0' && *p <= '9') || *p == '_'))
            return false;
    struct stat st;
    return stat(arg, &st) != 0; /* an existing file named a=b is a file */
}

/* -1 to go on, else the exit status (-h, -V, --options-cfg, usage errors). */
static int parse_args(int argc, char **argv, struct args *a)
{
    static const struct option longopts[] = {
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {"xconfig", required_argument, NULL, 'x'},
        {"options-cfg", no_argument, NULL, 'O'},
        {NULL, 0, NULL, 0},
    };
    a->inputs = calloc((size_t)argc + 1, sizeof *a->inputs);
    a->xfiles = calloc((size_t)argc + 1, sizeof *a->xfiles);
    a->set = calloc((size_t)argc * 2 + 1, sizeof *a->set);
    if (!a->inputs || !a->xfiles || !a->set) {
        fprintf(stderr, "joy: out of memory\n");
        return 1;
    }
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "-r:w:i:f:x:vqhV", longopts, NULL)) != -1) {
        switch (c) {
        case 1:
            if (looks_like_option(optarg)) {
                char *eq = strchr(optarg, '=');
                *eq = '\0';
                a->set[a->n_set++] = (struct setting){optarg, eq + 1};
            } else {
                a->inputs[a->n_inputs++] = optarg;
            }
            break;
        case 'r': a->inputs[a->n_inputs++] = optarg; break;
        case 'w':
            a->set[a->n_set++] = (struct setting){a->n_w++ ? "outputs" : "output", optarg};
            break;
        case 'i': a->set[a->n_set++] = (struct setting){"interface", optarg}; break;
        case 'f': a->set[a->n_set++] = (struct setting){"bpf", optarg}; break;
        case 'x': a->xfiles[a->n_x++] = optarg; break;
        case 'v': a->verbose++; break;
        case 'q': a->quiet = 1; break;
        case 'h': usage(stdout); return 0;
        case 'V': version(); return 0;
        case 'O': joy_config_print_defaults(stdout); return 0;
        case '?':
        default:
            if (optopt && strchr("rwifx", optopt))
                fprintf(stderr, "joy: option -%c needs an argument (see joy -h)\n", optopt);
            else if (optopt)
                fprintf(stderr, "joy: unknown option -%c (see joy -h)\n", optopt);
            else
                fprintf(stderr, "joy: unknown option %s (see joy -h)\n", argv[optind - 1]);
            return 2;
        }
    }
    return -1;
}

/* ---------------------------------------------------------------------
 * Step 2: the configuration: defaults < -x files < command line
 */
static bool collect_online(const struct joy_config *c)
{
    char v[8];
    return joy_config_get(c, "ipfix_collect_online", v, sizeof v) == JOY_OK && v[0] == '1';
}

static int build_config(struct run *r, const struct args *a)
{
    char err[1024];
    if (!(r->cfg = joy_config_new(err, sizeof err))) {
        fprintf(stderr, "joy: %s\n", err);
        return 2;
    }
    for (size_t i = 0; i < a->n_x; i++) {
        if (joy_config_load_file(r->cfg, a->xfiles[i], err, sizeof err) != JOY_OK) {
            fprintf(stderr, "joy: %s\n", err);
            return 2;
        }
    }
    for (size_t i = 0; i < a->n_set; i++) {
        if (joy_config_set(r->cfg, a->set[i].key, a->set[i].value, "command line", err,
                           sizeof err) != JOY_OK) {
            fprintf(stderr, "joy: %s\n", err);
            return 2;
        }
    }
    if (a->quiet || a->verbose) {
        char v[2] = {(char)('0' + (a->quiet ? SEV_ERROR : a->verbose >= 2 ? SEV_DEBUG : SEV_INFO)),
                     0};
        joy_config_set(r->cfg, "verbosity", v, "command line", err, sizeof err);
    }
    if (read_run_opts(r->cfg, &r->opt) != 0)
        return 2;
    if (r->opt.interface[0] && a->n_inputs) {
        fprintf(stderr, "joy: give either capture files or an interface (-i), not both\n");
        return 2;
    }
    if (!r->opt.interface[0] && a->n_inputs == 0 && !collect_online(r->cfg)) {
        fprintf(stderr, "joy: no input: give a capture file (-r FILE, '-' for standard input), "
                "a directory, or an interface (-i IFACE); see joy -h\n");
        return 2;
    }
    return 0;
}

/* ---------------------------------------------------------------------
 * Step 2b: collector mode (ipfix_collect_port / nfv9_port): collect.c does
 * the whole run; -1 when not asked for.
 */
static int collect_run(struct run *r, struct args *a)
{
    if (get_uint(r->cfg, "ipfix_collect_port") == 0 && get_uint(r->cfg, "nfv9_port") == 0)
        return -1;
    install_signals();
    return collect_main(r->cfg, a->inputs, a->n_inputs, &collect_stop);
}

/* ---------------------------------------------------------------------
 * Step 3: the packet source (checked now, started by run())
 */
static void on_source_message(void *user, enum source_severity sev, const char *msg)
{
    say(user, (enum severity)sev, "%s", msg);
}

static int pick_source(struct run *r, const struct args *a)
{
    char err[1024] = "";
    enum source_error e;
    if (r->opt.interface[0]) {
        struct source_pcap_opts o = {r->opt.interface, r->opt.bpf, (int)r->opt.snaplen,
                                     r->opt.promisc, on_source_message, r};
        r->src = source_pcap_new(&o, &e, err, sizeof err);
    } else {
        struct source_file_opts o = {(const char *const *)a->inputs, a->n_inputs, r->opt.bpf,
                                     on_source_message, r};
        r->src = source_file_new(&o, &e, err, sizeof err);
    }
    if (!r->src) {
        fprintf(stderr, "joy: %s\n", err);
        return e == SOURCE_CONFIG ? 2 : 1;
    }
    return 0;
}

/* ---------------------------------------------------------------------
 * Step 4: the output, the context and meter, and the metadata line
 */
static int open_output(struct run *r, const struct args *a)
{
    char err[1024];
    struct export_setup e;
    if (export_setup_read(r->cfg, &e, err, sizeof err) != 0) {
        fprintf(stderr, "joy: %s\n", err);
        return 2;
    }
    r->out = output_open_targets((const char *const *)e.targets, e.n_targets, &e.opt, err,
                                 sizeof err);
    bool metadata = e.metadata;
    export_setup_free(&e);
    if (!r->out) {
        fprintf(stderr, "joy: %s\n", err);
        return 1;
    }
    if (!(r->ctx = joy_context_new(r->cfg, err, sizeof err)) ||
        !(r->meter = joy_meter_new(r->ctx, on_record, r, err, sizeof err))) {
        fprintf(stderr, "joy: %s\n", err);
        output_close(r->out, false, err, sizeof err);
        r->out = NULL;
        return 2;
    }
    install_signals();
    char *iface = r->opt.interface;
    if (metadata &&
        write_metadata(r, iface[0] ? &iface : a->inputs, iface[0] ? 1 : a->n_inputs) != 0) {
        output_close(r->out, false, err, sizeof err);
        r->out = NULL;
        return 1;
    }
    return 0;
}

/* ---------------------------------------------------------------------
 * Step 5: packets from the source into the meter, until the end, a
 * signal or an output failure
 */
static uint64_t wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int exit_status_of(enum source_error e)
{
    return e == SOURCE_CONFIG ? 2 : e != SOURCE_OK ? 1 : 0;
}

static void run(struct run *r)
{
    bool live = r->opt.interface[0];
    r->show_progress = r->opt.progress && isatty(2) && !live && r->opt.verbosity &&
                       r->opt.verbosity <= SEV_WARN;
    clock_gettime(CLOCK_MONOTONIC, &r->t0);
    r->last_progress = r->t0;

    struct joy_source *s = r->src;
    if (source_open(s) == SOURCE_OK) {
        active_source = s;
        struct source_packet pkt;
        enum source_result res;
        uint64_t n = 0;
        while (!stop_requested && !r->output_failed && (res = source_next(s, &pkt)) != SOURCE_END) {
            if (res == SOURCE_IDLE) {
                joy_meter_advance(r->meter, wall_ns());
                continue;
            }
            joy_meter_packet(r->meter, pkt.linktype, pkt.data, pkt.caplen, pkt.wirelen, pkt.ts_ns);
            if (r->show_progress && (++n & 0xffff) == 0)
                progress(r, false);
        }
        active_source = NULL;
        struct source_stats *st = &r->src_stats;
        if (source_stats(s, st) == 0 && st->kernel)
            fprintf(stderr, "joy: %llu packets received by filter, %llu dropped by kernel, "
                    "%llu dropped by interface\n", (unsigned long long)st->received,
                    (unsigned long long)st->dropped, (unsigned long long)st->if_dropped);
    }
    r->status = exit_status_of(source_error(s));
    source_close(s);
    r->src = NULL;

    if (stop_requested)
        say(r, SEV_INFO, "stopped by a signal; writing the open flows");
    joy_meter_flush(r->meter);
    if (r->show_progress)
        progress(r, true);
}

/* ---------------------------------------------------------------------
 * Step 6: the summary, and the output closed; the exit status
 */
static int report(struct run *r)
{
    char err[1024];
    struct joy_stats stats, *st = &stats;
    joy_meter_get_stats(r->meter, st);
    say(r, SEV_INFO, "%llu packets, %llu records; skipped: %llu not IP, %llu truncated, "
        "%llu malformed, %llu filtered, %llu unsupported link type; %llu later fragments "
        "without their first",
        (unsigned long long)st->packets, (unsigned long long)st->records,
        (unsigned long long)st->not_ip, (unsigned long long)st->truncated,
        (unsigned long long)st->malformed, (unsigned long long)r->src_stats.filtered,
        (unsigned long long)(st->unsupported + r->src_stats.unsupported),
        (unsigned long long)st->frag_unmatched);
    if (st->oversized)
        say(r, SEV_WARN, "%llu records exceeded the record size cap and were written with the "
            "core fields only", (unsigned long long)st->oversized);

    joy_meter_free(r->meter);
    r->meter = NULL;
    int status = r->status;
    output_report(r->out, say_output, r);
    if (output_close(r->out, true, err, sizeof err) != 0) {
        fprintf(stderr, "joy: %s\n", err);
        status = 1;
    }
    r->out = NULL;
    return status;
}

static void cleanup(struct run *r, struct args *a)
{
    source_close(r->src);
    joy_meter_free(r->meter);
    joy_context_free(r->ctx);
    joy_config_free(r->cfg);
    free(r);
    free(a->inputs);
    free(a->xfiles);
    free(a->set);
}

int main(int argc, char **argv)
{
    struct args a = {0};
    struct run *r = calloc(1, sizeof *r);
    int status = r ? parse_args(argc, argv, &a) : 1;
    if (!r)
        fprintf(stderr, "joy: out of memory\n");
    if (status < 0 && !(status = build_config(r, &a)) &&
        (status = collect_run(r, &a)) < 0 && !(status = pick_source(r, &a)) &&
        !(status = open_output(r, &a))) {
        run(r);
        status = report(r);
    }
    if (r)
        cleanup(r, &a);
    return status;
}
