/*
 * sink_kafka.c - one Kafka message per record through librdkafka:
 * kafka://HOST:PORT[,HOST:PORT...]/TOPIC.
 *
 *   value  the record's JSON line without its newline
 *   key    the record's community_id; without one (community_id=0, or a
 *          collected record) "PROTO ADDR PORT ADDR PORT" with the smaller
 *          endpoint first, so both directions of a flow share a key
 *   the metadata line goes to TOPIC.meta, key "metadata"
 *
 * Producer: acks, compression (zstd, level 1), idempotence from the kafka_* options,
 * any property through kafka_property=KEY=VALUE; the local queue holds
 * export_queue messages.  When it is full: block (serve delivery reports
 * until there is room), spill (a local file, replayed as soon as there is
 * room again, before anything newer) or drop (counted).  Delivery reports
 * are counted; close waits kafka_flush_timeout seconds and fails (exit
 * status 1) if any record was not delivered.
 */
#ifdef JOY_HAVE_KAFKA
#include "sink.h"

#include "joy/joy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct kafka_sink {
    struct joy_sink base;
    rd_kafka_t *rk;
    rd_kafka_topic_t *topic, *meta;
    uint64_t produced, delivered, failed, dropped, spilled, replayed, waits;
    char first_err[200];
    char *spill_path;
    FILE *spill_w, *spill_r;
    uint64_t spill_pending;
    unsigned since_poll;
    bool drained; /* kafka_drain waited already */
    char msg[512];
};

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    struct kafka_sink *k = opaque;
    (void)rk;
    if (m->err) {
        if (!k->failed)
            snprintf(k->first_err, sizeof k->first_err, "%s", rd_kafka_err2str(m->err));
        k->failed++;
    } else {
        k->delivered++;
    }
}

static int kconf(struct kafka_sink *k, rd_kafka_conf_t *conf, const char *key, const char *val)
{
    char e[256];
    if (rd_kafka_conf_set(conf, key, val, e, sizeof e) != RD_KAFKA_CONF_OK) {
        snprintf(k->msg, sizeof k->msg, "Kafka property %.100s=%.100s: %.200s", key, val, e);
        return -1;
    }
    return 0;
}

static int kafka_open(struct joy_sink *s, int fd, int level)
{
    struct kafka_sink *k = (struct kafka_sink *)s;
    const struct sink_opts *o = &s->opt;
    (void)fd;
    (void)level;
    const char *spec = s->name + strlen("kafka://");
    const char *slash = strchr(spec, '/');
    if (!slash || slash == spec || !slash[1] || strchr(slash + 1, '/')) {
        errno = EINVAL;
        return sink_fail(s, "give kafka://HOST:PORT[,HOST:PORT...]/TOPIC");
    }
    char brokers[1024], queue[32], meta_name[512];
    snprintf(brokers, sizeof brokers, "%.*s", (int)(slash - spec), spec);
    snprintf(queue, sizeof queue, "%zu", o->queue ? o->queue : 100000);
    snprintf(meta_name, sizeof meta_name, "%s.meta", slash + 1);
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    int bad = kconf(k, conf, "bootstrap.servers", brokers) ||
              kconf(k, conf, "acks", o->kafka_acks ? o->kafka_acks : "all") ||
              kconf(k, conf, "compression.codec",
                    o->kafka_compression ? o->kafka_compression : "zstd") ||
              kconf(k, conf, "enable.idempotence", o->kafka_idempotence ? "true" : "false") ||
              /* the fastest level of the codec, like gzip_level=1 (zstd 1:
               * a fifth fewer instructions than its default 3 on the
               * benchmark, bench/README.md); kafka_property overrides it */
              kconf(k, conf, "compression.level", "1") ||
              kconf(k, conf, "queue.buffering.max.messages", queue) ||
              kconf(k, conf, "linger.ms", "20");
    for (size_t i = 0; !bad && i < o->n_kafka_props; i++) {
        const char *kv = o->kafka_props[i], *eq = strchr(kv, '=');
        char key[256];
        if (!eq || eq == kv || (size_t)(eq - kv) >= sizeof key) {
            snprintf(k->msg, sizeof k->msg, "kafka_property=%s: give KEY=VALUE", kv);
            bad = 1;
            break;
        }
        snprintf(key, sizeof key, "%.*s", (int)(eq - kv), kv);
        bad = kconf(k, conf, key, eq + 1);
    }
    if (bad) {
        rd_kafka_conf_destroy(conf);
        errno = EINVAL;
        return sink_fail(s, k->msg);
    }
    rd_kafka_conf_set_opaque(conf, k);
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    char e[512];
    if (!(k->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, e, sizeof e))) {
        rd_kafka_conf_destroy(conf);
        errno = EINVAL;
        snprintf(k->msg, sizeof k->msg, "cannot create the Kafka producer: %.400s", e);
        return sink_fail(s, k->msg);
    }
    k->topic = rd_kafka_topic_new(k->rk, slash + 1, NULL);
    k->meta = rd_kafka_topic_new(k->rk, meta_name, NULL);
    if (!k->topic || !k->meta) {
        errno = EINVAL;
        snprintf(k->msg, sizeof k->msg, "topic %s: %s", slash + 1,
                 rd_kafka_err2str(rd_kafka_last_error()));
        sink_fail(s, k->msg);
        if (k->topic)
            rd_kafka_topic_destroy(k->topic);
        if (k->meta)
            rd_kafka_topic_destroy(k->meta);
        rd_kafka_destroy(k->rk);
        return -1;
    }
    return 0;
}

