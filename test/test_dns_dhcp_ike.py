#!/usr/bin/env python3
"""Tests of the DNS, DHCP/DHCPv6 and IKE modules (dns=1 dhcp=1 ike=1).

Run:   python3 test/test_dns_dhcp_ike.py [-v]     (JOY=path overrides <repo>/joy)
Last line: "N passed, N failed, N skipped"; exit 1 on any failure.

1. Real captures in ../shared/pcaps (relative to the repository root; skipped
   with a message when absent): every DNS, DHCP and IKE message joy writes is
   compared with the truth files' dns/dhcp/ike records (truth/*.jsonl, made from
   tshark by an independent oracle) and with a live tshark run on the same file
   (fields dns.id, dns.qry.name, dns.qry.type, dns.flags.rcode, dns.a, dns.aaaa,
   dns.cname, dns.resp.ttl; dhcp.option.*, dhcp.hw.mac_addr, dhcp.id;
   isakmp.*).
2. Captures written here with python struct: every decoded record type, both
   directions in arrival order (a response-first flow keeps its direction),
   DNS over TCP with several messages per stream, split and reordered
   segments, the per-flow caps, lossless name escaping, DHCPv4 option
   overload/FQDN/routes, DHCPv6 with nested options and relays, IKEv1/IKEv2 on
   500 and 4500 (non-ESP marker, ESP and keepalives skipped), and hostile
   input: compression loops, forward pointers, long pointer chains, names over
   255 octets, lying length fields, binary garbage on ports 53/67/500.  The
   generated captures are checked against tshark too.
3. Captures made with real software when it is installed (each part is
   skipped with a message otherwise): dnsmasq answering dig on 127.0.0.2 (UDP,
   TCP with several queries on one connection, a non-standard port) and dig's
   own printing of escaped names; dnsmasq's DHCP server and busybox udhcpc in
   two network namespaces; strongSwan's charon-cmd sending IKE_SA_INIT over
   UDP 4500.  These need root (network namespaces, capture on lo).
"""
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
JOY = os.environ.get("JOY", os.path.join(REPO, "joy"))
SHARED = os.path.join(os.path.dirname(REPO), "shared")
PCAPS = os.path.join(SHARED, "pcaps")
VERBOSE = "-v" in sys.argv
HUGE = "315360000"  # ten years: one record per 5-tuple, like tshark's conversations

passed = failed = skipped = 0


def ok(cond, name, detail=""):
    global passed, failed
    if cond:
        passed += 1
        if VERBOSE:
            print("ok  ", name)
    else:
        failed += 1
        print("FAIL", name, detail)
    return cond


def skip(name, why):
    global skipped
    skipped += 1
    print("skip", name + ":", why)


def have(tool):
    return shutil.which(tool) is not None


# ---------------------------------------------------------------------------
# running joy
def run_joy(pcap, *opts):
    cmd = [JOY, "bidir=1", "dns=1", "dhcp=1", "ike=1", "inactive_timeout=" + HUGE,
           "active_timeout=" + HUGE] + list(opts) + ["-w", "-", pcap]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    errtext = p.stderr.decode("utf-8", "replace")
    if "Sanitizer" in errtext or "runtime error:" in errtext:
        ok(False, "sanitizer report on %s" % os.path.basename(pcap), errtext[-2000:])
    recs = []
    for line in p.stdout.decode("utf-8").splitlines():
        d = json.loads(line)  # every line must be valid JSON
        if "version" not in d:
            recs.append(d)
    return recs, p.returncode, p.stderr.decode("utf-8", "replace")


def flow_key(proto, a, ap, b, bp):
    return (proto, frozenset([(a, ap), (b, bp)]))


def joy_index(recs):
    out = {}
    for r in recs:
        out[flow_key(r["pr"], r["sa"], r["sp"], r["da"], r["dp"])] = r
    return out


def sender(rec, m):
    return (rec["sa"], rec["sp"]) if m["dir"] == ">" else (rec["da"], rec["dp"])


# ---------------------------------------------------------------------------
# pcap writing
def write_pcap(path, frames, linktype=101):
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, linktype))
        for i, fr in enumerate(frames):
            ts = 1700000000 + i
            f.write(struct.pack("<IIII", ts, i * 1000, len(fr), len(fr)) + fr)


def ip4(src, dst, proto, payload, ident=1, frag=0):
    hdr = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident, frag, 64, proto, 0,
                      bytes(src), bytes(dst))
    return hdr + payload


def ip6(src, dst, nh, payload):
    return struct.pack(">IHBB16s16s", 0x60000000, len(payload), nh, 64, bytes(src),
                       bytes(dst)) + payload


def udp(sp, dp, payload):
    return struct.pack(">HHHH", sp, dp, 8 + len(payload), 0) + payload


def tcp(sp, dp, seq, ack, flags, payload=b""):
    return struct.pack(">HHIIBBHHH", sp, dp, seq & 0xFFFFFFFF, ack, 5 << 4, flags, 65535, 0,
                       0) + payload


def udp4(src, dst, sp, dp, payload):
    return ip4(src, dst, 17, udp(sp, dp, payload))


def tcp4(src, dst, sp, dp, seq, ack, flags, payload=b""):
    return ip4(src, dst, 6, tcp(sp, dp, seq, ack, flags, payload))


C = [10, 0, 0, 1]
S = [10, 0, 0, 53]


# ---------------------------------------------------------------------------
# DNS wire helpers
def dname(*labels):
    return b"".join(bytes([len(l)]) + l for l in labels) + b"\0"


def dns_hdr(ident, flags, qd, an, ns, ar):
    return struct.pack(">HHHHHH", ident, flags, qd, an, ns, ar)


def rr(name, rtype, rdata, ttl=300, cls=1):
    return name + struct.pack(">HHIH", rtype, cls, ttl, len(rdata)) + rdata


def tshark_text(name):
    """joy's master-file text as tshark shows a name: label bytes as UTF-8 (invalid
    bytes replaced), control bytes as \\ooo, dots inside labels not escaped."""
    out, i = bytearray(), 0
    while i < len(name):
        if name[i] == "\\" and i + 1 < len(name):
            if name[i + 1].isdigit():
                b = int(name[i + 1:i + 4])
                out += (b"\\%03o" % b) if b < 0x20 else bytes([b])
                i += 4
                continue
            out.append(ord(name[i + 1]))
            i += 2
            continue
        out += name[i].encode()
        i += 1
    return out.decode("utf-8", "replace")


def unescape(name):
    """Master-file text back to label bytes joined by '.' (for tshark's view)."""
    out, i = bytearray(), 0
    while i < len(name):
        c = name[i]
        if c == "\\" and i + 1 < len(name):
            if name[i + 1].isdigit():
                out.append(int(name[i + 1:i + 4]))
                i += 4
                continue
            out.append(ord(name[i + 1]))
            i += 2
            continue
        out += c.encode()
        i += 1
    return out.decode("utf-8", "replace")


# ---------------------------------------------------------------------------
# 1a. the truth files
DHCP_CODES = {
    "subnet_mask": 1, "time_offset": 2, "router": 3, "time_server": 4, "name_server": 5,
    "domain_server": 6, "log_server": 7, "hostname": 12, "boot_file_size": 13,
    "domain_name": 15, "root_path": 17, "broadcast_address": 28, "static_route": 33,
    "nis_domain": 40, "ntp_servers": 42, "vendor_specific": 43, "netbios_name_server": 44,
    "netbios_node_type": 46, "netbios_scope": 47, "address_request": 50, "address_time": 51,
    "overload": 52, "msg_type": 53, "server_id": 54, "parameter_list": 55, "message": 56,
    "max_message_size": 57, "renewal_time": 58, "rebinding_time": 59, "class_id": 60,
    "client_id": 61, "tftp_server_name": 66, "bootfile_name": 67, "user_class": 77,
    "rapid_commit": 80, "client_fqdn": 81, "relay_agent_info": 82, "client_system": 93,
    "client_ndi": 94, "uuid_guid": 97, "ipv6_only_preferred": 108, "domain_search": 119,
    "classless_static_route": 121, "vi_vendor_class": 124, "vi_vendor_specific": 125,
    "wpad": 252,
}
DHCP_TYPES = {"DHCPDISCOVER": 1, "DHCPOFFER": 2, "DHCPREQUEST": 3, "DHCPDECLINE": 4,
              "DHCPACK": 5, "DHCPNAK": 6, "DHCPRELEASE": 7, "DHCPINFORM": 8}
IKE_PAYLOAD_V1 = {"security_association": 1, "key_exchange": 4, "identification": 5,
                  "certificate": 6, "certificate_request": 7, "hash": 8, "signature": 9,
                  "nonce": 10, "notify": 11, "delete": 12, "vendor_id": 13, "attributes": 14,
                  "nat_d": 20, "nat_oa": 21}
IKE_PAYLOAD_V2 = {"security_association": 33, "key_exchange": 34,
                  "identification_initiator": 35, "identification_responder": 36,
                  "certificate": 37, "certificate_request": 38, "authentication": 39,
                  "nonce": 40, "notify": 41, "delete": 42, "vendor_id": 43,
                  "traffic_selector_initiator": 44, "traffic_selector_responder": 45,
                  "encrypted": 46, "configuration": 47, "eap": 48, "encrypted_fragment": 53}
IKE_EXCH = {"identity_protection": 2, "authentication_only": 3, "aggressive": 4,
            "transaction": 6, "quick_mode": 32, "ike_sa_init": 34, "ike_auth": 35,
            "create_child_sa": 36}


def opt_code(o):
    k = next(iter(o))
    return o["kind"] if k == "kind" else DHCP_CODES.get(k, -1)


def opt_value(m, name):
    for o in m.get("options", []):
        if name in o:
            return o[name]
    return None


def mac(hexstr):
    return ":".join(hexstr[i:i + 2] for i in range(0, len(hexstr), 2))


