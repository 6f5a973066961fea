/*
 * fuzz_config.c - the configuration file parser (-x FILE): any bytes give
 * either a configuration or a one-line error, never a crash.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct joy_config cfg;
    char err[512];
    if (config_init(&cfg, err, sizeof err) != 0)
        return 0;
    FILE *f = fmemopen((void *)(uintptr_t)data, size, "r") /* read-only: mode "r" */;
    if (f) {
        err[0] = '\0';
        if (config_load_stream(&cfg, f, "fuzz.cfg", err, sizeof err) != 0 && !strchr(err, ':'))
            __builtin_trap(); /* an error must say where */
        fclose(f);
    }
    config_free(&cfg);
    return 0;
}
