/*
 * export.h - the joy command's destinations (files and network sinks) and
 * the IPFIX/NetFlow collector mode, read from the configuration.
 */
#ifndef JOY_CLI_EXPORT_H
#define JOY_CLI_EXPORT_H

#include "joy/joy.h"
#include "output.h"

#include <stdbool.h>
#include <stddef.h>

struct export_setup {
    char **targets;          /* output (or '-'), outputs..., Joy's ipfix_export_* target */
    size_t n_targets;
    struct sink_opts opt;
    bool metadata;           /* metadata=1 */
    char *strings;           /* storage behind targets and opt */
    char **props;
};

/* 0, or -1 with a message in err (a bad value). */
int export_setup_read(const struct joy_config *cfg, struct export_setup *e, char *err,
                      size_t errlen);
void export_setup_free(struct export_setup *e);
/* With a kafka:// target, tell glibc's malloc to keep freed memory mapped
 * (librdkafka's per-request buffers; export.c).  Call before opening. */
void export_keep_freed_memory(const struct export_setup *e);

/* Collector mode (ipfix_collect_port / nfv9_port): returns -1 when not
 * asked for, else the exit status after collecting from the capture files
 * (inputs) or, with ipfix_collect_online=1, from UDP and TCP sockets until
 * a signal. */
int collect_main(const struct joy_config *cfg, char **inputs, size_t n_inputs,
                 volatile int *stop);

#endif
