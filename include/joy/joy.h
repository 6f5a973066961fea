/*
 * joy.h - libjoy, the joy flow meter as a C library.  The only public header.
 *
 * Packets in, flow records out.  A program builds one read-only
 * *context* from a configuration (the same key=value options as the joy
 * command line and its -x files), makes one *meter* per thread from that
 * context, feeds each meter packets with their own timestamps, and receives
 * every finished flow record through a callback: the JSON text that the
 * joy command writes (one line) plus a structured view of the flow.
 *
 *     struct joy_config *cfg = joy_config_new(err, sizeof err);
 *     joy_config_set(cfg, "tls", "1", NULL, err, sizeof err);
 *     struct joy_context *ctx = joy_context_new(cfg, err, sizeof err);
 *     joy_config_free(cfg);                          (the context has its copy)
 *     struct joy_meter *m = joy_meter_new(ctx, on_record, user, err, sizeof err);
 *     for each packet: joy_meter_packet(m, linktype, data, caplen, wirelen, ts_ns);
 *     joy_meter_flush(m);                            (every open flow: a record)
 *     joy_meter_free(m); joy_context_free(ctx);
 *
 * Ownership and lifetimes
 *   - A configuration is the caller's; joy_context_new() copies what it
 *     needs, so the configuration may be changed or freed afterwards.
 *   - A context owns what the modules load once (subnet tries, keys, maps,
 *     OpenSSL algorithm objects).  It is never written after
 *     joy_context_new() returns, and must outlive every meter made from it.
 *   - A meter owns its flow table, its per-flow state and its scratch
 *     (digest contexts, text buffers).  joy_meter_free() drops open flows
 *     without records: call joy_meter_flush() first to have them.
 *   - The record passed to the callback (its JSON text and its view) is
 *     valid only during the call: copy what you keep.
 *
 * Threads
 *   - A context may be used by any number of threads at once.
 *   - A meter must be used by one thread at a time (no locks inside: a
 *     meter is the unit of parallelism).  Its callback runs on the thread
 *     that called joy_meter_packet/advance/flush, and must not call back
 *     into the same meter.
 *   - To spread packets over several meters, joy_flow_hash() gives a hash
 *     that is the same for both directions of a flow (and, in
 *     JOY_HASH_ADDRS mode, for every fragment of a datagram);
 *     joy_flow_keys() gives both hashes and the fragment state at once, for
 *     a dispatcher that spreads connections and follows fragments.  For records
 *     identical to one meter's, also move every meter's clock with
 *     joy_meter_advance() as time passes (see doc/libjoy.md).
 *
 * Time
 *   Packet time only: a meter's clock is the newest timestamp it was given
 *   (joy_meter_packet or joy_meter_advance).  Flows expire when that clock
 *   passes their timeouts; nothing happens between calls.  A live capture
 *   calls joy_meter_advance(m, wall clock) when the link is idle.
 *
 * Errors
 *   Functions that can fail return a joy_status (0 = JOY_OK, negative =
 *   error) or NULL, and write a one-line message into the caller's buffer
 *   (err, errlen) when one is given.  joy_strerror() names a code.
 *
 * Symbols: everything exported starts with joy_ (or JOY_ for macros).
 * See doc/libjoy.md and libjoy(3).
 */
#ifndef JOY_JOY_H
#define JOY_JOY_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(JOY_BUILDING_LIB) && defined(__GNUC__)
#define JOY_API __attribute__((visibility("default")))
#else
#define JOY_API
#endif

/* ---------------------------------------------------------------------
 * Versions.  The macros give the version compiled against; joy_version()
 * and joy_version_number() the version of the library actually loaded.
 */
#define JOY_VERSION_MAJOR 1
#define JOY_VERSION_MINOR 4
#define JOY_VERSION_PATCH 0
#define JOY_VERSION_STRING "1.4.0"
/* MAJOR * 10000 + MINOR * 100 + PATCH */
#define JOY_VERSION_NUMBER (JOY_VERSION_MAJOR * 10000 + JOY_VERSION_MINOR * 100 + JOY_VERSION_PATCH)

