/*
 * source.c - what every packet source shares: the sticky error, the log
 * callback and the stop flag (source.h has the contract).
 */
#include "source.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void source_init(struct joy_source *s, const struct joy_source_ops *ops, source_log_fn log,
                 void *log_user)
{
    memset(s, 0, sizeof *s);
    s->ops = ops;
    s->log = log;
    s->log_user = log_user;
}

/* Format the message (any length: paths and filters can be long), keep a
 * copy when asked, and pass it to the log callback. */
static void vlog(struct joy_source *s, enum source_severity sev, const char *fmt, va_list ap,
                 char *keep, size_t keeplen) __attribute__((format(printf, 3, 0)));

static void vlog(struct joy_source *s, enum source_severity sev, const char *fmt, va_list ap,
                 char *keep, size_t keeplen)
{
    char small[1024], *msg = small;
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    if (n >= (int)sizeof small && (msg = malloc((size_t)n + 1)) != NULL)
        vsnprintf(msg, (size_t)n + 1, fmt, ap2);
    else if (!msg)
        msg = small;
    va_end(ap2);
    if (keep) {
        size_t len = strlen(msg) < keeplen ? strlen(msg) : keeplen - 1;
        memcpy(keep, msg, len);
        keep[len] = '\0';
    }
    if (s->log)
        s->log(s->log_user, sev, msg);
    if (msg != small)
        free(msg);
}

void source_log(struct joy_source *s, enum source_severity sev, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(s, sev, fmt, ap, NULL, 0);
    va_end(ap);
}

void source_fail(struct joy_source *s, enum source_error grade, const char *fmt, ...)
{
    bool worse = grade > s->error;
    if (worse)
        s->error = grade;
    va_list ap;
    va_start(ap, fmt);
    vlog(s, SOURCE_ERROR, fmt, ap, worse ? s->errmsg : NULL, sizeof s->errmsg);
    va_end(ap);
}

void source_breakloop_flag(struct joy_source *s)
{
    s->stop = 1;
}
