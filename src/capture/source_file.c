/*
 * source_file.c - the packet source of capture files and directories.
 *
 * Inputs are read in the order given; a directory stands for its regular,
 * non-hidden files in name order (read one level deep).  Whether an input
 * is a directory, and whether a directory entry is a regular file, is
 * decided when it is reached, just before it is read.  Files are read by
 * capfile.c (pcap and pcapng, no libpcap); packets are handed out by
 * pointer into its read buffer, so nothing is copied or allocated per
 * packet.  libpcap serves only to compile and run the BPF filter, one
 * program per link type met (a pcapng file may mix link types).
 *
 * What goes wrong with one input (it cannot be opened, is not a capture
 * file, has an unsupported link type, is damaged midway) is reported as
 * SOURCE_DAMAGED with a message, and reading goes on with the next input.
 */
#include "source.h"

#include "capfile.h"
#include "joy/joy.h"

#include <dirent.h>
#include <errno.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_BPF 16        /* link types with a compiled filter */
#define MAX_WARNED 8      /* unsupported link types named once per file */

struct file_source {
    struct joy_source base;
    char **inputs;
    size_t n_inputs, next_input;
    char *bpf;                    /* NULL: no filter */
    /* the directory being walked: its entries, sorted */
    bool in_dir;
    char **names;
    size_t n_names, next_name;
    /* the file being read */
    struct capfile *cf;
    const char *path;
    int known_lt;                 /* a supported link type, -1 at first: skips a lookup */
    int warned_lt[MAX_WARNED];
    size_t n_warned;
    /* one compiled filter per link type */
    struct {
        int linktype;
        bool ok;
        struct bpf_program prog;
    } prog[MAX_BPF];
    size_t n_prog;
    struct source_stats st;
    /* progress: bytes of every input (0: unknown, a pipe), of the files done */
    uint64_t total, done;
    int64_t time_base;       /* see file_time() */
    bool time_base_set;
    struct cap_bufs bufs;    /* the caller's buffers (get NULL: none) */
};

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

/* The program for a link type, compiled the first time it is met; NULL
 * when it does not compile there (every packet of that type is then
 * filtered out) or when too many link types were met. */
static struct bpf_program *bpf_for(struct file_source *f, int linktype)
{
    for (size_t i = 0; i < f->n_prog; i++)
        if (f->prog[i].linktype == linktype)
            return f->prog[i].ok ? &f->prog[i].prog : NULL;
    if (f->n_prog == MAX_BPF)
        return NULL;
    size_t i = f->n_prog++;
    f->prog[i].linktype = linktype;
    f->prog[i].ok = false;
    pcap_t *dead = pcap_open_dead(dlt_for_linktype(linktype), 262144);
    if (!dead)
        return NULL;
    if (pcap_compile(dead, &f->prog[i].prog, f->bpf, 1, PCAP_NETMASK_UNKNOWN) == 0)
        f->prog[i].ok = true;
    else
        source_log(&f->base, SOURCE_ERROR, "filter '%s' does not compile for link type %d: %s",
                   f->bpf, linktype, pcap_geterr(dead));
    pcap_close(dead);
    return f->prog[i].ok ? &f->prog[i].prog : NULL;
}

/* ---------------------------------------------------------------------
 * Inputs
 */
static void close_file(struct file_source *f)
{
    if (f->cf)
        f->done += capfile_offset(f->cf);
    capfile_close(f->cf);
    f->cf = NULL;
    f->path = NULL;
}

static void end_directory(struct file_source *f)
{
    for (size_t i = 0; i < f->n_names; i++)
        free(f->names[i]);
    free(f->names);
    f->names = NULL;
    f->n_names = f->next_name = 0;
    f->in_dir = false;
}

/* Open one capture file; false (with a message) when it cannot be read. */
static bool open_file(struct file_source *f, const char *path)
{
    char err[512];
    struct capfile *cf = capfile_open(path, err, sizeof err);
    if (!cf) {
        source_fail(&f->base, SOURCE_DAMAGED, "%s; skipped", err);
        return false;
    }
    if (!capfile_is_pcapng(cf) && !joy_linktype_supported(capfile_linktype(cf))) {
        source_fail(&f->base, SOURCE_DAMAGED,
                    "%s: link type %d (%s) is not supported; file skipped", path,
                    capfile_linktype(cf), joy_linktype_name(capfile_linktype(cf)));
        capfile_close(cf);
        return false;
    }
    capfile_set_stop_flag(cf, &f->base.stop);
    if (f->bufs.get)
        capfile_set_bufs(cf, &f->bufs);
    source_log(&f->base, SOURCE_INFO, "reading %s", path);
    f->cf = cf;
    f->path = path;
    f->n_warned = 0;
    return true;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* List a directory's non-hidden entries, sorted, to be walked. */
static void start_directory(struct file_source *f, const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) {
        source_fail(&f->base, SOURCE_DAMAGED, "%s: cannot open directory: %s", dir,
                    strerror(errno));
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
    if (n)
        qsort(names, n, sizeof *names, name_cmp);
    f->in_dir = true;
    f->names = names;
    f->n_names = n;
    f->next_name = 0;
}

/* Open the next readable file of the inputs; false when none is left. */
static __attribute__((noinline)) bool open_next_file(struct file_source *f)
{
    for (;;) {
        if (f->base.stop)
            return false;
        if (f->in_dir) {
            if (f->next_name == f->n_names) {
                end_directory(f);
                continue;
            }
            const char *path = f->names[f->next_name++];
            struct stat st;
            if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && open_file(f, path))
                return true;
            continue;
        }
        if (f->next_input == f->n_inputs)
            return false;
        const char *in = f->inputs[f->next_input++];
        struct stat st;
        if (strcmp(in, "-") != 0 && stat(in, &st) == 0 && S_ISDIR(st.st_mode))
            start_directory(f, in);
        else if (open_file(f, in))
            return true;
    }
}