def rr_matches(j, t, sec):
    """One joy record against one truth record; returns a difference or None."""
    if j.get("sec") != sec:
        return "section %s != %s" % (j.get("sec"), sec)
    if t.get("name") is not None:
        tn = "." if t["name"] == "<Root>" else t["name"]
        jn = j.get("n")
        if jn != tn and unescape(jn) != tn:
            return "name %r != %r" % (jn, tn)
    if t.get("class") is not None and (j.get("class", 1) & 0x7FFF) != (t["class"] & 0x7FFF):
        return "class %r != %r" % (j.get("class"), t["class"])
    if "ttl" in t and t["ttl"] is not None and j.get("ttl") != t["ttl"]:
        return "ttl %r != %r" % (j.get("ttl"), t["ttl"])
    ty, d = t["type"], t.get("data")
    if "malformed" in j:
        return None if j.get("type") == ty else "type of malformed record"
    if ty == 1:
        return None if j.get("a") == d else "a %r != %r" % (j.get("a"), d)
    if ty == 28:
        return None if j.get("aaaa") == d else "aaaa %r != %r" % (j.get("aaaa"), d)
    u = lambda k: unescape(j.get(k) or "")
    if ty in (2, 5, 12):
        k = {2: "ns", 5: "cname", 12: "ptr"}[ty]
        return None if u(k) == d else "%s %r != %r" % (k, j.get(k), d)
    if ty == 15:
        v = "%s %s" % (j.get("pref"), u("mx"))
        return None if v == d else "mx %r != %r" % (v, d)
    if ty == 6:
        v = "%s %s %s %s %s %s %s" % (u("soa"), u("rname"), j.get("serial"),
                                      j.get("refresh"), j.get("retry"), j.get("expire"),
                                      j.get("minimum"))
        return None if v == d else "soa %r != %r" % (v, d)
    if ty == 16:
        v = j.get("txt")
        v = [v] if isinstance(v, str) else v
        return None if v == d else "txt %r != %r" % (v, d)
    if ty == 33:
        v = "%s %s %s %s" % (j.get("priority"), j.get("weight"), j.get("port"), u("srv"))
        return None if v == d else "srv %r != %r" % (v, d)
    if ty == 41:
        u = int(d["dns.rr.udp_payload_size"]) if isinstance(d, dict) else None
        return None if j.get("opt", {}).get("udp") == u else "opt udp %r != %r" % (j.get("opt"), u)
    return None if j.get("type") == ty else "type %r != %r" % (j.get("type"), ty)


def check_dns_msg(name, j, t):
    diffs = []
    if "id" not in j:  # shorter than a DNS header: joy must say why
        return ok("truncated" in j or "malformed" in j, name, json.dumps(j))
    if j["id"] != t["id"]:
        diffs.append("id %r != %r" % (j["id"], t["id"]))
    if ("rn" in j) != bool(t["response"]):
        diffs.append("qn/rn vs response=%r" % t["response"])
    jq = []
    first = j.get("rn", j.get("qn"))
    if first is not None:
        jq.append((first, j.get("qt")))
    jq += [(q["n"], q["qt"]) for q in j.get("qs", [])]
    tq = [("." if q["name"] == "<Root>" else q["name"], q["type"]) for q in t["queries"]]
    cut = "truncated" in j or "malformed" in j
    if not cut and [(unescape(a) if a != "." else a, b) for a, b in jq] != tq:
        diffs.append("questions %r != %r" % (jq, tq))
    if j["rc"] != t["rcode"]:
        diffs.append("rc %r != %r" % (j["rc"], t["rcode"]))
    trr = [(r, "an") for r in t["answers"]] + [(r, "ns") for r in t["authorities"]] + \
          [(r, "ar") for r in t["additionals"]]
    jrr = j.get("rr", [])
    if not cut and len(jrr) != len(trr):
        diffs.append("%d records != %d" % (len(jrr), len(trr)))
    for a, (b, sec) in zip(jrr, trr):
        e = rr_matches(a, b, sec)
        if e:
            diffs.append(e)
    return ok(not diffs, name, "; ".join(diffs[:4]))


def truth_checks():
    tdir = os.path.join(PCAPS, "truth")
    if not os.path.isdir(tdir):
        skip("truth files", "%s is absent" % tdir)
        return
    for tf in sorted(os.listdir(tdir)):
        rows = [json.loads(l) for l in open(os.path.join(tdir, tf))]
        typed = [r for r in rows if r.get("type") in ("dns", "dhcp", "ike")]
        if not typed:
            continue
        cap = os.path.join(PCAPS, tf[:-len(".jsonl")])
        recs, rc, err = run_joy(cap)
        idx = joy_index(recs)
        flows = {r["id"]: r for r in rows if r.get("type") == "flow"}
        by_flow = {}
        for r in typed:
            by_flow.setdefault((r["flow"], r["type"]), []).append(r)
        for (fid, kind), msgs in sorted(by_flow.items()):
            fl = flows[fid]
            tag = "%s flow %d %s" % (tf[:-6], fid, kind)
            if fl["proto"] not in (6, 17):
                skip(tag, "inside a tunnel or an ICMP error (joy keys the outer header)")
                continue
            rec = idx.get(flow_key(fl["proto"], fl["src"], fl["sport"], fl["dst"], fl["dport"]))
            if rec is None:
                ok(False, tag, "no joy record for the flow")
                continue
            end = {"a2b": (fl["src"], fl["sport"]), "b2a": (fl["dst"], fl["dport"])}
            msgs.sort(key=lambda r: r["frame"])
            if kind == "dns":
                jm = rec.get("dns", [])
                ok(len(jm) == len(msgs), tag + " message count", "%d != %d" % (len(jm), len(msgs)))
                for i, (a, b) in enumerate(zip(jm, msgs)):
                    ok(sender(rec, a) == end[b["dir"]], "%s #%d direction" % (tag, i))
                    check_dns_msg("%s #%d" % (tag, i), a, b)
            elif kind == "dhcp":
                jm = rec.get("dhcp", [])
                ok(len(jm) == len(msgs), tag + " message count", "%d != %d" % (len(jm), len(msgs)))
                for i, (a, b) in enumerate(zip(jm, msgs)):
                    d = []
                    if sender(rec, a) != end[b["dir"]]:
                        d.append("direction")
                    if a.get("op") != b["op"]:
                        d.append("op")
                    if DHCP_TYPES.get(opt_value(a, "msg_type")) != b["msg_type"]:
                        d.append("msg_type %r" % opt_value(a, "msg_type"))
                    if mac(a.get("chaddr", "")) != b["client_mac"]:
                        d.append("chaddr")
                    for k in ("ciaddr", "yiaddr"):
                        if a.get(k) != b[k]:
                            d.append(k)
                    for k, tk in (("hostname", "hostname"), ("address_request", "requested_ip"),
                                  ("class_id", "vendor_class_id")):
                        if opt_value(a, k) != b[tk]:
                            d.append("%s %r != %r" % (k, opt_value(a, k), b[tk]))
                    codes = [opt_code(o) for o in a.get("options", [])]
                    tcodes = [c for c in b["options"] if c not in (0, 255)]
                    if codes != tcodes:
                        d.append("options %r != %r" % (codes, tcodes))
                    if (opt_value(a, "parameter_list") or []) != b["param_request_list"]:
                        d.append("parameter_list")
                    ok(not d, "%s #%d" % (tag, i), "; ".join(d))
            else:
                jm = [(m, 0) for m in rec.get("ike", {}).get("init", {}).get("messages", [])]
                jm += [(m, 1) for m in rec.get("ike", {}).get("resp", {}).get("messages", [])]
                # joy groups by direction; compare each direction in order
                for dirn, tdir_ in ((0, "a2b"), (1, "b2a")):
                    mine = [m for m, d in jm if d == dirn]
                    # "init" holds the messages of joy's client; map onto the truth's ends
                    cli = (rec["sa"], rec["sp"]) if dirn == 0 else (rec["da"], rec["dp"])
                    theirs = [m for m in msgs if end[m["dir"]] == cli]
                    ok(len(mine) == len(theirs), "%s dir %d count" % (tag, dirn),
                       "%d != %d" % (len(mine), len(theirs)))
                    for i, (a, b) in enumerate(zip(mine, theirs)):
                        ike_compare("%s dir %d #%d" % (tag, dirn, i), a, b)


def ike_flat_payloads(m):
    major = m["header"]["major"]
    table = IKE_PAYLOAD_V2 if major == 2 else IKE_PAYLOAD_V1
    out = []
    for p in m.get("payloads", []):
        k = next(iter(p))
        if k == "encrypted" and major == 1:
            continue  # the truth lists nothing for an encrypted IKEv1 body
        out.append(table.get(k, -1))
        if k == "security_association":
            for prop in p[k].get("proposals", []):
                out.append(2)
                out += [3] * len(prop.get("transforms", []))
    return out


def ike_compare(name, a, b):
    h = a["header"]
    d = []
    if "0x%x%x" % (h["major"], h["minor"]) != b["version"]:
        d.append("version")
    ex = h["exchange_type"]
    exn = ex if isinstance(ex, int) else (5 if ex == "informational" and h["major"] == 1 else
                                          37 if ex == "informational" else IKE_EXCH.get(ex))
    if exn != b["exchange_type"]:
        d.append("exchange_type %r" % ex)
    if h["init_spi"] != b["ispi"] or h["resp_spi"] != b["rspi"]:
        d.append("spi")
    if "0x" + h["flags"]["hex"] != b["flags"]:
        d.append("flags")
    if "0x%08x" % h["message_id"] != b["message_id"]:
        d.append("message_id")
    if ike_flat_payloads(a) != b["payloads"]:
        d.append("payloads %r != %r" % (ike_flat_payloads(a), b["payloads"]))
    ok(not d, name, "; ".join(d))


# ---------------------------------------------------------------------------
# 1b. live tshark fields
def tshark_rows(pcap, dfilter, fields):
    base = ["frame.number", "ip.src", "ipv6.src", "ip.dst", "ipv6.dst", "udp.srcport",
            "udp.dstport", "tcp.srcport", "tcp.dstport", "icmp.type", "icmpv6.type"]
    cmd = ["tshark", "-n", "-r", pcap, "-Y", dfilter, "-T", "fields", "-E", "occurrence=a",
           "-E", "aggregator=;"]
    for f in base + fields:
        cmd += ["-e", f]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=120)
    out = []
    for line in p.stdout.decode("utf-8", "replace").splitlines():
        v = line.split("\t")
        v += [""] * (len(base) + len(fields) - len(v))
        b = dict(zip(base, v))
        if b["icmp.type"] or b["icmpv6.type"] or ";" in b["ip.src"] + b["ipv6.src"]:
            continue  # quoted in an ICMP error or tunnelled
        src = b["ip.src"] or b["ipv6.src"]
        dst = b["ip.dst"] or b["ipv6.dst"]
        if b["udp.srcport"]:
            key = flow_key(17, src, int(b["udp.srcport"].split(";")[0]), dst,
                           int(b["udp.dstport"].split(";")[0]))
        elif b["tcp.srcport"]:
            key = flow_key(6, src, int(b["tcp.srcport"].split(";")[0]), dst,
                           int(b["tcp.dstport"].split(";")[0]))
        else:
            continue
        out.append((key, dict(zip(fields, v[len(base):]))))
    return out


def seq(v, conv=str):
    return [conv(x) for x in v.split(";")] if v else []


def per_flow(rows, fields, convs):
    flows = {}
    for key, f in rows:
        acc = flows.setdefault(key, {k: [] for k in fields})
        for k in fields:
            acc[k] += seq(f[k], convs.get(k, str))
    return flows