/* The record's key into buf; its length. */
static size_t record_key(const char *rec, size_t len, const struct joy_record *view, char *buf,
                         size_t cap)
{
    if (view && view->community_id) { /* the meter's records: no JSON to scan */
        size_t n = strlen(view->community_id);
        if (n < cap) {
            memcpy(buf, view->community_id, n);
            return n;
        }
    }
    struct joy_record r;
    if (view) {
        r = *view;
    } else {
        memset(&r, 0, sizeof r);
    }
    r.json = rec;
    r.len = len;
    const char *v;
    size_t n;
    if (joy_record_member(&r, "community_id", &v, &n) == JOY_OK && n >= 2 && v[0] == '"' &&
        n - 2 < cap) {
        memcpy(buf, v + 1, n - 2);
        return n - 2;
    }
    if (!view)
        return 0;
    char a[INET6_ADDRSTRLEN], b[INET6_ADDRSTRLEN];
    int af = view->ip_version == 6 ? AF_INET6 : AF_INET;
    inet_ntop(af, view->sa, a, sizeof a);
    inet_ntop(af, view->da, b, sizeof b);
    int sa_first = memcmp(view->sa, view->da, 16) < 0 ||
                   (memcmp(view->sa, view->da, 16) == 0 && view->sp <= view->dp);
    int k = sa_first ? snprintf(buf, cap, "%u %s %u %s %u", view->protocol, a, view->sp, b, view->dp)
                     : snprintf(buf, cap, "%u %s %u %s %u", view->protocol, b, view->dp, a, view->sp);
    return k > 0 && (size_t)k < cap ? (size_t)k : 0;
}

static int produce(struct kafka_sink *k, rd_kafka_topic_t *t, const char *key, size_t kl,
                   const char *val, size_t vl)
{
    if (rd_kafka_produce(t, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY, (void *)(uintptr_t)val, vl,
                         kl ? key : NULL, kl, NULL) == 0) {
        k->produced++;
        if (++k->since_poll >= 64) {
            k->since_poll = 0;
            rd_kafka_poll(k->rk, 0);
        }
        return 0;
    }
    return rd_kafka_last_error() == RD_KAFKA_RESP_ERR__QUEUE_FULL ? 1 : -1;
}

