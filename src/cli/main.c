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
 * Operating it as a sensor (README "Running as a sensor", joy(1)):
 * SIGINT/SIGTERM write every open flow and exit; SIGHUP closes the output
 * file (complete, renamed), opens the next one and reloads what can be
 * reloaded; SIGUSR1 and SIGUSR2 print statistics.  HUP, USR1 and USR2 are
 * blocked and taken with sigtimedwait() by the main loop (no handler at
 * all, so no write is ever interrupted by them); INT and TERM have a
 * handler that only sets a flag and pokes the source.  Live records are
 * flushed every flush_interval seconds; files rotate (-G, -C, count=,
 * -W); -Z drops privileges once the capture and the output are open; a
 * status line is shown on a terminal; systemd is told READY/STATUS/
 * RELOADING/STOPPING through $NOTIFY_SOCKET.
 *
 * Exit status: 0 success; 1 an input could not be fully read (damaged,
 * unreadable, unsupported) or the output failed - every flow seen is still
 * written; 2 a usage or configuration error (nothing was read).
 */
#include "joy/joy.h"

#include "export.h"
#include "output.h"
#include "privdrop.h"
#include "sockproc.h"
#include "source.h"
#include "workers.h"

#include <errno.h>
#include <getopt.h>
#include <openssl/crypto.h>
#include <pcap/pcap.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

/* Set by the signal handler; the only process-wide state, as signals are. */
static volatile sig_atomic_t stop_requested;
static volatile int collect_stop; /* the collector's stop flag (collect.c) */
static struct joy_source *volatile active_source;
static struct workers *volatile active_workers;

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
    struct setting *set;          /* key=value, -w, -i, -f, -c, -s, -p, -G, -C, -W, -Z */
    size_t n_inputs, n_x, n_set;
    int verbose, quiet;
    const char *iface;            /* the -i given (one only) */
    char size_buf[32];            /* -C in bytes */
    int n_w;                      /* -w given so far: the first is output=, others outputs= */
};

/* The options that concern this program rather than the library: where
 * packets come from and where records go (read from the configuration). */
struct run_opts {
    char output[4096], interface[256], bpf[8192], outdir[4096], username[256], logfile[4096];
    char capture[16], fanout[16];
    bool promisc, progress, show_config, show_interfaces, fanout_unsafe;
    uint64_t snaplen, verbosity, gzip_level, threads;
    uint64_t rotate, rotate_size, count, keep, flush_interval, max_packets;
    uint64_t inactive_ns;
    bool afpacket;                /* live capture through workers.c's AF_PACKET sockets */
};

struct run {
    struct joy_config *cfg;
    struct run_opts opt;
    struct joy_context *ctx;
    struct joy_meter *meter;
    struct joy_output *out;
    struct joy_source *src;
    struct workers *workers;      /* threads > 1 or capture=afpacket (workers.c) */
    struct joy_reload *reload;    /* the model reloaded by the last SIGHUP, in use */
    int status;                   /* exit status so far */
    bool output_failed;
    struct source_stats src_stats;/* the source's counts at the end */
    const struct args *args;      /* to reload the configuration on SIGHUP */
    bool live;
    bool drop_user;               /* username= given */
    struct privdrop_user user;
    int notify_fd;                /* $NOTIFY_SOCKET, -1 without */
    sigset_t control;             /* HUP, USR1, USR2: taken by the main loop */
    /* progress and status lines */
    bool show_progress, show_status;
    struct timespec t0, last_progress;
    uint64_t last_periodic, last_flush, last_status, last_notify;  /* monotonic ns */
    uint64_t pkt_clock;          /* the meter's clock, followed to warn of a new epoch */
    uint64_t tick_sec;           /* the second of packet time output_tick() last saw, +1 */
    bool epoch_warned;
    uint64_t status_packets;      /* packets at the last status line */
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
    struct workers *ws = active_workers;
    if (ws)
        workers_stop(ws);
}

/* INT and TERM: a handler that sets a flag.  HUP, USR1 and USR2: blocked,
 * and taken by poll_control_signals() in the main loop. */
static void install_signals(struct run *r)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: a stopped source needs interrupted reads */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigemptyset(&r->control);
    sigaddset(&r->control, SIGHUP);
    sigaddset(&r->control, SIGUSR1);
    sigaddset(&r->control, SIGUSR2);
    sigprocmask(SIG_BLOCK, &r->control, NULL);
}

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: joy [options] [key=value ...] [--] [capture file|directory ...]\n"
            "\n"
            "Reads pcap/pcapng files (or a live interface), groups packets into flows and\n"
            "writes one JSON object per flow (JSON Lines; gzip when written to a file).\n"
            "\n"
            "Options:\n"
            "  -r, --read FILE       read a capture file ('-' = standard input); repeatable\n"
            "  -w, --write FILE      write records to FILE (gzip unless it ends in .json/.jsonl);\n"
            "                        '-' or no -w: plain JSON Lines on standard output; the name\n"
            "                        may hold strftime conversions and %%N (file number)\n"
            "  -i, --interface IFACE capture live from IFACE ('auto': the first one up);\n"
            "                        stop with Ctrl-C or SIGTERM: every flow is written\n"
            "  -f, --filter FILTER   BPF filter, e.g. 'tcp port 443' (same as bpf=FILTER)\n"
            "  -c COUNT              stop after COUNT packets (max_packets=)\n"
            "  -s SNAPLEN            bytes captured per packet live (0: 262144) (snaplen=)\n"
            "  -p                    no promiscuous mode (the default; promisc=1 turns it on)\n"
            "  -D                    list the interfaces joy can capture on, and exit\n"
            "  -G SECONDS            a new output file every SECONDS (rotate=)\n"
            "  -C SIZE               a new output file after SIZE millions of bytes; k, m, g:\n"
            "                        KiB, MiB, GiB (rotate_size=)\n"
            "  -W COUNT              keep at most COUNT output files of this run (keep=)\n"
            "  -Z USER               run as USER, without capabilities, once the capture\n"
            "                        and the output are open (username=)\n"
            "  -t, --threads N       N worker threads (threads=; doc/internals/threads.md)\n"
            "  -x FILE               read options from FILE (lines 'key = value', '#' comments)\n"
            "  -v                    more messages (repeat for debug)\n"
            "  -q                    only errors\n"
            "  -h, --help            this help\n"
            "  -V, --version         versions of joy, libpcap, OpenSSL and the gzip libraries\n"
            "  --options-cfg         print every option with its default (the options.cfg format)\n"
            "\n"
            "Signals: INT/TERM write every flow and exit; HUP starts the next output file\n"
            "and reloads the -x files' reloadable options and the classifier's model;\n"
            "USR1/USR2 print statistics (per worker with -t N).  Signals, -G, -C, -W,\n"
            "flush_interval and several -w work with any number of threads.\n"
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
            "  joy -i eth0 -G 3600 -W 48 -Z joy -w '/var/lib/joy/flows-%%Y%%m%%d-%%H.json.gz'\n"
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
    printf("exe=1 short-lived sockets: %s\n", sockproc_ebpf_built());
}

