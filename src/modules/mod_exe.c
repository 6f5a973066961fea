/*
 * \summary: exe module - the local process that owns each flow (live capture, Linux)
 *
 * Option exe=1 (Joy's key; default 0).  Live capture only: with capture
 * files (no interface) setup refuses with one line (a file has no
 * processes).  The sockets looked up are those of joy's own network
 * namespace (run joy in the namespace whose traffic it captures).
 *
 * Output, for the endpoint whose socket is on this host (the client's if
 * both are; the server's then goes in "exe_in" with the same members):
 *   "exe": {"name": "curl", "path": "/usr/bin/curl", "hash": "<sha256>",
 *           "uptime": 0.012, "pid": 4242, "ppid": 4200, "uid": 0,
 *           "user": "root", "cmdline": "curl -s http://...",
 *           "method": "sock_diag"}
 * plus "deleted": true when the executable was deleted or replaced,
 * "cgroup" (a cgroup v2 path other than "/") and "container" (a 64-hex id
 * found in it).  `method`: "ebpf" (the process the eBPF programs saw
 * connect or sendto on the exact tuple, src/util/sockproc.bpf.c, when
 * built and loaded; exe_ebpf=0 leaves them out), "sock_diag" (the socket
 * of the exact tuple),
 * "listener" (the server's listening socket, its accepted one being gone),
 * "cache" (a socket of the same tuple attributed earlier, up to 300 s).
 *
 * How (src/util/sockproc.c): on a flow's first TCP or UDP packet the
 * packet path only writes the flow's tuple into a slot of a ring (no
 * system call, but an eventfd write when the helper sleeps); a helper
 * thread of the meter answers each slot (eBPF events, else sock_diag
 * query, inode -> process index, /proc reads, SHA-256 of the executable),
 * and the tick hook (or the next request) collects the answers into the
 * flows' states.  When a record leaves before its answer arrived, writing
 * it waits for the answer at most EXE_WAIT_MS (250 ms) and writes the
 * record without "exe" after that.
 *
 * Flows with no endpoint among the namespace's addresses (a snapshot the
 * helper refreshes every second; 127/8 always counts) are not asked for:
 * between other hosts they cost the packet path two address comparisons.
 *
 * Cost: one slot per new local flow (the ring has EXE_RING slots; when it is
 * full the flow is not asked for).  Memory per flow: a 40-byte state, plus
 * one struct sp_proc (about 1.3 KiB) per attributed side.
 */
#include "flow.h"
#include "jsonw.h"
#include "module.h"
#include "packet.h"
#include "sockproc.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#define EXE_RING 16384        /* outstanding questions per meter */
#define EXE_WAIT_MS 250       /* a record waits at most this long for its answer */
#define EXE_IDLE_MS 1000      /* an idle helper wakes this often (local addresses) */

struct exe_cfg {
    bool on;
    bool ebpf;
};

static const struct joy_option exe_options[] = {
    {"exe", OPT_BOOL, offsetof(struct exe_cfg, on), 0, 1, "0", "0|1",
     "exe/exe_in: the local process of each flow (live capture on Linux only)"},
    {"exe_ebpf", OPT_BOOL, offsetof(struct exe_cfg, ebpf), 0, 1, "1", "0|1",
     "with exe=1: also the eBPF source (cgroup hooks), for sockets closed before their lookup"},
    {NULL, 0, 0, 0, 0, NULL, NULL, NULL},
};

enum { SLOT_FREE = 0, SLOT_QUEUED, SLOT_ANSWERED };

struct exe_state;

struct exe_slot {
    _Atomic int st;
    struct sp_tuple q;            /* local = the flow's client (sa, sp) */
    struct exe_state *owner;      /* meter thread only; NULL when abandoned */
    struct sp_proc *ans[2];       /* helper writes, then ANSWERED; 0 client, 1 server */
};

struct exe_state {
    struct exe_slot *slot;        /* while the answer is not collected */
    struct sp_proc *ans[2];
};