def tshark_dns_check(tag, pcap, recs, exclude=()):
    fields = ["dns.id", "dns.qry.name", "dns.qry.type", "dns.flags.rcode", "dns.a", "dns.aaaa",
              "dns.cname", "dns.resp.ttl"]
    num = lambda x: int(x, 0)
    flows = per_flow(tshark_rows(pcap, "dns || mdns || llmnr", fields), fields,
                     {"dns.id": num, "dns.qry.type": num, "dns.flags.rcode": num,
                      "dns.resp.ttl": num})
    idx = joy_index(recs)
    for key, t in flows.items():
        if key in exclude:
            continue
        rec = idx.get(key)
        name = "%s tshark dns %s" % (tag, sorted(key[1]))
        if rec is None or "dns" not in rec:
            ok(False, name, "no dns in joy's record")
            continue
        msgs = rec["dns"]
        cut = any("truncated" in m or "malformed" in m for m in msgs)
        j = {k: [] for k in fields}
        for m in msgs:
            if "id" not in m:
                continue
            j["dns.id"].append(m["id"])
            if "rn" in m:  # tshark shows the rcode of responses only
                j["dns.flags.rcode"].append(m["rc"])
            first = m.get("rn", m.get("qn"))
            qs = ([(first, m.get("qt"))] if first is not None else []) + \
                 [(q["n"], q["qt"]) for q in m.get("qs", [])]
            j["dns.qry.name"] += ["<Root>" if n == "." else tshark_text(n) for n, _ in qs]
            j["dns.qry.type"] += [q for _, q in qs]
            for r in m.get("rr", []):
                if "malformed" in r:
                    continue
                for k, f in (("a", "dns.a"), ("aaaa", "dns.aaaa"), ("cname", "dns.cname")):
                    if k in r:
                        j[f].append(r[k])
                if "ttl" in r:
                    j["dns.resp.ttl"].append(r["ttl"])
        check = ["dns.id", "dns.flags.rcode"] + ([] if cut else
                                                 ["dns.qry.name", "dns.qry.type", "dns.a",
                                                  "dns.aaaa", "dns.cname", "dns.resp.ttl"])
        d = ["%s %r != %r" % (k, j[k][:6], t[k][:6]) for k in check if j[k] != t[k]]
        ok(not d, name, "; ".join(d))


def tshark_dhcp_check(tag, pcap, recs):
    fields = ["dhcp.id", "dhcp.option.dhcp", "dhcp.hw.mac_addr", "dhcp.ip.your",
              "dhcp.ip.client", "dhcp.option.requested_ip_address", "dhcp.option.hostname",
              "dhcp.option.ip_address_lease_time", "dhcp.option.request_list_item",
              "dhcp.option.vendor_class_id", "dhcp.option.dhcp_server_id", "dhcp.option.router",
              "dhcp.option.domain_name_server", "dhcp.option.subnet_mask"]
    num = lambda x: int(x, 0)
    flows = per_flow(tshark_rows(pcap, "dhcp", fields), fields,
                     {"dhcp.id": num, "dhcp.option.dhcp": num,
                      "dhcp.option.ip_address_lease_time": num,
                      "dhcp.option.request_list_item": num})
    idx = joy_index(recs)
    for key, t in flows.items():
        rec = idx.get(key)
        name = "%s tshark dhcp %s" % (tag, sorted(key[1]))
        if rec is None or "dhcp" not in rec:
            ok(False, name, "no dhcp in joy's record")
            continue
        j = {k: [] for k in fields}
        for m in rec["dhcp"]:
            if "xid" not in m:
                continue
            j["dhcp.id"].append(m["xid"])
            if m.get("htype") == 1 and m.get("hlen") == 6 and "chaddr" in m:
                j["dhcp.hw.mac_addr"].append(mac(m["chaddr"]))
            if "yiaddr" in m:
                j["dhcp.ip.your"].append(m["yiaddr"])
            if "ciaddr" in m:
                j["dhcp.ip.client"].append(m["ciaddr"])
            cid = opt_value(m, "client_id")
            if isinstance(cid, dict) and cid["type"] == 1 and len(cid["id"]) == 12:
                j["dhcp.hw.mac_addr"].append(mac(cid["id"]))  # tshark shows it as a MAC too
            for o in m.get("options", []):
                k = next(iter(o))
                v = o[k]
                f = {"msg_type": "dhcp.option.dhcp", "address_request":
                     "dhcp.option.requested_ip_address", "hostname": "dhcp.option.hostname",
                     "address_time": "dhcp.option.ip_address_lease_time",
                     "parameter_list": "dhcp.option.request_list_item",
                     "class_id": "dhcp.option.vendor_class_id",
                     "server_id": "dhcp.option.dhcp_server_id", "router": "dhcp.option.router",
                     "domain_server": "dhcp.option.domain_name_server",
                     "subnet_mask": "dhcp.option.subnet_mask"}.get(k)
                if not f:
                    continue
                if k == "msg_type":
                    v = DHCP_TYPES.get(v, v)
                j[f] += v if isinstance(v, list) else [v]
        d = ["%s %r != %r" % (k, j[k][:6], t[k][:6]) for k in fields if j[k] != t[k]]
        ok(not d, name, "; ".join(d))


def tshark_ike_check(tag, pcap, recs, only=None):
    fields = ["isakmp.ispi", "isakmp.rspi", "isakmp.exchangetype", "isakmp.flags",
              "isakmp.messageid", "isakmp.length", "isakmp.nonce", "isakmp.notify.msgtype",
              "isakmp.key_exchange.dh_group", "isakmp.vid_bytes", "isakmp.tf.id.encr"]
    num = lambda x: int(x, 0)
    rows = tshark_rows(pcap, "isakmp", fields)
    idx = joy_index(recs)
    # per flow and direction (joy groups messages by direction)
    flows = {}
    for key, f in rows:
        flows.setdefault(key, []).append(f)
    for key, frames in flows.items():
        if only is not None and key not in only:
            continue
        rec = idx.get(key)
        name = "%s tshark ike %s" % (tag, sorted(key[1]))
        if rec is None or "ike" not in rec:
            ok(False, name, "no ike in joy's record")
            continue
        mine = rec["ike"].get("init", {}).get("messages", []) + \
            rec["ike"].get("resp", {}).get("messages", [])
        j = {k: [] for k in fields}
        for m in mine:
            h = m["header"]
            j["isakmp.ispi"].append(h["init_spi"])
            j["isakmp.rspi"].append(h["resp_spi"])
            ex = h["exchange_type"]
            j["isakmp.exchangetype"].append(
                ex if isinstance(ex, int) else (5 if ex == "informational" and h["major"] == 1
                                                else 37 if ex == "informational"
                                                else IKE_EXCH.get(ex)))
            j["isakmp.flags"].append(int(h["flags"]["hex"], 16))
            j["isakmp.messageid"].append(h["message_id"])
            j["isakmp.length"].append(h["length"])
            for p in m.get("payloads", []):
                k, v = next(iter(p.items()))
                if k == "nonce":
                    j["isakmp.nonce"].append(v)
                elif k == "notify":
                    j["isakmp.notify.msgtype"].append(v["type"])
                elif k == "key_exchange" and "group" in v:
                    j["isakmp.key_exchange.dh_group"].append(v["group"])
                elif k == "vendor_id":
                    j["isakmp.vid_bytes"].append(v["data"])
                elif k == "security_association":
                    for prop in v.get("proposals", []):
                        for tr in prop.get("transforms", []):
                            if "encryption_algorithm" in tr:
                                j["isakmp.tf.id.encr"].append(tr["encryption_algorithm"])
        t = {k: [] for k in fields}
        # tshark lists frames in file order; joy lists init then resp: compare as
        # per-direction order, so sort both sides by (ispi, direction) stably
        for f in frames:
            for k in fields:
                t[k] += seq(f[k])
        for k in ("isakmp.exchangetype", "isakmp.flags", "isakmp.messageid", "isakmp.length"):
            t[k] = [num(x) for x in t[k]]
        # names against numbers: check the joy name maps to tshark's number only where
        # joy wrote a number (unknown); otherwise compare counts
        for k in ("isakmp.notify.msgtype", "isakmp.key_exchange.dh_group", "isakmp.tf.id.encr"):
            if len(j[k]) == len(t[k]):
                j[k] = t[k] = []
        d = ["%s %r != %r" % (k, sorted(map(str, j[k]))[:6], sorted(map(str, t[k]))[:6])
             for k in fields if sorted(map(str, j[k])) != sorted(map(str, t[k]))]
        ok(not d, name, "; ".join(d))


def shared_checks():
    if not os.path.isdir(PCAPS):
        skip("shared captures", "%s is absent" % PCAPS)
        return
    truth_checks()
    if not have("tshark"):
        skip("live tshark on shared captures", "tshark is not installed")
        return
    tdir = os.path.join(PCAPS, "truth")
    for tf in sorted(os.listdir(tdir)) if os.path.isdir(tdir) else []:
        kinds = set()
        for l in open(os.path.join(tdir, tf)):
            r = json.loads(l)
            kinds.add(r.get("type"))
        if not kinds & {"dns", "dhcp", "ike"}:
            continue
        cap = os.path.join(PCAPS, tf[:-len(".jsonl")])
        recs, _, _ = run_joy(cap)
        if "dns" in kinds:
            tshark_dns_check(tf[:-6], cap, recs)
        if "dhcp" in kinds:
            tshark_dhcp_check(tf[:-6], cap, recs)
        if "ike" in kinds:
            tshark_ike_check(tf[:-6], cap, recs)


# ---------------------------------------------------------------------------
# Noise bytes for "not this protocol" cases: a fixed seed, so that tshark and joy
# see the same bytes on every run (os.urandom once made tshark find a DHCP
# host name in noise that joy, rightly, did not take for DHCP).
def FIXED_NOISE(n, _rng=__import__("random").Random(20261202)):
    return bytes(_rng.getrandbits(8) for _ in range(n))