/* -D and show_interfaces=1: the interfaces libpcap can capture on, as
 * tcpdump -D prints them.  0, or 1 when they cannot be listed. */
static int list_interfaces(FILE *out)
{
    char errbuf[PCAP_ERRBUF_SIZE] = "";
    pcap_if_t *all = NULL;
    if (pcap_findalldevs(&all, errbuf) != 0) {
        fprintf(stderr, "joy: cannot list the interfaces: %s\n", errbuf);
        return 1;
    }
    int i = 1;
    for (pcap_if_t *d = all; d; d = d->next, i++) {
        fprintf(out, "%d.%s", i, d->name);
        if (d->description)
            fprintf(out, " (%s)", d->description);
        fprintf(out, " [%s%s%s]\n", d->flags & PCAP_IF_UP ? "Up" : "Down",
                d->flags & PCAP_IF_RUNNING ? ", Running" : "",
                d->flags & PCAP_IF_LOOPBACK ? ", Loopback" : "");
    }
    if (!all)
        fprintf(out, "(no interface: capturing needs root or cap_net_raw)\n");
    pcap_freealldevs(all);
    return 0;
}

/* interface=auto: the first interface that is up and running, not a
 * loopback, and has an address (Joy's meaning). */
static int auto_interface(char *buf, size_t len)
{
    char errbuf[PCAP_ERRBUF_SIZE] = "";
    pcap_if_t *all = NULL;
    int rc = -1;
    if (pcap_findalldevs(&all, errbuf) != 0)
        return -1;
    for (pcap_if_t *d = all; d; d = d->next) {
        if (!(d->flags & PCAP_IF_LOOPBACK) && (d->flags & PCAP_IF_UP) &&
            (d->flags & PCAP_IF_RUNNING) && d->addresses && strcmp(d->name, "any") != 0) {
            snprintf(buf, len, "%s", d->name);
            rc = 0;
            break;
        }
    }
    pcap_freealldevs(all);
    return rc;
}

/* ---------------------------------------------------------------------
 * systemd: the notify protocol (sd_notify(3)) by hand - one datagram per
 * message to the socket named by $NOTIFY_SOCKET
 */
static void notify_open(struct run *r)
{
    r->notify_fd = -1;
    const char *path = getenv("NOTIFY_SOCKET");
    struct sockaddr_un sa;
    size_t n = path ? strlen(path) : 0;
    if (!path || (path[0] != '/' && path[0] != '@') || n < 2 || n >= sizeof sa.sun_path)
        return;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, path, n);
    if (path[0] == '@')
        sa.sun_path[0] = '\0'; /* abstract namespace */
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return;
    /* connected now, so that sending still works after the privilege drop */
    if (connect(fd, (struct sockaddr *)&sa, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n)) != 0) {
        close(fd);
        return;
    }
    r->notify_fd = fd;
}

