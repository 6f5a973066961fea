/*
 * \summary: DHCP module - DHCPv4 (RFC 2131/2132) and DHCPv6 (RFC 8415) messages
 *
 * DHCPv4 / BOOTP message (RFC 2131 section 2):
 *   op(1) htype(1) hlen(1) hops(1) xid(4) secs(2) flags(2)
 *   ciaddr(4) yiaddr(4) siaddr(4) giaddr(4) chaddr(16) sname(64) file(128)
 *   magic cookie 99.130.83.99, then options: code(1) len(1) value ...
 * DHCPv6 message (RFC 8415 section 8/9):
 *   msg-type(1) transaction-id(3) options: code(2) len(2) value ...
 *   relay: msg-type(1) hop-count(1) link-address(16) peer-address(16) options
 *
 * dhcp=1 (alias dhcpv6=1, as in Joy where both keys named one switch).
 * A UDP flow is DHCPv4 when either port is 67 or 68, or when its first
 * datagram carries a BOOTP header with the DHCP magic cookie; it is DHCPv6
 * when either port is 546 or 547.  Messages of both directions are kept
 * raw (at most DHCP_MAX_MSGS messages and DHCP_MAX_BYTES bytes per flow,
 * appmsg.h) and decoded when the record is written:
 *   "dhcp":   [DHCPv4 message, ...]   or
 *   "dhcpv6": [DHCPv6 message, ...]   (doc/modules/dhcp.md)
 * plus "dhcp_omitted": N when messages beyond the caps were left out.
 * Every read is bounds-checked (the original read past short packets).
 */
#include "anon.h"
#include "appmsg.h"
#include "cursor.h"
#include "dns_parse.h"
#include "flow.h"
#include "jsonw.h"
#include "module.h"
#include "packet.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define DHCP_MAX_MSGS 32
#define DHCP_MAX_BYTES (16u * 1024)
#define DHCP_BOOTP_LEN 236
#define DHCP_COOKIE 0x63825363u
#define DHCP6_MAX_DEPTH 6 /* nested options / relayed messages */

struct dhcp_cfg {
    bool on;
};

static const struct joy_option dhcp_options[] = {
    {"dhcp", OPT_BOOL, offsetof(struct dhcp_cfg, on), 0, 1, "0", "0|1",
     "DHCP (UDP 67/68) and DHCPv6 (UDP 546/547) messages of both directions"},
    {"dhcpv6", OPT_BOOL, offsetof(struct dhcp_cfg, on), 0, 1, "0", "0|1",
     "the same switch as dhcp (Joy's second name for it)"},
    {NULL, 0, 0, 0, 0, NULL, NULL, NULL},
};

struct dhcp_state {
    bool v6;
    struct appmsg_store *store;
};


/* ---------------------------------------------------------------------
 * helpers
 */

/* Address anonymisation (anon.h): addresses are written as text, which the
 * anon module rewrites; opaque option bytes that may hold addresses are
 * hidden when the flow is flagged. */
struct danon {
    bool hide_raw;
};

static void put_addr(struct jsonw *w, const uint8_t *p, int ver, const struct danon *hide)
{
    struct ipaddr a;
    char buf[48];
    memset(&a, 0, sizeof a);
    memcpy(a.b, p, ver == 4 ? 4 : 16);
    jw_cstr(w, ipaddr_str(&a, ver, buf, sizeof buf));
}

/* An address read from c; false (nothing written) if c is short. */
static bool put_addr_cur(struct jsonw *w, struct cursor *c, int ver, const struct danon *hide)
{
    const uint8_t *a = cur_bytes(c, ver == 4 ? 4 : 16);
    if (a)
        put_addr(w, a, ver, hide);
    return a != NULL;
}

/* One or more addresses up to the end of c, `group` at a time (pairs are
 * written as a flat list); false if there are none or a group is short. */
static bool put_addrs(struct jsonw *w, struct cursor *c, int ver, size_t group,
                      const struct danon *hide)
{
    size_t size = ver == 4 ? 4 : 16;
    if (!cur_left(c))
        return false;
    jw_arr_open(w);
    while (cur_left(c)) {
        const uint8_t *a = cur_bytes(c, size * group);
        if (!a)
            return false;
        for (size_t i = 0; i < group; i++)
            put_addr(w, a + i * size, ver, hide);
    }
    jw_close(w);
    return true;
}

/* 16-bit numbers up to the end of c; false if one is cut. */
static bool put_u16s(struct jsonw *w, struct cursor *c)
{
    jw_arr_open(w);
    while (cur_left(c)) {
        uint16_t v = cur_u16(c);
        if (!cur_ok(c))
            return false;
        jw_uint(w, v);
    }
    jw_close(w);
    return true;
}

/*
 * DNS-encoded names one after another (RFC 1035 3.1) up to the end of c,
 * compression relative to where c starts when ptr_min is 0.  All are
 * written as an array, or (first_only) the first as a string ("" if there
 * is none).  False if one does not decode.
 */
static bool put_names(struct jsonw *w, struct cursor *c, size_t ptr_min, bool first_only)
{
    const uint8_t *base = c->p;
    char buf[DNS_NAME_TEXT_MAX];
    size_t bl;
    bool first = true;
    if (!first_only)
        jw_arr_open(w);
    else if (!cur_left(c))
        jw_cstr(w, "");
    while (cur_left(c)) {
        if (dns_name_read(c, base, ptr_min, buf, &bl) != DNS_NAME_OK)
            return false;
        if (first || !first_only)
            jw_str(w, buf, bl);
        first = false;
    }
    if (!first_only)
        jw_close(w);
    return true;
}

