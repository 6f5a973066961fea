/*
 * kafka_floor.c - the least CPU librdkafka needs to send joy's records as
 * issue 15 asks (one message per record, key = the record's community_id),
 * whoever calls it: the records are read into memory and their keys found
 * first, untimed; then only the produce loop, the delivery reports and the
 * final flush are timed (getrusage of the whole process: the calling thread
 * and librdkafka's threads).  bench/export.py prints joy's own cost beside
 * it; bench/NOTES.md compares the two.
 *
 *   kafka_floor BOOTSTRAP TOPIC RECORDS.json [PROPERTY=VALUE ...]
 *
 * The producer settings are joy's (src/output/sink_kafka.c): acks=all,
 * idempotence, zstd level 1, linger.ms=20; PROPERTY=VALUE arguments
 * override them (e.g. compression.codec=none).  Prints one line: messages,
 * delivered, failed, CPU seconds (user, sys).
 *
 * Build: cc -O2 -o kafka_floor bench/kafka_floor.c -lrdkafka
 */
#define _GNU_SOURCE
#include <librdkafka/rdkafka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

static long delivered, failed;

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    (void)opaque;
    if (m->err)
        failed++;
    else
        delivered++;
}

static double secs(struct timeval tv) { return (double)tv.tv_sec + (double)tv.tv_usec / 1e6; }

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: kafka_floor BOOTSTRAP TOPIC RECORDS.json [PROPERTY=VALUE ...]\n");
        return 2;
    }
    FILE *f = fopen(argv[3], "r");
    if (!f) {
        perror(argv[3]);
        return 1;
    }
    /* the records and their keys, before anything is timed */
    size_t n = 0, cap = 0;
    char **line = NULL;
    size_t *len = NULL;
    const char **key = NULL;
    size_t *klen = NULL;
    char *buf = NULL;
    size_t bcap = 0;
    ssize_t k;
    while ((k = getline(&buf, &bcap, f)) > 0) {
        if (n == cap) {
            cap = cap ? 2 * cap : 65536;
            line = realloc(line, cap * sizeof *line);
            len = realloc(len, cap * sizeof *len);
            key = realloc(key, cap * sizeof *key);
            klen = realloc(klen, cap * sizeof *klen);
            if (!line || !len || !key || !klen)
                return 1;
        }
        if (buf[k - 1] == '\n')
            k--;
        line[n] = malloc((size_t)k);
        if (!line[n])
            return 1;
        memcpy(line[n], buf, (size_t)k);
        len[n] = (size_t)k;
        const char *c = memmem(line[n], (size_t)k, "\"community_id\":\"", 16);
        key[n] = c ? c + 16 : NULL;
        klen[n] = 0;
        if (c) {
            const char *e = memchr(key[n], '"', (size_t)(line[n] + k - key[n]));
            klen[n] = e ? (size_t)(e - key[n]) : 0;
        }
        n++;
    }
    free(buf);
    fclose(f);

    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    const char *defaults[][2] = {{"bootstrap.servers", argv[1]}, {"acks", "all"},
                                 {"enable.idempotence", "true"}, {"compression.codec", "zstd"},
                                 {"compression.level", "1"}, {"linger.ms", "20"}};
    for (size_t i = 0; i < sizeof defaults / sizeof defaults[0]; i++)
        if (rd_kafka_conf_set(conf, defaults[i][0], defaults[i][1], err, sizeof err) !=
            RD_KAFKA_CONF_OK) {
            fprintf(stderr, "%s\n", err);
            return 1;
        }
    for (int i = 4; i < argc; i++) {
        char *eq = strchr(argv[i], '=');
        if (!eq) {
            fprintf(stderr, "give PROPERTY=VALUE: %s\n", argv[i]);
            return 2;
        }
        *eq = '\0';
        if (rd_kafka_conf_set(conf, argv[i], eq + 1, err, sizeof err) != RD_KAFKA_CONF_OK) {
            fprintf(stderr, "%s\n", err);
            return 1;
        }
    }
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!rk) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    rd_kafka_topic_t *t = rd_kafka_topic_new(rk, argv[2], NULL);
    /* connect and learn the topic first: not part of the per-record cost */
    const struct rd_kafka_metadata *md;
    if (rd_kafka_metadata(rk, 0, t, &md, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR)
        rd_kafka_metadata_destroy(md);

    struct rusage r0, r1;
    getrusage(RUSAGE_SELF, &r0);
    for (size_t i = 0; i < n; i++) {
        while (rd_kafka_produce(t, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY, line[i], len[i],
                                key[i], klen[i], NULL) != 0)
            rd_kafka_poll(rk, 10);              /* queue full: wait for reports */
        if ((i & 63) == 0)
            rd_kafka_poll(rk, 0);
    }
    rd_kafka_flush(rk, 60000);
    getrusage(RUSAGE_SELF, &r1);
    printf("messages %zu delivered %ld failed %ld user %.3f sys %.3f\n", n, delivered, failed,
           secs(r1.ru_utime) - secs(r0.ru_utime), secs(r1.ru_stime) - secs(r0.ru_stime));
    rd_kafka_topic_destroy(t);
    rd_kafka_destroy(rk);
    return failed ? 1 : 0;
}