/* A packet of a link type joy does not decode: name the type once per file. */
static void unsupported(struct file_source *f, const struct cap_packet *cp)
{
    f->st.unsupported++;
    for (size_t i = 0; i < f->n_warned; i++)
        if (f->warned_lt[i] == cp->linktype)
            return;
    source_fail(&f->base, SOURCE_DAMAGED,
                "%s: interface %u has link type %d (%s), which is not supported; its packets "
                "are skipped", f->path, cp->interface, cp->linktype,
                joy_linktype_name(cp->linktype));
    if (f->n_warned < MAX_WARNED)
        f->warned_lt[f->n_warned++] = cp->linktype;
}

/* ---------------------------------------------------------------------
 * Operations
 */
static enum source_error file_open(struct joy_source *s)
{
    return s->error;
}

/* Out of the hot path: a link type not met before, and the filter. */
static __attribute__((noinline)) bool keep(struct file_source *f, const struct cap_packet *cp)
{
    if (cp->linktype != f->known_lt) {
        if (!joy_linktype_supported(cp->linktype)) {
            unsupported(f, cp);
            return false;
        }
        f->known_lt = cp->linktype;
    }
    if (f->bpf) {
        struct bpf_program *prog = bpf_for(f, cp->linktype);
        struct pcap_pkthdr h = {.caplen = cp->caplen, .len = cp->wirelen};
        if (!prog || !pcap_offline_filter(prog, &h, cp->data)) {
            f->st.filtered++;
            return false;
        }
    }
    return true;
}

/* The end of a file: damage is reported unless reading was stopped. */
static __attribute__((noinline)) void end_file(struct file_source *f, enum cap_status st)
{
    if (!f->base.stop && st == CAP_DAMAGED)
        source_fail(&f->base, SOURCE_DAMAGED,
                    "%s: damaged at byte offset %llu: %s; the flows read so far are kept",
                    f->path, (unsigned long long)capfile_error_offset(f->cf),
                    capfile_error(f->cf));
    close_file(f);
}

/*
 * The packet's time as ns since the run's time base.  Times are 64-bit
 * ns inside joy (the meter's clock), which spans 584 years; the base is
 * chosen at the run's first packet: 0 (the epoch) when that packet is
 * between 1970 and 2514, else its time minus 2^33 s (272 years) rounded
 * down to a day, so the run may span 272 years before it and 312 after.
 * A time outside that span is held at its edge.  The records add the base
 * back (joy_meter_set_time_base), so every time prints exactly.
 */
#define BASE_FREE (INT64_C(1) << 34) /* 2514-05-30: below it, the base is 0 */
#define BASE_BACK (INT64_C(1) << 33)

static uint64_t file_time(struct file_source *f, const struct cap_packet *cp)
{
    if (!f->time_base_set) {
        f->time_base_set = true;
        if (cp->sec < 0 || cp->sec >= BASE_FREE) {
            int64_t b = cp->sec - BASE_BACK; /* |sec| <= 2^62: no overflow */
            int64_t r = b % 86400;
            f->time_base = b - (r < 0 ? r + 86400 : r);
        }
    }
    int64_t d = cp->sec - f->time_base;
    if (d < 0)
        return 0;
    if ((uint64_t)d >= UINT64_MAX / 1000000000u)
        return UINT64_MAX / 1000000000u * 1000000000u - 1;
    return (uint64_t)d * 1000000000u + cp->nsec;
}

