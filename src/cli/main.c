/*
 * main.c - the joy command: options, inputs, live capture, signals.
 *
 * The metering itself is in meter.c; this file turns the command line
 * into a configuration, feeds packets from capture files (capfile.c) or a
 * live interface (libpcap) to a meter, and sends the records to an output
 * (output.c).
 *
 * Exit status: 0 success; 1 an input could not be fully read (damaged,
 * unreadable, unsupported) or the output failed - every flow seen is still
 * written; 2 a usage or configuration error (nothing was read).
 */
#include "joy/joy.h"

#include "capfile.h"
#include "output.h"

#include <dirent.h>
#include <errno.h>
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
static pcap_t *volatile live_handle;

enum severity { SEV_DEBUG = 1, SEV_INFO = 2, SEV_WARN = 3, SEV_ERROR = 4 };

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
    int status;                   /* exit status so far */
    bool output_failed;
    /* BPF programs for files, one per link type met */
    struct {
        int linktype;
        bool ok;
        struct bpf_program prog;
    } bpf[16];
    size_t n_bpf;
    uint64_t filtered;            /* packets rejected by the BPF filter */
    uint64_t unsupported_pkts;
    /* progress */
    bool show_progress;
    struct timespec t0, last_progress;
    uint64_t progress_bytes;
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
    pcap_t *p = live_handle;
    if (p)
        pcap_breakloop(p);
}

static void install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: pcap_breakloop needs interrupted reads */
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
}

/* ---------------------------------------------------------------------
 * Output
 */
static void write_out(struct run *r, const char *text, size_t len)
{
    if (output_write(r->out, text, len) != 0)
        r->output_failed = true;
}

static void on_record(void *user, const struct joy_record *rec)
{
    write_out(user, rec->json, rec->len);
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
    write_out(r, buf, (size_t)n);
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
 * BPF on capture files: one compiled program per link type
 */
static int dlt_for_linktype(int lt)
{
    switch (lt) {
    case 101: return 12;  /* LINKTYPE_RAW -> DLT_RAW */
    default: return lt;
    }
}

static struct bpf_program *bpf_for(struct run *r, int linktype)
{
    for (size_t i = 0; i < r->n_bpf; i++)
        if (r->bpf[i].linktype == linktype)
            return r->bpf[i].ok ? &r->bpf[i].prog : NULL;
    if (r->n_bpf == sizeof r->bpf / sizeof r->bpf[0])
        return NULL;
    size_t i = r->n_bpf++;
    r->bpf[i].linktype = linktype;
    r->bpf[i].ok = false;
    pcap_t *dead = pcap_open_dead(dlt_for_linktype(linktype), 262144);
    if (!dead)
        return NULL;
    if (pcap_compile(dead, &r->bpf[i].prog, r->opt.bpf, 1, PCAP_NETMASK_UNKNOWN) == 0)
        r->bpf[i].ok = true;
    else
        say(r, SEV_ERROR, "filter '%s' does not compile for link type %d: %s", r->opt.bpf,
            linktype, pcap_geterr(dead));
    pcap_close(dead);
    return r->bpf[i].ok ? &r->bpf[i].prog : NULL;
}

/* ---------------------------------------------------------------------
 * Capture files
 */
static void read_capture(struct run *r, const char *path)
{
    char err[512];
    struct capfile *cf = capfile_open(path, err, sizeof err);
    if (!cf) {
        say(r, SEV_ERROR, "%s; skipped", err);
        r->status = 1;
        return;
    }
    if (!capfile_is_pcapng(cf) && !joy_linktype_supported(capfile_linktype(cf))) {
        say(r, SEV_ERROR, "%s: link type %d (%s) is not supported; file skipped", path,
            capfile_linktype(cf), joy_linktype_name(capfile_linktype(cf)));
        capfile_close(cf);
        r->status = 1;
        return;
    }
    capfile_set_stop_flag(cf, &stop_requested);
    say(r, SEV_INFO, "reading %s", path);
    int warned_lt[8];
    size_t n_warned = 0;
    struct cap_packet cp;
    enum cap_status st = CAP_EOF;
    uint64_t n = 0;
    while (!stop_requested && !r->output_failed && (st = capfile_next(cf, &cp)) == CAP_PACKET) {
        if (!joy_linktype_supported(cp.linktype)) {
            bool seen = false;
            for (size_t i = 0; i < n_warned; i++)
                seen |= warned_lt[i] == cp.linktype;
            if (!seen) {
                say(r, SEV_ERROR, "%s: interface %u has link type %d (%s), which is not "
                    "supported; its packets are skipped", path, cp.interface, cp.linktype,
                    joy_linktype_name(cp.linktype));
                if (n_warned < 8)
                    warned_lt[n_warned++] = cp.linktype;
                r->status = 1;
            }
            r->unsupported_pkts++;
            continue;
        }
        if (r->opt.bpf[0]) {
            struct bpf_program *prog = bpf_for(r, cp.linktype);
            struct pcap_pkthdr h = {.caplen = cp.caplen, .len = cp.wirelen};
            if (!prog || !pcap_offline_filter(prog, &h, cp.data)) {
                r->filtered++;
                continue;
            }
        }
        joy_meter_packet(r->meter, cp.linktype, cp.data, cp.caplen, cp.wirelen, cp.ts);
        if (r->show_progress && (++n & 0xffff) == 0)
            progress(r, false);
    }
    if (!stop_requested && !r->output_failed && st == CAP_DAMAGED) {
        say(r, SEV_ERROR, "%s: damaged at byte offset %llu: %s; the flows read so far are kept",
            path, (unsigned long long)capfile_error_offset(cf), capfile_error(cf));
        r->status = 1;
    }
    capfile_close(cf);
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every regular, non-hidden file of a directory, in name order. */
static void read_directory(struct run *r, const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) {
        say(r, SEV_ERROR, "%s: cannot open directory: %s", dir, strerror(errno));
        r->status = 1;
        return;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            char **nn = realloc(names, cap * sizeof *nn);
            if (!nn)
                break;
            names = nn;
        }
        size_t len = strlen(dir) + strlen(e->d_name) + 2;
        if (!(names[n] = malloc(len)))
            break;
        snprintf(names[n], len, "%s/%s", dir, e->d_name);
        n++;
    }
    closedir(d);
    qsort(names, n, sizeof *names, name_cmp);
    for (size_t i = 0; i < n; i++) {
        struct stat st;
        if (!stop_requested && stat(names[i], &st) == 0 && S_ISREG(st.st_mode))
            read_capture(r, names[i]);
        free(names[i]);
    }
    free(names);
}

