/*
 * api_threads.c - libjoy with several meters on one context, one per thread.
 *
 *   api_threads [-t N] FILE [key=value...]
 *
 * Every thread opens FILE itself (libpcap, nanosecond timestamps) and reads
 * every packet; it gives a packet to its own meter when the packet's
 * joy_flow_hash(JOY_HASH_ADDRS) % N is its number, and otherwise moves its
 * meter's clock with joy_meter_advance(), so every meter's clock moves as a
 * single meter's would.  Frames that are not IP (no hash) go to meter 0
 * only, as they move no meter's clock.  The records are printed under a
 * mutex, without the metadata line: as a multiset, they are the records of
 * `joy -w - FILE [key=value...]`.
 *
 * N: -t N, else the environment variable JOY_API_THREADS, else 2 (1..64).
 * Exit status: 0, 1 on any API or libpcap error, 2 on a usage error.
 * Built by test/test_api.py against the installed library, and by
 * `make tsan` with ThreadSanitizer.
 */
#include <joy/joy.h>

#include <pcap/pcap.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_THREADS 64

static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;
static const char *path;
static unsigned n_threads = 2;

struct worker {
    pthread_t thread;
    const struct joy_context *ctx;
    unsigned id;
    int status;
    uint64_t packets_read, records;
    struct joy_stats stats;
};

static void on_record(void *user, const struct joy_record *rec)
{
    struct worker *w = user;
    w->records++;
    pthread_mutex_lock(&out_lock);
    fwrite(rec->json, 1, rec->len, stdout);
    pthread_mutex_unlock(&out_lock);
}

static void *work(void *arg)
{
    struct worker *w = arg;
    char err[PCAP_ERRBUF_SIZE + 512];
    struct joy_meter *m = joy_meter_new(w->ctx, on_record, w, err, sizeof err);
    if (!m) {
        fprintf(stderr, "api_threads: joy_meter_new: %s\n", err);
        w->status = 1;
        return NULL;
    }
    pcap_t *p = pcap_open_offline_with_tstamp_precision(path, PCAP_TSTAMP_PRECISION_NANO, err);
    if (!p) {
        fprintf(stderr, "api_threads: %s\n", err);
        joy_meter_free(m);
        w->status = 1;
        return NULL;
    }
    int linktype = pcap_datalink(p);
    struct pcap_pkthdr *h;
    const u_char *data;
    int rc;
    while ((rc = pcap_next_ex(p, &h, &data)) == 1) {
        /* opened with nanosecond precision: tv_usec holds nanoseconds */
        uint64_t ts = (uint64_t)h->ts.tv_sec * 1000000000u + (uint64_t)h->ts.tv_usec;
        uint32_t hash;
        int hrc = joy_flow_hash(linktype, data, h->caplen, h->len, JOY_HASH_ADDRS, &hash);
        if (hrc != JOY_OK && hrc != JOY_ERR_NOT_IP) {
            fprintf(stderr, "api_threads: joy_flow_hash: %s\n", joy_strerror(hrc));
            w->status = 1;
            break;
        }
        w->packets_read++;
        if (hash % n_threads == w->id) /* not IP: hash 0, meter 0 */
            joy_meter_packet(m, linktype, data, h->caplen, h->len, ts);
        else if (hrc == JOY_OK)
            joy_meter_advance(m, ts);
    }
    if (rc == PCAP_ERROR) {
        fprintf(stderr, "api_threads: %s: %s\n", path, pcap_geterr(p));
        w->status = 1;
    }
    pcap_close(p);
    joy_meter_flush(m);
    joy_meter_get_stats(m, &w->stats);
    joy_meter_free(m);
    return NULL;
}

static int usage(void)
{
    fprintf(stderr, "usage: api_threads [-t N] FILE [key=value...]\n");
    return 2;
}

int main(int argc, char **argv)
{
    int a = 1;
    const char *nt = getenv("JOY_API_THREADS");
    if (a + 1 < argc && strcmp(argv[a], "-t") == 0) {
        nt = argv[a + 1];
        a += 2;
    }
    if (nt && *nt) {
        char *end;
        unsigned long n = strtoul(nt, &end, 10);
        if (*end || n < 1 || n > MAX_THREADS)
            return usage();
        n_threads = (unsigned)n;
    }
    if (a >= argc)
        return usage();
    path = argv[a++];

    char err[1024];
    struct joy_config *cfg = joy_config_new(err, sizeof err);
    if (!cfg) {
        fprintf(stderr, "api_threads: %s\n", err);
        return 1;
    }
    if (joy_config_set(cfg, "output", "-", "command line", err, sizeof err) != JOY_OK) {
        fprintf(stderr, "api_threads: %s\n", err);
        joy_config_free(cfg);
        return 1;
    }
    for (; a < argc; a++) {
        char *eq = strchr(argv[a], '=');
        if (!eq) {
            joy_config_free(cfg);
            return usage();
        }
        *eq = '\0';
        if (joy_config_set(cfg, argv[a], eq + 1, "command line", err, sizeof err) != JOY_OK) {
            fprintf(stderr, "api_threads: %s\n", err);
            joy_config_free(cfg);
            return 2;
        }
    }
    struct joy_context *ctx = joy_context_new(cfg, err, sizeof err);
    joy_config_free(cfg);
    if (!ctx) {
        fprintf(stderr, "api_threads: %s\n", err);
        return 1;
    }

    static struct worker w[MAX_THREADS];
    unsigned started = 0;
    int status = 0;
    for (unsigned i = 0; i < n_threads; i++) {
        w[i] = (struct worker){.ctx = ctx, .id = i};
        if (pthread_create(&w[i].thread, NULL, work, &w[i]) != 0) {
            fprintf(stderr, "api_threads: cannot start thread %u\n", i);
            status = 1;
            break;
        }
        started++;
    }
    uint64_t packets = 0;
    for (unsigned i = 0; i < started; i++) {
        pthread_join(w[i].thread, NULL);
        status |= w[i].status;
        packets += w[i].stats.packets;
        if (w[i].stats.records != w[i].records) {
            fprintf(stderr, "api_threads: meter %u: stats say %llu records, the callback saw %llu\n",
                    i, (unsigned long long)w[i].stats.records, (unsigned long long)w[i].records);
            status = 1;
        }
        if (w[i].stats.flows_open != 0) {
            fprintf(stderr, "api_threads: meter %u: flows left open after the flush\n", i);
            status = 1;
        }
    }
    /* every packet went to exactly one meter */
    if (!status && started == n_threads && packets != w[0].packets_read) {
        fprintf(stderr, "api_threads: the meters counted %llu packets, the file has %llu\n",
                (unsigned long long)packets, (unsigned long long)w[0].packets_read);
        status = 1;
    }
    joy_context_free(ctx);
    if (fflush(stdout) != 0)
        status = 1;
    return status;
}