/* The namespace's addresses, published by the helper for the packet path
 * (a flow with no local endpoint is not asked for).  Replaced snapshots
 * stay allocated until worker_free (addresses rarely change). */
#define EXE_LOCALS 64
struct exe_locals {
    struct exe_locals *older;
    bool loopback;                /* the capture sees lo: 127/8 is local */
    size_t n;
    struct sp_addr a[EXE_LOCALS];
};

struct exe_scratch {
    _Atomic(struct exe_locals *) locals;
    uint64_t locals_at;           /* helper: CLOCK_MONOTONIC ns of the last refresh */
    struct exe_slot *slots;
    size_t prod, coll;            /* meter thread */
    size_t cons;                  /* helper thread */
    struct sockproc *sp;          /* helper thread (after worker_init) */
    bool loopback;                /* the capture sees the loopback interface */
    pthread_t th;
    bool started;
    atomic_bool stop;
    atomic_bool sleeping;         /* the helper waits in poll() */
    atomic_bool kicked;           /* the meter wrote wake_fd since the helper woke */
    int wake_fd;                  /* eventfd: the meter wakes a sleeping helper */
    uint64_t full, late;
};

/* ---- the helper thread ---------------------------------------------- */

static struct sp_proc *ask(struct sockproc *sp, const struct sp_tuple *t, bool server)
{
    struct sp_proc tmp;
    if (!sockproc_lookup(sp, t, server, &tmp))
        return NULL;
    struct sp_proc *p = malloc(sizeof *p);
    if (p)
        *p = tmp;
    return p;
}

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Publish the local addresses when they changed (helper thread). */
static void publish_locals(struct exe_scratch *x)
{
    struct sp_addr a[EXE_LOCALS];
    size_t n = sockproc_locals(x->sp, a, EXE_LOCALS);
    struct exe_locals *cur = atomic_load_explicit(&x->locals, memory_order_relaxed);
    x->locals_at = mono_ns();
    if (cur && cur->n == n && memcmp(cur->a, a, n * sizeof a[0]) == 0)
        return;
    struct exe_locals *l = calloc(1, sizeof *l);
    if (!l)
        return;
    l->older = cur;
    l->loopback = x->loopback;
    l->n = n;
    memcpy(l->a, a, n * sizeof a[0]);
    atomic_store_explicit(&x->locals, l, memory_order_release);
}

static bool addr_local(const struct exe_locals *l, uint8_t ipver, const uint8_t *b)
{
    if (ipver == 4 && b[0] == 127 && l->loopback)
        return true;
    size_t len = ipver == 6 ? 16 : 4;
    for (size_t i = 0; i < l->n; i++)
        if (l->a[i].ipver == ipver && memcmp(l->a[i].a, b, len) == 0)
            return true;
    return false;
}

static void *exe_helper(void *arg)
{
    struct exe_scratch *x = arg;
    while (!atomic_load_explicit(&x->stop, memory_order_acquire)) {
        if (mono_ns() - x->locals_at > 1000000000ull)
            publish_locals(x);
        struct exe_slot *s = &x->slots[x->cons % EXE_RING];
        if (atomic_load_explicit(&s->st, memory_order_acquire) == SLOT_QUEUED) {
            struct sp_tuple srv = s->q;
            memcpy(srv.local, s->q.remote, 16);
            memcpy(srv.remote, s->q.local, 16);
            srv.lport = s->q.rport;
            srv.rport = s->q.lport;
            s->ans[0] = ask(x->sp, &s->q, false);
            s->ans[1] = ask(x->sp, &srv, true);
            atomic_store_explicit(&s->st, SLOT_ANSWERED, memory_order_release);
            x->cons++;
            continue;
        }
        /* idle: asleep until the meter queues a question (it writes the
         * eventfd only when it sees `sleeping`), an eBPF event arrives
         * (its process may exit soon), or EXE_IDLE_MS pass; not woken by
         * the proc connector (read before each lookup and here: a busy
         * host forks and execs far more often than it opens sockets) */
        atomic_store(&x->sleeping, true);
        if (atomic_load(&s->st) != SLOT_QUEUED && !atomic_load(&x->stop)) {
            struct pollfd pfd[2] = {{x->wake_fd, POLLIN, 0},
                                    {sockproc_event_fd(x->sp), POLLIN, 0}};
            poll(pfd, pfd[1].fd >= 0 ? 2 : 1, EXE_IDLE_MS);
        }
        atomic_store(&x->sleeping, false);
        uint64_t n;
        if (read(x->wake_fd, &n, sizeof n) < 0 && errno != EAGAIN)
            n = 0;
        atomic_store_explicit(&x->kicked, false, memory_order_relaxed);
        sockproc_events(x->sp);
    }
    return NULL;
}