# 2. generated captures
def gen_dns(d):
    """Well-formed DNS: every decoded type, both directions, mDNS, TCP."""
    q = dns_hdr(0x1111, 0x0100, 1, 0, 0, 0) + dname(b"www", b"example", b"com") + \
        struct.pack(">HH", 1, 1)
    qname_ptr = b"\xc0\x0c"
    ans = [
        rr(qname_ptr, 5, dname(b"cdn", b"example", b"net")),
        rr(qname_ptr, 1, bytes([192, 0, 2, 1]), ttl=60),
        rr(qname_ptr, 28, bytes.fromhex("20010db8000000000000000000000001")),
        rr(qname_ptr, 15, struct.pack(">H", 10) + dname(b"mx") [:-1] + b"\xc0\x10"),
        rr(qname_ptr, 16, b"\x05hello\x00\x05world"),
        rr(qname_ptr, 16, b"\x0bsingle\"str\\"),
        rr(qname_ptr, 33, struct.pack(">HHH", 1, 2, 443) + dname(b"srv", b"example", b"com")),
        rr(qname_ptr, 65, struct.pack(">H", 1) + b"\x00" +
           struct.pack(">HH", 1, 6) + b"\x02h2\x02h3" + struct.pack(">HHH", 3, 2, 8443) +
           struct.pack(">HH", 4, 4) + bytes([192, 0, 2, 7]) + struct.pack(">HH", 5, 3) +
           b"\x01\x02\x03"),
        rr(qname_ptr, 65280, b"v=spf1"),  # a private-use type: written generically
        rr(qname_ptr, 12, dname(b"ptr", b"example")),
    ]
    auth = [rr(b"\xc0\x10", 6, dname(b"ns1", b"example", b"com") + dname(b"host", b"example",
                                                                         b"com") +
               struct.pack(">IIIII", 2024010101, 7200, 3600, 1209600, 300))]
    add = [rr(b"\x00", 41, struct.pack(">HH", 10, 8) + b"abcdefgh", ttl=0x00008000, cls=1232)]
    resp = dns_hdr(0x1111, 0x8180, 1, len(ans), len(auth), len(add)) + \
        dname(b"www", b"example", b"com") + struct.pack(">HH", 1, 1) + b"".join(ans + auth + add)
    frames = [udp4(C, S, 40000, 53, q), udp4(S, C, 53, 40000, resp)]
    # a flow whose first packet is a response: the response's sender is the client
    frames.append(udp4([10, 0, 0, 99], C, 53, 40001, resp))
    # a name with a dot, a space, a backslash, non-ASCII and control bytes inside labels
    odd = dname(b"a.b", b"x y", b"\\q", b"\xc3\xa9t\x01\xff", b"com")
    frames.append(udp4(C, S, 40002, 53, dns_hdr(7, 0x0100, 1, 0, 0, 0) + odd +
                       struct.pack(">HH", 1, 1)))
    # DNS on a port that is not 53, found by content; random bytes on another port are not
    frames.append(udp4(C, S, 40003, 9953, q))
    frames.append(udp4(C, S, 40004, 9954, bytes(range(40))))
    # mDNS query with two questions (QU bit on the first)
    mq = dns_hdr(0, 0, 2, 0, 0, 0) + dname(b"_ipp", b"_tcp", b"local") + struct.pack(">HH", 12,
                                                                                        0x8001)
    mq += dname(b"_ipps", b"_tcp", b"local") + struct.pack(">HH", 12, 1)
    frames.append(udp4(C, [224, 0, 0, 251], 5353, 5353, mq))
    # TCP: two queries in one segment, a response split over three segments with the
    # middle one arriving last (reordered), then a second response
    cs, ss = 1000, 5000
    frames.append(tcp4(C, S, 40010, 53, cs, 0, 0x02))
    frames.append(tcp4(S, C, 53, 40010, ss, cs + 1, 0x12))
    q2 = dns_hdr(0x2222, 0x0100, 1, 0, 0, 0) + dname(b"a", b"test") + struct.pack(">HH", 1, 1)
    q3 = dns_hdr(0x3333, 0x0100, 1, 0, 0, 0) + dname(b"b", b"test") + struct.pack(">HH", 28, 1)
    both = struct.pack(">H", len(q2)) + q2 + struct.pack(">H", len(q3)) + q3
    frames.append(tcp4(C, S, 40010, 53, cs + 1, ss + 1, 0x18, both))
    r2 = dns_hdr(0x2222, 0x8180, 1, 1, 0, 0) + dname(b"a", b"test") + struct.pack(">HH", 1, 1) + \
        rr(b"\xc0\x0c", 1, bytes([198, 51, 100, 2]))
    r3 = dns_hdr(0x3333, 0x8180, 1, 1, 0, 0) + dname(b"b", b"test") + struct.pack(">HH", 28, 1) + \
        rr(b"\xc0\x0c", 28, bytes(15) + b"\x03")
    s2 = struct.pack(">H", len(r2)) + r2
    p1, p2, p3 = s2[:5], s2[5:20], s2[20:]
    frames.append(tcp4(S, C, 53, 40010, ss + 1, cs + 1 + len(both), 0x18, p1))
    frames.append(tcp4(S, C, 53, 40010, ss + 1 + len(p1) + len(p2), cs + 1 + len(both), 0x18, p3))
    frames.append(tcp4(S, C, 53, 40010, ss + 1 + len(p1), cs + 1 + len(both), 0x18, p2))
    s3 = struct.pack(">H", len(r3)) + r3
    frames.append(tcp4(S, C, 53, 40010, ss + 1 + len(s2), cs + 1 + len(both), 0x18, s3))
    path = os.path.join(d, "dns_gen.pcap")
    write_pcap(path, frames)
    recs, rc, err = run_joy(path)
    idx = joy_index(recs)
    r = idx[flow_key(17, "10.0.0.1", 40000, "10.0.0.53", 53)]
    m = r["dns"]
    ok(len(m) == 2 and m[0]["dir"] == ">" and m[1]["dir"] == "<", "dns both directions in order",
       json.dumps(m)[:200])
    ok(m[0] == {"dir": ">", "qn": "www.example.com", "qt": 1, "rc": 0, "id": 0x1111, "rr": []},
       "dns query fields", json.dumps(m[0]))
    want = [
        {"cname": "cdn.example.net", "ttl": 300, "sec": "an", "n": "www.example.com"},
        {"a": "192.0.2.1", "ttl": 60, "sec": "an", "n": "www.example.com"},
        {"aaaa": "2001:db8::1", "ttl": 300, "sec": "an", "n": "www.example.com"},
        {"mx": "mx.example.com", "pref": 10, "ttl": 300, "sec": "an", "n": "www.example.com"},
        {"txt": ["hello", "", "world"], "ttl": 300, "sec": "an", "n": "www.example.com"},
        {"txt": "single\"str\\", "ttl": 300, "sec": "an", "n": "www.example.com"},
        {"srv": "srv.example.com", "priority": 1, "weight": 2, "port": 443, "ttl": 300,
         "sec": "an", "n": "www.example.com"},
        {"https": ".", "priority": 1, "params": [{"alpn": ["h2", "h3"]}, {"port": 8443},
                                                 {"ipv4hint": ["192.0.2.7"]}, {"ech": "010203"}],
         "ttl": 300, "sec": "an", "n": "www.example.com"},
        {"type": 65280, "rdlength": 6, "ttl": 300, "sec": "an", "n": "www.example.com"},
        {"ptr": "ptr.example", "ttl": 300, "sec": "an", "n": "www.example.com"},
        {"soa": "ns1.example.com", "rname": "host.example.com", "serial": 2024010101,
         "refresh": 7200, "retry": 3600, "expire": 1209600, "minimum": 300, "ttl": 300,
         "sec": "ns", "n": "example.com"},
        {"opt": {"udp": 1232, "ext_rc": 0, "ver": 0, "flags": 32768,
                 "options": [{"code": 10, "data": "6162636465666768"}]}, "rdlength": 12,
         "sec": "ar", "n": "."},
    ]
    got = m[1].get("rr", [])
    ok(m[1].get("rn") == "www.example.com" and "qn" not in m[1], "dns response uses rn")
    for i, w in enumerate(want):
        ok(i < len(got) and got[i] == w, "dns record %d (%s)" % (i, next(iter(w))),
           json.dumps(got[i] if i < len(got) else None))
    r = idx.get(flow_key(17, "10.0.0.99", 53, "10.0.0.1", 40001))
    ok(r and r["sa"] == "10.0.0.99" and r["dns"][0]["dir"] == ">" and "rn" in r["dns"][0],
       "response-first flow: direction from the core, not from QR")
    r = idx[flow_key(17, "10.0.0.1", 40002, "10.0.0.53", 53)]
    ok(r["dns"][0]["qn"] == "a\\.b.x\\032y.\\\\q.\\195\\169t\\001\\255.com",
       "dns name escaping is lossless (master-file \\. \\\\ \\DDD)", r["dns"][0]["qn"])
    r = idx[flow_key(17, "10.0.0.1", 40003, "10.0.0.53", 9953)]
    ok("dns" in r and r["dns"][0]["qn"] == "www.example.com", "dns found by content on port 9953")
    r = idx[flow_key(17, "10.0.0.1", 40004, "10.0.0.53", 9954)]
    ok("dns" not in r, "random bytes on port 9954 are not DNS")
    r = idx[flow_key(17, "10.0.0.1", 5353, "224.0.0.251", 5353)]
    ok(r["dns"][0] == {"dir": ">", "qn": "_ipp._tcp.local", "qt": 12, "qc": 0x8001, "rc": 0,
                       "id": 0, "qs": [{"n": "_ipps._tcp.local", "qt": 12}], "rr": []},
       "mdns two questions, QU bit", json.dumps(r["dns"][0]))
    r = idx[flow_key(6, "10.0.0.1", 40010, "10.0.0.53", 53)]
    ids = [(x["dir"], x["id"]) for x in r.get("dns", [])]
    ok(ids == [(">", 0x2222), (">", 0x3333), ("<", 0x2222), ("<", 0x3333)],
       "dns over tcp: 2 messages per segment, split + reordered segments", repr(ids))
    ok(all("truncated" not in x and "malformed" not in x for x in r.get("dns", [])) and
       r["dns"][2]["rr"][0].get("a") == "198.51.100.2" and
       r["dns"][3]["rr"][0].get("aaaa") == "::3", "dns over tcp records",
       json.dumps(r.get("dns"))[:300])
    if have("tshark"):
        # tshark does not put the reordered TCP response back together (it shows 3 of
        # the 4 messages); that flow is checked above against the bytes written
        tshark_dns_check("generated", path, recs,
                         exclude={flow_key(6, "10.0.0.1", 40010, "10.0.0.53", 53)})