static int spill(struct kafka_sink *k, const char *key, size_t kl, const char *val, size_t vl)
{
    struct joy_sink *s = &k->base;
    if (!k->spill_w) {
        if (!k->spill_path) {
            char name[600];
            if (s->opt.spill_path)
                snprintf(name, sizeof name, "%s", s->opt.spill_path);
            else
                snprintf(name, sizeof name, "%s/joy-spill-kafka-%ld.bin",
                         s->opt.spill_dir ? s->opt.spill_dir : ".", (long)getpid());
            if (!(k->spill_path = strdup(name)))
                return -1;
        }
        if (!(k->spill_w = fopen(k->spill_path, "ab"))) {
            snprintf(k->msg, sizeof k->msg, "cannot create the spill file %s", k->spill_path);
            return sink_fail(s, k->msg);
        }
    }
    uint8_t h[6] = {(uint8_t)(kl >> 8), (uint8_t)kl, (uint8_t)(vl >> 24), (uint8_t)(vl >> 16),
                    (uint8_t)(vl >> 8), (uint8_t)vl};
    if (fwrite(h, 1, 6, k->spill_w) != 6 || fwrite(key, 1, kl, k->spill_w) != kl ||
        fwrite(val, 1, vl, k->spill_w) != vl) {
        snprintf(k->msg, sizeof k->msg, "cannot write the spill file %s", k->spill_path);
        return sink_fail(s, k->msg);
    }
    k->spill_pending++;
    k->spilled++;
    return 0;
}

/* Produce spilled records while the queue has room; 0 when all are out. */
static int replay(struct kafka_sink *k)
{
    if (!k->spill_pending)
        return 0;
    fflush(k->spill_w);
    if (!k->spill_r && !(k->spill_r = fopen(k->spill_path, "rb")))
        return -1;
    char *buf = NULL;
    size_t cap = 0;
    while (k->spill_pending) {
        long at = ftell(k->spill_r);
        uint8_t h[6];
        if (fread(h, 1, 6, k->spill_r) != 6)
            break;
        size_t kl = (size_t)h[0] << 8 | h[1];
        size_t vl = (size_t)h[2] << 24 | (size_t)h[3] << 16 | (size_t)h[4] << 8 | h[5];
        if (kl + vl > cap) {
            char *nb = realloc(buf, kl + vl);
            if (!nb)
                break;
            buf = nb;
            cap = kl + vl;
        }
        if (fread(buf, 1, kl + vl, k->spill_r) != kl + vl)
            break;
        int r = produce(k, k->topic, buf, kl, buf + kl, vl);
        if (r != 0) {
            fseek(k->spill_r, at, SEEK_SET); /* try this one again later */
            break;
        }
        k->spill_pending--;
        k->replayed++;
    }
    free(buf);
    if (!k->spill_pending) {
        fclose(k->spill_r);
        fclose(k->spill_w);
        k->spill_r = k->spill_w = NULL;
        unlink(k->spill_path);
        return 0;
    }
    return 1;
}

static int kafka_write(struct joy_sink *s, const char *rec, size_t len, const void *view)
{
    struct kafka_sink *k = (struct kafka_sink *)s;
    char key[256];
    size_t vl = len && rec[len - 1] == '\n' ? len - 1 : len;
    size_t kl = record_key(rec, vl, view, key, sizeof key);
    if (k->spill_pending && replay(k) != 0) /* older records first */
        return spill(k, key, kl, rec, vl);
    for (;;) {
        int r = produce(k, k->topic, key, kl, rec, vl);
        if (r == 0)
            return 0;
        if (r < 0) {
            snprintf(k->msg, sizeof k->msg, "produce failed: %s",
                     rd_kafka_err2str(rd_kafka_last_error()));
            errno = EIO;
            return sink_fail(s, k->msg);
        }
        switch (s->opt.on_full) {
        case SINK_DROP:
            k->dropped++;
            return 0;
        case SINK_SPILL:
            return spill(k, key, kl, rec, vl);
        case SINK_BLOCK:
            k->waits++;
            rd_kafka_poll(k->rk, 100);
            break;
        }
    }
}

