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

static void put_addr_list(struct jsonw *w, const uint8_t *p, size_t n, int ver,
                          const struct danon *hide)
{
    size_t step = ver == 4 ? 4 : 16;
    jw_arr_open(w);
    for (size_t i = 0; i + step <= n; i += step)
        put_addr(w, p + i, ver, hide);
    jw_close(w);
}

/* DNS-encoded names one after another (RFC 1035 3.1), compression relative
 * to the start of the option value when ptr_min is 0. */
static bool names_ok(const uint8_t *p, size_t n, size_t ptr_min)
{
    char buf[DNS_NAME_TEXT_MAX];
    size_t i = 0, bl, end;
    while (i < n) {
        if (dns_name_decode(p, n, i, ptr_min, buf, &bl, &end) != DNS_NAME_OK)
            return false;
        i = end;
    }
    return true;
}

static void put_names(struct jsonw *w, const uint8_t *p, size_t n, size_t ptr_min)
{
    char buf[DNS_NAME_TEXT_MAX];
    size_t i = 0, bl, end;
    jw_arr_open(w);
    while (i < n && dns_name_decode(p, n, i, ptr_min, buf, &bl, &end) == DNS_NAME_OK) {
        jw_str(w, buf, bl);
        i = end;
    }
    jw_close(w);
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

/* Does the value fit the option's type?  (If not it is written as hex.) */
static bool dopt_fits(uint8_t kind, const uint8_t *v, size_t n)
{
    switch (kind) {
    case K_IP: return n == 4;
    case K_IPS: return n > 0 && n % 4 == 0;
    case K_IPPAIRS: return n > 0 && n % 8 == 0;
    case K_U8: case K_OVERLOAD: case K_MSGTYPE: return n == 1;
    case K_U16: return n == 2;
    case K_U32: case K_I32: return n == 4;
    case K_U16S: return n > 0 && n % 2 == 0;
    case K_NONE: return n == 0;
    case K_CLIENTID: return n >= 1;
    case K_FQDN: return n >= 3 && (!(v[0] & 0x04) || names_ok(v + 3, n - 3, DNS_NO_POINTERS));
    case K_NAMES: return n > 0 && names_ok(v, n, 0);
    case K_ROUTES: {
        size_t i = 0;
        while (i < n) {
            unsigned w = v[i];
            size_t need = 1 + (w + 7) / 8 + 4;
            if (w > 32 || need > n - i)
                return false;
            i += need;
        }
        return n > 0;
    }
    default: return true;
    }
}

static void dhcp4_option(struct jsonw *w, uint8_t code, const uint8_t *v, size_t n,
                         const struct danon *hide)
{
    const struct dopt *d = &dhcp4_opts[code];
    jw_obj_open(w);
    if (!d->name) {
        jw_kv_uint(w, "kind", code);
        jw_kv_hex(w, "data", v, n);
        jw_close(w);
        return;
    }
    jw_key(w, d->name);
    if (hide->hide_raw && code == 82) { /* relay agent sub-options can carry addresses */
        jw_null(w);
        jw_close(w);
        return;
    }
    if (!dopt_fits(d->kind, v, n)) {
        jw_hex(w, v, n);
        jw_close(w);
        return;
    }
    switch (d->kind) {
    case K_IP: put_addr(w, v, 4, hide); break;
    case K_IPS: case K_IPPAIRS: put_addr_list(w, v, n, 4, hide); break;
    case K_U8: case K_OVERLOAD: jw_uint(w, v[0]); break;
    case K_U16: jw_uint(w, load_be16(v)); break;
    case K_U32: jw_uint(w, load_be32(v)); break;
    case K_I32: jw_int(w, (int32_t)load_be32(v)); break;
    case K_U16S:
        jw_arr_open(w);
        for (size_t i = 0; i < n; i += 2)
            jw_uint(w, load_be16(v + i));
        jw_close(w);
        break;
    case K_STR: jw_str(w, v, n); break;
    case K_NONE: jw_null(w); break;
    case K_MSGTYPE:
        if (v[0] < sizeof dhcp4_msg_types / sizeof dhcp4_msg_types[0] && dhcp4_msg_types[v[0]])
            jw_cstr(w, dhcp4_msg_types[v[0]]);
        else
            jw_uint(w, v[0]);
        break;
    case K_PARAMS:
        jw_arr_open(w);
        for (size_t i = 0; i < n; i++)
            jw_uint(w, v[i]);
        jw_close(w);
        break;
    case K_CLIENTID:
        jw_obj_open(w);
        jw_kv_uint(w, "type", v[0]);
        jw_kv_hex(w, "id", v + 1, n - 1);
        jw_close(w);
        break;
    case K_FQDN: /* RFC 4702: flags, rcode1, rcode2, domain name */
        jw_obj_open(w);
        jw_kv_uint(w, "flags", v[0]);
        jw_kv_uint(w, "rcode1", v[1]);
        jw_kv_uint(w, "rcode2", v[2]);
        jw_key(w, "name");
        if (v[0] & 0x04) { /* E: canonical wire format */
            char buf[DNS_NAME_TEXT_MAX];
            size_t bl, end;
            if (n > 3 && dns_name_decode(v + 3, n - 3, 0, DNS_NO_POINTERS, buf, &bl, &end) ==
                             DNS_NAME_OK)
                jw_str(w, buf, bl);
            else
                jw_cstr(w, "");
        } else {
            jw_str(w, v + 3, n - 3);
        }
        jw_close(w);
        break;
    case K_NAMES: put_names(w, v, n, 0); break;
    case K_ROUTES: /* RFC 3442: width, significant octets of the destination, router */
        jw_arr_open(w);
        for (size_t i = 0; i < n;) {
            unsigned width = v[i];
            size_t sig = (width + 7) / 8;
            uint8_t dst[4] = {0, 0, 0, 0};
            memcpy(dst, v + i + 1, sig);
            jw_obj_open(w);
            jw_key(w, "dest");
            put_addr(w, dst, 4, hide);
            jw_kv_uint(w, "width", width);
            jw_key(w, "router");
            put_addr(w, v + i + 1 + sig, 4, hide);
            jw_close(w);
            i += 1 + sig + 4;
        }
        jw_close(w);
        break;
    default: jw_hex(w, v, n); break;
    }
    jw_close(w);
}

/* Option 52 in the options field, if present (0 otherwise). */
static uint8_t dhcp4_overload(const uint8_t *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t code = p[i++];
        if (code == 0)
            continue;
        if (code == 255 || i >= n)
            break;
        uint8_t len = p[i++];
        if (len > n - i)
            break;
        if (code == 52 && len == 1)
            return p[i];
        i += len;
    }
    return 0;
}