static void read_input(struct run *r, const char *path)
{
    struct stat st;
    if (strcmp(path, "-") != 0 && stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        read_directory(r, path);
    else
        read_capture(r, path);
}

/* ---------------------------------------------------------------------
 * Live capture
 */
struct live_ctx {
    struct run *r;
    int dlt;
    bool nano;
};

static void live_packet(u_char *user, const struct pcap_pkthdr *h, const u_char *bytes)
{
    struct live_ctx *lc = (struct live_ctx *)user;
    uint64_t ts = (uint64_t)h->ts.tv_sec * 1000000000u +
                  (uint64_t)h->ts.tv_usec * (lc->nano ? 1u : 1000u);
    joy_meter_packet(lc->r->meter, lc->dlt, bytes, h->caplen, h->len, ts);
}

static uint64_t wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int capture_live(struct run *r)
{
    char errbuf[PCAP_ERRBUF_SIZE] = "";
    pcap_t *p = pcap_create(r->opt.interface, errbuf);
    if (!p) {
        say(r, SEV_ERROR, "%s: %s", r->opt.interface, errbuf);
        return 1;
    }
    pcap_set_snaplen(p, (int)r->opt.snaplen);
    pcap_set_promisc(p, r->opt.promisc);
    pcap_set_timeout(p, 100);
    pcap_set_buffer_size(p, 32 << 20);
    pcap_set_tstamp_precision(p, PCAP_TSTAMP_PRECISION_NANO);
    int rc = pcap_activate(p);
    if (rc < 0) {
        say(r, SEV_ERROR, "%s: cannot capture: %s", r->opt.interface,
            rc == PCAP_ERROR ? pcap_geterr(p) : pcap_statustostr(rc));
        pcap_close(p);
        return 1;
    }
    if (rc > 0)
        say(r, SEV_WARN, "%s: %s", r->opt.interface, pcap_statustostr(rc));
    struct live_ctx lc = {r, pcap_datalink(p),
                          pcap_get_tstamp_precision(p) == PCAP_TSTAMP_PRECISION_NANO};
    if (!joy_linktype_supported(lc.dlt)) {
        say(r, SEV_ERROR, "%s: link type %d (%s) is not supported", r->opt.interface, lc.dlt,
            joy_linktype_name(lc.dlt));
        pcap_close(p);
        return 1;
    }
    if (r->opt.bpf[0]) {
        struct bpf_program prog;
        if (pcap_compile(p, &prog, r->opt.bpf, 1, PCAP_NETMASK_UNKNOWN) != 0 ||
            pcap_setfilter(p, &prog) != 0) {
            say(r, SEV_ERROR, "filter '%s': %s", r->opt.bpf, pcap_geterr(p));
            pcap_close(p);
            return 2;
        }
        pcap_freecode(&prog);
    }
    say(r, SEV_INFO, "capturing on %s (link type %s)", r->opt.interface, joy_linktype_name(lc.dlt));
    live_handle = p;
    int status = 0;
    while (!stop_requested && !r->output_failed) {
        int n = pcap_dispatch(p, -1, live_packet, (u_char *)&lc);
        if (n == PCAP_ERROR) {
            say(r, SEV_ERROR, "%s: %s", r->opt.interface, pcap_geterr(p));
            status = 1;
            break;
        }
        joy_meter_advance(r->meter, wall_ns());
    }
    live_handle = NULL;
    struct pcap_stat ps;
    if (pcap_stats(p, &ps) == 0)
        fprintf(stderr, "joy: %u packets received by filter, %u dropped by kernel, "
                "%u dropped by interface\n", ps.ps_recv, ps.ps_drop, ps.ps_ifdrop);
    pcap_close(p);
    return status;
}

/* ---------------------------------------------------------------------
 * Command line
 */
struct setting {
    const char *key, *value;
};

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

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {"xconfig", required_argument, NULL, 'x'},
        {"options-cfg", no_argument, NULL, 'O'},
        {NULL, 0, NULL, 0},
    };
    char err[1024];
    struct run *r = calloc(1, sizeof *r);
    char **inputs = calloc((size_t)argc + 1, sizeof *inputs);
    char **xfiles = calloc((size_t)argc + 1, sizeof *xfiles);
    struct setting *set = calloc((size_t)argc * 2 + 1, sizeof *set);
    if (!r || !inputs || !xfiles || !set) {
        fprintf(stderr, "joy: out of memory\n");
        return 1;
    }
    int status = 0;
    size_t n_inputs = 0, n_x = 0, n_set = 0;
    int verbose = 0, quiet = 0;
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "-r:w:i:f:x:vqhV", longopts, NULL)) != -1) {
        switch (c) {
        case 1:
            if (looks_like_option(optarg)) {
                char *eq = strchr(optarg, '=');
                *eq = '\0';
                set[n_set++] = (struct setting){optarg, eq + 1};
            } else {
                inputs[n_inputs++] = optarg;
            }
            break;
        case 'r': inputs[n_inputs++] = optarg; break;
        case 'w': set[n_set++] = (struct setting){"output", optarg}; break;
        case 'i': set[n_set++] = (struct setting){"interface", optarg}; break;
        case 'f': set[n_set++] = (struct setting){"bpf", optarg}; break;
        case 'x': xfiles[n_x++] = optarg; break;
        case 'v': verbose++; break;
        case 'q': quiet = 1; break;
        case 'h': usage(stdout); status = 0; goto done;
        case 'V': version(); status = 0; goto done;
        case 'O': joy_config_print_defaults(stdout); status = 0; goto done;
        case '?':
        default:
            if (optopt && strchr("rwifx", optopt))
                fprintf(stderr, "joy: option -%c needs an argument (see joy -h)\n", optopt);
            else if (optopt)
                fprintf(stderr, "joy: unknown option -%c (see joy -h)\n", optopt);
            else
                fprintf(stderr, "joy: unknown option %s (see joy -h)\n", argv[optind - 1]);
            status = 2;
            goto done;
        }
    }

    if (!(r->cfg = joy_config_new(err, sizeof err))) {
        fprintf(stderr, "joy: %s\n", err);
        status = 2;
        goto done;
    }
    for (size_t i = 0; i < n_x; i++) {
        if (joy_config_load_file(r->cfg, xfiles[i], err, sizeof err) != JOY_OK) {
            fprintf(stderr, "joy: %s\n", err);
            status = 2;
            goto done;
        }
    }
    for (size_t i = 0; i < n_set; i++) {
        if (joy_config_set(r->cfg, set[i].key, set[i].value, "command line", err, sizeof err) !=
            JOY_OK) {
            fprintf(stderr, "joy: %s\n", err);
            status = 2;
            goto done;
        }
    }
    if (quiet || verbose) {
        char v[2] = {(char)('0' + (quiet ? SEV_ERROR : verbose >= 2 ? SEV_DEBUG : SEV_INFO)), 0};
        joy_config_set(r->cfg, "verbosity", v, "command line", err, sizeof err);
    }
    if (read_run_opts(r->cfg, &r->opt) != 0) {
        status = 2;
        goto done;
    }

    if (r->opt.interface[0] && n_inputs) {
        fprintf(stderr, "joy: give either capture files or an interface (-i), not both\n");
        status = 2;
        goto done;
    }
    if (!r->opt.interface[0] && n_inputs == 0) {
        fprintf(stderr, "joy: no input: give a capture file (-r FILE, '-' for standard input), "
                "a directory, or an interface (-i IFACE); see joy -h\n");
        status = 2;
        goto done;
    }
    if (r->opt.bpf[0] && !r->opt.interface[0]) {
        /* check the filter now, so a typo is a usage error */
        pcap_t *dead = pcap_open_dead(1, 262144);
        struct bpf_program prog;
        if (dead && pcap_compile(dead, &prog, r->opt.bpf, 1, PCAP_NETMASK_UNKNOWN) != 0) {
            fprintf(stderr, "joy: filter '%s': %s\n", r->opt.bpf, pcap_geterr(dead));
            pcap_close(dead);
            status = 2;
            goto done;
        }
        if (dead) {
            pcap_freecode(&prog);
            pcap_close(dead);
        }
    }

    r->out = output_open(r->opt.output[0] ? r->opt.output : NULL, (int)r->opt.gzip_level, err,
                         sizeof err);
    if (!r->out) {
        fprintf(stderr, "joy: %s\n", err);
        status = 1;
        goto done;
    }
    if (!(r->ctx = joy_context_new(r->cfg, err, sizeof err)) ||
        !(r->meter = joy_meter_new(r->ctx, on_record, r, err, sizeof err))) {
        fprintf(stderr, "joy: %s\n", err);
        output_close(r->out, false, err, sizeof err);
        r->out = NULL;
        status = 2;
        goto done;
    }
    install_signals();
    char *iface = r->opt.interface;
    if (write_metadata(r, iface[0] ? &iface : inputs, iface[0] ? 1 : n_inputs) != 0) {
        output_close(r->out, false, err, sizeof err);
        r->out = NULL;
        status = 1;
        goto done;
    }

    r->show_progress = r->opt.progress && isatty(2) && !iface[0] && r->opt.verbosity &&
                       r->opt.verbosity <= SEV_WARN;
    clock_gettime(CLOCK_MONOTONIC, &r->t0);
    r->last_progress = r->t0;

    if (iface[0]) {
        int st = capture_live(r);
        if (st)
            r->status = st;
    } else {
        for (size_t i = 0; i < n_inputs && !stop_requested && !r->output_failed; i++)
            read_input(r, inputs[i]);
    }
    if (stop_requested)
        say(r, SEV_INFO, "stopped by a signal; writing the open flows");
    joy_meter_flush(r->meter);
    if (r->show_progress)
        progress(r, true);

    struct joy_stats stats, *st = &stats;
    joy_meter_get_stats(r->meter, st);
    say(r, SEV_INFO, "%llu packets, %llu records; skipped: %llu not IP, %llu truncated, "
        "%llu malformed, %llu filtered, %llu unsupported link type; %llu later fragments "
        "without their first",
        (unsigned long long)st->packets, (unsigned long long)st->records,
        (unsigned long long)st->not_ip, (unsigned long long)st->truncated,
        (unsigned long long)st->malformed, (unsigned long long)r->filtered,
        (unsigned long long)(st->unsupported + r->unsupported_pkts),
        (unsigned long long)st->frag_unmatched);
    if (st->oversized)
        say(r, SEV_WARN, "%llu records exceeded the record size cap and were written with the "
            "core fields only", (unsigned long long)st->oversized);

    joy_meter_free(r->meter);
    r->meter = NULL;
    if (output_close(r->out, true, err, sizeof err) != 0) {
        fprintf(stderr, "joy: %s\n", err);
        r->status = 1;
    }
    for (size_t i = 0; i < r->n_bpf; i++)
        if (r->bpf[i].ok)
            pcap_freecode(&r->bpf[i].prog);
    status = r->status;
done:
    joy_meter_free(r->meter);
    joy_context_free(r->ctx);
    joy_config_free(r->cfg);
    free(r);
    free(inputs);
    free(xfiles);
    free(set);
    return status;
}
