/* test_config.c - option parsing: values, ranges, errors with their origin,
 * configuration files, unique keys across core and modules. */
#include "config.h"
#include "module.h"
#include "unit.h"

#include <stdlib.h>
#include <fcntl.h>
#include <unistd.h>

static void test_values_and_errors(void)
{
    struct joy_config c;
    char err[512];
    CHECK(config_init(&c, err, sizeof err) == 0);
    CHECK(c.bidir && c.num_pkts == 50 && c.inactive_timeout == 10 && c.active_timeout == 30);
    CHECK(config_set(&c, "num_pkts", "1000", "command line", err, sizeof err) == 0 && c.num_pkts == 1000);
    CHECK(config_set(&c, "bidir", "0", "command line", err, sizeof err) == 0 && !c.bidir);
    CHECK(config_set(&c, "bidir", "yes", "command line", err, sizeof err) == 0 && c.bidir);
    CHECK(config_set(&c, "bidir", "5", "command line", err, sizeof err) == -1);
    CHECK(strstr(err, "bidir") && strstr(err, "'5'"));
    CHECK(config_set(&c, "num_pkts", "70000", "x.cfg:3", err, sizeof err) == -1);
    CHECK(strstr(err, "x.cfg:3") && strstr(err, "num_pkts"));
    CHECK(config_set(&c, "num_pkts", "-1", "cl", err, sizeof err) == -1);
    CHECK(config_set(&c, "num_pkts", "99999999999999999999999", "cl", err, sizeof err) == -1);
    CHECK(config_set(&c, "nosuch", "1", "command line", err, sizeof err) == -1);
    CHECK(strstr(err, "unknown option 'nosuch'"));
    /* prefix matching is gone: "bidi" is not "bidir" */
    CHECK(config_set(&c, "bidi", "1", "cl", err, sizeof err) == -1);
    CHECK(config_set(&c, "output", "x.json.gz", "cl", err, sizeof err) == 0 && strcmp(c.output, "x.json.gz") == 0);
    CHECK(config_set(&c, "output", "none", "cl", err, sizeof err) == 0 && c.output == NULL);
    config_free(&c);
}

static void test_config_file(void)
{
    char path[] = "/tmp/joy-unit-cfg-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    const char *text = "# comment\n\nbidir = 0   # trailing comment\nnum_pkts=200\nzeros\n"
                       "bpf = tcp port 443\n";
    CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
    close(fd);
    struct joy_config c;
    char err[512];
    CHECK(config_init(&c, err, sizeof err) == 0);
    CHECK(config_load_file(&c, path, err, sizeof err) == 0);
    CHECK(!c.bidir && c.num_pkts == 200 && c.zeros && c.bpf && strcmp(c.bpf, "tcp port 443") == 0);
    config_free(&c);

    fd = open(path, O_WRONLY | O_TRUNC);
    text = "bidir = 1\nnum_pkts = lots\n";
    CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
    close(fd);
    CHECK(config_init(&c, err, sizeof err) == 0);
    CHECK(config_load_file(&c, path, err, sizeof err) == -1);
    char want[256];
    snprintf(want, sizeof want, "%s:2", path);
    CHECK(strstr(err, want) != NULL && strstr(err, "num_pkts") != NULL);
    config_free(&c);
    CHECK(config_load_file(&c, "/nonexistent/joy.cfg", err, sizeof err) == -1);
    CHECK(strstr(err, "/nonexistent/joy.cfg") != NULL);
    unlink(path);
}

static void test_unique_keys(void)
{
    /* every key of every module must be unknown to the core and to the other modules */
    struct joy_config c;
    char err[512];
    CHECK(config_init(&c, err, sizeof err) == 0);
    for (size_t i = 0; i < joy_module_count; i++) {
        CHECK(joy_modules[i]->name && joy_modules[i]->summary);
        for (const struct joy_option *o = joy_modules[i]->options; o && o->key; o++) {
            int seen = 0;
            for (size_t j = 0; j < joy_module_count; j++)
                for (const struct joy_option *q = joy_modules[j]->options; q && q->key; q++)
                    seen += strcmp(o->key, q->key) == 0;
            CHECK(seen == 1);
            if (seen != 1)
                fprintf(stderr, "duplicate option key %s\n", o->key);
        }
    }
    config_free(&c);
}

void run_config_tests(void)
{
    TEST_RUN(test_values_and_errors);
    TEST_RUN(test_config_file);
    TEST_RUN(test_unique_keys);
}
