/*
 * mock_cluster.c - a Kafka cluster for tests, without a broker package:
 * librdkafka's mock cluster (real brokers on loopback ports, in this
 * process).  Prints the bootstrap servers on the first line, then obeys
 * commands read from standard input until it closes:
 *
 *   topic NAME PARTITIONS          create a topic
 *   down ID | up ID                stop / restart broker ID (1..N)
 *   consume TOPIC COUNT MS         read TOPIC from the start until COUNT
 *                                  messages or MS milliseconds; prints
 *                                  "msg PARTITION OFFSET KEYLEN KEY\tVALUE"
 *                                  lines and "end N"
 *
 * Build: cc -o mock_cluster mock_cluster.c -lrdkafka   (test/test_kafka.py)
 */
#define _POSIX_C_SOURCE 200809L
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void consume(const char *bootstrap, const char *topic, long want, long ms)
{
    char err[512], group[64];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    snprintf(group, sizeof group, "mock-%lld", now_ms());
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, err, sizeof err);
    rd_kafka_conf_set(conf, "group.id", group, err, sizeof err);
    rd_kafka_conf_set(conf, "auto.offset.reset", "earliest", err, sizeof err);
    rd_kafka_conf_set(conf, "enable.partition.eof", "false", err, sizeof err);
    rd_kafka_t *c = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    if (!c) {
        printf("end 0 %s\n", err);
        fflush(stdout);
        return;
    }
    rd_kafka_poll_set_consumer(c);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_subscribe(c, l);
    rd_kafka_topic_partition_list_destroy(l);
    long n = 0;
    long long end = now_ms() + ms;
    while (n < want && now_ms() < end) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 200);
        if (!m)
            continue;
        if (!m->err) {
            printf("msg %d %lld %zu ", (int)m->partition, (long long)m->offset, m->key_len);
            fwrite(m->key, 1, m->key_len, stdout);
            putchar('\t');
            fwrite(m->payload, 1, m->len, stdout);
            putchar('\n');
            n++;
        }
        rd_kafka_message_destroy(m);
    }
    printf("end %ld\n", n);
    fflush(stdout);
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
}

int main(int argc, char **argv)
{
    int brokers = argc > 1 ? atoi(argv[1]) : 3;
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!rk) {
        fprintf(stderr, "mock_cluster: %s\n", err);
        return 1;
    }
    rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(rk, brokers);
    if (!mc) {
        fprintf(stderr, "mock_cluster: cannot create the cluster\n");
        return 1;
    }
    const char *boot = rd_kafka_mock_cluster_bootstraps(mc);
    printf("%s\n", boot);
    fflush(stdout);
    char line[1024];
    while (fgets(line, sizeof line, stdin)) {
        char a[512];
        long x, y;
        if (sscanf(line, "topic %511s %ld", a, &x) == 2) {
            rd_kafka_mock_topic_create(mc, a, (int)x, brokers < 3 ? brokers : 3);
            printf("ok\n");
        } else if (sscanf(line, "down %ld", &x) == 1) {
            rd_kafka_mock_broker_set_down(mc, (int32_t)x);
            printf("ok\n");
        } else if (sscanf(line, "up %ld", &x) == 1) {
            rd_kafka_mock_broker_set_up(mc, (int32_t)x);
            printf("ok\n");
        } else if (sscanf(line, "consume %511s %ld %ld", a, &x, &y) == 3) {
            consume(boot, a, x, y);
            continue;
        } else {
            printf("? %s", line);
        }
        fflush(stdout);
    }
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(rk);
    return 0;
}