JOY_API const char *joy_version(void);
JOY_API int joy_version_number(void);

/* ---------------------------------------------------------------------
 * Status codes.
 */
enum joy_status {
    JOY_OK = 0,
    JOY_ERR_INVALID = -1,      /* an argument is NULL or out of range */
    JOY_ERR_UNKNOWN_KEY = -2,  /* no option has this key */
    JOY_ERR_VALUE = -3,        /* the option's value is not valid */
    JOY_ERR_FILE = -4,         /* a file could not be read, or its content is wrong */
    JOY_ERR_NOMEM = -5,        /* out of memory */
    JOY_ERR_SETUP = -6,        /* a module could not load what it needs */
    JOY_ERR_SPACE = -7,        /* the caller's buffer is too small */
    JOY_ERR_NOT_IP = -8,       /* the frame carries no decodable IP packet */
    JOY_ERR_NOT_FOUND = -9,    /* the record has no such member */
};

/* A short constant text for a status code ("unknown option key", ...). */
JOY_API const char *joy_strerror(int status);

/* ---------------------------------------------------------------------
 * Configuration: every option of the joy command (joy -h, options.cfg,
 * doc/joy.1).  Options about where packets come from and where records go
 * (output, interface, bpf, promisc, snaplen, gzip_level, progress,
 * verbosity) are stored and shown in the metadata line, but the library
 * itself neither captures nor writes files: that is its caller's job.
 */
struct joy_config;

/* A configuration with every default.  NULL (message in err) on failure. */
JOY_API struct joy_config *joy_config_new(char *err, size_t errlen);
JOY_API void joy_config_free(struct joy_config *cfg);

/*
 * Set one option from text, exactly as `key=value` on the command line.
 * `origin` names where the setting came from in messages ("command line",
 * "site.cfg:12"); NULL means "joy_config_set".  Returns JOY_OK,
 * JOY_ERR_UNKNOWN_KEY or JOY_ERR_VALUE (message in err).  On JOY_OK err
 * holds "" or a notice: a key of the original Joy that joy accepts and
 * ignores (doc/joy-compat.md says which), to be shown to the user.
 */
JOY_API int joy_config_set(struct joy_config *cfg, const char *key, const char *value,
                           const char *origin, char *err, size_t errlen);

/* Read an options file (`key = value` lines, '#' comments, a bare `key`
 * means key = 1), as joy -x does.  JOY_OK or JOY_ERR_FILE/_UNKNOWN_KEY/_VALUE.
 * On JOY_OK err holds the notices of ignored Joy keys, one a line, or "". */
JOY_API int joy_config_load_file(struct joy_config *cfg, const char *path, char *err,
                                 size_t errlen);

/*
 * The value of option `key` as text into buf: "0"/"1" for switches,
 * decimal for numbers, the text for strings ("" when unset), and the
 * values of a repeatable option separated by '\n'.  Returns JOY_OK,
 * JOY_ERR_UNKNOWN_KEY, or JOY_ERR_SPACE when buflen is too small (buf then
 * holds a truncated, terminated text).
 */
JOY_API int joy_config_get(const struct joy_config *cfg, const char *key, char *buf,
                           size_t buflen);

/* Is `key` an option?  1 or 0. */
JOY_API int joy_config_has_key(const char *key);

/* Every option with its help text (the list joy -h prints), and every
 * option with its default in the options.cfg format. */
JOY_API void joy_config_print_help(FILE *out);
JOY_API void joy_config_print_defaults(FILE *out);

/* Does joy decode frames of this pcap link type (1 Ethernet, 101 raw IP,
 * 113 Linux SLL, ...)?  1 or 0.  And its name ("EN10MB", ...). */
JOY_API int joy_linktype_supported(int linktype);
JOY_API const char *joy_linktype_name(int linktype);