def gen_dns_hostile(d):
    frames = []
    port = [41000]

    def add(payload, proto="udp"):
        port[0] += 1
        frames.append(udp4(C, S, port[0], 53, payload))
        return port[0]

    q = lambda qd=1, an=0: dns_hdr(9, 0x8180, qd, an, 0, 0)
    cases = {}
    # the question name is a pointer to itself
    cases["loop"] = add(q() + b"\xc0\x0c" + struct.pack(">HH", 1, 1))
    # a record name pointing forward
    cases["forward"] = add(q(1, 1) + dname(b"a") + struct.pack(">HH", 1, 1) + b"\xc0\x20" +
                           struct.pack(">HHIH", 1, 1, 1, 4) + b"\1\2\3\4" + dname(b"zz"))
    # two pointers pointing at each other (a loop through two names)
    cases["loop2"] = add(q(1, 1) + b"\x01a\xc0\x1a" + struct.pack(">HH", 1, 1) + b"\x01b\xc0\x0c" +
                         struct.pack(">HHIH", 1, 1, 1, 0))
    # a chain of 100 pointers, each pointing at the one before it (beyond the hop limit):
    # record 1 (root name, type 99) carries the pointers as its RDATA, record 2's name is
    # the last of them
    chain_msg = dns_hdr(9, 0x8180, 1, 2, 0, 0) + b"\x01x\x00" + struct.pack(">HH", 1, 1)
    r1 = b"\x00" + struct.pack(">HHIH", 99, 1, 1, 200)
    base = len(chain_msg) + len(r1)
    ptrs, prev = b"", 12
    for i in range(100):
        ptrs += struct.pack(">H", 0xC000 | prev)
        prev = base + 2 * i
    chain_msg += r1 + ptrs + struct.pack(">H", 0xC000 | prev) + struct.pack(">HHIH", 1, 1, 1, 4) + \
        b"\1\2\3\4"
    cases["chain"] = add(chain_msg)
    # a name of 300 octets (5 labels of 59)
    cases["long"] = add(q() + dname(*([b"x" * 59] * 5)) + struct.pack(">HH", 1, 1))
    # rdlength larger than the message
    cases["rdlen"] = add(q(1, 1) + dname(b"a") + struct.pack(">HH", 1, 1) + b"\xc0\x0c" +
                         struct.pack(">HHIH", 1, 1, 1, 500) + b"\1\2\3\4")
    # more answers announced than present, a huge qdcount
    cases["count"] = add(dns_hdr(9, 0x8180, 1, 65535, 65535, 65535) + dname(b"a") +
                         struct.pack(">HH", 1, 1))
    cases["qd"] = add(dns_hdr(9, 0x0100, 65535, 0, 0, 0) + dname(b"a") + struct.pack(">HH", 1, 1))
    # a pointer into the header
    cases["hdrptr"] = add(q() + b"\x01a\xc0\x02" + struct.pack(">HH", 1, 1))
    # an A record with 5 bytes and a CNAME that overruns its rdata
    cases["rdata"] = add(q(1, 2) + dname(b"a") + struct.pack(">HH", 1, 1) + b"\xc0\x0c" +
                         struct.pack(">HHIH", 1, 1, 1, 5) + b"\1\2\3\4\5" + b"\xc0\x0c" +
                         struct.pack(">HHIH", 5, 1, 1, 2) + b"\x03abc\x00")
    cases["garbage"] = add(FIXED_NOISE(300))
    cases["short"] = add(b"\x12\x34\x81")
    path = os.path.join(d, "dns_hostile.pcap")
    # 70 queries in one flow: 64 kept, 6 counted
    for i in range(70):
        frames.append(udp4(C, S, 42000, 53, dns_hdr(i, 0x0100, 1, 0, 0, 0) + dname(b"c") +
                           struct.pack(">HH", 1, 1)))
    write_pcap(path, frames)
    t0 = time.time()
    recs, rc, err = run_joy(path)
    ok(time.time() - t0 < 10 and rc == 0, "hostile dns: no hang, exit 0", err[-300:])
    idx = joy_index(recs)

    def msg(name):
        return idx[flow_key(17, "10.0.0.1", cases[name], "10.0.0.53", 53)]["dns"][0]

    ok(msg("loop").get("malformed") == "name_pointer" and msg("loop")["rn"] is None,
       "compression loop rejected", json.dumps(msg("loop")))
    ok(msg("forward")["rr"] == [] and msg("forward").get("malformed") == "name_pointer",
       "forward pointer rejected", json.dumps(msg("forward")))
    ok(msg("loop2").get("malformed") == "name_pointer", "two-name pointer loop rejected",
       json.dumps(msg("loop2")))
    m = msg("chain")
    ok(m.get("malformed") == "name_too_many_pointers" and len(m["rr"]) == 1,
       "pointer chain beyond the hop limit rejected", json.dumps(m)[:300])
    ok(msg("long").get("malformed") == "name_too_long", "name over 255 octets rejected",
       json.dumps(msg("long"))[:200])
    ok(msg("rdlen").get("malformed") == "truncated", "lying rdlength", json.dumps(msg("rdlen")))
    ok(msg("count").get("malformed") == "truncated" and msg("count")["rr"] == [],
       "lying record counts", json.dumps(msg("count")))
    ok(msg("qd").get("malformed") == "truncated", "lying qdcount", json.dumps(msg("qd")))
    ok(msg("hdrptr").get("malformed") == "name_pointer", "pointer into the header rejected")
    rd = msg("rdata")["rr"]
    ok(len(rd) == 2 and rd[0].get("malformed") == "rdata_length" and rd[0].get("type") == 1 and
       rd[1].get("malformed") == "truncated" and rd[1].get("type") == 5,
       "bad rdata written generically with a reason", json.dumps(rd))
    ok("dir" in msg("garbage"), "garbage on port 53 gives a valid message object")
    ok(msg("short") == {"dir": ">", "id": 0x1234, "malformed": "truncated"}, "3-byte message",
       json.dumps(msg("short")))
    r = idx[flow_key(17, "10.0.0.1", 42000, "10.0.0.53", 53)]
    ok(len(r["dns"]) == 64 and r.get("dns_omitted") == 6 and r["dns"][-1]["id"] == 63,
       "dns cap: 64 messages, dns_omitted 6", "%d %r" % (len(r["dns"]), r.get("dns_omitted")))


def dhcp4_msg(op, xid, mtype, opts=b"", ciaddr=(0, 0, 0, 0), yiaddr=(0, 0, 0, 0), chaddr=None,
              sname=b"", file=b""):
    chaddr = chaddr or bytes.fromhex("020000000001")
    m = struct.pack(">BBBBIHH4s4s4s4s", op, 1, 6, 0, xid, 3, 0x8000, bytes(ciaddr),
                    bytes(yiaddr), bytes(4), bytes(4))
    m += chaddr.ljust(16, b"\0") + sname.ljust(64, b"\0") + file.ljust(128, b"\0")
    m += struct.pack(">I", 0x63825363) + struct.pack("BBB", 53, 1, mtype) + opts + b"\xff"
    return m


def gen_dhcp(d):
    opts = (bytes([50, 4, 192, 0, 2, 50]) + bytes([12, 4]) + b"host" +
            bytes([55, 4, 1, 3, 6, 15]) + bytes([61, 7, 1]) + bytes.fromhex("020000000001") +
            bytes([60, 8]) + b"MSFT 5.0" + bytes([81, 11, 0x05, 0, 0]) + dname(b"pc", b"lan") +
            bytes([119, 16]) + dname(b"eng", b"corp") + b"\x03lab\xc0\x04" +
            bytes([121, 13, 24, 10, 1, 2, 192, 0, 2, 1, 0, 192, 0, 2, 254]) +
            bytes([2, 4]) + struct.pack(">i", -3600) + bytes([52, 1, 3]) + bytes([200, 2, 1, 2]))
    disc = dhcp4_msg(1, 0xDEADBEEF, 1, opts, sname=bytes([15, 3]) + b"com\xff",
                     file=bytes([66, 3]) + b"tft" + b"\xff")
    offer = dhcp4_msg(2, 0xDEADBEEF, 2, bytes([54, 4, 192, 0, 2, 1, 51, 4, 0, 0, 0x0e, 0x10, 1, 4,
                                               255, 255, 255, 0, 3, 8, 192, 0, 2, 1, 192, 0, 2,
                                               2, 6, 4, 192, 0, 2, 53]),
                      yiaddr=(192, 0, 2, 50), file=b"boot.pxe")
    frames = [udp4([0, 0, 0, 0], [255, 255, 255, 255], 68, 67, disc),
              udp4([192, 0, 2, 1], [255, 255, 255, 255], 67, 68, offer)]
    frames.append(udp4([0, 0, 0, 0], [255, 255, 255, 255], 68, 67, disc[:100]))  # short
    bad = dhcp4_msg(1, 5, 3, bytes([12, 200]) + b"x")  # option length past the end
    frames.append(udp4([0, 0, 0, 0], [10, 9, 9, 9], 68, 67, bad))
    frames.append(udp4([10, 1, 1, 1], [10, 2, 2, 2], 3000, 3067, dhcp4_msg(1, 77, 8)))
    frames.append(udp4([10, 1, 1, 1], [10, 2, 2, 2], 3001, 67, FIXED_NOISE(500)))
    # DHCPv6: SOLICIT (client id DUID-LLT, IA_NA with an IAADDR, ORO, elapsed time), a REPLY,
    # a RELAY-FORW carrying a SOLICIT
    duid = struct.pack(">HHI", 1, 1, 0x12345678) + bytes.fromhex("020000000001")
    o6 = lambda code, v: struct.pack(">HH", code, len(v)) + v
    iaaddr = o6(5, bytes.fromhex("20010db8000000000000000000000010") + struct.pack(">II", 3600,
                                                                                    7200))
    sol = b"\x01" + b"\x00\x12\x34" + o6(1, duid) + o6(3, struct.pack(">III", 7, 0, 0) + iaaddr) + \
        o6(6, struct.pack(">HH", 23, 24)) + o6(8, struct.pack(">H", 0)) + \
        o6(16, struct.pack(">I", 311) + struct.pack(">H", 8) + b"MSFT 5.0") + \
        o6(24, dname(b"example", b"com")) + o6(39, b"\x01" + dname(b"pc", b"example"))
    rep = b"\x07" + b"\x00\x12\x34" + o6(2, struct.pack(">HH", 3, 1) + bytes(6)) + \
        o6(13, struct.pack(">H", 0) + b"ok") + o6(23, bytes.fromhex("20010db8" + "00" * 11 + "35"))
    relay = b"\x0c\x00" + bytes(16) + bytes.fromhex("fe80" + "00" * 13 + "01") + o6(9, sol)
    cl6 = list(bytes.fromhex("fe80" + "00" * 13 + "01"))
    sv6 = list(bytes.fromhex("ff02" + "00" * 11 + "010002"))
    frames.append(ip6(cl6, sv6, 17, udp(546, 547, sol)))
    frames.append(ip6(sv6, cl6, 17, udp(547, 546, rep)))
    frames.append(ip6(cl6, sv6, 17, udp(547, 547, relay)))
    path = os.path.join(d, "dhcp_gen.pcap")
    write_pcap(path, frames)
    recs, rc, err = run_joy(path)
    ok(rc == 0, "dhcp generated: exit 0", err[-200:])
    idx = joy_index(recs)
    m = idx[flow_key(17, "0.0.0.0", 68, "255.255.255.255", 67)]["dhcp"]
    a = m[0]
    ok([a[k] for k in ("op", "htype", "hlen", "hops", "xid", "secs", "flags")] ==
       [1, 1, 6, 0, 0xDEADBEEF, 3, 0x8000], "dhcp header numbers", json.dumps(a)[:200])
    ok(a["chaddr"] == "020000000001" and "sname" not in a and "file" not in a,
       "dhcp chaddr; overloaded sname/file not printed as text")
    want = [{"msg_type": "DHCPDISCOVER"}, {"address_request": "192.0.2.50"}, {"hostname": "host"},
            {"parameter_list": [1, 3, 6, 15]}, {"client_id": {"type": 1, "id": "020000000001"}},
            {"class_id": "MSFT 5.0"}]
    ok(a["options"][:6] == want, "dhcp decoded options", json.dumps(a["options"][:6]))
    byname = {next(iter(o)): o[next(iter(o))] for o in a["options"]}
    ok(byname.get("domain_search") == ["eng.corp", "lab.corp"], "dhcp domain search (compressed)",
       json.dumps(byname.get("domain_search")))
    ok(byname.get("classless_static_route") == [{"dest": "10.1.2.0", "width": 24,
                                                 "router": "192.0.2.1"},
                                                {"dest": "0.0.0.0", "width": 0,
                                                 "router": "192.0.2.254"}],
       "dhcp classless static routes", json.dumps(byname.get("classless_static_route")))
    ok(byname.get("client_fqdn") == {"flags": 5, "rcode1": 0, "rcode2": 0, "name": "pc.lan"},
       "dhcp client fqdn (wire format name)", json.dumps(byname.get("client_fqdn")))
    ok(byname.get("time_offset") == -3600 and byname.get("overload") == 3,
       "dhcp signed time offset, overload")
    ok({"kind": 200, "data": "0102"} in a["options"], "dhcp unknown option as kind/data")
    ok(a["options"][-2:] == [{"tftp_server_name": "tft"}, {"domain_name": "com"}],
       "dhcp options from the overloaded file then sname fields", json.dumps(a["options"][-2:]))
    ok(len(m) > 1 and m[1]["xid"] == 0xDEADBEEF and m[1]["malformed"] == "truncated" and
       "chaddr" in m[1] and "options" not in m[1],
       "dhcp short packet: truncated, no over-read", json.dumps(m[1:])[:200])
    b = idx[flow_key(17, "192.0.2.1", 67, "255.255.255.255", 68)]["dhcp"][0]
    ok(b["yiaddr"] == "192.0.2.50" and b["file"] == "boot.pxe" and
       opt_value(b, "address_time") == 3600 and opt_value(b, "router") == ["192.0.2.1",
                                                                           "192.0.2.2"] and
       opt_value(b, "subnet_mask") == "255.255.255.0", "dhcp offer", json.dumps(b)[:300])
    c = idx[flow_key(17, "0.0.0.0", 68, "10.9.9.9", 67)]["dhcp"][0]
    ok(c.get("malformed") == "option", "dhcp lying option length", json.dumps(c)[-200:])
    e = idx[flow_key(17, "10.1.1.1", 3000, "10.2.2.2", 3067)]
    ok("dhcp" in e and opt_value(e["dhcp"][0], "msg_type") == "DHCPINFORM",
       "dhcp found by its magic cookie on other ports")
    g = idx[flow_key(17, "10.1.1.1", 3001, "10.2.2.2", 67)]["dhcp"][0]
    ok("dir" in g, "garbage on port 67 gives a valid message object")
    v6 = idx[flow_key(17, "fe80::1", 546, "ff02::1:2", 547)]
    s6 = v6.get("dhcpv6", [])
    ok(len(s6) == 2 and s6[0]["msg_type"] == "SOLICIT" and s6[0]["xid"] == 0x1234 and
       s6[1]["msg_type"] == "REPLY" and s6[1]["dir"] == "<" and "dhcp" not in v6,
       "dhcpv6 both directions", json.dumps(s6)[:300])
    o = s6[0]["options"] if s6 else []
    ok(o[:3] == [{"client_id": {"type": 1, "hwtype": 1, "time": 0x12345678,
                                "lladdr": "020000000001"}},
                 {"ia_na": {"iaid": 7, "t1": 0, "t2": 0,
                            "options": [{"iaaddr": {"address": "2001:db8::10", "preferred": 3600,
                                                    "valid": 7200}}]}},
                 {"oro": [23, 24]}], "dhcpv6 duid, nested ia_na/iaaddr, oro", json.dumps(o[:3]))
    ok(o[3:] == [{"elapsed_time": 0}, {"vendor_class": {"enterprise": 311, "data": ["MSFT 5.0"]}},
                 {"domain_list": ["example.com"]}, {"client_fqdn": {"flags": 1,
                                                                    "names": ["pc.example"]}}],
       "dhcpv6 elapsed time, vendor class, domain list, fqdn", json.dumps(o[3:]))
    ok(s6[1]["options"][1:] == [{"status_code": {"code": 0, "message": "ok"}},
                                {"dns_servers": ["2001:db8::35"]}] if len(s6) > 1 else False,
       "dhcpv6 status code, dns servers")
    rl = idx[flow_key(17, "fe80::1", 547, "ff02::1:2", 547)]["dhcpv6"][0]
    ok(rl["msg_type"] == "RELAY-FORW" and rl["peer_address"] == "fe80::1" and
       rl["options"][0]["relay_msg"]["msg_type"] == "SOLICIT", "dhcpv6 relay with nested message",
       json.dumps(rl)[:300])
    if have("tshark"):
        tshark_dhcp_check("generated", path, recs)


