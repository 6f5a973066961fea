/*
 * output.c - record output to stdout, a plain file or a gzip file.
 */
#include "output.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

struct joy_output {
    FILE *fp;          /* plain output (stdout or file) */
    gzFile gz;         /* gzip output */
    char *final_name;  /* NULL for stdout or a non-regular target */
    char *part_name;   /* what is being written */
    bool is_stdout;
    int err;           /* first errno-style failure, 0 if none */
    char errmsg[256];
};

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

struct joy_output *output_open(const char *path, int gzip_level, char *err, size_t errlen)
{
    struct joy_output *o = calloc(1, sizeof *o);
    if (!o) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (!path || strcmp(path, "-") == 0) {
        o->fp = stdout;
        o->is_stdout = true;
        setvbuf(stdout, NULL, _IOFBF, 1 << 20);
        return o;
    }
    /* Devices, pipes and the like are written directly; only regular
     * files (or new ones) go through NAME.part. */
    struct stat st;
    bool regular = stat(path, &st) != 0 || S_ISREG(st.st_mode);
    if (regular) {
        size_t n = strlen(path);
        o->final_name = strdup(path);
        o->part_name = malloc(n + 6);
        if (!o->final_name || !o->part_name) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
        memcpy(o->part_name, path, n);
        memcpy(o->part_name + n, ".part", 6);
    } else if (!(o->part_name = strdup(path))) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    int flags = O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC;
    int fd = open(o->part_name, flags, 0644);
    if (fd < 0) {
        snprintf(err, errlen, "%s: cannot create output file: %s", o->part_name, strerror(errno));
        goto fail;
    }
    bool plain = ends_with(path, ".json") || ends_with(path, ".jsonl");
    if (plain) {
        o->fp = fdopen(fd, "w");
        if (o->fp)
            setvbuf(o->fp, NULL, _IOFBF, 1 << 20);
    } else {
        char mode[8];
        snprintf(mode, sizeof mode, "wb%d", gzip_level);
        o->gz = gzdopen(fd, mode);
        if (o->gz)
            gzbuffer(o->gz, 1 << 18);
    }
    if (!o->fp && !o->gz) {
        snprintf(err, errlen, "%s: cannot open output stream", o->part_name);
        close(fd);
        if (o->final_name)
            unlink(o->part_name);
        goto fail;
    }
    return o;
fail:
    free(o->final_name);
    free(o->part_name);
    free(o);
    return NULL;
}

static void set_error(struct joy_output *o, const char *what)
{
    if (o->err)
        return;
    o->err = errno ? errno : EIO;
    snprintf(o->errmsg, sizeof o->errmsg, "%s: %s: %s",
             o->is_stdout ? "standard output" : o->part_name, what, strerror(o->err));
}

int output_write(struct joy_output *o, const char *buf, size_t len)
{
    if (o->err)
        return -1;
    errno = 0;
    if (o->gz) {
        if (len && gzwrite(o->gz, buf, (unsigned)len) != (int)len) {
            int zerr;
            const char *m = gzerror(o->gz, &zerr);
            if (zerr != Z_ERRNO)
                errno = EIO;
            set_error(o, zerr == Z_ERRNO ? "write failed" : m);
            return -1;
        }
    } else if (fwrite(buf, 1, len, o->fp) != len) {
        set_error(o, "write failed");
        return -1;
    }
    return 0;
}

bool output_failed(const struct joy_output *o) { return o->err != 0; }

int output_close(struct joy_output *o, bool commit, char *err, size_t errlen)
{
    int rc = 0;
    errno = 0;
    if (o->gz) {
        int zr = gzclose_w(o->gz);
        if (zr != Z_OK)
            set_error(o, "closing the gzip stream failed");
    } else if (o->fp) {
        if (fflush(o->fp) != 0)
            set_error(o, "write failed");
        if (!o->is_stdout && fclose(o->fp) != 0)
            set_error(o, "close failed");
    }
    if (o->err) {
        snprintf(err, errlen, "%s", o->errmsg);
        if (o->final_name)
            unlink(o->part_name);
        rc = -1;
    } else if (o->final_name) {
        if (commit) {
            if (rename(o->part_name, o->final_name) != 0) {
                snprintf(err, errlen, "%s: cannot rename to %s: %s", o->part_name, o->final_name,
                         strerror(errno));
                rc = -1;
            }
        }
    }
    free(o->final_name);
    free(o->part_name);
    free(o);
    return rc;
}