/* ---------------------------------------------------------------------
 * Context: read-only, shared by every meter made from it.
 */
struct joy_context;

/* Load what the enabled modules need (subnet files, keys, maps).  NULL
 * with a message in err on failure (a file that is missing or malformed). */
JOY_API struct joy_context *joy_context_new(const struct joy_config *cfg, char *err,
                                            size_t errlen);
/* After every meter of the context was freed. */
JOY_API void joy_context_free(struct joy_context *ctx);

/* The context's configuration, for joy_config_get(). */
JOY_API const struct joy_config *joy_context_config(const struct joy_context *ctx);

/*
 * The metadata line that the joy command writes before the records: the
 * versions, the schema name, every option and the list of inputs.  Written
 * into buf with its final '\n' and a terminating NUL; returns the length of
 * the line (without the NUL).  When the result is >= buflen the line did
 * not fit (call again with a larger buffer); a negative value is an error.
 */
JOY_API long joy_context_metadata(const struct joy_context *ctx, const char *const *inputs,
                                  size_t n_inputs, char *buf, size_t buflen);

/*
 * Reloading (SIGHUP): what the reloadable modules loaded (today the
 * classifier's model=) is loaded again from cfg, a new configuration of
 * the same run, into a struct joy_reload; the context itself is not
 * changed.  NULL with a message in err when something does not load (the
 * meters keep what they use).  Each meter takes the new data on its own
 * thread with joy_meter_reload(): records written afterwards use it.  A
 * reload may be freed once no meter uses it any more (every meter took a
 * later one, or was freed); the context's own data lives with the context.
 */
struct joy_reload;
JOY_API struct joy_reload *joy_context_reload(const struct joy_context *ctx,
                                              const struct joy_config *cfg, char *err,
                                              size_t errlen);
/* How many modules it reloads (0: nothing reloadable is enabled). */
JOY_API int joy_reload_count(const struct joy_reload *r);
JOY_API void joy_reload_free(struct joy_reload *r);

/* ---------------------------------------------------------------------
 * Records.
 */

/* One direction of a flow: "out" is what the client (sa) sent. */
struct joy_side {
    uint64_t packets;       /* as in num_pkts_out/_in */
    uint64_t bytes;         /* transport payload bytes (bytes_out/_in) */
    uint64_t ip_bytes;      /* IP bytes: the IP total length of every packet */
    uint64_t retrans;       /* TCP retransmissions seen */
    uint8_t tcp_flags;      /* the union of the TCP flags seen */
    uint8_t min_ttl;        /* smallest IP TTL / hop limit seen ... */
    uint8_t ttl_seen;       /* ... valid when 1 (the side sent a packet) */
    uint8_t reserved[5];
};

/* One entry of the packet length and time sequence (the record's "packets"). */
struct joy_pkt {
    uint64_t ts_ns;         /* packet time, ns since the epoch */
    uint32_t len;           /* transport payload bytes */
    uint32_t dir;           /* 0 from the client, 1 from the server */
};

/* Why a record was written: its "expire_type" member. */
enum joy_expire {
    JOY_EXPIRE_NONE = 0,
    JOY_EXPIRE_INACTIVE = 'i',   /* idle for inactive_timeout */
    JOY_EXPIRE_ACTIVE = 'a',     /* older than active_timeout: continued in a new record */
    JOY_EXPIRE_END = 'e',        /* joy_meter_flush (end of input) */
    JOY_EXPIRE_ROOM = 'r',       /* max_flows reached: the least recently active left */
    JOY_EXPIRE_CLOSED = 'c',     /* TCP connection ended, then a new SYN on its ports:
                                    the new connection is in a new record (1.4) */
};

/*
 * A finished record as the callback receives it.  `json` is the exact line
 * the joy command writes (ending in '\n', not NUL-terminated).  The other
 * members describe the same flow as the record shows it: when anon= hides
 * an address, sa/da hold its pseudonym.  Members are only ever appended to
 * this structure in later versions of the library.
 */