static enum source_result file_next(struct joy_source *s, struct source_packet *pkt)
{
    struct file_source *f = (struct file_source *)s;
    struct cap_packet cp;
    for (;;) {
        if (f->cf && !s->stop) {
            enum cap_status st = capfile_next(f->cf, &cp);
            if (st == CAP_PACKET) {
                f->st.received++;
                if ((cp.linktype == f->known_lt && !f->bpf) || keep(f, &cp)) {
                    pkt->data = cp.data;
                    pkt->buf = cp.buf;
                    pkt->caplen = cp.caplen;
                    pkt->wirelen = cp.wirelen;
                    pkt->ts_ns = file_time(f, &cp);
                    pkt->time_base = f->time_base;
                    pkt->linktype = cp.linktype;
                    f->st.delivered++;
                    return SOURCE_PACKET;
                }
                continue;
            }
            end_file(f, st);
        }
        if (!open_next_file(f))   /* false at once when stopped */
            return SOURCE_END;
    }
}

static int file_stats(struct joy_source *s, struct source_stats *st)
{
    *st = ((struct file_source *)s)->st;
    return 0;
}

static void file_close(struct joy_source *s)
{
    struct file_source *f = (struct file_source *)s;
    if (f->cf)
        close_file(f);
    end_directory(f);
    for (size_t i = 0; i < f->n_prog; i++)
        if (f->prog[i].ok)
            pcap_freecode(&f->prog[i].prog);
    for (size_t i = 0; i < f->n_inputs; i++)
        free(f->inputs[i]);
    free(f->inputs);
    free(f->bpf);
    free(f);
}

static const struct joy_source_ops file_ops = {
    .name = "file",
    .open = file_open,
    .next = file_next,
    .stats = file_stats,
    .breakloop = source_breakloop_flag,
    .close = file_close,
};

/* Check the filter now (against Ethernet), so a typo is a usage error
 * before anything is read. */
static bool filter_compiles(const char *bpf, char *err, size_t errlen)
{
    pcap_t *dead = pcap_open_dead(1, 262144);
    if (!dead)
        return true;
    struct bpf_program prog;
    bool ok = pcap_compile(dead, &prog, bpf, 1, PCAP_NETMASK_UNKNOWN) == 0;
    if (ok)
        pcap_freecode(&prog);
    else
        snprintf(err, errlen, "filter '%s': %s", bpf, pcap_geterr(dead));
    pcap_close(dead);
    return ok;
}

/* Bytes of an input for the progress line: a file's size, the sum of a
 * directory's regular files; 0 for standard input and pipes. */
static uint64_t input_bytes(const char *in)
{
    struct stat st;
    if (strcmp(in, "-") == 0 || stat(in, &st) != 0)
        return 0;
    if (S_ISREG(st.st_mode))
        return (uint64_t)st.st_size;
    if (!S_ISDIR(st.st_mode))
        return 0;
    uint64_t sum = 0;
    DIR *d = opendir(in);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", in, e->d_name);
        if (e->d_name[0] != '.' && stat(path, &st) == 0 && S_ISREG(st.st_mode))
            sum += (uint64_t)st.st_size;
    }
    if (d)
        closedir(d);
    return sum;
}

int source_file_set_bufs(struct joy_source *s, const struct source_bufs *bufs)
{
    if (s->ops != &file_ops)
        return -1;
    struct file_source *f = (struct file_source *)s;
    if (bufs && bufs->get)
        f->bufs = (struct cap_bufs){bufs->get, bufs->put, bufs->user};
    else
        f->bufs.get = NULL;
    if (f->cf)
        capfile_set_bufs(f->cf, f->bufs.get ? &f->bufs : NULL);
    return 0;
}

int source_file_progress(struct joy_source *s, const char **name, uint64_t *done, uint64_t *total)
{
    if (s->ops != &file_ops)
        return -1;
    struct file_source *f = (struct file_source *)s;
    *name = f->path;
    *done = f->done + (f->cf ? capfile_offset(f->cf) : 0);
    *total = f->total;
    return 0;
}

struct joy_source *source_file_new(const struct source_file_opts *o, enum source_error *error,
                                   char *err, size_t errlen)
{
    *error = SOURCE_FATAL;
    bool filter = o->bpf && o->bpf[0];
    if (filter && !filter_compiles(o->bpf, err, errlen)) {
        *error = SOURCE_CONFIG;
        return NULL;
    }
    struct file_source *f = calloc(1, sizeof *f);
    if (!f || !(f->inputs = calloc(o->n_inputs + 1, sizeof *f->inputs)) ||
        (filter && !(f->bpf = strdup(o->bpf)))) {
        if (f) {
            free(f->inputs);
            free(f);
        }
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    source_init(&f->base, &file_ops, o->log, o->log_user);
    f->known_lt = -1;
    for (size_t i = 0; i < o->n_inputs; i++) {
        if (!(f->inputs[i] = strdup(o->inputs[i]))) {
            file_close(&f->base);
            snprintf(err, errlen, "out of memory");
            return NULL;
        }
        f->n_inputs++;
        f->total += input_bytes(o->inputs[i]);
    }
    *error = SOURCE_OK;
    return &f->base;
}