/* ---- collecting answers (meter thread) ------------------------------ */

static void wake(struct exe_scratch *x)
{
    uint64_t one = 1;
    if (write(x->wake_fd, &one, sizeof one) < 0)
        x->kicked = false;   /* counter full (cannot be: the helper reads it) */
}

static void collect(struct exe_scratch *x)
{
    while (x->coll != x->prod) {
        struct exe_slot *s = &x->slots[x->coll % EXE_RING];
        if (atomic_load_explicit(&s->st, memory_order_acquire) != SLOT_ANSWERED)
            return;
        if (s->owner) {
            s->owner->ans[0] = s->ans[0];
            s->owner->ans[1] = s->ans[1];
            s->owner->slot = NULL;
        } else {
            free(s->ans[0]);
            free(s->ans[1]);
        }
        s->ans[0] = s->ans[1] = NULL;
        s->owner = NULL;
        atomic_store_explicit(&s->st, SLOT_FREE, memory_order_relaxed);
        x->coll++;
    }
}

static void exe_packet(const struct module_env *env, void **state, const struct flow *f,
                       const struct packet *p, int dir)
{
    (void)p;
    (void)dir;
    if (*state)
        return;
    struct exe_scratch *x = env->scratch;
    const struct exe_locals *l = atomic_load_explicit(&x->locals, memory_order_acquire);
    if (l && !addr_local(l, f->key.ipver, f->key.addr[0].b) &&
        !addr_local(l, f->key.ipver, f->key.addr[1].b)) {
        module_decline(state);   /* between other hosts */
        return;
    }
    collect(x);
    struct exe_slot *s = &x->slots[x->prod % EXE_RING];
    if (atomic_load_explicit(&s->st, memory_order_relaxed) != SLOT_FREE) {
        x->full++;
        module_decline(state);
        return;
    }
    struct exe_state *st = calloc(1, sizeof *st);
    if (!st) {
        module_decline(state);
        return;
    }
    const struct ipaddr *sa = flow_sa(f), *da = flow_da(f);
    memset(&s->q, 0, sizeof s->q);
    s->q.ipver = f->key.ipver;
    s->q.proto = f->key.proto;
    s->q.lport = flow_sp(f);
    s->q.rport = flow_dp(f);
    memcpy(s->q.local, sa->b, f->key.ipver == 6 ? 16 : 4);
    memcpy(s->q.remote, da->b, f->key.ipver == 6 ? 16 : 4);
    s->owner = st;
    st->slot = s;
    atomic_store(&s->st, SLOT_QUEUED);
    x->prod++;
    *state = st;
    /* one system call per wake-up of an idle helper, none while it works */
    if (atomic_load(&x->sleeping) &&
        !atomic_exchange_explicit(&x->kicked, true, memory_order_relaxed))
        wake(x);
}

static void exe_tick(const struct module_env *env, uint64_t now_ns)
{
    (void)now_ns;
    collect(env->scratch);
}

/* ---- the record ----------------------------------------------------- */