def ike_hdr(ispi, rspi, nxt, ver, exch, flags, mid, body):
    return ispi + rspi + struct.pack(">BBBBII", nxt, ver, exch, flags, mid, 28 + len(body)) + body


def ike_pl(nxt, body, crit=0):
    return struct.pack(">BBH", nxt, crit, 4 + len(body)) + body


def gen_ike(d):
    ispi, rspi = bytes.fromhex("0102030405060708"), bytes(8)
    # IKEv2 IKE_SA_INIT: SA (1 proposal: AES-CBC-256, SHA2-256 PRF, SHA2-256-128, ECP256), KE,
    # nonce, two notifies, a VID
    tr = lambda last, ty, tid, attr=b"": struct.pack(">BBHBBH", last, 0, 8 + len(attr), ty, 0,
                                                     tid) + attr
    trs = tr(3, 1, 12, struct.pack(">HH", 0x800E, 256)) + tr(3, 2, 5) + tr(3, 3, 12) + tr(0, 4, 19)
    prop = struct.pack(">BBHBBBB", 0, 0, 8 + len(trs), 1, 1, 0, 4) + trs
    body = ike_pl(34, prop) + ike_pl(40, struct.pack(">HH", 19, 0) + bytes(range(64))) + \
        ike_pl(41, bytes(range(32))) + ike_pl(41, struct.pack(">BBH", 0, 0, 16388) + bytes(20)) + \
        ike_pl(43, struct.pack(">BBH", 0, 0, 16430)) + \
        ike_pl(0, bytes.fromhex("882fe56d6fd20dbc2251613b2ebe5beb"))
    init = ike_hdr(ispi, rspi, 33, 0x20, 34, 0x08, 0, body)
    auth = ike_hdr(ispi, bytes(range(8)), 46, 0x20, 35, 0x08, 1,
                   ike_pl(35, bytes(100)))
    natt = lambda p: b"\0\0\0\0" + p
    frames = [udp4(C, S, 4500, 4500, natt(init)), udp4(C, S, 4500, 4500, b"\xff"),
              udp4(C, S, 4500, 4500, struct.pack(">II", 0x1234, 1) + bytes(40)),  # ESP
              udp4(C, S, 4500, 4500, natt(auth))]
    # IKEv1 aggressive mode: SA, KE, nonce, ID (FQDN), VIDs
    a1 = struct.pack(">HH", 0x8001, 7) + struct.pack(">HH", 0x800E, 128) + \
        struct.pack(">HH", 0x8002, 2) + struct.pack(">HH", 0x8003, 65001) + \
        struct.pack(">HH", 0x8004, 14) + struct.pack(">HH", 0x800B, 1) + \
        struct.pack(">HHI", 0x000C, 4, 28800)
    t1 = struct.pack(">BBHBBH", 0, 0, 8 + len(a1), 1, 1, 0) + a1
    p1 = struct.pack(">BBHBBBB", 0, 0, 8 + len(t1), 1, 1, 0, 1) + t1
    sa1 = struct.pack(">II", 1, 1) + p1
    body1 = ike_pl(4, sa1) + ike_pl(10, bytes(128)) + ike_pl(5, bytes(16)) + \
        ike_pl(13, struct.pack(">BBH", 2, 17, 500) + b"vpn.example.com") + \
        ike_pl(13, bytes.fromhex("afcad71368a1f1c96b8696fc77570100")) + \
        ike_pl(0, bytes.fromhex("12f5f28c457168a9702d9fe274cc0100"))
    v1 = ike_hdr(bytes(range(10, 18)), bytes(8), 1, 0x10, 4, 0, 0, body1)
    enc = ike_hdr(bytes(range(10, 18)), bytes(range(20, 28)), 8, 0x10, 32, 0x01, 77, bytes(48))
    frames += [udp4(C, S, 500, 500, v1), udp4(S, C, 500, 500, enc)]
    # hostile: payload length 0, payload longer than the message, garbage, 40 KB of payloads
    frames.append(udp4(C, S, 501, 500, ike_hdr(ispi, rspi, 33, 0x20, 34, 8, 0,
                                               struct.pack(">BBH", 0, 0, 0))))
    frames.append(udp4(C, S, 502, 500, ike_hdr(ispi, rspi, 40, 0x20, 34, 8, 0,
                                               struct.pack(">BBH", 0, 0, 900) + bytes(10))))
    frames.append(udp4(C, S, 503, 500, FIXED_NOISE(200)))
    # SA whose proposal length lies
    frames.append(udp4(C, S, 504, 500, ike_hdr(ispi, rspi, 33, 0x20, 34, 8, 0,
                                               ike_pl(0, struct.pack(">BBHBBBB", 0, 0, 200, 1, 1, 0,
                                                                     1) + bytes(8)))))
    # IKE on a port that is not 500/4500, found by content
    frames.append(udp4(C, S, 7000, 7500, init))
    path = os.path.join(d, "ike_gen.pcap")
    write_pcap(path, frames)
    recs, rc, err = run_joy(path)
    ok(rc == 0, "ike generated: exit 0", err[-200:])
    idx = joy_index(recs)
    r = idx[flow_key(17, "10.0.0.1", 4500, "10.0.0.53", 4500)]["ike"]
    msgs = r["init"]["messages"]
    ok(len(msgs) == 2 and "resp" not in r, "ike 4500: marker stripped, ESP and keepalive skipped",
       json.dumps(r)[:200])
    h = msgs[0]["header"]
    ok(h == {"init_spi": "0102030405060708", "resp_spi": "0000000000000000", "major": 2,
             "minor": 0, "exchange_type": "ike_sa_init",
             "flags": {"hex": "08", "parsed": ["initiator", "no_higher_version", "request"]},
             "message_id": 0, "length": len(init)}, "ikev2 header", json.dumps(h))
    p = msgs[0]["payloads"]
    ok(p[0] == {"security_association": {"proposals": [
        {"num": 1, "protocol_id": "ike", "num_transforms": 4, "transforms": [
            {"encryption_algorithm": "encr_aes_cbc", "attributes": [{"key_length": 256}]},
            {"pseudorandom_function": "prf_hmac_sha2_256"},
            {"integrity_algorithm": "auth_hmac_sha2_256_128"},
            {"diffie_hellman_group": "ecp256"}]}]}}, "ikev2 SA", json.dumps(p[0]))
    ok(p[1] == {"key_exchange": {"group": "ecp256", "data": bytes(range(64)).hex()}} and
       p[2] == {"nonce": bytes(range(32)).hex()} and
       p[3] == {"notify": {"protocol_id": "reserved", "type": "nat_detection_source_ip",
                           "data": "00" * 20}} and
       p[4] == {"notify": {"protocol_id": "reserved", "type": "ikev2_fragmentation_supported"}} and
       p[5] == {"vendor_id": {"name": "strongSwan", "data": "882fe56d6fd20dbc2251613b2ebe5beb"}},
       "ikev2 KE, nonce, notify, VID", json.dumps(p[1:])[:400])
    ok(msgs[1]["payloads"] == [{"encrypted": {"next_payload": 35, "length": 104}}],
       "ikev2 SK payload ends the list", json.dumps(msgs[1]))
    r = idx[flow_key(17, "10.0.0.1", 500, "10.0.0.53", 500)]["ike"]
    m1 = r["init"]["messages"][0]
    ok(m1["header"]["exchange_type"] == "aggressive" and m1["header"]["flags"]["parsed"] == [],
       "ikev1 header")
    ok(m1["payloads"][0] == {"security_association": {"doi": 1, "situation": 1, "proposals": [
        {"num": 1, "protocol_id": "isakmp", "num_transforms": 1, "transforms": [
            {"num": 1, "transform_id": "key_ike", "attributes": [
                {"encryption_algorithm": "aes_cbc"}, {"key_length": 128},
                {"hash_algorithm": "sha"}, {"authentication_method": "xauth_init_pre_shared"},
                {"group_description": "modp2048"}, {"life_type": "seconds"},
                {"life_duration": 28800}]}]}]}}, "ikev1 SA with attributes",
       json.dumps(m1["payloads"][0]))
    ok(m1["payloads"][3] == {"identification": {"id_type": "fqdn", "protocol_id": 17, "port": 500,
                                                "data": "vpn.example.com"}},
       "ikev1 ID payload", json.dumps(m1["payloads"][3:]))
    ok([x["vendor_id"].get("name") for x in m1["payloads"][4:]] == ["RFC 3706 DPD",
                                                                     "Cisco Unity"],
       "ikev1 vendor id names (prefix match)")
    e = r["resp"]["messages"][0]
    ok(e["payloads"] == [{"encrypted": {"length": 48}}] and
       e["header"]["flags"]["parsed"] == ["encryption"] and e["header"]["message_id"] == 77,
       "ikev1 encrypted message", json.dumps(e))
    for port, want in ((501, "payload_length"), (502, None), (504, None)):
        m = idx[flow_key(17, "10.0.0.1", port, "10.0.0.53", 500)]["ike"]["init"]["messages"][0]
        if want:
            ok(m.get("malformed") == want, "ike hostile port %d" % port, json.dumps(m))
        else:
            ok("malformed" in m or any("malformed" in next(iter(x.values()))
                                       for x in m.get("payloads", [])
                                       if isinstance(next(iter(x.values())), dict)),
               "ike hostile port %d flagged" % port, json.dumps(m)[:300])
    m = idx[flow_key(17, "10.0.0.1", 503, "10.0.0.53", 500)]
    ok("ike" in m, "garbage on port 500 gives a valid object")
    m = idx[flow_key(17, "10.0.0.1", 7000, "10.0.0.53", 7500)]
    ok("ike" in m and m["ike"]["init"]["messages"][0]["header"]["exchange_type"] == "ike_sa_init",
       "ike found by content on other ports")
    if have("tshark"):
        tshark_ike_check("generated", path, recs,
                         only={flow_key(17, "10.0.0.1", p, "10.0.0.53", p) for p in (500, 4500)})