struct joy_record {
    const char *json;
    size_t len;
    uint8_t ip_version;     /* 4 or 6 */
    uint8_t protocol;       /* IP protocol number (6 TCP, 17 UDP, ...) */
    uint8_t has_ports;      /* 1: sp and dp are transport ports */
    uint8_t expire;         /* enum joy_expire */
    uint16_t sp, dp;        /* client and server port (0 without ports) */
    uint8_t sa[16], da[16]; /* client and server address; IPv4 in the first 4 bytes */
    uint64_t time_start_ns, time_end_ns; /* ns since time_base_sec (normally the epoch) */
    struct joy_side out, in;
    uint32_t n_pkts;        /* entries in pkts (at most num_pkts) */
    const struct joy_pkt *pkts;
    const void *internal;   /* the library's; do not touch */
    int64_t time_base_sec;  /* time_start_ns, time_end_ns and pkts[].ts_ns count from this
                             * many seconds since the epoch (joy_meter_set_time_base; 0) */
    /* the record's "community_id" value ("1:" and base64, NUL-terminated),
     * NULL when it has none (community_id=0, collected records) */
    const char *community_id;
};

/*
 * A top-level member of the record by key ("tls", "dns", "byte_dist",
 * "fingerprints", ...): *value and *len receive its JSON value text inside
 * rec->json (valid during the callback).  JOY_OK or JOY_ERR_NOT_FOUND.
 * Module members and their meaning: doc/schema.md.
 */
JOY_API int joy_record_member(const struct joy_record *rec, const char *key, const char **value,
                              size_t *len);

/* Receives every record, on the thread that drives the meter. */
typedef void (*joy_record_fn)(void *user, const struct joy_record *rec);

/* ---------------------------------------------------------------------
 * Meter: one per thread.
 */
struct joy_meter;

JOY_API struct joy_meter *joy_meter_new(const struct joy_context *ctx, joy_record_fn on_record,
                                        void *user, char *err, size_t errlen);
JOY_API void joy_meter_free(struct joy_meter *m);

/*
 * One captured frame.  linktype: the pcap LINKTYPE_ value of the capture
 * (1 Ethernet, 101 raw IP, 113 Linux SLL, ...); data: caplen captured
 * bytes of a frame that was wirelen bytes on the wire; ts_ns: its time in
 * nanoseconds since the epoch.  Frames that are not IP, or too damaged to
 * decode, are counted in the statistics and otherwise ignored; records of
 * flows that expire on the way are delivered before the call returns.
 */
JOY_API void joy_meter_packet(struct joy_meter *m, int linktype, const uint8_t *data,
                              uint32_t caplen, uint32_t wirelen, uint64_t ts_ns);

/* Move the meter's clock to now_ns (if later) and expire what is due; a
 * now_ns older than the clock by more than inactive_timeout starts a new
 * clock epoch, as a packet that old does (doc/schema.md "Clock epochs"). */
JOY_API void joy_meter_advance(struct joy_meter *m, uint64_t now_ns);

/*
 * Times outside 1970..2554 (64-bit nanoseconds since the epoch end in
 * 2554): give the meter a time base in seconds since the epoch (negative
 * before 1970) before its first packet; every ts_ns and now_ns given to it
 * then counts from base_sec instead of from the epoch, and the records'
 * times are written as base_sec + ns exactly (joy_record.time_base_sec).
 * The default is 0.  The joy command picks the base from the first packet
 * of a run (doc/libjoy.md "Time and expiry").
 */
JOY_API void joy_meter_set_time_base(struct joy_meter *m, int64_t base_sec);

/* Write every open flow (expire_type "e") and every parked fragment. */
JOY_API void joy_meter_flush(struct joy_meter *m);

/* Use what r reloaded (joy_context_reload) for the records written from
 * now on.  r must come from the meter's context.  JOY_OK or
 * JOY_ERR_INVALID. */
