/*
 * record.c - one flow record as a JSON object (Joy 2.0 field names).
 *
 * Field order is fixed: the 5-tuple, counters, times, packets (SPLT), ip,
 * tcp, community_id, then each enabled module in table order, then debug
 * and expire_type.  doc/schema.md defines every field.
 */
#include "record.h"

#include "anon.h"
#include "jsonw.h"
#include "module.h"
#include "proto_util.h"

#include <stdio.h>

/* packets: [{"b":len,"dir":">","ipt":ms}, ...], formatted in place with
 * one buffer check for the whole array (the same bytes as one jw_ call per
 * member would write). */
static void write_splt(struct jsonw *w, const struct flow *f)
{
    static const char open_b[] = "{\"b\":", dir_out[] = ",\"dir\":\">\",\"ipt\":",
                      dir_in[] = ",\"dir\":\"<\",\"ipt\":";
    enum { ENTRY_MAX = sizeof open_b - 1 + JW_UINT_MAX + sizeof dir_out - 1 + JW_UINT_MAX + 2 };
    jw_key(w, "packets");
    char *o = jw_raw_begin(w, 2 + (size_t)f->n_splt * ENTRY_MAX);
    if (!o)
        return;
    *o++ = '[';
    uint64_t prev = f->t_start;
    for (uint32_t i = 0; i < f->n_splt; i++) {
        const struct splt_entry *e = &f->splt[i];
        uint64_t ipt = e->ts > prev ? (e->ts - prev) / 1000000u : 0;
        if (e->ts > prev)
            prev = e->ts;
        if (i)
            *o++ = ',';
        memcpy(o, open_b, sizeof open_b - 1);
        o = jw_fmt_uint(o + sizeof open_b - 1, e->len);
        memcpy(o, (e->dir & 1) ? dir_in : dir_out, sizeof dir_out - 1);
        o = jw_fmt_uint(o + sizeof dir_out - 1, ipt);
        *o++ = '}';
    }
    *o++ = ']';
    jw_raw_end(w, o);
}

/* "key":"address", the address formatted in place when the buffer has
 * room (ipaddr_fmt's text needs no escaping; its NUL lands on the closing
 * quote's place), else through a copy.  Always inlined: the key is a
 * literal, see jw_key_inline(). */
JW_ALWAYS_INLINE void write_addr(struct jsonw *w, const char *key, const struct ipaddr *a,
                                 int ipver)
{
    size_t klen = strlen(key);
    char *o = jw_key_inline(w, key, klen, IPADDR_STRLEN + 2);
    if (o) {
        *o++ = '"';
        o += ipaddr_fmt(a, ipver, o);
        *o++ = '"';
        w->len = (size_t)(o - w->buf);
        return;
    }
    char addr[IPADDR_STRLEN];
    jw_kv_plain_n(w, key, klen, addr, ipaddr_fmt(a, ipver, addr));
}

static void write_ip_side(struct jsonw *w, const char *name, const struct flow_side *s)
{
    jw_key(w, name);
    jw_obj_open(w);
    jw_kv_uint(w, "ttl", s->min_ttl);
    jw_key(w, "id");
    char *o = jw_raw_begin(w, 2 + (size_t)s->n_ids * 6);
    if (o) {
        *o++ = '[';
        for (uint32_t i = 0; i < s->n_ids; i++) {
            if (i)
                *o++ = ',';
            o = jw_fmt_uint(o, s->ids[i]);
        }
        *o++ = ']';
        jw_raw_end(w, o);
    }
    jw_close(w);
}

static void write_tcp_side(struct jsonw *w, const char *name, const struct flow_side *s)
{
    char flags[9];
    jw_key(w, name);
    jw_obj_open(w);
    jw_kv_cstr(w, "flags", tcp_flags_str(s->syn_flags, flags));
    jw_kv_uint(w, "first_seq", s->syn_seq);
    jw_kv_uint(w, "first_window_size", s->syn_win);
    jw_kv_uint(w, "opt_len", s->syn_hdr_optlen);
    jw_key(w, "opts");
    tcp_opts_to_json(w, s->syn_opts, s->syn_optlen);
    jw_close(w);
}

