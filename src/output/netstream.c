/*
 * netstream.c - the reconnecting stream behind tcp://, unix: and
 * ipfix+tcp:// (netstream.h).
 */
#include "netstream.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

struct netstream {
    char *host, *port, *path;      /* tcp: host, port; unix: path */
    struct sink_opts opt;
    netstream_preamble_fn preamble;
    void *user;
    int fd;                        /* -1: down */
    bool connecting;
    uint64_t next_try_ms;
    unsigned backoff_ms;
    /* pending units: bytes [head, len) of buf, unit lengths in a ring */
    uint8_t *buf;
    size_t head, len, cap;
    uint32_t *ulen;
    size_t ucap, ufirst, ucount;
    size_t sent_in_first;          /* bytes of the first unit already sent */
    const uint8_t *pre;            /* preamble being sent */
    size_t pre_len, pre_sent;
    /* spill */
    char *spill_path;
    FILE *spill_w;                 /* append handle */
    FILE *spill_r;                 /* replay handle */
    uint64_t spill_pending;        /* units in the spill file not replayed */
    struct netstream_stats st;
};

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

struct netstream *netstream_open(const char *target, const struct sink_opts *opt,
                                 netstream_preamble_fn preamble, void *user, char *err,
                                 size_t errlen)
{
    struct netstream *ns = calloc(1, sizeof *ns);
    if (!ns) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    ns->fd = -1;
    ns->opt = *opt;
    if (!ns->opt.queue)
        ns->opt.queue = 100000;
    ns->preamble = preamble;
    ns->user = user;
    const char *rest = NULL;
    if (strncmp(target, "unix:", 5) == 0) {
        if (!(ns->path = strdup(target + 5)) || !*ns->path ||
            strlen(ns->path) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
            snprintf(err, errlen, "%s: give unix:PATH (at most 107 bytes)", target);
            goto fail;
        }
    } else if ((rest = strstr(target, "://"))) {
        rest += 3;
        const char *colon = strrchr(rest, ':');
        size_t hl = colon ? (size_t)(colon - rest) : 0;
        if (!colon || hl == 0 || !colon[1] || strchr(colon, '/')) {
            snprintf(err, errlen, "%s: give HOST:PORT ([v6addr]:PORT for IPv6)", target);
            goto fail;
        }
        if (rest[0] == '[' && hl >= 2 && rest[hl - 1] == ']') {
            rest++;
            hl -= 2;
        }
        ns->host = strndup(rest, hl);
        ns->port = strdup(colon + 1);
        struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
        int e = ns->host && ns->port ? getaddrinfo(ns->host, ns->port, &hints, &ai) : EAI_MEMORY;
        if (e != 0) {
            snprintf(err, errlen, "%s: %s", target, gai_strerror(e));
            goto fail;
        }
        freeaddrinfo(ai);
    } else {
        snprintf(err, errlen, "%s: not a stream URL", target);
        goto fail;
    }
    ns->backoff_ms = 100;
    netstream_pump(ns, 1000); /* connect now if the peer is there */
    return ns;
fail:
    free(ns->host);
    free(ns->port);
    free(ns->path);
    free(ns);
    return NULL;
}

static void disconnect(struct netstream *ns)
{
    if (ns->fd >= 0)
        close(ns->fd);
    ns->fd = -1;
    ns->connecting = false;
    ns->st.connected = false;
    ns->sent_in_first = 0;  /* the broken unit goes again, whole */
    ns->pre = NULL;
    ns->next_try_ms = now_ms() + ns->backoff_ms;
    ns->backoff_ms = ns->backoff_ms >= 15000 ? 30000 : ns->backoff_ms * 2;
}

static void try_connect(struct netstream *ns)
{
    if (ns->fd >= 0 || now_ms() < ns->next_try_ms)
        return;
    int fd = -1;
    if (ns->path) {
        struct sockaddr_un sun = {.sun_family = AF_UNIX};
        memcpy(sun.sun_path, ns->path, strlen(ns->path) + 1);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd >= 0 && connect(fd, (struct sockaddr *)&sun, sizeof sun) != 0 &&
            errno != EINPROGRESS && errno != EAGAIN) {
            close(fd);
            fd = -1;
        }
    } else {
        struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
        if (getaddrinfo(ns->host, ns->port, &hints, &ai) == 0) {
            for (struct addrinfo *a = ai; a && fd < 0; a = a->ai_next) {
                fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
                if (fd >= 0 && connect(fd, a->ai_addr, a->ai_addrlen) != 0 &&
                    errno != EINPROGRESS) {
                    close(fd);
                    fd = -1;
                }
            }
            freeaddrinfo(ai);
        }
    }
    if (fd < 0) {
        ns->fd = -1;
        ns->next_try_ms = now_ms() + ns->backoff_ms;
        ns->backoff_ms = ns->backoff_ms >= 15000 ? 30000 : ns->backoff_ms * 2;
        return;
    }
    ns->fd = fd;
    ns->connecting = true;
}