static void write_proc(struct jsonw *w, const char *key, const struct sp_proc *p,
                       const struct flow *f)
{
    jw_key(w, key);
    jw_obj_open(w);
    jw_kv_cstr(w, "name", p->name);
    if (p->path[0])
        jw_kv_cstr(w, "path", p->path);
    if (p->deleted) {
        jw_key(w, "deleted");
        jw_bool(w, true);
    }
    if (p->have_hash)
        jw_kv_cstr(w, "hash", p->hash);
    /* start time and parent are unknown when the process had exited
     * before /proc was read (an eBPF event's process): left out */
    if (p->start_ns) {
        uint64_t up = f->t_start > p->start_ns ? f->t_start - p->start_ns : 0;
        jw_key(w, "uptime");
        jw_fixed(w, (double)up / 1e9, 3);
    }
    jw_kv_uint(w, "pid", (uint64_t)p->pid);
    if (p->start_ns)
        jw_kv_uint(w, "ppid", (uint64_t)p->ppid);
    jw_kv_uint(w, "uid", p->uid);
    if (p->user[0])
        jw_kv_cstr(w, "user", p->user);
    if (p->cmdline[0])
        jw_kv_cstr(w, "cmdline", p->cmdline);
    if (p->cgroup[0])
        jw_kv_cstr(w, "cgroup", p->cgroup);
    if (p->container[0])
        jw_kv_cstr(w, "container", p->container);
    jw_kv_cstr(w, "method", sp_method_name(p->method));
    jw_close(w);
}

static void exe_json(const struct module_env *env, const void *state, const struct flow *f,
                     struct jsonw *w)
{
    const struct exe_state *st = state;
    struct exe_scratch *x = env->scratch;
    struct sp_proc *const *ans = st->ans;
    if (st->slot) {
        /* not collected yet: wait for the helper, at most EXE_WAIT_MS */
        struct exe_slot *s = st->slot;
        for (int i = 0; i < EXE_WAIT_MS &&
                        atomic_load_explicit(&s->st, memory_order_acquire) != SLOT_ANSWERED;
             i++) {
            struct timespec ts = {0, 1000000L};
            nanosleep(&ts, NULL);
        }
        if (atomic_load_explicit(&s->st, memory_order_acquire) != SLOT_ANSWERED) {
            x->late++;
            return;
        }
        ans = s->ans;
    }
    const struct sp_proc *c = ans[0], *sv = ans[1];
    if (c) {
        write_proc(w, "exe", c, f);
        if (sv)
            write_proc(w, "exe_in", sv, f);
    } else if (sv) {
        write_proc(w, "exe", sv, f);
    }
}

static void exe_free_state(void *state)
{
    struct exe_state *st = state;
    if (st->slot)
        st->slot->owner = NULL;   /* the answer is freed when collected */
    free(st->ans[0]);
    free(st->ans[1]);
    free(st);
}

/* ---- set-up --------------------------------------------------------- */

static int exe_setup(const void *cfg, const struct joy_config *core, void **data, char *err,
                     size_t errlen)
{
    (void)cfg;
    *data = NULL;
    if (!core->interface || !core->interface[0]) {
        snprintf(err, errlen,
                 "exe=1 needs a live capture (-i IFACE): a capture file has no processes");
        return -1;
    }
    bool connector = false;
    if (sockproc_probe(&connector, err, errlen) != 0)
        return -1;
    return 0;
}

/* The start-up line (the first meter's helper state, once per process). */
static void say_methods(const struct sockproc *sp)
{
    static atomic_flag said = ATOMIC_FLAG_INIT;
    if (atomic_flag_test_and_set(&said))
        return;
    fprintf(stderr,
            "joy: exe=1: sock_diag socket lookups in joy's network namespace; process index "
            "refreshed by %s; event-driven source: %s\n",
            sockproc_has_connector(sp)
                ? "proc connector events and rescans"
                : "rescans (no proc connector: needs CAP_NET_ADMIN, and CAP_SYS_ADMIN outside "
                  "the initial network namespace)",
            sockproc_ebpf_status(sp));
}