/* The name of a tunnel layer's identifier in the record. */
static const char *tunnel_id_name(unsigned type)
{
    switch (type) {
    case TUN_GRE: case TUN_GRETAP: case TUN_GRE_MPLS: return "key";
    case TUN_PPTP: return "call_id";
    case TUN_ERSPAN2: case TUN_ERSPAN3: return "session";
    case TUN_VXLAN: case TUN_GENEVE: return "vni";
    case TUN_GTPU: return "teid";
    case TUN_MPLS_UDP: return "label";
    default: return "id";
    }
}

/*
 * "tunnel": [{"type":..., "sa":..., "da":..., "sp":..., "dp":..., id}, ...]
 * outermost first; addresses and ports oriented like the flow (sa on the
 * client's side); an identifier chosen per direction has "<name>_in" for
 * the server's packets.
 */
static void write_tunnel(struct jsonw *w, const struct flow_tunnel *t)
{
    char addr[64], name[32];
    jw_key(w, "tunnel");
    jw_arr_open(w);
    for (unsigned i = 0; i < t->n; i++) {
        const struct tunnel_layer *l = &t->layer[i];
        bool fwd = t->dir == 0;  /* the layer was taken from a client packet */
        jw_obj_open(w);
        if (l->type == TUN_IPIP) {
            snprintf(name, sizeof name, "%din%d", l->inner_ipver, l->ipver);
            jw_kv_cstr(w, "type", name);
        } else {
            jw_kv_cstr(w, "type", tunnel_type_name(l->type));
        }
        jw_kv_cstr(w, "sa", ipaddr_str(fwd ? &l->src : &l->dst, l->ipver, addr, sizeof addr));
        jw_kv_cstr(w, "da", ipaddr_str(fwd ? &l->dst : &l->src, l->ipver, addr, sizeof addr));
        if (l->sport || l->dport) {
            jw_kv_uint(w, "sp", fwd ? l->sport : l->dport);
            jw_kv_uint(w, "dp", fwd ? l->dport : l->sport);
        }
        if (l->has_id) {
            const char *id = tunnel_id_name(l->type);
            bool other = (t->other_seen >> i) & 1;
            if (l->type != TUN_PPTP && l->type != TUN_GTPU && l->type != TUN_MPLS_UDP) {
                jw_kv_uint(w, id, l->id);
            } else {
                /* out: the client's packets; in: the server's */
                bool have_out = fwd || other, have_in = !fwd || other;
                uint32_t out = fwd ? l->id : t->other_id[i];
                uint32_t in = fwd ? t->other_id[i] : l->id;
                if (have_out)
                    jw_kv_uint(w, id, out);
                if (have_in) {
                    snprintf(name, sizeof name, "%s_in", id);
                    jw_kv_uint(w, name, in);
                }
            }
        }
        jw_close(w);
    }
    jw_close(w);
}

const struct flow *record_shown_flow(const struct record_env *re, const struct flow *f,
                                     struct flow *copy)
{
    if (!f->anon || !re->anon)
        return f;
    *copy = *f;
    for (int k = 0; k < 2; k++)
        anon_map(re->anon, &copy->key.addr[k], f->key.ipver, &copy->key.addr[k]);
    return copy;
}

/* Let the anonymiser rewrite what the modules wrote, from offset `from` on
 * (anon.h: quoted addresses become pseudonyms). */
static void scrub_module_fields(struct jsonw *w, size_t from, struct anon_worker *anon)
{
    size_t n;
    const char *text;
    if (anon && !w->overflow && w->len > from && (text = anon_scrub(anon, w->buf + from,
                                                                   w->len - from, &n)))
        jw_replace_from(w, from, text, n);
}