/* The connection is up: the preamble goes first. */
static void connected(struct netstream *ns)
{
    ns->connecting = false;
    ns->st.connected = true;
    ns->st.reconnects++;
    ns->backoff_ms = 100;
    ns->pre = ns->preamble ? ns->preamble(ns->user, &ns->pre_len) : NULL;
    ns->pre_sent = 0;
}

static int send_some(struct netstream *ns, const uint8_t *p, size_t n, size_t *done)
{
    ssize_t k = send(ns->fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (k > 0) {
        *done += (size_t)k;
        return 0;
    }
    if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return 1;
    disconnect(ns);
    return -1;
}

static int enqueue(struct netstream *ns, const void *unit, size_t len, char *err, size_t errlen);

/* Load spilled units into the queue when it is empty. */
static void replay_spill(struct netstream *ns)
{
    if (!ns->spill_pending || ns->ucount)
        return;
    if (ns->spill_w)
        fflush(ns->spill_w);
    if (!ns->spill_r && !(ns->spill_r = fopen(ns->spill_path, "rb")))
        return;
    size_t loaded = 0;
    char err[256];
    while (ns->spill_pending && loaded < ns->opt.queue && loaded < 4096) {
        uint8_t h[4];
        if (fread(h, 1, 4, ns->spill_r) != 4)
            break;
        uint32_t n = (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
        uint8_t *tmp = malloc(n ? n : 1);
        if (!tmp || fread(tmp, 1, n, ns->spill_r) != n || enqueue(ns, tmp, n, err, sizeof err)) {
            free(tmp);
            break;
        }
        free(tmp);
        ns->spill_pending--;
        ns->st.replayed++;
        loaded++;
    }
    if (!ns->spill_pending && ns->spill_w) {
        /* everything replayed: start the spill file afresh */
        fclose(ns->spill_r);
        ns->spill_r = NULL;
        fclose(ns->spill_w);
        ns->spill_w = NULL;
        unlink(ns->spill_path);
    }
}

void netstream_pump(struct netstream *ns, int wait_ms)
{
    uint64_t deadline = now_ms() + (uint64_t)(wait_ms > 0 ? wait_ms : 0);
    for (;;) {
        replay_spill(ns);
        try_connect(ns);
        if (ns->fd >= 0) {
            struct pollfd pfd = {ns->fd, POLLOUT, 0};
            int left = (int)(deadline > now_ms() ? deadline - now_ms() : 0);
            int r = poll(&pfd, 1, ns->connecting || ns->ucount || ns->pre ? left : 0);
            if (r > 0 && ns->connecting) {
                int soerr = 0;
                socklen_t sl = sizeof soerr;
                getsockopt(ns->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
                if (soerr || (pfd.revents & (POLLERR | POLLHUP)))
                    disconnect(ns);
                else
                    connected(ns);
            }
            while (ns->fd >= 0 && !ns->connecting && r > 0) {
                if (ns->pre) {
                    if (send_some(ns, ns->pre + ns->pre_sent, ns->pre_len - ns->pre_sent,
                                  &ns->pre_sent) != 0)
                        break;
                    if (ns->pre_sent == ns->pre_len)
                        ns->pre = NULL;
                    continue;
                }
                if (!ns->ucount) {
                    replay_spill(ns);
                    if (!ns->ucount)
                        break;
                }
                uint32_t ul = ns->ulen[ns->ufirst];
                if (send_some(ns, ns->buf + ns->head + ns->sent_in_first, ul - ns->sent_in_first,
                              &ns->sent_in_first) != 0)
                    break;
                if (ns->sent_in_first == ul) {
                    ns->head += ul;
                    ns->sent_in_first = 0;
                    ns->ufirst = (ns->ufirst + 1) % ns->ucap;
                    ns->ucount--;
                    ns->st.sent++;
                    if (!ns->ucount) {
                        ns->head = ns->len = 0;
                    } else if (ns->head > ns->cap / 2) {
                        memmove(ns->buf, ns->buf + ns->head, ns->len - ns->head);
                        ns->len -= ns->head;
                        ns->head = 0;
                    }
                }
            }
        }
        bool idle = !ns->ucount && !ns->spill_pending && !ns->pre;
        if (idle || now_ms() >= deadline)
            return;
        if (ns->fd < 0) {
            uint64_t t = ns->next_try_ms < deadline ? ns->next_try_ms : deadline;
            uint64_t n = now_ms();
            if (t > n)
                usleep((useconds_t)((t - n) * 1000u));
        }
    }
}

static int spill(struct netstream *ns, const void *unit, size_t len, char *err, size_t errlen)
{
    if (!ns->spill_w) {
        if (!ns->spill_path) {
            char name[512];
            if (ns->opt.spill_path) {
                snprintf(name, sizeof name, "%s", ns->opt.spill_path);
            } else {
                char tag[128];
                const char *t = ns->path ? ns->path : ns->host;
                size_t k = 0;
                for (; *t && k + 1 < sizeof tag; t++)
                    tag[k++] = (char)((*t >= 'a' && *t <= 'z') || (*t >= '0' && *t <= '9') ? *t : '_');
                tag[k] = '\0';
                snprintf(name, sizeof name, "%s/joy-spill-%s-%s-%ld.bin",
                         ns->opt.spill_dir ? ns->opt.spill_dir : ".", tag,
                         ns->port ? ns->port : "unix", (long)getpid());
            }
            if (!(ns->spill_path = strdup(name))) {
                snprintf(err, errlen, "out of memory");
                return -1;
            }
            ns->st.spill_path = ns->spill_path;
        }
        if (!(ns->spill_w = fopen(ns->spill_path, "ab"))) {
            snprintf(err, errlen, "%s: cannot create the spill file: %s", ns->spill_path,
                     strerror(errno));
            return -1;
        }
    }
    uint8_t h[4] = {(uint8_t)(len >> 24), (uint8_t)(len >> 16), (uint8_t)(len >> 8), (uint8_t)len};
    if (fwrite(h, 1, 4, ns->spill_w) != 4 || fwrite(unit, 1, len, ns->spill_w) != len) {
        snprintf(err, errlen, "%s: cannot write the spill file: %s", ns->spill_path,
                 strerror(errno));
        return -1;
    }
    ns->spill_pending++;
    ns->st.spilled++;
    return 0;
}

static int enqueue(struct netstream *ns, const void *unit, size_t len, char *err, size_t errlen)
{
    if (ns->len + len > ns->cap) {
        if (ns->head) {
            memmove(ns->buf, ns->buf + ns->head, ns->len - ns->head);
            ns->len -= ns->head;
            ns->head = 0;
        }
        if (ns->len + len > ns->cap) {
            size_t cap = ns->cap ? ns->cap : 65536;
            while (cap < ns->len + len)
                cap *= 2;
            uint8_t *b = realloc(ns->buf, cap);
            if (!b) {
                snprintf(err, errlen, "out of memory");
                return -1;
            }
            ns->buf = b;
            ns->cap = cap;
        }
    }
    if (ns->ucount == ns->ucap) {
        size_t uc = ns->ucap ? ns->ucap * 2 : 1024;
        uint32_t *u = malloc(uc * sizeof *u);
        if (!u) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        for (size_t i = 0; i < ns->ucount; i++)
            u[i] = ns->ulen[(ns->ufirst + i) % ns->ucap];
        free(ns->ulen);
        ns->ulen = u;
        ns->ufirst = 0;
        ns->ucap = uc;
    }
    memcpy(ns->buf + ns->len, unit, len);
    ns->len += len;
    ns->ulen[(ns->ufirst + ns->ucount) % ns->ucap] = (uint32_t)len;
    ns->ucount++;
    return 0;
}

int netstream_write(struct netstream *ns, const void *unit, size_t len, char *err, size_t errlen)
{
    if (ns->spill_pending)  /* keep the order: after what was spilled */
        return spill(ns, unit, len, err, errlen);
    if (ns->ucount >= ns->opt.queue) {
        netstream_pump(ns, 0);
        if (ns->ucount >= ns->opt.queue) {
            switch (ns->opt.on_full) {
            case SINK_DROP:
                ns->st.dropped++;
                return 0;
            case SINK_SPILL:
                return spill(ns, unit, len, err, errlen);
            case SINK_BLOCK:
                while (ns->ucount >= ns->opt.queue)
                    netstream_pump(ns, 1000);
                break;
            }
        }
    }
    if (enqueue(ns, unit, len, err, errlen) != 0)
        return -1;
    netstream_pump(ns, 0);
    return 0;
}

void netstream_stats(const struct netstream *ns, struct netstream_stats *st)
{
    *st = ns->st;
    st->queued = ns->ucount + ns->spill_pending;
}

uint64_t netstream_close(struct netstream *ns, unsigned timeout_s, char *kept, size_t keptlen)
{
    if (keptlen)
        kept[0] = '\0';
    if (!ns)
        return 0;
    netstream_pump(ns, (int)(timeout_s * 1000u));
    uint64_t left = ns->ucount + ns->spill_pending;
    if (left && ns->opt.on_full == SINK_SPILL) {
        /* keep what was not delivered in the spill file, in order: the
         * queue goes after what is already there only if nothing was
         * spilled (otherwise the queue holds replayed units, older ones) */
        char err[256];
        if (!ns->spill_pending) {
            for (size_t i = 0, off = ns->head; i < ns->ucount; i++) {
                uint32_t ul = ns->ulen[(ns->ufirst + i) % ns->ucap];
                spill(ns, ns->buf + off, ul, err, sizeof err);
                off += ul;
            }
            ns->ucount = 0;
        }
    }
    if (ns->fd >= 0)
        close(ns->fd);
    if (ns->spill_w)
        fclose(ns->spill_w);
    if (ns->spill_r)
        fclose(ns->spill_r);
    if (!left && ns->spill_path)
        unlink(ns->spill_path);
    else if (left && ns->spill_path && ns->spill_pending && keptlen)
        snprintf(kept, keptlen, "%s", ns->spill_path);
    free(ns->spill_path);
    free(ns->buf);
    free(ns->ulen);
    free(ns->host);
    free(ns->port);
    free(ns->path);
    free(ns);
    return left;
}