static int kafka_write_meta(struct joy_sink *s, const char *line, size_t len)
{
    struct kafka_sink *k = (struct kafka_sink *)s;
    size_t vl = len && line[len - 1] == '\n' ? len - 1 : len;
    for (int i = 0; i < 600; i++) {
        int r = produce(k, k->meta, "metadata", 8, line, vl);
        if (r == 0)
            return 0;
        if (r < 0)
            break;
        rd_kafka_poll(k->rk, 100);
    }
    snprintf(k->msg, sizeof k->msg, "cannot produce the metadata line: %s",
             rd_kafka_err2str(rd_kafka_last_error()));
    errno = EIO;
    return sink_fail(s, k->msg);
}

static int kafka_flush(struct joy_sink *s)
{
    struct kafka_sink *k = (struct kafka_sink *)s;
    replay(k);
    rd_kafka_poll(k->rk, 0);
    return 0;
}

static void kafka_report(const struct joy_sink *s, char *buf, size_t len)
{
    const struct kafka_sink *k = (const struct kafka_sink *)s;
    snprintf(buf, len, "%llu messages produced, %llu delivered, %llu failed%s%s, %llu dropped, "
             "%llu spilled (%llu replayed), %llu waits for queue room",
             (unsigned long long)k->produced, (unsigned long long)k->delivered,
             (unsigned long long)k->failed, k->failed ? ": " : "", k->failed ? k->first_err : "",
             (unsigned long long)k->dropped, (unsigned long long)k->spilled,
             (unsigned long long)k->replayed, (unsigned long long)k->waits);
}

/* Replay the spill file and wait for the delivery reports of everything
 * queued, for at most deadline_ms. */
static void deliver(struct kafka_sink *k, uint64_t deadline_ms)
{
    uint64_t waited = 0;
    while (k->spill_pending && waited < deadline_ms) {
        if (replay(k) == 0)
            break;
        rd_kafka_poll(k->rk, 100);
        waited += 100;
    }
    rd_kafka_flush(k->rk, (int)(deadline_ms > waited ? deadline_ms - waited : 0));
    rd_kafka_poll(k->rk, 0);
}

/* Before the exit report, so that it counts every delivery; close then
 * waits no more. */
static int kafka_drain(struct joy_sink *s)
{
    struct kafka_sink *k = (struct kafka_sink *)s;
    if (!k->drained) {
        k->drained = true;
        deliver(k, (uint64_t)s->opt.flush_timeout * 1000u);
    }
    return 0;
}

static int kafka_close(struct joy_sink *s, bool abandon)
{
    struct kafka_sink *k = (struct kafka_sink *)s;
    if (!k->drained)
        deliver(k, abandon ? 0 : (uint64_t)s->opt.flush_timeout * 1000u);
    uint64_t outstanding = (uint64_t)rd_kafka_outq_len(k->rk);
    uint64_t lost = k->failed + outstanding + k->spill_pending;
    if (lost && !abandon) {
        snprintf(k->msg, sizeof k->msg,
                 "%llu records not delivered (%llu failed%s%s, %llu still queued after %us, "
                 "%llu left in the spill file%s%s)",
                 (unsigned long long)lost, (unsigned long long)k->failed, k->failed ? ": " : "",
                 k->first_err, (unsigned long long)outstanding, s->opt.flush_timeout,
                 (unsigned long long)k->spill_pending, k->spill_pending ? " " : "",
                 k->spill_pending ? k->spill_path : "");
        errno = EIO;
        sink_fail(s, k->msg);
    }
    if (k->spill_r)
        fclose(k->spill_r);
    if (k->spill_w)
        fclose(k->spill_w);
    free(k->spill_path);
    rd_kafka_topic_destroy(k->topic);
    rd_kafka_topic_destroy(k->meta);
    rd_kafka_destroy(k->rk);
    return lost && !abandon ? -1 : 0;
}

const struct joy_sink_ops sink_kafka_ops = {
    .name = "kafka",
    .size = sizeof(struct kafka_sink),
    .flags = 0,
    .open = kafka_open,
    .write = kafka_write,
    .flush = kafka_flush,
    .close = kafka_close,
    .write_meta = kafka_write_meta,
    .report = kafka_report,
    .drain = kafka_drain,
};

#else
/* Built without librdkafka: kafka:// targets are refused by sink_open_url(). */
typedef int joy_sink_kafka_unused;
#endif