VIDS = [  # (vendor id bytes, joy's name); tshark must recognise each too
    ("4a131c81070358455c5728f20e95452f", "RFC 3947 NAT-T"),
    ("4485152d18b6bbcd0be8a8469579ddcc", "draft-ietf-ipsec-nat-t-ike-00"),
    ("16f6ca16e4a4066d83821a0f0aeaa862", "draft-ietf-ipsec-nat-t-ike-01"),
    ("cd60464335df21f87cfdb2fc68b6a448", "draft-ietf-ipsec-nat-t-ike-02"),
    ("90cb80913ebb696e086381b5ec427b1f", "draft-ietf-ipsec-nat-t-ike-02\\n"),
    ("7d9419a65310ca6f2c179d9215529d56", "draft-ietf-ipsec-nat-t-ike-03"),
    ("9909b64eed937c6573de52ace952fa6b", "draft-ietf-ipsec-nat-t-ike-04"),
    ("80d0bb3def54565ee84645d4c85ce3ee", "draft-ietf-ipsec-nat-t-ike-05"),
    ("4d1e0e136deafa34c4f3ea9f02ec7285", "draft-ietf-ipsec-nat-t-ike-06"),
    ("439b59f8ba676c4c7737ae22eab8f582", "draft-ietf-ipsec-nat-t-ike-07"),
    ("8f8d83826d246b6fc7a8a6a428c11de8", "draft-ietf-ipsec-nat-t-ike-08"),
    ("42ea5b6f898d9773a575df26e7dd19e1", "draft-ietf-ipsec-nat-t-ike-09"),
    ("afcad71368a1f1c96b8696fc77570100", "RFC 3706 DPD"),
    ("09002689dfd6b712", "XAUTH"),
    ("12f5f28c457168a9702d9fe274cc0100", "Cisco Unity"),
    ("882fe56d6fd20dbc2251613b2ebe5beb", "strongSwan"),
    ("4048b7d56ebce88525e7de7f00d6c2d380000000", "IKE Fragmentation"),
    ("1e2b516905991c7d7c96fcbfb587e46100000009", "MS NT5 ISAKMPOAKLEY"),
    ("fb1de3cdf341b7ea16b7e5be0855f120", "MS-Negotiation Discovery Capable"),
    ("26244d38eddb61b3172a36e3d0cfb819", "Vid-Initial-Contact"),
    ("7003cbc1097dbe9c2600ba6983bc8b35", "KAME/racoon"),
    ("20a3622c1cea7ce37bee3ca484425276", "IPSec-Tools"),
    ("4865617274426561745f4e6f74696679386b0100", "Heartbeat Notify"),
    ("00112233445566778899aabbccddeeff", None),
]


def gen_vids(d):
    body = b""
    for i, (v, _) in enumerate(VIDS):
        body += ike_pl(13 if i < len(VIDS) - 1 else 0, bytes.fromhex(v))
    path = os.path.join(d, "ike_vids.pcap")
    write_pcap(path, [udp4(C, S, 500, 500, ike_hdr(bytes(8), bytes(8), 13, 0x10, 2, 0, 0, body))])
    recs, rc, err = run_joy(path)
    got = [p["vendor_id"].get("name") for r in recs if "ike" in r
           for p in r["ike"]["init"]["messages"][0]["payloads"]]
    ok(got == [n for _, n in VIDS], "ike vendor id names", repr(got))
    if not have("tshark"):
        return
    rows = tshark_rows(path, "isakmp", ["isakmp.vid_string", "isakmp.vid_bytes"])
    names = rows[0][1]["isakmp.vid_string"].split(";") if rows else []
    known = [n for n in names if n and "Unknown" not in n]
    ok(len(known) == len(VIDS) - 1, "every named vendor id is one tshark knows",
       repr(names))


def gen_anon(d):
    """anon=FILE: every address decoded from a message goes through the anonymiser, so an
    address inside the subnets gets the same pseudonym as in sa/da; others stay."""
    anonf = os.path.join(d, "anon.txt")
    with open(anonf, "w") as f:
        f.write("192.0.2.0/24\n")
    offer = dhcp4_msg(2, 9, 2, bytes([54, 4, 192, 0, 2, 1, 82, 6, 5, 4, 192, 0, 2, 50]),
                      yiaddr=(192, 0, 2, 50))
    q = dns_hdr(5, 0x8180, 1, 2, 0, 0) + dname(b"h") + struct.pack(">HH", 1, 1) + \
        rr(b"\xc0\x0c", 1, bytes([198, 51, 100, 1])) + rr(b"\xc0\x0c", 1, bytes([192, 0, 2, 9]))
    idp = ike_hdr(bytes(8), bytes(8), 5, 0x10, 4, 0, 0,
                  ike_pl(0, struct.pack(">BBH", 1, 17, 500) + bytes([192, 0, 2, 77])))
    path = os.path.join(d, "anon.pcap")
    write_pcap(path, [udp4([192, 0, 2, 1], [192, 0, 2, 50], 67, 68, offer),
                      udp4([192, 0, 2, 53], [192, 0, 2, 9], 53, 3333, q),
                      udp4([192, 0, 2, 77], [203, 0, 113, 1], 500, 500, idp)])
    recs, rc, err = run_joy(path, "anon=" + anonf, "anon_key=" + os.path.join(d, "anon.key"))
    if rc == 2:
        skip("anon", "this build has no anon= option")
        return
    dh = next((r for r in recs if "dhcp" in r), None)
    dn = next((r for r in recs if "dns" in r), None)
    ik = next((r for r in recs if "ike" in r), None)
    m = dh["dhcp"][0] if dh else {}
    ok(dh and m["yiaddr"] == dh["da"] != "192.0.2.50" and opt_value(m, "server_id") == dh["sa"]
       and opt_value(m, "relay_agent_info") is None,
       "anon: dhcp addresses get the pseudonyms of sa/da; option 82 hidden",
       json.dumps(dh)[:400])
    a = [x["a"] for x in dn["dns"][0]["rr"]] if dn else []
    ok(a == ["198.51.100.1", dn["da"]] and dn["da"] != "192.0.2.9",
       "anon: dns A inside the subnet pseudonymised like da, others kept", repr(a))
    idv = ik["ike"]["init"]["messages"][0]["payloads"][0]["identification"]["data"] if ik else None
    ok(ik and idv == ik["sa"] != "192.0.2.77", "anon: ike ID address pseudonymised like sa",
       repr(idv))


# ---------------------------------------------------------------------------
# 3. real software
class Capture:
    """dumpcap on an interface (optionally inside a network namespace), bounded in time."""

    def __init__(self, path, iface, bpf, netns=None):
        cmd = ["dumpcap", "-q", "-i", iface, "-f", bpf, "-w", path, "-a", "duration:60"]
        if netns:
            cmd = ["ip", "netns", "exec", netns] + cmd
        self.path = path
        self.p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for _ in range(50):  # wait until the file has its header
            if os.path.exists(path) and os.path.getsize(path) > 0:
                break
            time.sleep(0.1)
        time.sleep(0.5)

    def stop(self):
        time.sleep(0.5)
        self.p.send_signal(signal.SIGINT)
        try:
            self.p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()