void record_write(struct jsonw *w, const struct flow *f, const struct flow *shown,
                  const struct record_env *re, bool with_modules, char *cid)
{
    const struct flow_side *out = &f->side[0], *in = &f->side[1];
    const struct joy_config *cfg = re->cfg;
    const struct module_env *envs = re->envs;
    size_t n_mod = with_modules ? re->n_mod : 0;

    jw_obj_open(w);
    write_addr(w, "sa", flow_sa(shown), f->key.ipver);
    write_addr(w, "da", flow_da(shown), f->key.ipver);
    jw_kv_uint(w, "pr", f->key.proto);
    if (flow_has_ports(f)) {
        jw_kv_uint(w, "sp", flow_sp(f));
        jw_kv_uint(w, "dp", flow_dp(f));
    } else {
        jw_key(w, "sp");
        jw_null(w);
        jw_key(w, "dp");
        jw_null(w);
    }
    jw_kv_uint(w, "bytes_out", out->bytes);
    jw_kv_uint(w, "num_pkts_out", out->pkts);
    if (cfg->bidir) {
        jw_kv_uint(w, "bytes_in", in->bytes);
        jw_kv_uint(w, "num_pkts_in", in->pkts);
    }
    jw_key(w, "time_start");
    jw_time_base_ns(w, re->time_base, f->t_start);
    jw_key(w, "time_end");
    jw_time_base_ns(w, re->time_base, f->t_end);
    write_splt(w, f);

    jw_key(w, "ip");
    jw_obj_open(w);
    if (out->pkts)
        write_ip_side(w, "out", out);
    if (in->pkts)
        write_ip_side(w, "in", in);
    jw_close(w);

    if (f->key.proto == 6 && (out->syn_seen || in->syn_seen)) {
        jw_key(w, "tcp");
        jw_obj_open(w);
        if (out->syn_seen)
            jw_kv_uint(w, "first_seq", out->syn_seq);
        if (out->syn_seen)
            write_tcp_side(w, "out", out);
        if (in->syn_seen)
            write_tcp_side(w, "in", in);
        jw_close(w);
    }

    cid[0] = '\0';
    if (cfg->community_id) {
        if (community_id_v1(shown, 0, cid, RECORD_CID_MAX))
            jw_kv_plain(w, "community_id", cid); /* "1:" and base64 */
        else
            cid[0] = '\0';
    }

    size_t module_fields = w->len;
    if (f->tun)
        write_tunnel(w, f->tun);
    for (size_t i = 0; i < n_mod; i++) {
        const struct joy_module *mod = joy_modules[re->mod_index[i]];
        if (mod->write_json && f->mod[i] != MODULE_DECLINED &&
            (f->mod[i] || mod->writes_every_record))
            mod->write_json(&envs[i], f->mod[i], f, w);
    }

    if (cfg->fpx) {
        static const char *const fp_key[2] = {"fingerprints", "fingerprints_in"};
        for (int dir = 0; dir < 2; dir++) {
            struct jw_mark mark = jw_mark(w);
            jw_key(w, fp_key[dir]);
            jw_obj_open(w);
            size_t body = w->len;
            for (size_t i = 0; i < n_mod; i++) {
                const struct joy_module *mod = joy_modules[re->mod_index[i]];
                if (f->mod[i] && f->mod[i] != MODULE_DECLINED && mod->write_fingerprints)
                    mod->write_fingerprints(&envs[i], f->mod[i], f, w, dir);
            }
            if (w->len == body)
                jw_rollback(w, mark);
            else
                jw_close(w);
        }
    }

    scrub_module_fields(w, module_fields, re->anon);

    uint64_t retrans = out->retrans + in->retrans;
    if (retrans || f->frag_pkts) {
        jw_key(w, "debug");
        jw_obj_open(w);
        if (retrans) {
            jw_kv_uint(w, "tcp_retrans", retrans);
            jw_kv_bool(w, "retrans_counted", cfg->retrans);
        }
        if (f->frag_pkts)
            jw_kv_uint(w, "frag_pkts", f->frag_pkts);
        jw_close(w);
    }
    if (f->expire) {
        char e[2] = {(char)f->expire, 0};
        jw_kv_plain(w, "expire_type", e);
    }
    jw_finish(w);
}