static void notify(struct run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void notify(struct run *r, const char *fmt, ...)
{
    if (r->notify_fd < 0)
        return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (n > 0)
        send(r->notify_fd, msg, (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1, MSG_NOSIGNAL);
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

/* The metadata line: the first line of every output file. */
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
    if (r->opt.show_config)
        fprintf(stderr, "joy: configuration: %s", buf);
    free(buf);
    return 0;
}

static void on_output_message(void *user, int severity, const char *msg)
{
    say(user, (enum severity)severity, "%s", msg);
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
        {"capture", o->capture, sizeof o->capture},
        {"fanout", o->fanout, sizeof o->fanout},
        {"outdir", o->outdir, sizeof o->outdir},
        {"username", o->username, sizeof o->username},
        {"logfile", o->logfile, sizeof o->logfile},
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
    o->threads = get_uint(c, "threads");
    o->fanout_unsafe = get_uint(c, "fanout_unsafe");
    o->rotate = get_uint(c, "rotate");
    o->rotate_size = get_uint(c, "rotate_size");
    o->count = get_uint(c, "count");
    o->keep = get_uint(c, "keep");
    o->flush_interval = get_uint(c, "flush_interval");
    o->max_packets = get_uint(c, "max_packets");
    o->inactive_ns = get_uint(c, "inactive_timeout") * 1000000000ull;
    o->show_config = get_uint(c, "show_config");
    o->show_interfaces = get_uint(c, "show_interfaces");
    return 0;
}

/* ---------------------------------------------------------------------
 * Progress line (files) and status line (live), only when stderr is a
 * terminal
 */
static double secs_between(const struct timespec *a, const struct timespec *b)
{
    return (double)(b->tv_sec - a->tv_sec) + (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The meter's counts (threads=1), or the sum of the workers' so far. */
static void meter_stats(const struct run *r, struct joy_stats *st)
{
    memset(st, 0, sizeof *st);
    if (r->meter) {
        joy_meter_get_stats(r->meter, st);
    } else if (r->workers) {
        struct workers_stats ws;
        workers_stats(r->workers, &ws);
        st->packets = ws.total.packets;
        st->bytes = ws.total.bytes;
        st->records = ws.total.records;
        st->flows_open = ws.total.flows_open;
    }
}

static void progress(struct run *r, bool final)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (!final && secs_between(&r->last_progress, &now) < 0.5)
        return;
    r->last_progress = now;
    struct joy_stats st;
    meter_stats(r, &st);
    double el = secs_between(&r->t0, &now);
    const char *name = NULL;
    uint64_t done = 0, total = 0;
    char where[600] = "";
    if (r->src && source_file_progress(r->src, &name, &done, &total) == 0 && name) {
        if (total)
            snprintf(where, sizeof where, "%.400s %.1f%%, ", name,
                     100.0 * (double)(done > total ? total : done) / (double)total);
        else
            snprintf(where, sizeof where, "%.400s, ", name);
    }
    fprintf(stderr, "\rjoy: %s%llu packets, %llu flows open, %llu records, %.1f MB/s\033[K", where,
            (unsigned long long)st.packets, (unsigned long long)st.flows_open,
            (unsigned long long)st.records, el > 0 ? (double)st.bytes / 1e6 / el : 0.0);
    if (final)
        fputc('\n', stderr);
}

/* Live: one line rewritten every second: packets/s, flows, records, drops. */
static void status_line(struct run *r, uint64_t now, bool final)
{
    struct joy_stats st;
    meter_stats(r, &st);
    struct source_stats ss = {0};
    if (r->src)
        source_stats(r->src, &ss);
    if (r->workers && !r->src) {
        struct workers_stats ws;
        workers_stats(r->workers, &ws);
        ss.dropped = ws.total.kernel_drops;
    }
    double el = (double)(now - r->last_status) / 1e9;
    double rate = el > 0 ? (double)(st.packets - r->status_packets) / el : 0;
    r->last_status = now;
    r->status_packets = st.packets;
    fprintf(stderr, "\rjoy: %s: %.0f packets/s, %llu packets, %llu flows open, %llu records, "
            "%llu dropped\033[K", r->opt.interface, rate, (unsigned long long)st.packets,
            (unsigned long long)st.flows_open, (unsigned long long)st.records,
            (unsigned long long)(ss.dropped + ss.if_dropped));
    if (final)
        fputc('\n', stderr);
}

/* SIGUSR1/SIGUSR2 with worker threads: per worker and in total. */
static void print_workers_stats(struct run *r, int sig)
{
    struct workers_stats ws;
    workers_stats(r->workers, &ws);
    uint64_t files = 0;
    char name[512];
    uint64_t written = workers_written(r->workers, &files, name, sizeof name);
    struct source_stats ss = {0};
    bool kernel = r->src && source_stats(r->src, &ss) == 0 && ss.kernel;
    if (r->show_status || r->show_progress)
        fputc('\n', stderr);
    const char *sn = sig == SIGUSR2 ? "SIGUSR2" : "SIGUSR1";
    for (unsigned i = 0; i < ws.n; i++) {
        const struct workers_stat *w = &ws.w[i];
        fprintf(stderr, "joy: statistics (%s): worker %u: %llu packets, %llu bytes; %llu flows "
                "open, %llu records", sn, i, (unsigned long long)w->packets,
                (unsigned long long)w->bytes, (unsigned long long)w->flows_open,
                (unsigned long long)w->records);
        if (ws.kernel)
            fprintf(stderr, "; %llu packets received by filter, %llu dropped by kernel",
                    (unsigned long long)w->kernel_packets, (unsigned long long)w->kernel_drops);
        fputc('\n', stderr);
    }
    fprintf(stderr, "joy: statistics (%s): %llu packets, %llu bytes; %llu flows open, %llu "
            "records written (%llu files closed, now %s)", sn,
            (unsigned long long)ws.total.packets, (unsigned long long)ws.total.bytes,
            (unsigned long long)ws.total.flows_open, (unsigned long long)written,
            (unsigned long long)files, name);
    if (ws.kernel)
        fprintf(stderr, "; %llu packets received by filter, %llu dropped by kernel",
                (unsigned long long)ws.total.kernel_packets,
                (unsigned long long)ws.total.kernel_drops);
    else if (kernel)
        fprintf(stderr, "; %llu packets received by filter, %llu dropped by kernel, %llu dropped "
                "by interface", (unsigned long long)ss.received, (unsigned long long)ss.dropped,
                (unsigned long long)ss.if_dropped);
    fputc('\n', stderr);
    fflush(stderr);
}

/* SIGUSR1/SIGUSR2: the counts so far, on stderr (or the log file). */
static void print_stats(struct run *r, int sig)
{
    if (r->workers) {
        print_workers_stats(r, sig);
        return;
    }
    struct joy_stats st;
    joy_meter_get_stats(r->meter, &st);
    struct source_stats ss = {0};
    bool kernel = r->src && source_stats(r->src, &ss) == 0 && ss.kernel;
    if (r->show_status || r->show_progress)
        fputc('\n', stderr);
    fprintf(stderr, "joy: statistics (%s): %llu packets, %llu bytes; %llu flows open, %llu "
            "records written (%llu files closed, now %s)",
            sig == SIGUSR2 ? "SIGUSR2" : "SIGUSR1", (unsigned long long)st.packets,
            (unsigned long long)st.bytes, (unsigned long long)st.flows_open,
            (unsigned long long)output_records(r->out), (unsigned long long)output_files(r->out),
            output_name(r->out));
    if (kernel)
        fprintf(stderr, "; %llu packets received by filter, %llu dropped by kernel, %llu dropped "
                "by interface", (unsigned long long)ss.received, (unsigned long long)ss.dropped,
                (unsigned long long)ss.if_dropped);
    else
        fprintf(stderr, "; %llu filtered", (unsigned long long)ss.filtered);
    fprintf(stderr, "; skipped %llu not IP, %llu truncated, %llu malformed, %llu without memory"
            "; %llu clock epochs\n",
            (unsigned long long)st.not_ip, (unsigned long long)st.truncated,
            (unsigned long long)st.malformed, (unsigned long long)st.no_memory,
            (unsigned long long)st.clock_epochs);
    fflush(stderr);
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

/* -C: tcpdump's units: millions of bytes, or k/K KiB, m/M MiB, g/G GiB. */
static int parse_size(const char *v, char *out, size_t len)
{
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    double unit = 1e6;
    if (*end == 'k' || *end == 'K')
        unit = 1024, end++;
    else if (*end == 'm' || *end == 'M')
        unit = 1048576, end++;
    else if (*end == 'g' || *end == 'G')
        unit = 1073741824, end++;
    if (errno || end == v || *end || x <= 0 || x * unit > 1e15)
        return -1;
    snprintf(out, len, "%.0f", x * unit < 1 ? 1 : x * unit);
    return 0;
}

/* -1 to go on, else the exit status (-h, -V, -D, --options-cfg, usage errors). */
static int parse_args(int argc, char **argv, struct args *a)
{
    static const struct option longopts[] = {
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {"xconfig", required_argument, NULL, 'x'},
        {"options-cfg", no_argument, NULL, 'O'},
        {"read", required_argument, NULL, 'r'},
        {"write", required_argument, NULL, 'w'},
        {"interface", required_argument, NULL, 'i'},
        {"filter", required_argument, NULL, 'f'},
        {"threads", required_argument, NULL, 't'},
        {"list-interfaces", no_argument, NULL, 'D'},
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
    while ((c = getopt_long(argc, argv, "-r:w:i:f:t:x:c:s:pDG:C:W:Z:vqhV", longopts, NULL)) != -1) {
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
        case 'i':
            if (a->iface) {
                fprintf(stderr, "joy: -i given twice ('%s' and '%s'): one interface per run\n",
                        a->iface, optarg);
                return 2;
            }
            a->iface = optarg;
            a->set[a->n_set++] = (struct setting){"interface", optarg};
            break;
        case 'f': a->set[a->n_set++] = (struct setting){"bpf", optarg}; break;
        case 't': a->set[a->n_set++] = (struct setting){"threads", optarg}; break;
        case 'c': a->set[a->n_set++] = (struct setting){"max_packets", optarg}; break;
        case 's':
            a->set[a->n_set++] = (struct setting){"snaplen", strcmp(optarg, "0") ? optarg : "262144"};
            break;
        case 'p': a->set[a->n_set++] = (struct setting){"promisc", "0"}; break;
        case 'G': a->set[a->n_set++] = (struct setting){"rotate", optarg}; break;
        case 'C':
            if (parse_size(optarg, a->size_buf, sizeof a->size_buf) != 0) {
                fprintf(stderr, "joy: -C takes a size in millions of bytes (or with k, m, g), "
                        "not '%s'\n", optarg);
                return 2;
            }
            a->set[a->n_set++] = (struct setting){"rotate_size", a->size_buf};
            break;
        case 'W': a->set[a->n_set++] = (struct setting){"keep", optarg}; break;
        case 'Z': a->set[a->n_set++] = (struct setting){"username", optarg}; break;
        case 'x': a->xfiles[a->n_x++] = optarg; break;
        case 'v': a->verbose++; break;
        case 'q': a->quiet = 1; break;
        case 'h': usage(stdout); return 0;
        case 'V': version(); return 0;
        case 'D': return list_interfaces(stdout);
        case 'O': joy_config_print_defaults(stdout); return 0;
        case '?':
        default:
            if (optopt && strchr("rwiftxcsGCWZ", optopt))
                fprintf(stderr, "joy: option -%c needs an argument (see joy -h)\n", optopt);
            else if (optopt)
                fprintf(stderr, "joy: unknown option -%c (see joy -h)\n", optopt);
            else
                fprintf(stderr, "joy: unknown option %s (see joy -h)\n", argv[optind - 1]);
            return 2;
        }
    }
    /* after "--": every word is a capture file, whatever it looks like */
    for (int i = optind; i < argc; i++)
        a->inputs[a->n_inputs++] = argv[i];
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

/* Notices of ignored Joy keys (one a line in msg): warnings. */
static void show_notices(const struct run *r, const char *msg)
{
    const char *p = msg;
    while (p && *p) {
        const char *nl = strchr(p, '\n');
        int n = nl ? (int)(nl - p) : (int)strlen(p);
        /* configuration notices: shown at every verbosity but 0 and 5 */
        if (!r || (r->opt.verbosity && r->opt.verbosity <= SEV_ERROR))
            fprintf(stderr, "joy: %.*s\n", n, p);
        p = nl ? nl + 1 : NULL;
    }
}

/* defaults < -x files < command line, into a new configuration; notices
 * are collected in notes. */
static struct joy_config *load_config(const struct args *a, char *notes, size_t noteslen)
{
    char err[4096];
    size_t used = 0;
    notes[0] = '\0';
    struct joy_config *cfg = joy_config_new(err, sizeof err);
    if (!cfg) {
        fprintf(stderr, "joy: %s\n", err);
        return NULL;
    }
    for (size_t i = 0; i < a->n_x; i++) {
        if (joy_config_load_file(cfg, a->xfiles[i], err, sizeof err) != JOY_OK) {
            fprintf(stderr, "joy: %s\n", err);
            joy_config_free(cfg);
            return NULL;
        }
        if (err[0] && used < noteslen)
            used += (size_t)snprintf(notes + used, noteslen - used, "%s\n", err);
    }
    for (size_t i = 0; i < a->n_set; i++) {
        if (joy_config_set(cfg, a->set[i].key, a->set[i].value, "command line", err,
                           sizeof err) != JOY_OK) {
            fprintf(stderr, "joy: %s\n", err);
            joy_config_free(cfg);
            return NULL;
        }
        if (err[0] && used < noteslen)
            used += (size_t)snprintf(notes + used, noteslen - used, "%s\n", err);
    }
    if (a->quiet || a->verbose) {
        char v[2] = {(char)('0' + (a->quiet ? SEV_ERROR : a->verbose >= 2 ? SEV_DEBUG : SEV_INFO)),
                     0};
        joy_config_set(cfg, "verbosity", v, "command line", err, sizeof err);
    }
    return cfg;
}

/* logfile=: messages go to FILE (appended) instead of stderr; on SIGHUP
 * it is opened again (after a logrotate).  A file that cannot be opened
 * leaves stderr as it was.  0, or -1. */
static int open_log(struct run *r)
{
    if (!r->opt.logfile[0])
        return 0;
    FILE *f = fopen(r->opt.logfile, "a");
    if (!f || dup2(fileno(f), STDERR_FILENO) < 0) {
        fprintf(stderr, "joy: logfile=%s: cannot open it: %s\n", r->opt.logfile, strerror(errno));
        if (f)
            fclose(f);
        return -1;
    }
    fclose(f);
    setvbuf(stderr, NULL, _IOLBF, 0);
    return 0;
}

static int build_config(struct run *r, const struct args *a)
{
    char notes[8192];
    r->args = a;
    if (!(r->cfg = load_config(a, notes, sizeof notes)))
        return 2;
    if (read_run_opts(r->cfg, &r->opt) != 0)
        return 2;
    show_notices(r, notes);
    if (open_log(r) != 0)
        return 2;
    bool iface_on_cmdline = false;
    for (size_t i = 0; i < a->n_set; i++)
        iface_on_cmdline |= strcmp(a->set[i].key, "interface") == 0;
    if (r->opt.interface[0] && a->n_inputs && !iface_on_cmdline) {
        /* the command line wins over a -x file's interface (Joy's
         * options.cfg says interface = auto) */
        char err[256];
        say(r, SEV_WARN, "interface=%s of the configuration file ignored: reading the capture "
            "files of the command line", r->opt.interface);
        joy_config_set(r->cfg, "interface", "none", "command line", err, sizeof err);
        r->opt.interface[0] = '\0';
    }
    if (r->opt.interface[0] && a->n_inputs) {
        fprintf(stderr, "joy: give either capture files or an interface (-i), not both\n");
        return 2;
    }
    const char *cap = r->opt.capture;
    if (cap[0] && strcmp(cap, "afpacket") != 0 && strcmp(cap, "pcap") != 0) {
        fprintf(stderr, "joy: capture=%s: give afpacket or pcap\n", cap);
        return 2;
    }
    int fanout = source_afpacket_fanout_mode(r->opt.fanout);
    if (fanout < 0) {
        fprintf(stderr, "joy: fanout=%s: give addr, hash, cpu or lb\n", r->opt.fanout);
        return 2;
    }
    if ((fanout == AFP_FANOUT_CPU || fanout == AFP_FANOUT_LB) && !r->opt.fanout_unsafe) {
        fprintf(stderr, "joy: fanout=%s splits flows between workers (partial records); "
                "add fanout_unsafe=1 to use it anyway\n", r->opt.fanout);
        return 2;
    }
    /* AF_PACKET only when asked (capture=pcap stays the default for -i:
     * doc/internals/threads.md says why) */
    r->opt.afpacket = r->opt.interface[0] && strcmp(cap, "afpacket") == 0;
    if (r->opt.afpacket && !source_afpacket_available()) {
        fprintf(stderr, "joy: capture=afpacket needs Linux; use capture=pcap\n");
        return 2;
    }
    if (!r->opt.interface[0] && a->n_inputs == 0 && !collect_online(r->cfg)) {
        fprintf(stderr, "joy: no input: give a capture file (-r FILE, '-' for standard input), "
                "a directory, or an interface (-i IFACE); see joy -h\n");
        return 2;
    }
    if (r->opt.username[0]) {
        char err[512];
        if (privdrop_lookup(r->opt.username, &r->user, err, sizeof err) != 0) {
            fprintf(stderr, "joy: %s\n", err);
            return 2;
        }
        if (geteuid() != 0) {
            fprintf(stderr, "joy: username=%s (-Z) needs joy to be started as root; without "
                    "root, give joy the capture capabilities instead (see joy(1))\n",
                    r->opt.username);
            return 2;
        }
        r->drop_user = true;
    }
    if (strcmp(r->opt.interface, "auto") == 0) {
        char err[256];
        if (auto_interface(r->opt.interface, sizeof r->opt.interface) != 0) {
            fprintf(stderr, "joy: interface=auto: no interface is up with an address\n");
            return 2;
        }
        joy_config_set(r->cfg, "interface", r->opt.interface, "interface=auto", err, sizeof err);
        say(r, SEV_INFO, "interface=auto: %s", r->opt.interface);
    }
    r->live = r->opt.interface[0] != '\0';
    if (r->opt.show_interfaces)
        list_interfaces(stderr);
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
    return collect_main(r->cfg, a->inputs, a->n_inputs, &collect_stop);
}

/* ---------------------------------------------------------------------
 * Step 3: the packet source (checked now, started by run())
 */
/* Packet time went back by more than inactive_timeout (a new clock epoch,
 * doc/schema.md): said once per run. */
static void epoch_warning(struct run *r, uint64_t back)
{
    say(r, SEV_WARN, "packet time went back by %llu.%09llu s, more than inactive_timeout: "
        "the open flows were expired and the clock restarted (files out of time order?); "
        "said once, counted in the statistics",
        (unsigned long long)(back / 1000000000u), (unsigned long long)(back % 1000000000u));
}

static void on_source_message(void *user, enum source_severity sev, const char *msg)
{
    say(user, (enum severity)sev, "%s", msg);
}

static int pick_source(struct run *r, const struct args *a)
{
    char err[1024] = "";
    enum source_error e;
    if (r->opt.afpacket) {
        return 0; /* the workers open their sockets (workers_new) */
    } else if (r->opt.interface[0]) {
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
    struct output_opts oo = {
        .outdir = r->opt.outdir,
        .gzip_level = (int)r->opt.gzip_level,
        .rotate_seconds = r->opt.rotate,
        .rotate_bytes = r->opt.rotate_size,
        .rotate_records = r->opt.count,
        .keep = r->opt.keep,
        .recover = true,
        .log = on_output_message,
        .log_user = r,
    };
    export_keep_freed_memory(&e);
    r->out = output_open_all(&oo, (const char *const *)e.targets, e.n_targets, &e.opt, err,
                             sizeof err);
    bool metadata = e.metadata;
    export_setup_free(&e);
    if (!r->out) {
        fprintf(stderr, "joy: %s\n", err);
        return strstr(err, "needs an output file name") ? 2 : 1;
    }
    bool threaded = r->opt.threads > 1 || r->opt.afpacket;
    if (!(r->ctx = joy_context_new(r->cfg, err, sizeof err)) ||
        (!threaded && !(r->meter = joy_meter_new(r->ctx, on_record, r, err, sizeof err)))) {
        fprintf(stderr, "joy: %s\n", err);
        output_close(r->out, false, err, sizeof err);
        r->out = NULL;
        return 2;
    }
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

static void print_kernel_stats(const struct source_stats *st)
{
    fprintf(stderr, "joy: %llu packets received by filter, %llu dropped by kernel, "
            "%llu dropped by interface\n", (unsigned long long)st->received,
            (unsigned long long)st->dropped, (unsigned long long)st->if_dropped);
}

static int drop_privileges(struct run *r);

static void periodic(struct run *r, uint64_t now);

static void workers_periodic(void *user)
{
    struct run *r = user;
    periodic(r, mono_ns());
}

/* threads > 1 or capture=afpacket: workers.c does the run.  The main
 * thread (the reader, or a thread that waits in afpacket mode) calls
 * periodic() about every 100 ms: signals, -G, flushes, the status line;
 * what they do to the output runs in the writer thread, as a barrier in
 * every worker's records (doc/internals/threads.md). */
static void run_workers(struct run *r)
{
    char err[1024] = "";
    enum source_error e = SOURCE_OK;
    struct joy_source *s = r->src;
    if (s && source_open(s) != SOURCE_OK) {
        r->status = exit_status_of(source_error(s));
        return;
    }
    int fanout = source_afpacket_fanout_mode(r->opt.fanout);
    struct workers_opts o = {(unsigned)r->opt.threads, r->ctx, r->out, s,
                             r->opt.interface[0] != 0, r->opt.interface, r->opt.bpf,
                             (int)r->opt.snaplen, r->opt.promisc, (enum afp_fanout)fanout,
                             on_source_message, r, r->opt.inactive_ns, r->opt.rotate,
                             workers_periodic, r, r->opt.max_packets};
    if (!(r->workers = workers_new(&o, &e, err, sizeof err))) {
        fprintf(stderr, "joy: %s\n", err);
        r->status = exit_status_of(e);
        return;
    }
    if (drop_privileges(r) != 0) {
        r->status = 1;
        return;
    }
    bool tty = isatty(2) && r->opt.progress && r->opt.verbosity && r->opt.verbosity <= SEV_WARN &&
               !r->opt.logfile[0];
    r->show_progress = tty && !r->live;
    r->show_status = tty && r->live;
    clock_gettime(CLOCK_MONOTONIC, &r->t0);
    r->last_progress = r->t0;
    r->last_periodic = r->last_flush = r->last_status = r->last_notify = mono_ns();
    /* the writer thread is not started yet: the output is still ours */
    if (r->live && output_tick(r->out, wall_ns()) != 0)
        r->output_failed = true;
    notify(r, "READY=1\nSTATUS=%s %s", r->live ? "capturing on" : "reading",
           r->live ? r->opt.interface : "files");
    active_source = s;
    active_workers = r->workers;
    if (stop_requested)
        workers_stop(r->workers);
    enum source_error werr = workers_run(r->workers);
    if (r->show_status)
        status_line(r, mono_ns(), true);
    if (r->show_progress)
        progress(r, true);
    notify(r, "STOPPING=1\nSTATUS=the open flows were written");
    active_workers = NULL;
    active_source = NULL;
    r->output_failed = workers_output_failed(r->workers);
    if (s) {
        if (source_stats(s, &r->src_stats) == 0 && r->src_stats.kernel)
            print_kernel_stats(&r->src_stats);
        if (source_error(s) > werr)
            werr = source_error(s);
    } else {
        struct workers_stats ws;
        workers_stats(r->workers, &ws);
        for (unsigned i = 0; i < ws.n && ws.n > 1; i++)
            fprintf(stderr, "joy: worker %u: %llu packets received by filter, %llu dropped by "
                    "kernel, %llu read\n", i, (unsigned long long)ws.w[i].kernel_packets,
                    (unsigned long long)ws.w[i].kernel_drops,
                    (unsigned long long)ws.w[i].packets);
        struct source_stats t = {.received = ws.total.kernel_packets,
                                 .dropped = ws.total.kernel_drops};
        print_kernel_stats(&t);
        if (ws.total.gso_frames)
            say(r, SEV_WARN, "%llu frames were longer than the MTU (offloaded super-packets)",
                (unsigned long long)ws.total.gso_frames);
    }
    r->status = exit_status_of(werr);
    if (stop_requested)
        say(r, SEV_INFO, "stopped by a signal; the open flows were written");
}

/* Once the capture and the output are open: run as username= (-Z), or,
 * started unprivileged with capabilities, drop them.  0, or -1. */
static int drop_privileges(struct run *r)
{
    char err[512];
    if (r->drop_user) {
        if (output_chown(r->out, r->user.uid, r->user.gid) != 0)
            say(r, SEV_WARN, "%s: cannot give it to %s: %s", output_name(r->out), r->user.name,
                strerror(errno));
        if (r->opt.logfile[0] && fchown(fileno(stderr), r->user.uid, r->user.gid) != 0)
            say(r, SEV_WARN, "logfile=%s: cannot give it to %s: %s", r->opt.logfile,
                r->user.name, strerror(errno));
        if (privdrop_become(&r->user, err, sizeof err) != 0) {
            say(r, SEV_ERROR, "%s", err);
            return -1;
        }
        say(r, SEV_INFO, "running as %s (uid %u, gid %u), no capabilities", r->user.name,
            (unsigned)r->user.uid, (unsigned)r->user.gid);
    } else if (geteuid() != 0 && privdrop_has_caps()) {
        if (privdrop_caps(err, sizeof err) != 0) {
            say(r, SEV_ERROR, "%s", err);
            return -1;
        }
        say(r, SEV_INFO, "capabilities dropped");
    }
    return 0;
}

/* SIGHUP: the reloadable options of the -x files and the command line
 * (verbosity, progress, flush_interval, rotate, rotate_size, count, keep),
 * the log file reopened; the others need a restart and are named. */
/* SIGHUP: the classifier's model (classify=1 model=FILE) loaded again from
 * cfg; a model that does not load leaves the one in use. */
static void reload_model(struct run *r, const struct joy_config *cfg, struct workers_hangup *h)
{
    char v[8], model[4096], err[1024];
    get_str(r->cfg, "classify", v, sizeof v);
    if (strcmp(v, "1") != 0)
        return;
    get_str(cfg, "model", model, sizeof model);
    struct joy_reload *rl = joy_context_reload(r->ctx, cfg, err, sizeof err);
    if (!rl) {
        say(r, SEV_ERROR, "SIGHUP: the model was not reloaded (%s); the model in use stays",
            err);
        return;
    }
    if (joy_reload_count(rl) == 0) {
        joy_reload_free(rl);
        return;
    }
    if (h) {                     /* every worker takes it at the barrier */
        h->reload = rl;
        h->retire = r->reload;
    } else {
        joy_meter_reload(r->meter, rl);
        joy_reload_free(r->reload);
    }
    r->reload = rl;
    say(r, SEV_INFO, "SIGHUP: model=%s reloaded: records written from now on use it", model);
}

static void reload_config(struct run *r, struct workers_hangup *h)
{
    char notes[8192];
    struct joy_config *cfg = load_config(r->args, notes, sizeof notes);
    if (!cfg) {
        say(r, SEV_WARN, "SIGHUP: the configuration did not load; keeping the current one");
        return;
    }
    static const char *const reloadable[] = {"verbosity", "progress", "flush_interval", "rotate",
                                             "rotate_size", "count", "keep", "logfile", "model"};
    /* every key, from the options.cfg listing */
    char *list = NULL;
    size_t list_len = 0;
    FILE *mem = open_memstream(&list, &list_len);
    if (mem) {
        joy_config_print_defaults(mem);
        fclose(mem);
    }
    for (char *line = list; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        char key[128];
        if (line[0] != '#' && sscanf(line, "%127[a-z0-9_]", key) == 1 &&
            strcmp(key, "interface") != 0) {
            char a[4096], b[4096];
            get_str(r->cfg, key, a, sizeof a);
            get_str(cfg, key, b, sizeof b);
            bool can = false;
            for (size_t i = 0; i < sizeof reloadable / sizeof reloadable[0]; i++)
                can |= strcmp(key, reloadable[i]) == 0;
            if (strcmp(a, b) != 0 && !can)
                say(r, SEV_WARN, "SIGHUP: %s changed (%s -> %s): it takes effect at the next "
                    "start", key, a, b);
        }
        line = nl ? nl + 1 : NULL;
    }
    free(list);
    struct run_opts o;
    memset(&o, 0, sizeof o);
    if (read_run_opts(cfg, &o) == 0) {
        r->opt.verbosity = o.verbosity;
        r->opt.progress = o.progress;
        r->opt.flush_interval = o.flush_interval;
        r->opt.rotate = o.rotate;
        r->opt.rotate_size = o.rotate_size;
        r->opt.count = o.count;
        r->opt.keep = o.keep;
        if (h) {                 /* the writer sets them, after the rotation */
            h->limits = true;
            h->secs = o.rotate;
            h->bytes = o.rotate_size;
            h->records = o.count;
            h->keep = o.keep;
        } else {
            output_set_limits(r->out, o.rotate, o.rotate_size, o.count, o.keep);
        }
        if (strcmp(o.logfile, r->opt.logfile) != 0)
            say(r, SEV_WARN, "SIGHUP: logfile changed: it takes effect at the next start");
        else if (open_log(r) != 0)
            say(r, SEV_WARN, "SIGHUP: keeping the log file open as it was");
    }
    show_notices(r, notes);
    reload_model(r, cfg, h);
    joy_config_free(cfg);
}

static void on_hangup(struct run *r)
{
    notify(r, "RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=rotating the output",
           (unsigned long long)(mono_ns() / 1000));
    if (r->workers) {
        /* the writer rotates once every worker handed over what it made
         * before the signal; then the new limits and the new model */
        struct workers_hangup h = {.rotate = true};
        reload_config(r, &h);
        workers_hangup(r->workers, &h);
    } else {
        const char *was = output_name(r->out);
        char name[4096];
        snprintf(name, sizeof name, "%s", was);
        if (output_rotate(r->out) != 0)
            r->output_failed = true;
        else
            say(r, SEV_INFO, "SIGHUP: %s closed; now writing %s", name, output_name(r->out));
        reload_config(r, NULL);
    }
    r->show_progress = r->show_progress && r->opt.progress;
    r->show_status = r->show_status && r->opt.progress;
    notify(r, "READY=1\nSTATUS=capturing");
}

/* HUP, USR1, USR2 taken here (they are blocked: never delivered by a
 * handler in the middle of something). */
static void poll_control_signals(struct run *r)
{
    static const struct timespec zero = {0, 0};
    int sig;
    while ((sig = sigtimedwait(&r->control, NULL, &zero)) > 0) {
        if (sig == SIGHUP)
            on_hangup(r);
        else
            print_stats(r, sig);
    }
}

/* Every ~100 ms live (and every few thousand packets from files): control
 * signals, time rotation, the flush, the status line, systemd's STATUS. */
static void periodic(struct run *r, uint64_t now)
{
    r->last_periodic = now;
    poll_control_signals(r);
    if (!r->live) {
        if (r->show_progress)
            progress(r, false);
        return;
    }
    if (r->workers)
        workers_tick(r->workers, wall_ns());
    else if (output_tick(r->out, wall_ns()) != 0)
        r->output_failed = true;
    uint64_t every = r->opt.flush_interval * 1000000000ull;
    if (every && now - r->last_flush >= every) {
        r->last_flush = now;
        if (r->workers)
            workers_flush(r->workers);
        else if (output_flush(r->out) != 0)
            r->output_failed = true;
    }
    if (r->show_status && now - r->last_status >= 1000000000ull)
        status_line(r, now, false);
    if (r->notify_fd >= 0 && now - r->last_notify >= 5000000000ull) {
        struct joy_stats st;
        struct source_stats ss = {0};
        meter_stats(r, &st);
        if (r->src)
            source_stats(r->src, &ss);
        r->last_notify = now;
        notify(r, "STATUS=%llu packets, %llu flows open, %llu records, %llu dropped",
               (unsigned long long)st.packets, (unsigned long long)st.flows_open,
               (unsigned long long)st.records, (unsigned long long)(ss.dropped + ss.if_dropped));
    }
}

static void read_packets(struct run *r)
{
    struct joy_source *s = r->src;
    struct source_packet pkt;
    enum source_result res;
    uint64_t n = 0;
    while (!stop_requested && !r->output_failed && (res = source_next(s, &pkt)) != SOURCE_END) {
        if (res == SOURCE_IDLE) {
            joy_meter_advance(r->meter, wall_ns());
            periodic(r, mono_ns());
            continue;
        }
        /* Reading files, the output follows packet time: output_tick()
         * acts only when the second changes (time rotation, a first file
         * named by the time) or on a failed sink, which the next record's
         * write reports as well; so once per second of packet time. */
        if (!r->live && pkt.ts_ns / 1000000000u + 1 != r->tick_sec) {
            r->tick_sec = pkt.ts_ns / 1000000000u + 1;
            if (output_tick(r->out, pkt.ts_ns) != 0) {
                r->output_failed = true;
                break;
            }
        }
        if (n == 0)
            joy_meter_set_time_base(r->meter, pkt.time_base); /* the same for the whole run */
        if (pkt.ts_ns > r->pkt_clock) {
            r->pkt_clock = pkt.ts_ns;
        } else if (r->pkt_clock - pkt.ts_ns > r->opt.inactive_ns) {
            if (!r->epoch_warned)
                epoch_warning(r, r->pkt_clock - pkt.ts_ns);
            r->epoch_warned = true;
            r->pkt_clock = pkt.ts_ns;
        }
        joy_meter_packet(r->meter, pkt.linktype, pkt.data, pkt.caplen, pkt.wirelen, pkt.ts_ns);
        n++;
        if (r->opt.max_packets && n >= r->opt.max_packets) {
            say(r, SEV_INFO, "%llu packets read (-c): stopping", (unsigned long long)n);
            break;
        }
        if (r->live ? mono_ns() - r->last_periodic >= 100000000u : (n & 0xfff) == 0)
            periodic(r, mono_ns());
    }
}

static void run(struct run *r)
{
    if (r->opt.threads > 1 || r->opt.afpacket) {
        run_workers(r);
        return;
    }
    bool tty = isatty(2) && r->opt.progress && r->opt.verbosity && r->opt.verbosity <= SEV_WARN &&
               !r->opt.logfile[0];
    r->show_progress = tty && !r->live;
    r->show_status = tty && r->live;
    clock_gettime(CLOCK_MONOTONIC, &r->t0);
    r->last_progress = r->t0;
    r->last_periodic = r->last_flush = r->last_status = r->last_notify = mono_ns();

    struct joy_source *s = r->src;
    if (source_open(s) == SOURCE_OK) {
        if (drop_privileges(r) != 0) {
            r->status = 1;
            source_close(s);
            r->src = NULL;
            joy_meter_flush(r->meter);
            return;
        }
        notify(r, "READY=1\nSTATUS=%s %s", r->live ? "capturing on" : "reading",
               r->live ? r->opt.interface : "files");
        if (r->live && output_tick(r->out, wall_ns()) != 0)
            r->output_failed = true;
        active_source = s;
        read_packets(r);
        active_source = NULL;
        struct source_stats *st = &r->src_stats;
        if (r->show_status)
            status_line(r, mono_ns(), true);
        if (source_stats(s, st) == 0 && st->kernel)
            print_kernel_stats(st);
    }
    r->status = exit_status_of(source_error(s));
    if (r->show_progress)
        progress(r, true); /* while the source still names its file */
    notify(r, "STOPPING=1\nSTATUS=writing the open flows");
    source_close(s);
    r->src = NULL;

    if (stop_requested)
        say(r, SEV_INFO, "stopped by a signal; writing the open flows");
    joy_meter_flush(r->meter);
    poll_control_signals(r);
}

/* ---------------------------------------------------------------------
 * Step 6: the summary, and the output closed; the exit status
 */
static int report(struct run *r)
{
    char err[1024];
    struct joy_stats stats, *st = &stats;
    if (r->workers)
        workers_meter_stats(r->workers, st);
    else
        joy_meter_get_stats(r->meter, st);
    say(r, SEV_INFO, "%llu packets, %llu records; skipped: %llu not IP, %llu truncated, "
        "%llu malformed, %llu filtered, %llu unsupported link type; %llu later fragments "
        "without their first",
        (unsigned long long)st->packets, (unsigned long long)st->records,
        (unsigned long long)st->not_ip, (unsigned long long)st->truncated,
        (unsigned long long)st->malformed, (unsigned long long)r->src_stats.filtered,
        (unsigned long long)(st->unsupported + r->src_stats.unsupported),
        (unsigned long long)st->frag_unmatched);
    if (st->tcp_reused)
        say(r, SEV_INFO, "%llu records ended where a new TCP connection reused their ports "
            "(expire_type c)", (unsigned long long)st->tcp_reused);
    if (st->clock_epochs)
        say(r, SEV_WARN, "packet time went back by more than inactive_timeout %llu times: "
            "each time the open flows were expired and the clock restarted",
            (unsigned long long)st->clock_epochs);
    if (st->oversized)
        say(r, SEV_WARN, "%llu records exceeded the record size cap and were written with the "
            "core fields only", (unsigned long long)st->oversized);

    uint64_t produced = st->records;
    joy_meter_free(r->meter);
    r->meter = NULL;
    workers_free(r->workers);
    r->workers = NULL;
    int status = r->status;
    output_report(r->out, say_output, r);
    uint64_t written = output_records(r->out);
    if (output_close(r->out, true, err, sizeof err) != 0) {
        fprintf(stderr, "joy: %s\n", err);
        if (produced > written)
            fprintf(stderr, "joy: %llu records were produced; the output could not take %llu "
                    "of them (and lost those after its last complete record)\n",
                    (unsigned long long)produced, (unsigned long long)(produced - written));
        else if (produced)
            fprintf(stderr, "joy: %llu records were produced; those after the output's last "
                    "complete record were lost\n", (unsigned long long)produced);
        status = 1;
    }
    r->out = NULL;
    return status;
}

static void cleanup(struct run *r, struct args *a)
{
    source_close(r->src);
    joy_meter_free(r->meter);
    workers_free(r->workers);
    joy_reload_free(r->reload);
    joy_context_free(r->ctx);
    joy_config_free(r->cfg);
    if (r->notify_fd >= 0)
        close(r->notify_fd);
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
    if (!r) {
        fprintf(stderr, "joy: out of memory\n");
        return 1;
    }
    install_signals(r);
    notify_open(r);
    if (status < 0 && !(status = build_config(r, &a)) &&
        (status = collect_run(r, &a)) < 0 && !(status = pick_source(r, &a)) &&
        !(status = open_output(r, &a))) {
        run(r);
        status = report(r);
    }
    cleanup(r, &a);
    return status;
}