JOY_API int joy_meter_reload(struct joy_meter *m, const struct joy_reload *r);

struct joy_stats {
    uint64_t packets;        /* frames given to joy_meter_packet */
    uint64_t bytes;          /* their captured bytes */
    uint64_t not_ip;         /* frames without IPv4/IPv6 */
    uint64_t truncated;      /* frames too short for their IP header */
    uint64_t malformed;      /* IP headers that contradict themselves */
    uint64_t unsupported;    /* frames of a link type joy does not decode */
    uint64_t frag_unmatched; /* later fragments whose first fragment never came */
    uint64_t records;        /* records delivered */
    uint64_t oversized;      /* records cut to their core fields (size cap) */
    uint64_t no_memory;      /* packets dropped: no memory for a new flow */
    uint64_t flows_open;     /* flows in the table now */
    uint64_t encrypted;      /* 802.11 protected frames: counted, not decoded */
    uint64_t decapsulated;   /* inner packets taken out of tunnels (tunnels=N) */
    uint64_t clock_epochs;   /* times packet time went back by more than inactive_timeout */
    uint64_t tcp_reused;     /* records ended by a new TCP connection on their ports ('c', 1.4) */
    uint64_t reserved[1];
};

JOY_API void joy_meter_get_stats(const struct joy_meter *m, struct joy_stats *out);

/* ---------------------------------------------------------------------
 * Spreading packets over meters.
 *
 * joy_flow_hash() decodes the frame's IP header and returns a 32-bit hash
 * that is the same for both directions of a flow.  JOY_HASH_ADDRS hashes
 * the address pair and protocol only, so every fragment of a datagram
 * (later fragments carry no ports) lands with its first: use it when
 * records must not depend on how packets were spread.  JOY_HASH_5TUPLE
 * adds the ports (better balance between two busy hosts; a fragmented
 * datagram may be split).  The hash is stable: the same frame gives the
 * same value in every process and with every 1.x library.
 * Returns JOY_OK, or JOY_ERR_NOT_IP (*hash = 0) for frames without an IP
 * header that decodes: give those to any one meter.
 */
enum joy_hash_mode { JOY_HASH_ADDRS = 0, JOY_HASH_5TUPLE = 1 };

JOY_API int joy_flow_hash(int linktype, const uint8_t *data, uint32_t caplen, uint32_t wirelen,
                          int mode, uint32_t *hash);

/*
 * joy_flow_keys() gives, from one walk of the headers, what a dispatcher
 * needs to spread flows over meters more finely than by host pair and
 * still give every packet of a flow to one meter: both values of
 * joy_flow_hash(), the IP protocol, and whether the frame is a fragment,
 * with a key shared by every fragment of one datagram.  A later fragment
 * carries no ports, so its `five` is its address pair's: a dispatcher that
 * spreads by `five` remembers, per `datagram`, where the first fragment
 * went (joy's own threads do so for TCP: doc/internals/threads.md).
 * Returns JOY_OK, JOY_ERR_NOT_IP (the keys zero) as joy_flow_hash() does,
 * or JOY_ERR_INVALID.  Since 1.3.
 */
enum joy_fragment { JOY_FRAG_NONE = 0, JOY_FRAG_FIRST = 1, JOY_FRAG_LATER = 2 };

struct joy_flow_keys {
    uint32_t addrs;       /* joy_flow_hash(JOY_HASH_ADDRS) */
    uint32_t five;        /* joy_flow_hash(JOY_HASH_5TUPLE) */
    uint64_t datagram;    /* fragments: addresses, protocol and identification
                           * hashed (never 0); other frames: 0 */
    uint8_t proto;        /* the IP protocol (IPv6: after extension headers) */
    uint8_t fragment;     /* enum joy_fragment */
};

JOY_API int joy_flow_keys(int linktype, const uint8_t *data, uint32_t caplen, uint32_t wirelen,
                          struct joy_flow_keys *keys);

#ifdef __cplusplus
}
#endif

#endif