/* ---------------------------------------------------------------------
 * DHCPv4 options (RFC 2132 and later; names from the IANA BOOTP/DHCP
 * parameters registry, lower case with '_', Joy's where Joy had one)
 */
enum dkind {
    K_HEX = 0, K_IP, K_IPS, K_U8, K_U16, K_U32, K_I32, K_U16S, K_STR, K_NONE,
    K_MSGTYPE, K_PARAMS, K_CLIENTID, K_FQDN, K_NAMES, K_ROUTES, K_OVERLOAD, K_IPPAIRS,
};

struct dopt {
    const char *name;
    uint8_t kind;
};

static const struct dopt dhcp4_opts[256] = {
    [1] = {"subnet_mask", K_IP},
    [2] = {"time_offset", K_I32},
    [3] = {"router", K_IPS},
    [4] = {"time_server", K_IPS},
    [5] = {"name_server", K_IPS},
    [6] = {"domain_server", K_IPS},
    [7] = {"log_server", K_IPS},
    [8] = {"quotes_server", K_IPS},
    [9] = {"lpr_server", K_IPS},
    [10] = {"impress_server", K_IPS},
    [11] = {"rlp_server", K_IPS},
    [12] = {"hostname", K_STR},
    [13] = {"boot_file_size", K_U16},
    [14] = {"merit_dump_file", K_STR},
    [15] = {"domain_name", K_STR},
    [16] = {"swap_server", K_IP},
    [17] = {"root_path", K_STR},
    [18] = {"extension_file", K_STR},
    [19] = {"forward", K_U8},
    [20] = {"source_route", K_U8},
    [21] = {"policy_filter", K_IPPAIRS},
    [22] = {"max_dg_assembly", K_U16},
    [23] = {"default_ip_ttl", K_U8},
    [24] = {"mtu_timeout", K_U32},
    [25] = {"mtu_plateau", K_U16S},
    [26] = {"mtu_interface", K_U16},
    [27] = {"mtu_subnet", K_U8},
    [28] = {"broadcast_address", K_IP},
    [29] = {"mask_discovery", K_U8},
    [30] = {"mask_supplier", K_U8},
    [31] = {"router_discovery", K_U8},
    [32] = {"router_request", K_IP},
    [33] = {"static_route", K_IPPAIRS},
    [34] = {"trailers", K_U8},
    [35] = {"arp_timeout", K_U32},
    [36] = {"ethernet", K_U8},
    [37] = {"default_tcp_ttl", K_U8},
    [38] = {"keepalive_time", K_U32},
    [39] = {"keepalive_data", K_U8},
    [40] = {"nis_domain", K_STR},
    [41] = {"nis_servers", K_IPS},
    [42] = {"ntp_servers", K_IPS},
    [43] = {"vendor_specific", K_HEX},
    [44] = {"netbios_name_server", K_IPS},
    [45] = {"netbios_dist_server", K_IPS},
    [46] = {"netbios_node_type", K_U8},
    [47] = {"netbios_scope", K_STR},
    [48] = {"x_window_font", K_IPS},
    [49] = {"x_window_manager", K_IPS},
    [50] = {"address_request", K_IP},
    [51] = {"address_time", K_U32},
    [52] = {"overload", K_OVERLOAD},
    [53] = {"msg_type", K_MSGTYPE},
    [54] = {"server_id", K_IP},
    [55] = {"parameter_list", K_PARAMS},
    [56] = {"message", K_STR},
    [57] = {"max_message_size", K_U16},
    [58] = {"renewal_time", K_U32},
    [59] = {"rebinding_time", K_U32},
    [60] = {"class_id", K_STR},
    [61] = {"client_id", K_CLIENTID},
    [62] = {"netware_ip_domain", K_STR},
    [63] = {"netware_ip_option", K_HEX},
    [64] = {"nisplus_domain", K_STR},
    [65] = {"nisplus_servers", K_IPS},
    [66] = {"tftp_server_name", K_STR},
    [67] = {"bootfile_name", K_STR},
    [68] = {"home_agent", K_IPS},
    [69] = {"smtp_server", K_IPS},
    [70] = {"pop3_server", K_IPS},
    [71] = {"nntp_server", K_IPS},
    [72] = {"www_server", K_IPS},
    [73] = {"finger_server", K_IPS},
    [74] = {"irc_server", K_IPS},
    [75] = {"streettalk_server", K_IPS},
    [76] = {"stda_server", K_IPS},
    [77] = {"user_class", K_HEX},
    [78] = {"directory_agent", K_HEX},
    [79] = {"service_scope", K_HEX},
    [80] = {"rapid_commit", K_NONE},
    [81] = {"client_fqdn", K_FQDN},
    [82] = {"relay_agent_info", K_HEX},
    [83] = {"isns", K_HEX},
    [85] = {"nds_servers", K_IPS},
    [86] = {"nds_tree_name", K_STR},
    [87] = {"nds_context", K_STR},
    [88] = {"bcmcs_domain_list", K_NAMES},
    [89] = {"bcmcs_address", K_IPS},
    [90] = {"authentication", K_HEX},
    [91] = {"client_last_transaction_time", K_U32},
    [92] = {"associated_ip", K_IPS},
    [93] = {"client_system", K_U16S},
    [94] = {"client_ndi", K_HEX},
    [95] = {"ldap", K_HEX},
    [97] = {"uuid_guid", K_HEX},
    [98] = {"user_auth", K_STR},
    [99] = {"geoconf_civic", K_HEX},
    [100] = {"pcode", K_STR},
    [101] = {"tcode", K_STR},
    [108] = {"ipv6_only_preferred", K_U32},
    [112] = {"netinfo_address", K_IPS},
    [113] = {"netinfo_tag", K_STR},
    [114] = {"captive_portal", K_STR},
    [116] = {"auto_config", K_U8},
    [117] = {"name_service_search", K_U16S},
    [118] = {"subnet_selection", K_IP},
    [119] = {"domain_search", K_NAMES},
    [120] = {"sip_servers", K_HEX},
    [121] = {"classless_static_route", K_ROUTES},
    [122] = {"cablelabs_client_config", K_HEX},
    [123] = {"geoconf", K_HEX},
    [124] = {"vi_vendor_class", K_HEX},
    [125] = {"vi_vendor_specific", K_HEX},
    [136] = {"pana_agent", K_IPS},
    [137] = {"v4_lost", K_NAMES},
    [138] = {"capwap_ac_v4", K_IPS},
    [141] = {"sip_ua_domains", K_NAMES},
    [145] = {"forcerenew_nonce_capable", K_HEX},
    [150] = {"tftp_server_address", K_IPS},
    [151] = {"status_code", K_HEX},
    [152] = {"base_time", K_U32},
    [153] = {"start_time_of_state", K_U32},
    [154] = {"query_start_time", K_U32},
    [155] = {"query_end_time", K_U32},
    [156] = {"dhcp_state", K_U8},
    [157] = {"data_source", K_U8},
    [161] = {"mud_url", K_STR},
    [209] = {"pxelinux_config_file", K_STR},
    [210] = {"pxelinux_path_prefix", K_STR},
    [211] = {"pxelinux_reboot_time", K_U32},
    [212] = {"sixrd", K_HEX},
    [213] = {"v4_access_domain", K_NAMES},
    [252] = {"wpad", K_STR},
};