def stop_proc(p):
    if p.poll() is None:
        p.terminate()
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def live_dns(d):
    if os.geteuid() != 0 or not (have("dnsmasq") and have("dig") and have("dumpcap")):
        skip("live dnsmasq + dig", "needs root, dnsmasq, dig and dumpcap "
             "(apt-get install dnsmasq-base dnsutils)")
        return
    path = os.path.join(d, "dns_live.pcap")
    cap = Capture(path, "lo", "host 127.0.0.2")
    dm = subprocess.Popen(
        ["dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv", "--no-hosts",
         "--listen-address=127.0.0.2", "--bind-interfaces", "--port=53",
         "--pid-file=" + os.path.join(d, "dm.pid"), "--local=/test/",
         "--host-record=www.example.test,192.0.2.10,2001:db8::10",
         "--host-record=mail.example.test,192.0.2.25",
         "--cname=alias.example.test,www.example.test",
         "--mx-host=example.test,mail.example.test,10",
         "--txt-record=example.test,v=spf1 -all,second string",
         "--srv-host=_sip._udp.example.test,sip.example.test,5060,1,2",
         "--ptr-record=10.2.0.192.in-addr.arpa,www.example.test"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    dm2 = subprocess.Popen(
        ["dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv", "--no-hosts",
         "--listen-address=127.0.0.2", "--bind-interfaces", "--port=5390",
         "--pid-file=" + os.path.join(d, "dm2.pid"), "--local=/test/",
         "--host-record=other.example.test,192.0.2.99"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1)
    queries = [["www.example.test", "A"], ["www.example.test", "AAAA"],
               ["alias.example.test", "A"], ["example.test", "MX"], ["example.test", "TXT"],
               ["_sip._udp.example.test", "SRV"], ["-x", "192.0.2.10"],
               ["nothere.example.test", "A"], ["a\\.b.x\\032y.\\195\\169.example.test", "A"]]
    digout = []
    try:
        for q in queries:
            o = subprocess.run(["dig", "+tries=1", "+time=2", "@127.0.0.2"] + q,
                               stdout=subprocess.PIPE, timeout=10).stdout.decode()
            digout.append(o)
        subprocess.run(["dig", "+tcp", "+keepopen", "+tries=1", "+time=2", "@127.0.0.2",
                        "www.example.test", "A", "mail.example.test", "A", "example.test", "MX"],
                       stdout=subprocess.DEVNULL, timeout=10)
        subprocess.run(["dig", "+tries=1", "+time=2", "-p", "5390", "@127.0.0.2",
                        "other.example.test", "A"], stdout=subprocess.DEVNULL, timeout=10)
    finally:
        stop_proc(dm)
        stop_proc(dm2)
        cap.stop()
    recs, rc, err = run_joy(path)
    dns = [r for r in recs if "dns" in r]
    udp53 = [r for r in dns if r["pr"] == 17 and r["dp"] == 53]
    ok(len(udp53) >= len(queries), "live dns: one UDP flow per dig query",
       "%d flows" % len(udp53))
    allm = [(r, m) for r in udp53 for m in r["dns"]]
    ok(all(r["sa"] == "127.0.0.1" for r in udp53) and
       all((m["dir"] == ">") == ("qn" in m) for r, m in allm),
       "live dns: queries from the client (>), responses from the server (<)")
    rrs = [x for r, m in allm if "rn" in m for x in m["rr"]]
    ok({"a": "192.0.2.10"}.items() <= next((x for x in rrs if "a" in x), {}).items(),
       "live dns: A answer")
    ok(any(x.get("aaaa") == "2001:db8::10" for x in rrs), "live dns: AAAA answer")
    ok(any(x.get("cname") == "www.example.test" for x in rrs), "live dns: CNAME answer")
    ok(any(x.get("mx") == "mail.example.test" and x.get("pref") == 10 for x in rrs),
       "live dns: MX answer")
    ok(any(x.get("txt") == ["v=spf1 -all", "second string"] for x in rrs), "live dns: TXT answer",
       json.dumps([x for x in rrs if "txt" in x]))
    ok(any(x.get("srv") == "sip.example.test" and x.get("port") == 5060 for x in rrs),
       "live dns: SRV answer")
    ok(any(x.get("ptr") == "www.example.test" for x in rrs), "live dns: PTR answer")
    ok(any(m.get("rc") == 3 and m.get("rn") == "nothere.example.test" for r, m in allm),
       "live dns: NXDOMAIN rcode 3")
    # dig prints the question in master-file form: the same text joy must write
    qline = [l for l in digout[-1].splitlines()
             if l.startswith(";") and not l.startswith(";;") and " IN" in l.replace("\t", " ")]
    want = qline[0][1:].split()[0].rstrip(".") if qline else None
    ok(want is not None and any(m.get("qn") == want for r, m in allm),
       "live dns: escaped name equals dig's text %r" % want)
    tcpf = [r for r in dns if r["pr"] == 6]
    ids = [(m["dir"], m.get("qn") or m.get("rn")) for m in tcpf[0]["dns"]] if tcpf else []
    ok(len(ids) == 6 and [x[0] for x in ids] == [">", "<"] * 3,
       "live dns over tcp: 3 queries and answers on one connection", repr(ids))
    other = [r for r in dns if r["dp"] == 5390]
    ok(other and other[0]["dns"][1]["rr"][0].get("a") == "192.0.2.99",
       "live dns on port 5390 found by content")
    if have("tshark"):
        tshark_dns_check("live", path, recs)


def live_dhcp(d):
    need = ("ip", "dnsmasq", "busybox", "dumpcap")
    if os.geteuid() != 0 or not all(have(t) for t in need):
        skip("live dnsmasq DHCP + udhcpc", "needs root, ip, dnsmasq, busybox and dumpcap")
        return
    tag = "joyt%d" % os.getpid()
    ns_s, ns_c = tag + "s", tag + "c"
    vs, vc = tag[:8] + "s", tag[:8] + "c"
    run = lambda *a: subprocess.run(list(a), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                    timeout=20).returncode
    if run("ip", "netns", "add", ns_s) != 0:
        skip("live dnsmasq DHCP + udhcpc", "cannot create a network namespace")
        return
    path = os.path.join(d, "dhcp_live.pcap")
    server = None
    try:
        run("ip", "netns", "add", ns_c)
        run("ip", "link", "add", vs, "type", "veth", "peer", "name", vc)
        run("ip", "link", "set", vs, "netns", ns_s)
        run("ip", "link", "set", vc, "netns", ns_c)
        run("ip", "netns", "exec", ns_s, "ip", "addr", "add", "10.99.0.1/24", "dev", vs)
        run("ip", "netns", "exec", ns_s, "ip", "link", "set", vs, "up")
        run("ip", "netns", "exec", ns_c, "ip", "link", "set", vc, "up")
        cap = Capture(path, vc, "udp port 67 or udp port 68", netns=ns_c)
        server = subprocess.Popen(
            ["ip", "netns", "exec", ns_s, "dnsmasq", "--keep-in-foreground",
             "--conf-file=/dev/null", "--port=0", "--interface=" + vs, "--bind-interfaces",
             "--dhcp-range=10.99.0.50,10.99.0.60,255.255.255.0,1h",
             "--dhcp-option=option:router,10.99.0.1", "--dhcp-option=option:dns-server,10.99.0.1",
             "--dhcp-leasefile=" + os.path.join(d, "leases"), "--dhcp-authoritative",
             "--pid-file=" + os.path.join(d, "dhs.pid")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1)
        subprocess.run(["ip", "netns", "exec", ns_c, "busybox", "udhcpc", "-i", vc, "-n", "-q",
                        "-t", "5", "-T", "1", "-s", "/bin/true", "-x", "hostname:joytest", "-V",
                        "joy-vendor"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       timeout=30)
        cap.stop()
    finally:
        if server:
            stop_proc(server)
        run("ip", "netns", "del", ns_s)
        run("ip", "netns", "del", ns_c)
    recs, rc, err = run_joy(path)
    msgs = [(r, m) for r in recs for m in r.get("dhcp", [])]
    types = [opt_value(m, "msg_type") for r, m in msgs]
    ok("DHCPDISCOVER" in types and "DHCPOFFER" in types and "DHCPREQUEST" in types and
       "DHCPACK" in types, "live dhcp: discover, offer, request, ack", repr(types))
    ack = next((m for r, m in msgs if opt_value(m, "msg_type") == "DHCPACK"), {})
    ok(ack.get("yiaddr", "").startswith("10.99.0.") and opt_value(ack, "router") == ["10.99.0.1"]
       and opt_value(ack, "server_id") == "10.99.0.1" and opt_value(ack, "address_time") == 3600,
       "live dhcp: ack fields", json.dumps(ack)[:300])
    disc = next((m for r, m in msgs if opt_value(m, "msg_type") == "DHCPDISCOVER"), {})
    ok(opt_value(disc, "hostname") == "joytest" and opt_value(disc, "class_id") == "joy-vendor",
       "live dhcp: client hostname and vendor class")
    if have("tshark"):
        tshark_dhcp_check("live", path, recs)


def live_ike(d):
    if os.geteuid() != 0 or not (have("charon-cmd") and have("ip") and have("dumpcap")):
        skip("live strongSwan IKE_SA_INIT", "needs root, ip, dumpcap and charon-cmd "
             "(apt-get install charon-cmd)")
        return
    ns = "joyike%d" % os.getpid()
    run = lambda *a: subprocess.run(list(a), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                    timeout=20).returncode
    if run("ip", "netns", "add", ns) != 0:
        skip("live strongSwan IKE_SA_INIT", "cannot create a network namespace")
        return
    path = os.path.join(d, "ike_live.pcap")
    try:
        run("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")
        cap = Capture(path, "lo", "udp", netns=ns)
        p = subprocess.Popen(["ip", "netns", "exec", ns, "charon-cmd", "--host", "127.0.0.2",
                              "--identity", "client@joy.test", "--profile", "ikev2-eap",
                              "--eap-identity", "user", "--ike-proposal",
                              "aes256-sha256-ecp256"],
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        time.sleep(2.5)
        p.send_signal(signal.SIGINT)
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        cap.stop()
    finally:
        run("ip", "netns", "del", ns)
    recs, rc, err = run_joy(path)
    ike = [r for r in recs if "ike" in r]
    m = ike[0]["ike"]["init"]["messages"][0] if ike else {}
    ok(ike and m["header"]["exchange_type"] == "ike_sa_init" and ike[0]["dp"] == 4500,
       "live ike: charon's IKE_SA_INIT on 4500 after the non-ESP marker", json.dumps(m)[:300])
    sa = m.get("payloads", [{}])[0].get("security_association", {})
    tr = sa.get("proposals", [{}])[0].get("transforms", [])
    ok({"encryption_algorithm": "encr_aes_cbc", "attributes": [{"key_length": 256}]} in tr and
       {"diffie_hellman_group": "ecp256"} in tr, "live ike: proposal aes256-sha256-ecp256",
       json.dumps(tr))
    if have("tshark"):
        tshark_ike_check("live", path, recs)


# ---------------------------------------------------------------------------
def main():
    if not os.path.exists(JOY):
        print("joy binary not found: %s (build it or set JOY)" % JOY)
        print("0 passed, 1 failed")
        return 1
    d = tempfile.mkdtemp(prefix="joy-dns-dhcp-ike-")
    try:
        for part in (shared_checks, lambda: gen_dns(d), lambda: gen_dns_hostile(d),
                     lambda: gen_dhcp(d), lambda: gen_ike(d), lambda: gen_vids(d),
                     lambda: gen_anon(d),
                     lambda: live_dns(d), lambda: live_dhcp(d), lambda: live_ike(d)):
            try:
                part()
            except Exception as e:  # a crash in one part is one failure, the rest still runs
                import traceback
                traceback.print_exc()
                ok(False, "exception in %s" % getattr(part, "__name__", "part"), repr(e))
    finally:
        shutil.rmtree(d, ignore_errors=True)
    print("%d passed, %d failed, %d skipped" % (passed, failed, skipped))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