static void exe_worker_free(void *scratch)
{
    struct exe_scratch *x = scratch;
    if (x->started) {
        atomic_store(&x->stop, true);
        wake(x);
        pthread_join(x->th, NULL);
        const struct sp_stats *st = sockproc_stats(x->sp);
        fprintf(stderr,
                "joy: exe: %llu sides looked up: %llu sock_diag, %llu ebpf, %llu listener, "
                "%llu cache; %llu no socket, %llu no process, %llu not local; %llu /proc "
                "rescans; %llu eBPF events (%llu processes gone before read, %llu of them with a "
                "known executable; %llu executables found by an event's path); "
                "%llu records written before their answer, %llu flows not asked (ring full); "
                "%llu failed reads of the address list (the one before kept)\n",
                (unsigned long long)st->lookups, (unsigned long long)st->diag,
                (unsigned long long)st->ebpf, (unsigned long long)st->listener,
                (unsigned long long)st->cache,
                (unsigned long long)st->no_socket, (unsigned long long)st->no_process,
                (unsigned long long)st->not_local, (unsigned long long)st->rescans,
                (unsigned long long)st->ebpf_events, (unsigned long long)st->ebpf_gone,
                (unsigned long long)st->ebpf_gone_exe, (unsigned long long)st->exe_learnt,
                (unsigned long long)x->late, (unsigned long long)x->full,
                (unsigned long long)st->ifaddrs_failed);
    }
    sockproc_free(x->sp);
    if (x->wake_fd >= 0)
        close(x->wake_fd);
    if (x->slots)
        for (size_t i = 0; i < EXE_RING; i++) {
            free(x->slots[i].ans[0]);
            free(x->slots[i].ans[1]);
        }
    free(x->slots);
    for (struct exe_locals *l = atomic_load_explicit(&x->locals, memory_order_relaxed), *o; l;
         l = o) {
        o = l->older;
        free(l);
    }
    free(x);
}

static int exe_worker_init(const struct module_env *env, void **scratch, char *err,
                           size_t errlen)
{
    struct exe_scratch *x = calloc(1, sizeof *x);
    if (!x || !(x->slots = calloc(EXE_RING, sizeof *x->slots))) {
        free(x);
        snprintf(err, errlen, "exe: out of memory");
        return -1;
    }
    atomic_init(&x->stop, false);
    atomic_init(&x->sleeping, false);
    atomic_init(&x->kicked, false);
    x->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (x->wake_fd < 0) {
        snprintf(err, errlen, "exe: eventfd: %s", strerror(errno));
        exe_worker_free(x);
        return -1;
    }
    for (size_t i = 0; i < EXE_RING; i++)
        atomic_init(&x->slots[i].st, SLOT_FREE);
    const struct exe_cfg *cfg = env->cfg;
    x->loopback = sockproc_sees_loopback(env->core->interface);
    if (!(x->sp = sockproc_new(cfg->ebpf, x->loopback, err, errlen))) {
        exe_worker_free(x);
        return -1;
    }
    say_methods(x->sp);
    publish_locals(x);
    int e = pthread_create(&x->th, NULL, exe_helper, x);
    if (e != 0) {
        snprintf(err, errlen, "exe: helper thread: %s", strerror(e));
        exe_worker_free(x);
        return -1;
    }
    x->started = true;
    *scratch = x;
    return 0;
}

const struct joy_module exe_module = {
    .name = "exe",
    .summary = "the local process of each flow: name, path, SHA-256, pid, user (live, Linux)",
    .options = exe_options,
    .config_size = sizeof(struct exe_cfg),
    .interest = MI_TCP | MI_UDP,
    .setup = exe_setup,
    .worker_init = exe_worker_init,
    .worker_free = exe_worker_free,
    .packet = exe_packet,
    .write_json = exe_json,
    .free_state = exe_free_state,
    .tick = exe_tick,
};