static const char *const dhcp4_msg_types[] = {
    NULL, "DHCPDISCOVER", "DHCPOFFER", "DHCPREQUEST", "DHCPDECLINE", "DHCPACK", "DHCPNAK",
    "DHCPRELEASE", "DHCPINFORM", "DHCPFORCERENEW", "DHCPLEASEQUERY", "DHCPLEASEUNASSIGNED",
    "DHCPLEASEUNKNOWN", "DHCPLEASEACTIVE", "DHCPBULKLEASEQUERY", "DHCPLEASEQUERYDONE",
    "DHCPACTIVELEASEQUERY", "DHCPLEASEQUERYSTATUS", "DHCPTLS",
};

static void dhcp4_msg_type(struct jsonw *w, uint8_t t)
{
    if (t < sizeof dhcp4_msg_types / sizeof dhcp4_msg_types[0] && dhcp4_msg_types[t])
        jw_cstr(w, dhcp4_msg_types[t]);
    else
        jw_uint(w, t);
}

/* RFC 4702: flags, rcode1, rcode2, domain name (canonical wire format when
 * flag E is set, else ASCII). */
static bool dhcp4_fqdn(struct jsonw *w, struct cursor *c)
{
    uint8_t flags = cur_u8(c), rcode1 = cur_u8(c), rcode2 = cur_u8(c);
    if (!cur_ok(c))
        return false;
    jw_obj_open(w);
    jw_kv_uint(w, "flags", flags);
    jw_kv_uint(w, "rcode1", rcode1);
    jw_kv_uint(w, "rcode2", rcode2);
    jw_key(w, "name");
    if (flags & 0x04) {
        if (!put_names(w, c, DNS_NO_POINTERS, true))
            return false;
    } else {
        size_t n;
        const uint8_t *b = cur_rest(c, &n);
        jw_str(w, b, n);
    }
    jw_close(w);
    return true;
}

/* RFC 3442: width, significant octets of the destination, router. */
static bool dhcp4_routes(struct jsonw *w, struct cursor *c, const struct danon *hide)
{
    if (!cur_left(c))
        return false;
    jw_arr_open(w);
    while (cur_left(c)) {
        uint8_t width = cur_u8(c);
        if (width > 32)
            return false;
        uint8_t dst[4] = {0, 0, 0, 0};
        cur_copy(c, dst, (width + 7u) / 8);
        const uint8_t *router = cur_bytes(c, 4);
        if (!router)
            return false;
        jw_obj_open(w);
        jw_key(w, "dest");
        put_addr(w, dst, 4, hide);
        jw_kv_uint(w, "width", width);
        jw_key(w, "router");
        put_addr(w, router, 4, hide);
        jw_close(w);
    }
    jw_close(w);
    return true;
}

/* The value in the option's type; false if it does not have that type's
 * format (the caller also requires every byte read). */