/* Options in one area; returns NULL or why they stop early. */
static const char *dhcp4_options_area(struct jsonw *w, const uint8_t *p, size_t n,
                                      const struct danon *hide)
{
    size_t i = 0;
    while (i < n) {
        uint8_t code = p[i++];
        if (code == 0)
            continue;
        if (code == 255)
            return NULL;
        if (i >= n)
            return "option";
        uint8_t len = p[i++];
        if (len > n - i)
            return "option";
        dhcp4_option(w, code, p + i, len, hide);
        i += len;
    }
    return NULL;
}

/* sname or file as text: up to the first NUL; nothing when it is empty. */
static void dhcp4_text_field(struct jsonw *w, const char *key, const uint8_t *p, size_t n)
{
    size_t l = 0;
    while (l < n && p[l])
        l++;
    if (l)
        jw_kv_str(w, key, p, l);
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
    const uint8_t *sname = cur_bytes(&c, 64);
    const uint8_t *file = cur_bytes(&c, 128);

    bool cookie = len >= DHCP_BOOTP_LEN + 4 && load_be32(m + DHCP_BOOTP_LEN) == DHCP_COOKIE;
    const uint8_t *opts = m + DHCP_BOOTP_LEN + 4;
    size_t opts_len = cookie ? len - DHCP_BOOTP_LEN - 4 : 0;
    uint8_t overload = cookie ? dhcp4_overload(opts, opts_len) : 0;
    if (!(overload & 2))
        dhcp4_text_field(w, "sname", sname, 64);
    if (!(overload & 1))
        dhcp4_text_field(w, "file", file, 128);
    if (cookie) {
        jw_key(w, "options");
        jw_arr_open(w);
        err = dhcp4_options_area(w, opts, opts_len, hide);
        /* RFC 2131 4.1: with overload, the file field holds options first, then sname */
        if (!err && (overload & 1))
            err = dhcp4_options_area(w, file, 128, hide);
        if (!err && (overload & 2))
            err = dhcp4_options_area(w, sname, 64, hide);
        jw_close(w);
    } else if (len > DHCP_BOOTP_LEN) {
        jw_kv_hex(w, "vend", m + DHCP_BOOTP_LEN, len - DHCP_BOOTP_LEN); /* BOOTP vendor area */
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

static const char *dhcp6_options(struct jsonw *w, const uint8_t *p, size_t n, int depth,
                                 const struct danon *hide);
static void dhcp6_body(struct jsonw *w, const uint8_t *m, size_t len, int depth,
                       const struct danon *hide,
                       const char **err);

/* Options nested inside an option value, as "options": [...]. */
static void d6_nested(struct jsonw *w, const uint8_t *p, size_t n, int depth,
                      const struct danon *hide)
{
    if (!n)
        return;
    jw_key(w, "options");
    const char *err = dhcp6_options(w, p, n, depth + 1, hide);
    if (err)
        jw_kv_cstr(w, "malformed", err);
}

static bool d6_fits(uint8_t kind, const uint8_t *v, size_t n)
{
    switch (kind) {
    case K6_DUID: return n >= 2;
    case K6_IA: return n >= 12;
    case K6_IATA: return n >= 4;
    case K6_IAADDR: return n >= 24;
    case K6_PREFIX: return n >= 25 && v[8] <= 128;
    case K6_ORO: return n % 2 == 0;
    case K6_U8: return n == 1;
    case K6_U16: return n == 2;
    case K6_U32: return n == 4;
    case K6_ADDR: return n == 16;
    case K6_ADDRS: return n > 0 && n % 16 == 0;
    case K6_STATUS: return n >= 2;
    case K6_NONE: return n == 0;
    case K6_VENDOR: return n >= 4;
    case K6_NAMES: return n > 0 && names_ok(v, n, DNS_NO_POINTERS);
    case K6_NAME: {
        char buf[DNS_NAME_TEXT_MAX];
        size_t bl, end;
        return dns_name_decode(v, n, 0, DNS_NO_POINTERS, buf, &bl, &end) == DNS_NAME_OK &&
               end == n;
    }
    case K6_FQDN: return n >= 1 && (n == 1 || names_ok(v + 1, n - 1, DNS_NO_POINTERS));
    case K6_STRS: {
        size_t i = 0;
        while (i < n) {
            if (n - i < 2 || load_be16(v + i) > n - i - 2)
                return false;
            i += 2u + load_be16(v + i);
        }
        return true;
    }
    default: return true;
    }
}

static void d6_duid(struct jsonw *w, const uint8_t *v, size_t n)
{
    uint16_t type = load_be16(v);
    jw_obj_open(w);
    jw_kv_uint(w, "type", type);
    if (type == 1 && n >= 8) { /* DUID-LLT */
        jw_kv_uint(w, "hwtype", load_be16(v + 2));
        jw_kv_uint(w, "time", load_be32(v + 4));
        jw_kv_hex(w, "lladdr", v + 8, n - 8);
    } else if (type == 3 && n >= 4) { /* DUID-LL */
        jw_kv_uint(w, "hwtype", load_be16(v + 2));
        jw_kv_hex(w, "lladdr", v + 4, n - 4);
    } else if (type == 2 && n >= 6) { /* DUID-EN */
        jw_kv_uint(w, "enterprise", load_be32(v + 2));
        jw_kv_hex(w, "id", v + 6, n - 6);
    } else { /* DUID-UUID (4) and others */
        jw_kv_hex(w, "id", v + 2, n - 2);
    }
    jw_close(w);
}

static void dhcp6_option(struct jsonw *w, uint16_t code, const uint8_t *v, size_t n, int depth,
                         const struct danon *hide)
{
    const struct d6opt *d = d6_lookup(code);
    jw_obj_open(w);
    if (!d) {
        jw_kv_uint(w, "kind", code);
        jw_kv_hex(w, "data", v, n);
        jw_close(w);
        return;
    }
    jw_key(w, d->name);
    if (!d6_fits(d->kind, v, n) || (depth >= DHCP6_MAX_DEPTH &&
                                    (d->kind == K6_IA || d->kind == K6_IATA ||
                                     d->kind == K6_IAADDR || d->kind == K6_PREFIX ||
                                     d->kind == K6_RELAY))) {
        jw_hex(w, v, n);
        jw_close(w);
        return;
    }
    switch (d->kind) {
    case K6_DUID: d6_duid(w, v, n); break;
    case K6_IA:
        jw_obj_open(w);
        jw_kv_uint(w, "iaid", load_be32(v));
        jw_kv_uint(w, "t1", load_be32(v + 4));
        jw_kv_uint(w, "t2", load_be32(v + 8));
        d6_nested(w, v + 12, n - 12, depth, hide);
        jw_close(w);
        break;
    case K6_IATA:
        jw_obj_open(w);
        jw_kv_uint(w, "iaid", load_be32(v));
        d6_nested(w, v + 4, n - 4, depth, hide);
        jw_close(w);
        break;
    case K6_IAADDR:
        jw_obj_open(w);
        jw_key(w, "address");
        put_addr(w, v, 6, hide);
        jw_kv_uint(w, "preferred", load_be32(v + 16));
        jw_kv_uint(w, "valid", load_be32(v + 20));
        d6_nested(w, v + 24, n - 24, depth, hide);
        jw_close(w);
        break;
    case K6_PREFIX:
        jw_obj_open(w);
        jw_kv_uint(w, "preferred", load_be32(v));
        jw_kv_uint(w, "valid", load_be32(v + 4));
        jw_kv_uint(w, "prefix_len", v[8]);
        jw_key(w, "prefix");
        put_addr(w, v + 9, 6, hide);
        d6_nested(w, v + 25, n - 25, depth, hide);
        jw_close(w);
        break;
    case K6_ORO:
        jw_arr_open(w);
        for (size_t i = 0; i < n; i += 2)
            jw_uint(w, load_be16(v + i));
        jw_close(w);
        break;
    case K6_U8: jw_uint(w, v[0]); break;
    case K6_U16: jw_uint(w, load_be16(v)); break;
    case K6_U32: jw_uint(w, load_be32(v)); break;
    case K6_ADDR: put_addr(w, v, 6, hide); break;
    case K6_ADDRS: put_addr_list(w, v, n, 6, hide); break;
    case K6_STATUS:
        jw_obj_open(w);
        jw_kv_uint(w, "code", load_be16(v));
        jw_kv_str(w, "message", v + 2, n - 2);
        jw_close(w);
        break;
    case K6_NONE: jw_null(w); break;
    case K6_STRS:
        jw_arr_open(w);
        for (size_t i = 0; i < n; i += 2u + load_be16(v + i))
            jw_str(w, v + i + 2, load_be16(v + i));
        jw_close(w);
        break;
    case K6_VENDOR: /* enterprise number, then length-prefixed strings */
        jw_obj_open(w);
        jw_kv_uint(w, "enterprise", load_be32(v));
        jw_key(w, "data");
        if (d6_fits(K6_STRS, v + 4, n - 4)) {
            jw_arr_open(w);
            for (size_t i = 4; i < n; i += 2u + load_be16(v + i))
                jw_str(w, v + i + 2, load_be16(v + i));
            jw_close(w);
        } else {
            jw_hex(w, v + 4, n - 4);
        }
        jw_close(w);
        break;
    case K6_NAMES: put_names(w, v, n, DNS_NO_POINTERS); break;
    case K6_NAME: {
        char buf[DNS_NAME_TEXT_MAX];
        size_t bl, end;
        dns_name_decode(v, n, 0, DNS_NO_POINTERS, buf, &bl, &end);
        jw_str(w, buf, bl);
        break;
    }
    case K6_FQDN: /* RFC 4704: flags, then a (possibly partial) name */
        jw_obj_open(w);
        jw_kv_uint(w, "flags", v[0]);
        if (n > 1) {
            jw_key(w, "names");
            put_names(w, v + 1, n - 1, DNS_NO_POINTERS);
        }
        jw_close(w);
        break;
    case K6_STR: jw_str(w, v, n); break;
    case K6_RELAY: {
        const char *err = NULL;
        jw_obj_open(w);
        dhcp6_body(w, v, n, depth + 1, hide, &err);
        if (err)
            jw_kv_cstr(w, "malformed", err);
        jw_close(w);
        break;
    }
    default: jw_hex(w, v, n); break;
    }
    jw_close(w);
}

/* An option list as a JSON array; returns NULL or why it stops early. */
static const char *dhcp6_options(struct jsonw *w, const uint8_t *p, size_t n, int depth,
                                 const struct danon *hide)
{
    const char *err = NULL;
    size_t i = 0;
    jw_arr_open(w);
    while (i < n) {
        if (n - i < 4) {
            err = "option";
            break;
        }
        uint16_t code = load_be16(p + i), len = load_be16(p + i + 2);
        if (len > n - i - 4) {
            err = "option";
            break;
        }
        dhcp6_option(w, code, p + i + 4, len, depth, hide);
        i += 4u + len;
    }
    jw_close(w);
    return err;
}

/* The members of one DHCPv6 message (client/server or relay form). */
static void dhcp6_body(struct jsonw *w, const uint8_t *m, size_t len, int depth,
                       const struct danon *hide,
                       const char **err)
{
    if (len < 1) {
        *err = "truncated";
        return;
    }
    uint8_t type = m[0];
    jw_key(w, "msg_type");
    if (type < sizeof dhcp6_msg_types / sizeof dhcp6_msg_types[0] && dhcp6_msg_types[type])
        jw_cstr(w, dhcp6_msg_types[type]);
    else
        jw_uint(w, type);
    size_t hdr;
    if (type == 12 || type == 13) { /* RELAY-FORW, RELAY-REPL */
        if (len < 34) {
            *err = "truncated";
            return;
        }
        jw_kv_uint(w, "hop_count", m[1]);
        jw_key(w, "link_address");
        put_addr(w, m + 2, 6, hide);
        jw_key(w, "peer_address");
        put_addr(w, m + 18, 6, hide);
        hdr = 34;
    } else {
        if (len < 4) {
            *err = "truncated";
            return;
        }
        jw_kv_uint(w, "xid", load_be32(m) & 0xffffff);
        hdr = 4;
    }
    jw_key(w, "options");
    *err = dhcp6_options(w, m + hdr, len - hdr, depth, hide);
}

static void dhcp6_message_json(struct jsonw *w, const uint8_t *m, size_t len, size_t wire_len,
                               const char *cut, int dir, const struct danon *hide)
{
    const char *err = NULL;
    jw_obj_open(w);
    jw_kv_cstr(w, "dir", dir ? "<" : ">");
    dhcp6_body(w, m, len, 0, hide, &err);
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
    return n >= DHCP_BOOTP_LEN + 4 && (p[0] == 1 || p[0] == 2) && p[2] <= 16 &&
           load_be32(p + DHCP_BOOTP_LEN) == DHCP_COOKIE;
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
        if (p->l4 && p->l4_cap >= 6) {
            uint16_t ulen = load_be16(p->l4 + 4);
            if (ulen >= 8 && ulen - 8u > wire)
                wire = ulen - 8u;
        }
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
