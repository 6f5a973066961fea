/*
 * ipfix_json.c - a decoded flow record as a joy JSON record.
 *
 * Members keep joy's names and order (doc/schema.md); a member is written
 * only when the IPFIX/NetFlow record carried it (doc/ipfix.md has the
 * mapping).  IP bytes (octetDeltaCount) go to ip_bytes_out/_in; bytes_out/_in
 * (L4 payload) only when the exporter sent them (joy's own export does).
 */
#include "ipfix.h"

#include "addr.h"
#include "jsonw.h"

#include <stdio.h>
#include <string.h>

static void tcp_flags(char out[9], uint8_t f)
{
    static const char letters[] = "FSRPAUEC";
    size_t n = 0;
    for (int i = 0; i < 8; i++)
        if (f & (1u << i))
            out[n++] = letters[i];
    out[n] = '\0';
}

void ipfix_flow_json(const struct ipfix_flow *f, struct jsonw *w)
{
    const struct joy_record *v = &f->view;
    char buf[64];
    struct ipaddr a;
    int ver = v->ip_version == 6 ? 6 : 4;
    jw_obj_open(w);
    memcpy(a.b, v->sa, 16);
    jw_kv_cstr(w, "sa", ipaddr_str(&a, ver, buf, sizeof buf));
    memcpy(a.b, v->da, 16);
    jw_kv_cstr(w, "da", ipaddr_str(&a, ver, buf, sizeof buf));
    jw_kv_uint(w, "pr", v->protocol);
    if (v->has_ports) {
        jw_kv_uint(w, "sp", v->sp);
        jw_kv_uint(w, "dp", v->dp);
    } else {
        jw_key(w, "sp");
        jw_null(w);
        jw_key(w, "dp");
        jw_null(w);
    }
    if (f->has_payload_bytes)
        jw_kv_uint(w, "bytes_out", v->out.bytes);
    jw_kv_uint(w, "num_pkts_out", v->out.packets);
    if (f->has_reverse) {
        if (f->has_payload_bytes)
            jw_kv_uint(w, "bytes_in", v->in.bytes);
        jw_kv_uint(w, "num_pkts_in", v->in.packets);
    }
    if (f->has_times) {
        jw_key(w, "time_start");
        jw_time_ns(w, v->time_start_ns);
        jw_key(w, "time_end");
        jw_time_ns(w, v->time_end_ns);
    }
    if (f->has_splt) {
        jw_key(w, "packets");
        jw_arr_open(w);
        for (uint32_t i = 0; i < f->n_splt; i++) {
            jw_obj_open(w);
            jw_kv_uint(w, "b", f->splt[i].len);
            jw_kv_cstr(w, "dir", f->splt[i].dir ? "<" : ">");
            jw_kv_uint(w, "ipt", f->splt_ipt[i]);
            jw_close(w);
        }
        jw_close(w);
    }
    if (f->has_bd) {
        jw_key(w, "byte_dist");
        jw_uint_array(w, f->bd, 256);
    }
    if (f->idp_out_len) {
        jw_kv_hex(w, "idp_out", f->idp_out, f->idp_out_len);
        jw_kv_uint(w, "idp_len_out", f->idp_out_len);
    }
    if (f->idp_in_len) {
        jw_kv_hex(w, "idp_in", f->idp_in, f->idp_in_len);
        jw_kv_uint(w, "idp_len_in", f->idp_in_len);
    }
    jw_kv_uint(w, "ip_bytes_out", v->out.ip_bytes);
    if (f->has_reverse)
        jw_kv_uint(w, "ip_bytes_in", v->in.ip_bytes);
    if (v->protocol == 6) {
        tcp_flags(buf, v->out.tcp_flags);
        jw_kv_cstr(w, "tcp_flags_out", buf);
        if (f->has_reverse) {
            tcp_flags(buf, v->in.tcp_flags);
            jw_kv_cstr(w, "tcp_flags_in", buf);
        }
    }
    jw_key(w, "ipfix");
    jw_obj_open(w);
    jw_kv_cstr(w, "exporter", f->exporter ? f->exporter : "");
    jw_kv_uint(w, "version", f->version);
    jw_kv_uint(w, "domain", f->domain);
    if (f->version != 5)
        jw_kv_uint(w, "template", f->template_id);
    jw_close(w);
    if (v->expire) {
        char e[2] = {(char)v->expire, 0};
        jw_kv_cstr(w, "expire_type", e);
    }
    jw_close(w);
    jw_finish(w);
}