static bool dhcp4_value(struct jsonw *w, uint8_t kind, struct cursor *c,
                        const struct danon *hide)
{
    size_t n;
    const uint8_t *b;
    switch (kind) {
    case K_IP: return put_addr_cur(w, c, 4, hide);
    case K_IPS: return put_addrs(w, c, 4, 1, hide);
    case K_IPPAIRS: return put_addrs(w, c, 4, 2, hide);
    case K_U8: case K_OVERLOAD: jw_uint(w, cur_u8(c)); return true;
    case K_U16: jw_uint(w, cur_u16(c)); return true;
    case K_U32: jw_uint(w, cur_u32(c)); return true;
    case K_I32: jw_int(w, (int32_t)cur_u32(c)); return true;
    case K_U16S: return cur_left(c) && put_u16s(w, c);
    case K_STR: b = cur_rest(c, &n); jw_str(w, b, n); return true;
    case K_NONE: jw_null(w); return true;
    case K_MSGTYPE: dhcp4_msg_type(w, cur_u8(c)); return true;
    case K_PARAMS:
        jw_arr_open(w);
        while (cur_left(c))
            jw_uint(w, cur_u8(c));
        jw_close(w);
        return true;
    case K_CLIENTID: {
        uint8_t type = cur_u8(c);
        if (!cur_ok(c))
            return false;
        b = cur_rest(c, &n);
        jw_obj_open(w);
        jw_kv_uint(w, "type", type);
        jw_kv_hex(w, "id", b, n);
        jw_close(w);
        return true;
    }
    case K_FQDN: return dhcp4_fqdn(w, c);
    case K_NAMES: return cur_left(c) && put_names(w, c, 0, false);
    case K_ROUTES: return dhcp4_routes(w, c, hide);
    default: b = cur_rest(c, &n); jw_hex(w, b, n); return true;
    }
}

/* One option; a value that does not have its type's format is written as
 * hex (what was written of it is rolled back). */
static void dhcp4_option(struct jsonw *w, uint8_t code, struct cursor *v,
                         const struct danon *hide)
{
    const struct dopt *d = &dhcp4_opts[code];
    struct cursor raw = *v;
    size_t n;
    const uint8_t *b = cur_rest(&raw, &n);
    jw_obj_open(w);
    if (!d->name) {
        jw_kv_uint(w, "kind", code);
        jw_kv_hex(w, "data", b, n);
        jw_close(w);
        return;
    }
    jw_key(w, d->name);
    if (hide->hide_raw && code == 82) { /* relay agent sub-options can carry addresses */
        jw_null(w);
        jw_close(w);
        return;
    }
    struct jw_mark m = jw_mark(w);
    if (!dhcp4_value(w, d->kind, v, hide) || !cur_done(v)) {
        jw_rollback(w, m);
        jw_hex(w, b, n);
    }
    jw_close(w);
}

/* Option 52 in an options area, if present (0 otherwise). */
static uint8_t dhcp4_overload(struct cursor c)
{
    while (cur_left(&c)) {
        uint8_t code = cur_u8(&c);
        if (code == 0)
            continue;
        if (code == 255)
            break;
        uint8_t len = cur_u8(&c);
        struct cursor v = cur_sub(&c, len);
        if (!cur_ok(&c))
            break;
        if (code == 52 && len == 1)
            return cur_u8(&v);
    }
    return 0;
}

/* Options in one area (code, length, value; pad 0, end 255); returns NULL
 * or why they stop early. */
static const char *dhcp4_options_area(struct jsonw *w, struct cursor *c,
                                      const struct danon *hide)
{
    while (cur_left(c)) {
        uint8_t code = cur_u8(c);
        if (code == 0)
            continue;
        if (code == 255)
            return NULL;
        uint8_t len = cur_u8(c);
        struct cursor v = cur_sub(c, len);
        if (!cur_ok(c))
            return "option";
        dhcp4_option(w, code, &v, hide);
    }
    return NULL;
}

/* sname or file as text: up to the first NUL; nothing when it is empty. */
static void dhcp4_text_field(struct jsonw *w, const char *key, struct cursor f)
{
    size_t l = 0;
    while (l < cur_left(&f) && cur_peek(&f, l))
        l++;
    if (l)
        jw_kv_str(w, key, cur_bytes(&f, l), l);
}

static void dhcp4_message_json(struct jsonw *w, const uint8_t *m, size_t len, size_t wire_len,
                               const char *cut, int dir, const struct danon *hide)
{
    const char *err = NULL;
    jw_obj_open(w);
    jw_kv_cstr(w, "dir", dir ? "<" : ">");
    /* the fixed fields that fit are written even when the message is short */
    struct cursor c;
    cur_init(&c, m, len);
    if (len < 12) {
        err = "truncated";
        goto done;
    }
    jw_kv_uint(w, "op", cur_u8(&c));
    jw_kv_uint(w, "htype", cur_u8(&c));
    uint8_t hlen = cur_u8(&c);
    jw_kv_uint(w, "hlen", hlen);
    jw_kv_uint(w, "hops", cur_u8(&c));
    jw_kv_uint(w, "xid", cur_u32(&c));
    jw_kv_uint(w, "secs", cur_u16(&c));
    jw_kv_uint(w, "flags", cur_u16(&c));
    static const char *const addr_keys[4] = {"ciaddr", "yiaddr", "siaddr", "giaddr"};
    for (int i = 0; i < 4 && cur_has(&c, 4); i++) {
        jw_key(w, addr_keys[i]);
        put_addr(w, cur_bytes(&c, 4), 4, hide);
    }
    if (cur_has(&c, 16)) {
        const uint8_t *chaddr = cur_bytes(&c, 16);
        jw_kv_hex(w, "chaddr", chaddr, hlen >= 1 && hlen <= 16 ? hlen : 16);
    }
    if (len < DHCP_BOOTP_LEN) {
        err = "truncated";
        goto done;
    }
    struct cursor sname = cur_sub(&c, 64), file = cur_sub(&c, 128);
    struct cursor vend = c; /* the BOOTP vendor area: the cookie, then options */
    bool cookie = cur_u32(&c) == DHCP_COOKIE;
    uint8_t overload = cookie ? dhcp4_overload(c) : 0;
    if (!(overload & 2))
        dhcp4_text_field(w, "sname", sname);
    if (!(overload & 1))
        dhcp4_text_field(w, "file", file);
    if (cookie) {
        jw_key(w, "options");
        jw_arr_open(w);
        err = dhcp4_options_area(w, &c, hide);
        /* RFC 2131 4.1: with overload, the file field holds options first, then sname */
        if (!err && (overload & 1))
            err = dhcp4_options_area(w, &file, hide);
        if (!err && (overload & 2))
            err = dhcp4_options_area(w, &sname, hide);
        jw_close(w);
    } else if (cur_left(&vend)) {
        size_t n;
        const uint8_t *b = cur_rest(&vend, &n);
        jw_kv_hex(w, "vend", b, n);
    }
    /* an option area cut by the capture ends in a truncated option */
    if (err && cut && len < wire_len)
        err = "truncated";
done:
    if (cut && len < wire_len) {
        jw_kv_cstr(w, "truncated", cut);
        jw_kv_uint(w, "len", wire_len);
        if (err && strcmp(err, "truncated") == 0)
            err = NULL;
    }
    if (err)
        jw_kv_cstr(w, "malformed", err);
    jw_close(w);
}

/* ---------------------------------------------------------------------
 * DHCPv6 (names from the IANA DHCPv6 parameters registry)
 */
enum d6kind {
    K6_HEX = 0, K6_DUID, K6_IA, K6_IATA, K6_IAADDR, K6_ORO, K6_U8, K6_U16, K6_U32, K6_RELAY,
    K6_ADDR, K6_STATUS, K6_NONE, K6_STRS, K6_VENDOR, K6_ADDRS, K6_NAMES, K6_PREFIX, K6_FQDN,
    K6_STR, K6_NAME,
};

struct d6opt {
    uint16_t code;
    uint8_t kind;
    const char *name;
};

static const struct d6opt dhcp6_opts[] = {
    {1, K6_DUID, "client_id"},          {2, K6_DUID, "server_id"},
    {3, K6_IA, "ia_na"},                {4, K6_IATA, "ia_ta"},
    {5, K6_IAADDR, "iaaddr"},           {6, K6_ORO, "oro"},
    {7, K6_U8, "preference"},           {8, K6_U16, "elapsed_time"},
    {9, K6_RELAY, "relay_msg"},         {11, K6_HEX, "auth"},
    {12, K6_ADDR, "unicast"},           {13, K6_STATUS, "status_code"},
    {14, K6_NONE, "rapid_commit"},      {15, K6_STRS, "user_class"},
    {16, K6_VENDOR, "vendor_class"},    {17, K6_HEX, "vendor_opts"},
    {18, K6_HEX, "interface_id"},       {19, K6_U8, "reconf_msg"},
    {20, K6_NONE, "reconf_accept"},     {21, K6_NAMES, "sip_server_d"},
    {22, K6_ADDRS, "sip_server_a"},     {23, K6_ADDRS, "dns_servers"},
    {24, K6_NAMES, "domain_list"},      {25, K6_IA, "ia_pd"},
    {26, K6_PREFIX, "iaprefix"},        {27, K6_ADDRS, "nis_servers"},
    {28, K6_ADDRS, "nisp_servers"},     {29, K6_NAMES, "nis_domain_name"},
    {30, K6_NAMES, "nisp_domain_name"}, {31, K6_ADDRS, "sntp_servers"},
    {32, K6_U32, "information_refresh_time"},
    {33, K6_NAMES, "bcmcs_server_d"},   {34, K6_ADDRS, "bcmcs_server_a"},
    {39, K6_FQDN, "client_fqdn"},       {40, K6_ADDRS, "pana_agent"},
    {56, K6_HEX, "ntp_server"},         {59, K6_STR, "bootfile_url"},
    {60, K6_HEX, "bootfile_param"},     {61, K6_ORO, "client_arch_type"},
    {62, K6_HEX, "nii"},                {64, K6_NAME, "aftr_name"},
    {65, K6_HEX, "erp_local_domain_name"},
    {79, K6_HEX, "client_linklayer_addr"},
    {82, K6_U32, "sol_max_rt"},         {83, K6_U32, "inf_max_rt"},
    {103, K6_STR, "captive_portal"},    {112, K6_STR, "mud_url_v6"},
};

static const char *const dhcp6_msg_types[] = {
    NULL, "SOLICIT", "ADVERTISE", "REQUEST", "CONFIRM", "RENEW", "REBIND", "REPLY", "RELEASE",
    "DECLINE", "RECONFIGURE", "INFORMATION-REQUEST", "RELAY-FORW", "RELAY-REPL", "LEASEQUERY",
    "LEASEQUERY-REPLY", "LEASEQUERY-DONE", "LEASEQUERY-DATA", "RECONFIGURE-REQUEST",
    "RECONFIGURE-REPLY", "DHCPV4-QUERY", "DHCPV4-RESPONSE", "ACTIVELEASEQUERY", "STARTTLS",
    "BNDUPD", "BNDREPLY", "POOLREQ", "POOLRESP", "UPDREQ", "UPDREQALL", "UPDDONE", "CONNECT",
    "CONNECTREPLY", "DISCONNECT", "STATE", "CONTACT", "ADDR-REG-INFORM", "ADDR-REG-REPLY",
};

static const struct d6opt *d6_lookup(uint16_t code)
{
    for (size_t i = 0; i < sizeof dhcp6_opts / sizeof dhcp6_opts[0]; i++)
        if (dhcp6_opts[i].code == code)
            return &dhcp6_opts[i];
    return NULL;
}

static const char *dhcp6_options(struct jsonw *w, struct cursor *c, int depth,
                                 const struct danon *hide);
static void dhcp6_body(struct jsonw *w, struct cursor *c, int depth, const struct danon *hide,
                       const char **err);

/* Options nested inside an option value (the rest of c), as "options":
 * [...]; a list that stops early says why inside the value. */
static void d6_nested(struct jsonw *w, struct cursor *c, int depth, const struct danon *hide)
{
    struct cursor o = cur_sub(c, cur_left(c));
    if (!cur_left(&o))
        return;
    jw_key(w, "options");
    const char *err = dhcp6_options(w, &o, depth + 1, hide);
    if (err)
        jw_kv_cstr(w, "malformed", err);
}

/* Strings with a 2-byte length up to the end of c; false if one is cut. */
static bool put_strs(struct jsonw *w, struct cursor *c)
{
    jw_arr_open(w);
    while (cur_left(c)) {
        uint16_t l = cur_u16(c);
        const uint8_t *b = cur_bytes(c, l);
        if (!b)
            return false;
        jw_str(w, b, l);
    }
    jw_close(w);
    return true;
}

/* DUID (RFC 8415 section 11): type, then a type-specific body. */
static bool d6_duid(struct jsonw *w, struct cursor *c)
{
    uint16_t type = cur_u16(c);
    if (!cur_ok(c))
        return false;
    size_t n = cur_left(c), rest;
    const char *key = "id"; /* DUID-EN, DUID-UUID (4) and others */
    jw_obj_open(w);
    jw_kv_uint(w, "type", type);
    if (type == 1 && n >= 6) { /* DUID-LLT */
        jw_kv_uint(w, "hwtype", cur_u16(c));
        jw_kv_uint(w, "time", cur_u32(c));
        key = "lladdr";
    } else if (type == 3 && n >= 2) { /* DUID-LL */
        jw_kv_uint(w, "hwtype", cur_u16(c));
        key = "lladdr";
    } else if (type == 2 && n >= 4) { /* DUID-EN */
        jw_kv_uint(w, "enterprise", cur_u32(c));
    }
    const uint8_t *b = cur_rest(c, &rest);
    jw_kv_hex(w, key, b, rest);
    jw_close(w);
    return true;
}

/* IA_NA / IA_PD (IAID, T1, T2) or IA_TA (IAID), then options. */
static bool d6_ia(struct jsonw *w, uint8_t kind, struct cursor *c, int depth,
                  const struct danon *hide)
{
    uint32_t iaid = cur_u32(c), t1 = 0, t2 = 0;
    if (kind == K6_IA) {
        t1 = cur_u32(c);
        t2 = cur_u32(c);
    }
    if (!cur_ok(c))
        return false;
    jw_obj_open(w);
    jw_kv_uint(w, "iaid", iaid);
    if (kind == K6_IA) {
        jw_kv_uint(w, "t1", t1);
        jw_kv_uint(w, "t2", t2);
    }
    d6_nested(w, c, depth, hide);
    jw_close(w);
    return true;
}

/* IA Address: address, preferred and valid lifetimes, options. */
static bool d6_iaaddr(struct jsonw *w, struct cursor *c, int depth, const struct danon *hide)
{
    const uint8_t *addr = cur_bytes(c, 16);
    uint32_t preferred = cur_u32(c), valid = cur_u32(c);
    if (!cur_ok(c))
        return false;
    jw_obj_open(w);
    jw_key(w, "address");
    put_addr(w, addr, 6, hide);
    jw_kv_uint(w, "preferred", preferred);
    jw_kv_uint(w, "valid", valid);
    d6_nested(w, c, depth, hide);
    jw_close(w);
    return true;
}

/* IA Prefix: lifetimes, prefix length (at most 128), prefix, options. */
static bool d6_prefix(struct jsonw *w, struct cursor *c, int depth, const struct danon *hide)
{
    uint32_t preferred = cur_u32(c), valid = cur_u32(c);
    uint8_t plen = cur_u8(c);
    const uint8_t *prefix = cur_bytes(c, 16);
    if (!cur_ok(c) || plen > 128)
        return false;
    jw_obj_open(w);
    jw_kv_uint(w, "preferred", preferred);
    jw_kv_uint(w, "valid", valid);
    jw_kv_uint(w, "prefix_len", plen);
    jw_key(w, "prefix");
    put_addr(w, prefix, 6, hide);
    d6_nested(w, c, depth, hide);
    jw_close(w);
    return true;
}

/* Vendor class: enterprise number, then length-prefixed strings (hex when
 * they do not fit). */
static bool d6_vendor(struct jsonw *w, struct cursor *c)
{
    uint32_t enterprise = cur_u32(c);
    if (!cur_ok(c))
        return false;
    struct cursor data = cur_sub(c, cur_left(c)), raw = data;
    jw_obj_open(w);
    jw_kv_uint(w, "enterprise", enterprise);
    jw_key(w, "data");
    struct jw_mark m = jw_mark(w);
    if (!put_strs(w, &data)) {
        size_t n;
        const uint8_t *b = cur_rest(&raw, &n);
        jw_rollback(w, m);
        jw_hex(w, b, n);
    }
    jw_close(w);
    return true;
}

/* Status code: code, then a UTF-8 message. */
static bool d6_status(struct jsonw *w, struct cursor *c)
{
    uint16_t code = cur_u16(c);
    if (!cur_ok(c))
        return false;
    size_t n;
    const uint8_t *b = cur_rest(c, &n);
    jw_obj_open(w);
    jw_kv_uint(w, "code", code);
    jw_kv_str(w, "message", b, n);
    jw_close(w);
    return true;
}

/* Client FQDN (RFC 4704): flags, then a (possibly partial) name. */
static bool d6_fqdn(struct jsonw *w, struct cursor *c)
{
    uint8_t flags = cur_u8(c);
    if (!cur_ok(c))
        return false;
    jw_obj_open(w);
    jw_kv_uint(w, "flags", flags);
    if (cur_left(c)) {
        jw_key(w, "names");
        if (!put_names(w, c, DNS_NO_POINTERS, false))
            return false;
    }
    jw_close(w);
    return true;
}

/* One name, uncompressed, that fills the value. */
static bool d6_name(struct jsonw *w, struct cursor *c)
{
    char buf[DNS_NAME_TEXT_MAX];
    size_t bl;
    if (dns_name_read(c, c->p, DNS_NO_POINTERS, buf, &bl) != DNS_NAME_OK)
        return false;
    jw_str(w, buf, bl);
    return true;
}

/* A relayed message, as an object. */
static bool d6_relay(struct jsonw *w, struct cursor *c, int depth, const struct danon *hide)
{
    struct cursor m = cur_sub(c, cur_left(c));
    const char *err = NULL;
    jw_obj_open(w);
    dhcp6_body(w, &m, depth + 1, hide, &err);
    if (err)
        jw_kv_cstr(w, "malformed", err);
    jw_close(w);
    return true;
}

/* The value in the option's type; false if it does not have that type's
 * format (the caller also requires every byte read). */
static bool dhcp6_value(struct jsonw *w, uint8_t kind, struct cursor *c, int depth,
                        const struct danon *hide)
{
    size_t n;
    const uint8_t *b;
    switch (kind) {
    case K6_DUID: return d6_duid(w, c);
    case K6_IA: case K6_IATA: return d6_ia(w, kind, c, depth, hide);
    case K6_IAADDR: return d6_iaaddr(w, c, depth, hide);
    case K6_PREFIX: return d6_prefix(w, c, depth, hide);
    case K6_ORO: return put_u16s(w, c);
    case K6_U8: jw_uint(w, cur_u8(c)); return true;
    case K6_U16: jw_uint(w, cur_u16(c)); return true;
    case K6_U32: jw_uint(w, cur_u32(c)); return true;
    case K6_ADDR: return put_addr_cur(w, c, 6, hide);
    case K6_ADDRS: return put_addrs(w, c, 6, 1, hide);
    case K6_STATUS: return d6_status(w, c);
    case K6_NONE: jw_null(w); return true;
    case K6_STRS: return put_strs(w, c);
    case K6_VENDOR: return d6_vendor(w, c);
    case K6_NAMES: return cur_left(c) && put_names(w, c, DNS_NO_POINTERS, false);
    case K6_NAME: return d6_name(w, c);
    case K6_FQDN: return d6_fqdn(w, c);
    case K6_STR: b = cur_rest(c, &n); jw_str(w, b, n); return true;
    case K6_RELAY: return d6_relay(w, c, depth, hide);
    default: b = cur_rest(c, &n); jw_hex(w, b, n); return true;
    }
}

/* Options that hold options or a message are written as hex below
 * DHCP6_MAX_DEPTH levels. */
static bool d6_too_deep(uint8_t kind, int depth)
{
    return depth >= DHCP6_MAX_DEPTH && (kind == K6_IA || kind == K6_IATA || kind == K6_IAADDR ||
                                        kind == K6_PREFIX || kind == K6_RELAY);
}

/* One option; a value that does not have its type's format is written as
 * hex (what was written of it is rolled back). */
static void dhcp6_option(struct jsonw *w, uint16_t code, struct cursor *v, int depth,
                         const struct danon *hide)
{
    const struct d6opt *d = d6_lookup(code);
    struct cursor raw = *v;
    size_t n;
    const uint8_t *b = cur_rest(&raw, &n);
    jw_obj_open(w);
    if (!d) {
        jw_kv_uint(w, "kind", code);
        jw_kv_hex(w, "data", b, n);
        jw_close(w);
        return;
    }
    jw_key(w, d->name);
    struct jw_mark m = jw_mark(w);
    if (d6_too_deep(d->kind, depth) || !dhcp6_value(w, d->kind, v, depth, hide) ||
        !cur_done(v)) {
        jw_rollback(w, m);
        jw_hex(w, b, n);
    }
    jw_close(w);
}

/* An option list (code, length, value) as a JSON array; returns NULL or
 * why it stops early. */
static const char *dhcp6_options(struct jsonw *w, struct cursor *c, int depth,
                                 const struct danon *hide)
{
    const char *err = NULL;
    jw_arr_open(w);
    while (cur_left(c)) {
        uint16_t code = cur_u16(c);
        struct cursor v = cur_sub(c, cur_u16(c));
        if (!cur_ok(c)) {
            err = "option";
            break;
        }
        dhcp6_option(w, code, &v, depth, hide);
    }
    jw_close(w);
    return err;
}

/* The members of one DHCPv6 message (client/server or relay form). */
static void dhcp6_body(struct jsonw *w, struct cursor *c, int depth, const struct danon *hide,
                       const char **err)
{
    uint8_t type = cur_u8(c);
    if (!cur_ok(c)) {
        *err = "truncated";
        return;
    }
    jw_key(w, "msg_type");
    if (type < sizeof dhcp6_msg_types / sizeof dhcp6_msg_types[0] && dhcp6_msg_types[type])
        jw_cstr(w, dhcp6_msg_types[type]);
    else
        jw_uint(w, type);
    if (type == 12 || type == 13) { /* RELAY-FORW, RELAY-REPL */
        uint8_t hops = cur_u8(c);
        const uint8_t *link = cur_bytes(c, 16), *peer = cur_bytes(c, 16);
        if (!cur_ok(c)) {
            *err = "truncated";
            return;
        }
        jw_kv_uint(w, "hop_count", hops);
        jw_key(w, "link_address");
        put_addr(w, link, 6, hide);
        jw_key(w, "peer_address");
        put_addr(w, peer, 6, hide);
    } else {
        uint32_t xid = cur_u24(c);
        if (!cur_ok(c)) {
            *err = "truncated";
            return;
        }
        jw_kv_uint(w, "xid", xid);
    }
    jw_key(w, "options");
    *err = dhcp6_options(w, c, depth, hide);
}

static void dhcp6_message_json(struct jsonw *w, const uint8_t *m, size_t len, size_t wire_len,
                               const char *cut, int dir, const struct danon *hide)
{
    const char *err = NULL;
    struct cursor c;
    cur_init(&c, m, len);
    jw_obj_open(w);
    jw_kv_cstr(w, "dir", dir ? "<" : ">");
    dhcp6_body(w, &c, 0, hide, &err);
    if (cut && len < wire_len) {
        jw_kv_cstr(w, "truncated", cut);
        jw_kv_uint(w, "len", wire_len);
        err = NULL; /* options cut by the capture end early */
    }
    if (err)
        jw_kv_cstr(w, "malformed", err);
    jw_close(w);
}

/* ---------------------------------------------------------------------
 * the module
 */
static void dhcp_free(void *state)
{
    struct dhcp_state *s = state;
    if (!s)
        return;
    appmsg_free(s->store);
    free(s);
}

/* A BOOTP request or reply that carries the DHCP magic cookie. */
static bool dhcp4_looks_like(const uint8_t *p, size_t n)
{
    struct cursor c;
    cur_init(&c, p, n);
    uint8_t op = cur_u8(&c);
    cur_skip(&c, 1); /* htype */
    uint8_t hlen = cur_u8(&c);
    cur_skip(&c, DHCP_BOOTP_LEN - 3);
    return (op == 1 || op == 2) && hlen <= 16 && cur_u32(&c) == DHCP_COOKIE;
}

static void dhcp_packet(const struct module_env *env, void **state, const struct flow *f,
                        const struct packet *p, int dir)
{
    (void)env;
    (void)f;
    struct dhcp_state *s = *state;
    if (p->proto != 17 || p->frag == FRAG_LATER || !p->has_ports ||
        !p->payload_cap)
        return;
    if (!s) {
        bool v4 = p->sport == 67 || p->sport == 68 || p->dport == 67 || p->dport == 68;
        bool v6 = p->sport == 546 || p->sport == 547 || p->dport == 546 || p->dport == 547;
        if (!v4 && !v6)
            v4 = dhcp4_looks_like(p->payload, p->payload_cap);
        if (!v4 && !v6) {
            module_decline(state);
            return;
        }
        s = calloc(1, sizeof *s);
        if (!s)
            return;
        s->store = appmsg_new(DHCP_MAX_MSGS, DHCP_MAX_BYTES);
        if (!s->store) {
            free(s);
            return;
        }
        s->v6 = !v4;
        *state = s;
    }
    uint32_t wire = p->payload_len;
    uint8_t cut = APPMSG_CUT_CAPTURE;
    if (p->frag == FRAG_FIRST) {
        cut = APPMSG_CUT_FRAGMENT;
        if (p->udp_len >= 8 && p->udp_len - 8u > wire)
            wire = p->udp_len - 8u;
    }
    appmsg_add(s->store, dir, p->payload, p->payload_cap, wire, cut);
}

static void dhcp_json(const struct module_env *env, const void *state, const struct flow *f,
                      struct jsonw *w)
{
    const struct dhcp_state *s = state;
    const struct appmsg_store *st = s->store;
    struct danon an = {anon_active(f)};
    const struct danon *hide = &an;
    if (st->n) {
        jw_key(w, s->v6 ? "dhcpv6" : "dhcp");
        jw_arr_open(w);
        for (uint32_t i = 0; i < st->n; i++) {
            const struct appmsg *m = &st->msg[i];
            const char *cut = appmsg_cut_name(m->cut);
            if (s->v6)
                dhcp6_message_json(w, appmsg_bytes(st, m), m->len, m->wire_len, cut, m->dir, hide);
            else
                dhcp4_message_json(w, appmsg_bytes(st, m), m->len, m->wire_len, cut, m->dir, hide);
        }
        jw_close(w);
    }
    if (st->omitted)
        jw_kv_uint(w, "dhcp_omitted", st->omitted);
}

const struct joy_module dhcp_module = {
    .name = "dhcp",
    .summary = "DHCP and DHCPv6 messages of both directions",
    .options = dhcp_options,
    .config_size = sizeof(struct dhcp_cfg),
    .interest = MI_UDP,
    .packet = dhcp_packet,
    .write_json = dhcp_json,
    .free_state = dhcp_free,
};
