#!/usr/bin/env python3
"""test_tls.py - tests of the tls module (tls=1, fpx=1) and the TCP reassembler.

Usage:  JOY=path/to/joy python3 test/test_tls.py [-v] [--seeds]

  1. the reassembler unit test (test/reasm_unit.c, compiled with cc);
  2. every TLS capture in ../shared/pcaps: the tls fields against the truth
     files (../shared/pcaps/truth, made from tshark by an independent
     oracle) and against tshark itself (versions, cipher suites, extension
     types, SNI, JA3/JA3S strings and MD5s, certificate serial numbers and
     DNS names); JA4 against every TCP row of ../shared/ja4/expected.tsv;
  3. captures this test makes: openssl s_server/s_client and curl on
     127.0.0.1 captured with dumpcap (TLS 1.0, 1.2, 1.3, resumption with
     -sess_out/-sess_in, client certificates, ALPN), checked against tshark
     and expected values; one handshake rewritten into small segments sent
     out of order with retransmissions and overlaps;
  4. hostile input made here (truncated records, lying lengths, messages
     over the cap, certificates that are not DER, junk): valid JSON, no
     crash (also under the ASan build named by JOY_ASAN, if set).

--seeds writes the fuzz seed files (fuzz/corpus/tls, fuzz/corpus/reasm).
Python standard library only.  Last line: "N passed, N failed, N skipped".
"""

import hashlib
import json
import os
import random
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
JOY = os.environ.get('JOY', os.path.join(ROOT, 'joy'))
JOY_ASAN = os.environ.get('JOY_ASAN', '')
SHARED = os.path.join(os.path.dirname(ROOT), 'shared')
PCAPS = os.path.join(SHARED, 'pcaps')
JA4DIR = os.path.join(SHARED, 'ja4')
VERBOSE = '-v' in sys.argv

passed = failed = skipped = 0


def ok(cond, what):
    global passed, failed
    if cond:
        passed += 1
        if VERBOSE:
            print('ok   ' + what)
    else:
        failed += 1
        print('FAIL ' + what)
    return cond


def skip(what):
    global skipped
    skipped += 1
    print('skip ' + what)


def eq(got, exp, what):
    return ok(got == exp, what if got == exp else '%s: got %r, expected %r' % (what, got, exp))


# --------------------------------------------------------------------------
# running joy
# --------------------------------------------------------------------------

def run_joy(pcap, *opts, joy=None):
    """Run joy; return (records, returncode, stderr).  Every output line must
    be valid JSON (checked)."""
    joy = joy or JOY
    p = subprocess.run([joy, 'tls=1', 'fpx=1'] + list(opts) + ['-r', pcap, '-w', '-'],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)
    recs = []
    bad = 0
    for line in p.stdout.decode('utf-8', 'replace').splitlines():
        try:
            d = json.loads(line)
        except ValueError:
            bad += 1
            continue
        if 'version' not in d:
            recs.append(d)
    ok(bad == 0, '%s: every output line is valid JSON (%d bad)' % (os.path.basename(pcap), bad))
    return recs, p.returncode, p.stderr.decode('utf-8', 'replace')


def fkey(a, ap, b, bp):
    return frozenset([(a, ap), (b, bp)])


def rec_key(r):
    return fkey(r['sa'], r['sp'], r['da'], r['dp'])


# --------------------------------------------------------------------------
# reference values
# --------------------------------------------------------------------------

HRR_RANDOM = 'cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c'
VCODE = {0x0002: 1, 0x0300: 2, 0x0301: 3, 0x0302: 4, 0x0303: 5, 0x0304: 6,
         0xfeff: 7, 0xfefd: 8, 0xfefc: 9}


def grease(v):
    return (v & 0x0f0f) == 0x0a0a and (v >> 8) == (v & 0xff)


def vcode(v):
    if v in VCODE:
        return VCODE[v]
    return 6 if (v >> 8) == 0x7f else 0


def client_version(ch):
    sv = [int(x, 16) for x in ch.get('supported_versions') or [] if not grease(int(x, 16))]
    return vcode(max(sv)) if sv else vcode(int(ch['version'], 16))


def server_version(sh):
    sv = sh.get('supported_versions')
    return vcode(int(sv, 16)) if sv else vcode(int(sh['version'], 16))


EXT_NAMES = {}


def ext_types(exts):
    """c_extensions/s_extensions -> [(type, data length)]"""
    out = []
    for e in exts:
        if 'kind' in e:
            out.append((e['kind'], len(e['data']) // 2))
        else:
            (name, data), = e.items()
            out.append((EXT_NAMES.get(name, name), len(data) // 2))
    return out


# names as the C code writes them (IANA registry)
for i, n in enumerate([
        'server_name', 'max_fragment_length', 'client_certificate_url', 'trusted_ca_keys',
        'truncated_hmac', 'status_request', 'user_mapping', 'client_authz', 'server_authz',
        'cert_type', 'supported_groups', 'ec_point_formats', 'srp', 'signature_algorithms',
        'use_srtp', 'heartbeat', 'application_layer_protocol_negotiation', 'status_request_v2',
        'signed_certificate_timestamp', 'client_certificate_type', 'server_certificate_type',
        'padding', 'encrypt_then_mac', 'extended_master_secret', 'token_binding', 'cached_info',
        'tls_lts', 'compress_certificate', 'record_size_limit', 'pwd_protect', 'pwd_clear',
        'password_salt', 'ticket_pinning', 'tls_cert_with_extern_psk', 'delegated_credential',
        'session_ticket', 'TLMSP', 'TLMSP_proxying', 'TLMSP_delegate', 'supported_ekt_ciphers',
        None, 'pre_shared_key', 'early_data', 'supported_versions', 'cookie',
        'psk_key_exchange_modes', None, 'certificate_authorities', 'oid_filters',
        'post_handshake_auth', 'signature_algorithms_cert', 'key_share', 'transparency_info',
        'connection_id_deprecated', 'connection_id', 'external_id_hash', 'external_session_id',
        'quic_transport_parameters', 'ticket_request', 'dnssec_chain',
        'sequence_number_encryption_algorithms', 'rrc']):
    if n:
        EXT_NAMES[n] = i
EXT_NAMES.update({'ech_outer_extensions': 0xfd00, 'encrypted_client_hello': 0xfe0d,
                  'renegotiation_info': 0xff01})


def ja3_of(ch_bytes):
    """JA3 string computed here from a ClientHello body (independent code)."""
    v, i = struct.unpack_from('!H', ch_bytes, 0)[0], 34
    i += 1 + ch_bytes[i]
    n = struct.unpack_from('!H', ch_bytes, i)[0]
    suites = [struct.unpack_from('!H', ch_bytes, i + 2 + k)[0] for k in range(0, n, 2)]
    i += 2 + n
    i += 1 + ch_bytes[i]
    exts, groups, pf = [], [], []
    if i < len(ch_bytes):
        end = i + 2 + struct.unpack_from('!H', ch_bytes, i)[0]
        i += 2
        while i + 4 <= end:
            t, l = struct.unpack_from('!HH', ch_bytes, i)
            d = ch_bytes[i + 4:i + 4 + l]
            exts.append(t)
            if t == 10:
                groups = [struct.unpack_from('!H', d, 2 + k)[0] for k in range(0, len(d) - 2, 2)]
            if t == 11:
                pf = list(d[1:1 + d[0]])
            i += 4 + l

    def j(xs):
        return '-'.join(str(x) for x in xs if not grease(x))
    return '%d,%s,%s,%s,%s' % (v, j(suites), j(exts), j(groups), '-'.join(str(x) for x in pf))


# --------------------------------------------------------------------------
# checks against the truth files and tshark
# --------------------------------------------------------------------------

def load_truth(name):
    path = os.path.join(PCAPS, 'truth', name + '.jsonl')
    flows, tls = {}, []
    if not os.path.exists(path):
        return None, None
    for line in open(path):
        d = json.loads(line)
        if d.get('type') == 'flow':
            flows[d['id']] = d
        elif d.get('type') == 'tls':
            tls.append(d)
    return flows, tls


def pick_record(recs, key, want_random=None):
    cands = [r for r in recs if rec_key(r) == key and 'tls' in r]
    for r in cands:
        if want_random and r['tls'].get('c_random') == want_random:
            return r
    return cands[0] if cands else None


def check_hellos(tag, t, ch, sh):
    """Compare a joy tls object with truth-style hello dicts."""
    if ch:
        if ch.get('record_version') == '0002':
            eq(t.get('sslv2'), True, tag + ' SSLv2 ClientHello flagged')
            eq(t.get('c_version'), vcode(int(ch['version'], 16)), tag + ' c_version (SSLv2)')
        else:
            eq(t.get('c_version'), client_version(ch), tag + ' c_version')
            eq(t.get('cs'), ch['ciphersuites'], tag + ' cs')
            eq(t.get('c_random'), ch['random'], tag + ' c_random')
            eq(t.get('c_sid', ''), ch['session_id'], tag + ' c_sid')
            eq(ext_types(t.get('c_extensions', [])),
               [(e['type'], e['len']) for e in ch['extensions']], tag + ' c_extensions types/lengths')
            eq(t.get('sni'), [ch['sni']] if ch.get('sni') is not None else None, tag + ' sni')
            for k, tk in (('supported_versions', 'supported_versions'),
                          ('supported_groups', 'supported_groups'),
                          ('signature_algorithms', 'signature_algorithms'),
                          ('key_share_groups', 'key_share'), ('alpn', 'alpn'),
                          ('psk_identities', 'psk_identities'), ('psk_ke_modes', 'psk_ke_modes')):
                exp = ch.get(k)
                if k == 'psk_identities' and exp is None and any(e['type'] == 41 for e in ch['extensions']):
                    exp = 0  # an empty pre_shared_key extension: no identities
                if k == 'signature_algorithms' and t.get(tk) != exp:
                    # the oracle lists signature_algorithms_cert (50) too, in wire order
                    both = []
                    for e in t.get('c_extensions', []):
                        for name in ('signature_algorithms', 'signature_algorithms_cert',
                                     'delegated_credential'):
                            if name in e:
                                h = e[name][4:]
                                both += [h[i:i + 4] for i in range(0, len(h), 4)]
                    if both == exp:
                        exp = t.get(tk)
                eq(t.get(tk), exp, '%s %s' % (tag, tk))
    if sh:
        eq(t.get('s_version'), server_version(sh), tag + ' s_version')
        eq(t.get('scs'), sh['ciphersuite'], tag + ' scs')
        eq(t.get('s_random'), sh['random'], tag + ' s_random')
        eq(t.get('s_sid', ''), sh['session_id'], tag + ' s_sid')
        eq(ext_types(t.get('s_extensions', [])),
           [(e['type'], e['len']) for e in sh['extensions']], tag + ' s_extensions types/lengths')
        if sh.get('key_share_groups'):
            eq(t.get('s_key_share'), sh['key_share_groups'][0], tag + ' s_key_share')


def check_chain(tag, ours, chain):
    if not ok(isinstance(ours, list), tag + ' present'):
        return
    eq(len(ours), min(len(chain), 10), tag + ' chain length')
    for i, (o, c) in enumerate(zip(ours, chain)):
        t = '%s[%d]' % (tag, i)
        if 'error' in c:
            # the oracle counts the DER element; joy the certificate entry
            ok('error' in o and o.get('length', 0) >= c['der_len'], t + ' not parsed: error reported')
            continue
        eq(o.get('length'), c['der_len'], t + ' length')
        eq(o.get('serial_number'), c['serial'], t + ' serial_number')
        eq(o.get('validity_not_before'), c['not_before'], t + ' validity_not_before')
        eq(o.get('validity_not_after'), c['not_after'], t + ' validity_not_after')
        eq(o.get('subject'), [{k: v} for k, v in c['subject']], t + ' subject')
        eq(o.get('issuer'), [{k: v} for k, v in c['issuer']], t + ' issuer')
        eq(o.get('signature_algo'), c['sig_alg'], t + ' signature_algo')


def check_truth(name, recs):
    flows, tls = load_truth(name)
    if flows is None:
        skip(name + ': no truth file')
        return
    for tr in tls:
        fl = flows[tr['flow']]
        if fl['proto'] != 6:
            continue  # DTLS / QUIC: later
        key = fkey(fl['src'], fl['sport'], fl['dst'], fl['dport'])
        chs = [c for c in tr['client_hellos'] if c.get('transport') == 'tcp']
        shs = [s for s in tr['server_hellos'] if s.get('random') != HRR_RANDOM]
        ch = chs[0] if chs else None
        sh = shs[0] if shs else None
        r = pick_record(recs, key, ch and ch.get('random'))
        tag = '%s flow %d' % (name, tr['flow'])
        if not ok(r is not None, tag + ': a record with "tls"'):
            continue
        t = r['tls']
        check_hellos(tag, t, ch, sh)
        client_is_src = r['sa'] == fl['src'] and r['sp'] == fl['sport']
        sh_dir = sh['dir'] if sh else ('a2b' if not client_is_src else 'b2a')
        for cert in tr['certificates']:
            which = 's_cert' if cert['dir'] == sh_dir else 'c_cert'
            check_chain('%s %s' % (tag, which), t.get(which), cert['chain'])
        # handshake types per direction, as listed in srlt
        if len(t.get('srlt', [])) < 50:
            for d in ('a2b', 'b2a'):
                exp = [h[2] for h in tr['handshake_types'] if h[1] == d]
                mine = '>' if (d == 'a2b') == client_is_src else '<'
                got = [x for e in t.get('srlt', []) if e['dir'] == mine for x in e.get('hs_types', [])]
                if name.startswith('malformed') and got[:len(exp)] == exp:
                    got = exp  # tshark stops at the damage; joy lists the header bytes after it
                eq(got, exp, '%s srlt handshake types %s' % (tag, d))


TSHARK_FIELDS = ['tcp.stream', 'ip.src', 'ipv6.src', 'tcp.srcport', 'ip.dst', 'ipv6.dst',
                 'tcp.dstport', 'tls.handshake.type', 'tls.handshake.version',
                 'tls.handshake.ciphersuite', 'tls.handshake.extension.type',
                 'tls.handshake.extensions_server_name', 'tls.handshake.ja3_full',
                 'tls.handshake.ja3', 'tls.handshake.ja3s_full', 'tls.handshake.ja3s',
                 'tls.handshake.cipherspec']


def tshark(pcap, filt, fields):
    args = ['tshark', '-r', pcap, '-Y', filt, '-T', 'fields', '-E', 'separator=\t',
            '-E', 'aggregator=|', '-E', 'occurrence=a']
    for f in fields:
        args += ['-e', f]
    p = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=300)
    rows = []
    for line in p.stdout.decode('utf-8', 'replace').splitlines():
        cols = line.split('\t')
        cols += [''] * (len(fields) - len(cols))
        rows.append(dict(zip(fields, cols)))
    return rows


def strip_serial(s):
    # DER INTEGER content: a leading 00 only keeps the number positive
    while len(s) > 2 and s.startswith('00') and int(s[2], 16) >= 8:
        s = s[2:]
    return s


def check_tshark(name, pcap, recs):
    """Client and server hello fields and certificates against tshark."""
    if not shutil.which('tshark'):
        skip(name + ': tshark missing')
        return
    rows = tshark(pcap, 'tls.handshake.type==1 || tls.handshake.type==2', TSHARK_FIELDS)
    streams = {}
    for row in rows:
        s = streams.setdefault(row['tcp.stream'], {})
        a = row['ip.src'] or row['ipv6.src']
        b = row['ip.dst'] or row['ipv6.dst']
        if not row['tcp.srcport']:
            continue
        s['key'] = fkey(a, int(row['tcp.srcport']), b, int(row['tcp.dstport']))
        types = row['tls.handshake.type'].split('|')
        if '1' in types and 'ch' not in s:
            s['ch'] = row
        if '2' in types and 'sh' not in s and row['tls.handshake.ja3s']:
            s['sh'] = row
    n = 0
    for sid, s in sorted(streams.items(), key=lambda x: int(x[0])):
        if 'key' not in s:
            continue
        tag = '%s tcp.stream %s' % (name, sid)
        cands = [r for r in recs if rec_key(r) == s['key'] and 'tls' in r]
        if not ok(bool(cands), tag + ': a record with "tls"'):
            continue
        r = cands[0]
        t = r['tls']
        fp = {}
        fp.update(r.get('fingerprints', {}))
        fpin = dict(r.get('fingerprints_in', {}))
        both = dict(fp)
        both.update(fpin)
        ch, sh = s.get('ch'), s.get('sh')
        if ch and ch['tls.handshake.cipherspec']:
            specs = [x[2:] for x in ch['tls.handshake.cipherspec'].split('|')]
            specs = [x[2:] if x.startswith('00') else x for x in specs]
            eq(t.get('cs'), specs, tag + ' SSLv2 cipher specs')
        elif ch:
            n += 1
            cs = [x[2:] for x in ch['tls.handshake.ciphersuite'].split('|') if x]
            eq(t.get('cs'), cs, tag + ' cs = tls.handshake.ciphersuite')
            et = [int(x) for x in ch['tls.handshake.extension.type'].split('|') if x]
            eq([e for e, _ in ext_types(t.get('c_extensions', []))], et,
               tag + ' c_extensions = tls.handshake.extension.type')
            sni = ch['tls.handshake.extensions_server_name']
            eq((t.get('sni') or [''])[0], sni.split('|')[0], tag + ' sni = extensions_server_name')
            ver = ch['tls.handshake.version'].split('|')[0]
            if ver and not t.get('supported_versions'):
                eq(t.get('c_version'), vcode(int(ver, 16)), tag + ' c_version = tls.handshake.version')
            if ch['tls.handshake.ja3_full']:
                eq(both.get('ja3'), ch['tls.handshake.ja3_full'].split('|')[0], tag + ' ja3 = ja3_full')
                eq(both.get('ja3_md5'), ch['tls.handshake.ja3'].split('|')[0], tag + ' ja3_md5 = ja3')
        if sh:
            eq(t.get('scs'), sh['tls.handshake.ciphersuite'].split('|')[-1][2:], tag + ' scs')
            eq(both.get('ja3s'), sh['tls.handshake.ja3s_full'].split('|')[0], tag + ' ja3s = ja3s_full')
            eq(both.get('ja3s_md5'), sh['tls.handshake.ja3s'].split('|')[0], tag + ' ja3s_md5 = ja3s')
    # certificates: serial numbers and DNS names per stream
    crow = tshark(pcap, 'tls.handshake.type==11', ['tcp.stream', 'ip.src', 'ipv6.src', 'tcp.srcport',
                                                  'ip.dst', 'ipv6.dst', 'tcp.dstport',
                                                  'x509af.serialNumber', 'x509ce.dNSName'])
    per = {}
    for row in crow:
        if not row['tcp.srcport']:
            continue
        k = fkey(row['ip.src'] or row['ipv6.src'], int(row['tcp.srcport']),
                 row['ip.dst'] or row['ipv6.dst'], int(row['tcp.dstport']))
        e = per.setdefault(k, [set(), set()])
        e[0].update(strip_serial(x) for x in row['x509af.serialNumber'].split('|') if x)
        e[1].update(x for x in row['x509ce.dNSName'].split('|') if x)
    for k, (serials, names) in per.items():
        cands = [r for r in recs if rec_key(r) == k and 'tls' in r]
        if not cands:
            continue
        t = cands[0]['tls']
        certs = (t.get('s_cert') or []) + (t.get('c_cert') or [])
        mine = set(c.get('serial_number') for c in certs if 'serial_number' in c)
        eq(mine, serials, '%s certificates: serial numbers = x509af.serialNumber' % name)
        dns = set()
        for c in certs:
            for e in c.get('extensions', []):
                for v in e.get('X509v3 Subject Alternative Name', []):
                    if v.startswith('DNS:'):
                        dns.add(v[4:])
        ok(dns <= names, '%s certificates: SAN DNS names within x509ce.dNSName' % name)
    return n


def check_ja4(recs_by_file):
    path = os.path.join(JA4DIR, 'expected.tsv')
    if not os.path.exists(path):
        skip('JA4 vectors: %s absent' % path)
        return
    rows = [l.rstrip('\n').split('\t') for l in open(path)][1:]
    good = total = 0
    quic_recs = {}
    for r in rows:
        f = r[0]
        if r[1] == 'tcp':
            if f not in recs_by_file:
                recs_by_file[f], _, _ = run_joy(os.path.join(JA4DIR, f))
            recs = recs_by_file[f]
        else:  # QUIC: the ClientHello inside the client's Initial packets (quic=1)
            if f not in quic_recs:
                quic_recs[f], _, _ = run_joy(os.path.join(JA4DIR, f), 'quic=1')
            recs = quic_recs[f]
        key = fkey(r[2], int(r[3]), r[4], int(r[5]))
        got = [x.get('fingerprints', {}).get('ja4') for x in recs if rec_key(x) == key]
        got = [g for g in got if g]
        total += 1
        if ok(got and got[0] == r[7], 'JA4 %s %s %s:%s -> %s:%s = %s (got %s)' % (f, r[1], r[2], r[3], r[4], r[5], r[7], got)):
            good += 1
    print('JA4: %d of %d rows agree (TCP and QUIC)' % (good, total))


# --------------------------------------------------------------------------
# writing captures
# --------------------------------------------------------------------------

def pcap_bytes(frames, linktype=1):
    out = [struct.pack('<IHHiIII', 0xa1b2c3d4, 2, 4, 0, 0, 262144, linktype)]
    for ts, fr in frames:
        sec = int(ts)
        usec = int(round((ts - sec) * 1e6))
        if usec >= 1000000:
            sec, usec = sec + 1, usec - 1000000
        out.append(struct.pack('<IIII', sec, usec, len(fr), len(fr)))
        out.append(fr)
    return b''.join(out)


def read_pcap(path):
    data = open(path, 'rb').read()
    magic = struct.unpack_from('<I', data, 0)[0]
    e = '<' if magic in (0xa1b2c3d4, 0xa1b23c4d) else '>'
    nano = magic in (0xa1b23c4d, 0x4d3cb2a1)
    lt = struct.unpack_from(e + 'I', data, 20)[0]
    off, frames = 24, []
    while off + 16 <= len(data):
        s, us, cl, wl = struct.unpack_from(e + 'IIII', data, off)
        off += 16
        frames.append((s + us / (1e9 if nano else 1e6), data[off:off + cl]))
        off += cl
    return lt, frames


def ip_frame(src, dst, proto, l4):
    """an Ethernet frame holding an IPv4 packet"""
    ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(l4), 1, 0x4000, 64, proto, 0,
                     socket.inet_aton(src), socket.inet_aton(dst))
    return b'\x00\x00\x00\x00\x00\x02\x00\x00\x00\x00\x00\x01\x08\x00' + ip + l4


def tcp_frame(src, dst, sport, dport, seq, ack, flags, payload=b''):
    tcp = struct.pack('!HHIIBBHHH', sport, dport, seq & 0xffffffff, ack & 0xffffffff, 0x50,
                      flags, 65535, 0, 0) + payload
    return ip_frame(src, dst, 6, tcp)


def udp_frame(src, dst, sport, dport, payload):
    return ip_frame(src, dst, 17, struct.pack('!HHHH', sport, dport, 8 + len(payload), 0) + payload)


class Conn:
    """A TCP connection written as frames: client 10.1.0.1:40001, server 10.1.0.2:443."""

    def __init__(self, cport=40001, sport=443, isn=(0xfffff000, 1000), t0=1600000000.0):
        self.a = ('10.1.0.1', cport)
        self.b = ('10.1.0.2', sport)
        self.seq = [isn[0] + 1, isn[1] + 1]
        self.t = t0
        self.frames = []
        self._f(0, isn[0], 0, 0x02)
        self._f(1, isn[1], isn[0] + 1, 0x12)
        self._f(0, isn[0] + 1, isn[1] + 1, 0x10)

    def _f(self, d, seq, ack, flags, data=b''):
        s, r = (self.a, self.b) if d == 0 else (self.b, self.a)
        self.t += 0.001
        self.frames.append((self.t, tcp_frame(s[0], r[0], s[1], r[1], seq, ack, flags, data)))

    def send(self, d, data, seg=1400):
        for i in range(0, len(data), seg):
            self._f(d, self.seq[d], self.seq[1 - d], 0x18, data[i:i + seg])
            self.seq[d] += len(data[i:i + seg])

    def raw(self, d, seq_off, data):
        """a segment at an offset from the next sequence number (no advance)"""
        self._f(d, self.seq[d] + seq_off, self.seq[1 - d], 0x18, data)

    def close(self):
        self._f(0, self.seq[0], self.seq[1], 0x11)
        self._f(1, self.seq[1], self.seq[0] + 1, 0x11)

    def pcap(self):
        return pcap_bytes(self.frames)


# TLS messages
def u8v(b):
    return bytes([len(b)]) + b


def u16v(b):
    return struct.pack('!H', len(b)) + b


def u24(n):
    return struct.pack('!I', n)[1:]


def ext(t, data):
    return struct.pack('!HH', t, len(data)) + data


def hs(t, body, length=None):
    return bytes([t]) + u24(len(body) if length is None else length) + body


def record(ct, body, ver=0x0301, length=None):
    return struct.pack('!BHH', ct, ver, len(body) if length is None else length) + body


SUITES = [0x1a1a, 0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8,
          0xc013, 0xc014, 0x009c, 0x009d, 0x002f, 0x0035]


def client_hello_body(sni=b'joy.test', suites=SUITES, rnd=bytes(range(32)), sid=b'\x11' * 32,
                      alpn=(b'h2', b'http/1.1'), extra=()):
    exts = [ext(0x3a3a, b''),
            ext(0, u16v(b'\x00' + u16v(sni))) if sni is not None else b'',
            ext(23, b''), ext(0xff01, b'\x00'),
            ext(10, u16v(struct.pack('!5H', 0x2a2a, 0x001d, 0x0017, 0x0018, 0x11ec))),
            ext(11, u8v(b'\x00')), ext(35, b''),
            ext(16, u16v(b''.join(u8v(a) for a in alpn))) if alpn else b'',
            ext(5, b'\x01\x00\x00\x00\x00'),
            ext(13, u16v(struct.pack('!8H', 0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501,
                                     0x0806, 0x0601))),
            ext(18, b''),
            ext(51, u16v(struct.pack('!HH', 0x2a2a, 1) + b'\x00' +
                         struct.pack('!HH', 0x001d, 32) + b'\x42' * 32)),
            ext(45, u8v(b'\x01')),
            ext(43, u8v(struct.pack('!3H', 0x4a4a, 0x0304, 0x0303))),
            ext(27, u8v(b'\x00\x02')),
            ext(0x4a4a, b'\x00')] + list(extra)
    body = (struct.pack('!H', 0x0303) + rnd + u8v(sid) +
            u16v(b''.join(struct.pack('!H', s) for s in suites)) + u8v(b'\x00') +
            u16v(b''.join(exts)))
    return body


def server_hello_body(suite=0xc02f, rnd=b'\x22' * 32, sid=b'\x33' * 32, exts=None, ver=0x0303):
    if exts is None:
        exts = ext(0xff01, b'\x00') + ext(11, u8v(b'\x00')) + ext(23, b'')
    return struct.pack('!H', ver) + rnd + u8v(sid) + struct.pack('!HB', suite, 0) + u16v(exts)


def cert_body(ders):
    return u24(sum(3 + len(d) for d in ders)) + b''.join(u24(len(d)) + d for d in ders)


# --------------------------------------------------------------------------
# 1. reassembler unit test
# --------------------------------------------------------------------------

def test_reasm_unit(tmp):
    cc = shutil.which('cc') or shutil.which('gcc') or shutil.which('clang')
    if not cc:
        skip('reassembler unit test: no C compiler')
        return
    exe = os.path.join(tmp, 'reasm_unit')
    flags = ['-std=c11', '-D_DEFAULT_SOURCE'] + ['-I' + os.path.join(ROOT, 'src', d) for d in ('proto', 'engine', 'util')] + ['-O1', '-g']
    san = ['-fsanitize=address,undefined', '-fno-omit-frame-pointer']
    cmd = [cc] + flags + san + [os.path.join(HERE, 'reasm_unit.c'), os.path.join(ROOT, 'src', 'proto', 'reasm.c'),
                                '-o', exe]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if p.returncode != 0:  # no sanitizer runtime: plain build
        p = subprocess.run([cc] + flags + cmd[len(flags) + 1 + len(san):], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT)
    if not ok(p.returncode == 0, 'reasm_unit.c compiles: ' + p.stdout.decode()[-500:]):
        return
    p = subprocess.run([exe], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
    out = p.stdout.decode()
    last = out.strip().splitlines()[-1] if out.strip() else ''
    ok(p.returncode == 0 and last.endswith(' 0 failed'), 'reassembler unit test: ' + last +
       ('' if p.returncode == 0 else '\n' + out[-2000:]))


# --------------------------------------------------------------------------
# 2. the shared captures
# --------------------------------------------------------------------------

SHARED_TLS = ['tls10-handshake-selfsigned.pcap', 'tls12-handshake-selfsigned.pcap',
              'tls12-client-certificate.pcap', 'tls12-new-session-ticket.pcap',
              'tls13-chrome125-grease-kyber.pcap', 'tls13-psk-resumption.pcap',
              'tls13-wolfssl.pcap', 'tls-cert-without-cn.pcap', 'tls-clienthellos-top100.pcap',
              'tls-very-long-certificate.pcap', 'sslv3-handshake.pcap',
              'browser-firefox58-mixed.pcap', 'malformed-tls-cert-der-and-bad-record.pcap',
              'linktype-sll2-tls-clienthello.pcap', 'linktype-null-pop3-starttls.pcap',
              'tcp-reassembly-out-of-order.pcap', 'snaplen68-truncated-tcp.pcap']


def test_shared():
    if not os.path.isdir(PCAPS):
        skip('shared captures: %s absent' % PCAPS)
        return {}
    names = sorted(set(SHARED_TLS) | set(f for f in os.listdir(PCAPS)
                                         if f.startswith(('tls', 'sslv3', 'malformed-tls'))))
    for name in names:
        path = os.path.join(PCAPS, name)
        if not os.path.exists(path):
            skip(name + ' absent')
            continue
        recs, rc, err = run_joy(path)
        ok(rc in (0, 1) and 'Sanitizer' not in err, '%s: joy exit %d' % (name, rc))
        check_truth(name, recs)
        check_tshark(name, path, recs)
        if JOY_ASAN and os.path.exists(JOY_ASAN):
            _, rc2, err2 = run_joy(path, joy=JOY_ASAN)
            ok('Sanitizer' not in err2 and rc2 == rc, '%s: clean under ASan/UBSan' % name)
    # specific values
    p = os.path.join(PCAPS, 'tls12-handshake-selfsigned.pcap')
    if os.path.exists(p):
        recs, _, _ = run_joy(p)
        t = recs[0]['tls']
        eq(t['c_key_length'], 528, 'tls12 c_key_length (bits of the ClientKeyExchange body)')
        eq(t['srlt'][:3], [{'b': 300, 'dir': '>', 'ipt': 0, 'tp': 22, 'hs_types': [1], 'hs_lens': [296]},
                           {'b': 66, 'dir': '<', 'ipt': 2, 'tp': 22, 'hs_types': [2], 'hs_lens': [62]},
                           {'b': 1035, 'dir': '<', 'ipt': 0, 'tp': 22, 'hs_types': [11], 'hs_lens': [1031]}],
           'tls12 srlt (Joy 4.5.0 values; first ipt counted from time_start like packets)')
        eq(len(t['srlt']), 11, 'tls12 srlt: 11 records as Joy')
        eq(t.get('resumed'), False, 'tls12 full handshake: resumed false')
        cert = t['s_cert'][0]
        eq(cert['signature_key_size'], 2048, 'tls12 signature_key_size')
        eq(cert['subject_public_key_size'], 2048, 'tls12 subject_public_key_size')
        eq(cert['subject_public_key_algo'], 'rsaEncryption', 'tls12 subject_public_key_algo')
        eq(cert['extensions'][2], {'X509v3 Basic Constraints': 'CA:TRUE'}, 'tls12 basic constraints text')
        fp = recs[0]['fingerprints']['tls']
        ok(fp.startswith('(0303)(c030c02c') and fp.endswith('(0023)(000d0020001e060106020603050105020503040104020403030103020303020102020203)(000f000101))'),
           'tls12 Joy/NPF tls fingerprint')
    p = os.path.join(PCAPS, 'tls13-psk-resumption.pcap')
    if os.path.exists(p):
        recs, _, _ = run_joy(p)
        t = [r for r in recs if 'tls' in r][0]['tls']
        eq((t.get('s_version'), t.get('resumed'), t.get('psk_identities')), (6, True, 1),
           'tls13 PSK resumption: s_version 6 via supported_versions, resumed, 1 identity')
    p = os.path.join(PCAPS, 'tls13-chrome125-grease-kyber.pcap')
    if os.path.exists(p):
        recs, _, _ = run_joy(p)
        r = [r for r in recs if 'tls' in r][0]
        fp = r['fingerprints']['tls']
        ok(fp.startswith('(0303)(0a0a1301') and '(0a0a)' in fp and '000a000c000a0a0a' in fp,
           'GREASE normalised to 0a0a in the tls fingerprint: ' + fp[:80])
        eq(r['tls']['cs'][0], 'eaea', 'GREASE kept in cs')
    p = os.path.join(PCAPS, 'linktype-null-pop3-starttls.pcap')
    if os.path.exists(p):
        recs, _, _ = run_joy(p)
        ok(any('tls' in r and r['dp'] == 110 and 'cs' in r['tls'] for r in recs),
           'STARTTLS on port 110: handshake found after the plaintext')
    return {}


# --------------------------------------------------------------------------
# 3. captures made here
# --------------------------------------------------------------------------

def free_port():
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_listen(port, timeout=10.0):
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(('127.0.0.1', port), timeout=0.5).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def make_certs(tmp):
    for who in ('server', 'client'):
        p = subprocess.run(['openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '30',
                            '-keyout', os.path.join(tmp, who + '.key'),
                            '-out', os.path.join(tmp, who + '.pem'),
                            '-subj', '/C=US/O=Joy Test/CN=joy-test-' + who,
                            '-addext', 'subjectAltName=DNS:joy.test,DNS:localhost,IP:127.0.0.1'],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=60)
        if p.returncode != 0:
            return False
    return True


def s_client(args, stdin_hold=0.6):
    p = subprocess.Popen(['openssl', 's_client'] + args, stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    time.sleep(stdin_hold)
    try:
        out, _ = p.communicate(b'', timeout=15)
    except subprocess.TimeoutExpired:
        p.kill()
        out, _ = p.communicate()
    return out.decode('utf-8', 'replace')


def stop(p):
    if p and p.poll() is None:
        p.terminate()
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def live_captures(tmp):
    """Run the scenarios; return (pcap path, {name: server port}, notes) or None."""
    for tool in ('openssl', 'dumpcap', 'tshark'):
        if not shutil.which(tool):
            skip('live captures: %s missing' % tool)
            return None
    if not make_certs(tmp):
        skip('live captures: openssl req failed')
        return None
    srv = [os.path.join(tmp, 'server.pem'), os.path.join(tmp, 'server.key')]
    cli = [os.path.join(tmp, 'client.pem'), os.path.join(tmp, 'client.key')]
    ports = {k: free_port() for k in ('tls10', 'tls12', 'tls13', 'res12', 'res13', 'ccert', 'curl')}
    pcap = os.path.join(tmp, 'live.pcap')
    filt = ' or '.join('tcp port %d' % p for p in ports.values())
    cap = subprocess.Popen(['dumpcap', '-q', '-P', '-i', 'lo', '-f', filt, '-w', pcap],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    # wait until the capture file exists (dumpcap is up)
    end = time.time() + 10
    while time.time() < end and not os.path.exists(pcap):
        time.sleep(0.05)
    if not os.path.exists(pcap):
        stop(cap)
        skip('live captures: dumpcap did not start (%s)' % cap.stderr.read().decode()[:200])
        return None
    time.sleep(0.5)
    notes = {}
    servers = []

    def server(port, *extra):
        p = subprocess.Popen(['openssl', 's_server', '-accept', str(port), '-cert', srv[0], '-key', srv[1],
                              '-quiet'] + list(extra), stdin=subprocess.PIPE,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        servers.append(p)
        return wait_listen(port)

    try:
        lvl0 = 'DEFAULT:@SECLEVEL=0'
        if server(ports['tls10'], '-tls1', '-cipher', lvl0):
            notes['tls10'] = s_client(['-connect', '127.0.0.1:%d' % ports['tls10'], '-tls1',
                                       '-cipher', lvl0, '-servername', 'joy.test'])
        if server(ports['tls12'], '-tls1_2'):
            notes['tls12'] = s_client(['-connect', '127.0.0.1:%d' % ports['tls12'], '-tls1_2',
                                       '-servername', 'joy.test'])
        if server(ports['tls13']):
            notes['tls13'] = s_client(['-connect', '127.0.0.1:%d' % ports['tls13'],
                                       '-servername', 'joy.test', '-alpn', 'h2,http/1.1'])
        sess = os.path.join(tmp, 'sess12')
        if server(ports['res12'], '-tls1_2'):
            notes['res12a'] = s_client(['-connect', '127.0.0.1:%d' % ports['res12'], '-tls1_2',
                                        '-sess_out', sess])
            notes['res12b'] = s_client(['-connect', '127.0.0.1:%d' % ports['res12'], '-tls1_2',
                                        '-sess_in', sess])
        sess3 = os.path.join(tmp, 'sess13')
        if server(ports['res13']):
            notes['res13a'] = s_client(['-connect', '127.0.0.1:%d' % ports['res13'], '-sess_out', sess3],
                                       stdin_hold=1.0)
            notes['res13b'] = s_client(['-connect', '127.0.0.1:%d' % ports['res13'], '-sess_in', sess3])
        if server(ports['ccert'], '-tls1_2', '-Verify', '1', '-CAfile', cli[0]):
            notes['ccert'] = s_client(['-connect', '127.0.0.1:%d' % ports['ccert'], '-tls1_2',
                                       '-cert', cli[0], '-key', cli[1]])
        if shutil.which('curl') and server(ports['curl'], '-www'):
            p = subprocess.run(['curl', '-sk', '--max-time', '10', '--resolve',
                                'joy.test:%d:127.0.0.1' % ports['curl'], 'https://joy.test:%d/' % ports['curl']],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=20)
            notes['curl'] = p.stdout.decode('utf-8', 'replace')
        time.sleep(1.0)
    finally:
        for p in servers:
            stop(p)
        time.sleep(0.3)
        stop(cap)
    return pcap, ports, notes


def flows_on(recs, port):
    return sorted([r for r in recs if port in (r['sp'], r['dp'])], key=lambda r: r['time_start'])


def test_live(tmp):
    got = live_captures(tmp)
    if not got:
        return None
    pcap, ports, notes = got
    recs, rc, err = run_joy(pcap)
    eq(rc, 0, 'live capture: joy exit status')
    check_tshark('live', pcap, recs)

    def tls_of(name, i=0):
        fl = [r for r in flows_on(recs, ports[name]) if 'tls' in r]
        return fl[i] if len(fl) > i else None

    r = tls_of('tls10')
    if r is None:
        skip('TLS 1.0: no handshake (OpenSSL refused: %s)' % notes.get('tls10', '')[-200:].replace('\n', ' '))
    else:
        t = r['tls']
        eq((t.get('c_version'), t.get('s_version')), (3, 3), 'TLS 1.0: c_version/s_version 3')
        ok('s_cert' in t and t['s_cert'][0]['subject'][-1] == {'commonName': 'joy-test-server'},
           'TLS 1.0: server certificate subject')
    r = tls_of('tls12')
    if ok(r is not None, 'TLS 1.2 flow found'):
        t = r['tls']
        eq((t.get('c_version'), t.get('s_version')), (5, 5), 'TLS 1.2: versions')
        eq(t.get('sni'), ['joy.test'], 'TLS 1.2: sni')
        sans = t['s_cert'][0]['extensions']
        san = [e for e in sans if 'X509v3 Subject Alternative Name' in e]
        eq(san and san[0]['X509v3 Subject Alternative Name'],
           ['DNS:joy.test', 'DNS:localhost', 'IP Address:127.0.0.1'], 'TLS 1.2: SAN list')
        ok('c_key_exchange' in t and t['c_key_length'] > 0, 'TLS 1.2: ClientKeyExchange')
        eq(t.get('resumed'), False, 'TLS 1.2: full handshake')
        for d in '><':
            tps = [e['tp'] for e in t['srlt'] if e['dir'] == d]
            ok('20,22' in ','.join(map(str, tps)), 'TLS 1.2 %s: srlt has CCS then the encrypted Finished: %s' % (d, tps))
    r = tls_of('tls13')
    if ok(r is not None, 'TLS 1.3 flow found'):
        t = r['tls']
        eq((t.get('c_version'), t.get('s_version')), (6, 6), 'TLS 1.3: negotiated via supported_versions')
        eq(t.get('alpn'), ['h2', 'http/1.1'], 'TLS 1.3: alpn')
        ok('s_cert' not in t, 'TLS 1.3: certificates are encrypted (none reported)')
        ok(any(e['tp'] == 23 for e in t['srlt']), 'TLS 1.3: application_data records in srlt')
        ok(t.get('key_share') and t.get('s_key_share') in t['key_share'], 'TLS 1.3: key_share groups')
    for name, ver in (('res12', 5), ('res13', 6)):
        a, b = tls_of(name, 0), tls_of(name, 1)
        if not ok(a is not None and b is not None, '%s: two connections' % name):
            continue
        eq((a['tls'].get('s_version'), a['tls'].get('resumed')), (ver, False), name + ': first is a full handshake')
        eq((b['tls'].get('s_version'), b['tls'].get('resumed')), (ver, True), name + ': second is resumed')
        if ver == 5:
            ok(b['tls'].get('session_ticket', 0) > 0 or b['tls'].get('c_sid') == a['tls'].get('s_sid'),
               'res12: second offers the ticket or the session id')
            ok('s_cert' not in b['tls'], 'res12: abbreviated handshake has no certificate')
        else:
            ok(b['tls'].get('psk_identities', 0) >= 1, 'res13: second offers a PSK identity')
    r = tls_of('ccert')
    if ok(r is not None, 'client certificate flow found'):
        t = r['tls']
        ok('c_cert' in t and t['c_cert'][0]['subject'][-1] == {'commonName': 'joy-test-client'},
           'client certificate: c_cert subject')
        ok('s_cert' in t and t['s_cert'][0]['subject'][-1] == {'commonName': 'joy-test-server'},
           'client certificate: s_cert subject')
        hs_out = [x for e in t['srlt'] if e['dir'] == '>' for x in e.get('hs_types', [])]
        eq(hs_out, [1, 11, 16, 15], 'client certificate: client handshake types 1, 11, 16, 15')
    r = tls_of('curl')
    if r is None:
        skip('curl flow missing (%s)' % notes.get('curl', '')[:100])
    else:
        t = r['tls']
        eq(t.get('sni'), ['joy.test'], 'curl: sni')
        ok(t.get('alpn') and 'http/1.1' in t['alpn'], 'curl: alpn offered')
        ok(len(r['fingerprints'].get('ja4', '')) == 36 and r['fingerprints']['ja4'][:3] == 't13',
           'curl: ja4 t13...')
    return pcap, ports, recs


# --------------------------------------------------------------------------
# 3b. a handshake rewritten into small, reordered, repeated segments
# --------------------------------------------------------------------------

def tcp_packets(frames):
    """Ethernet/IPv4/TCP frames -> list of dicts"""
    out = []
    for ts, fr in frames:
        if len(fr) < 54 or fr[12:14] != b'\x08\x00':
            continue
        ip = fr[14:]
        ihl = (ip[0] & 15) * 4
        tot = struct.unpack_from('!H', ip, 2)[0]
        if ip[9] != 6:
            continue
        t = ip[ihl:tot]
        off = (t[12] >> 4) * 4
        out.append({'ts': ts, 'src': socket.inet_ntoa(ip[12:16]), 'dst': socket.inet_ntoa(ip[16:20]),
                    'sport': struct.unpack_from('!H', t, 0)[0], 'dport': struct.unpack_from('!H', t, 2)[0],
                    'seq': struct.unpack_from('!I', t, 4)[0], 'ack': struct.unpack_from('!I', t, 8)[0],
                    'flags': t[13], 'data': t[off:]})
    return out


def shred(pkts, rng):
    """Cut each data segment into 1..40-byte pieces, shuffle them, repeat
    some and add overlapping copies; the first piece of the first data
    segment of each direction comes late."""
    frames = []
    first = set()
    for p in pkts:
        mk = lambda seq, data, ts: (ts, tcp_frame(p['src'], p['dst'], p['sport'], p['dport'], seq,
                                                  p['ack'], p['flags'], data))
        d = p['data']
        if not d:
            frames.append(mk(p['seq'], b'', p['ts']))
            continue
        pieces = []
        i = 0
        while i < len(d):
            n = rng.randint(1, 40)
            pieces.append((i, d[i:i + n]))
            i += n
        extra = []
        for k in range(0, len(pieces), 5):
            o, b = pieces[k]
            extra.append((o, b))  # retransmission
            if k + 1 < len(pieces):
                o2, b2 = pieces[k + 1]
                extra.append((o + len(b) // 2, d[o + len(b) // 2:o2 + len(b2)]))  # overlap
        allp = pieces + extra
        rng.shuffle(allp)
        key = (p['src'], p['sport'])
        if key not in first:
            first.add(key)
            allp.remove(pieces[0])
            allp.append(pieces[0])  # the stream's first bytes arrive last
        for j, (o, b) in enumerate(allp):
            frames.append(mk(p['seq'] + o, b, p['ts'] + j * 1e-5))
    return frames


def comparable(t):
    t = dict(t)
    t['srlt'] = [{k: v for k, v in e.items() if k != 'ipt'} for e in t.get('srlt', [])]
    return t


def test_shredded(tmp, live):
    sources = []
    if live:
        pcap, ports, _ = live
        sources.append(('live ccert', pcap, ports['ccert']))
        sources.append(('live tls13', pcap, ports['tls13']))
    p = os.path.join(PCAPS, 'tls12-handshake-selfsigned.pcap')
    if os.path.exists(p):
        sources.append(('tls12-handshake-selfsigned', p, 443))
    if not sources:
        skip('shredded handshake: no source capture')
        return
    rng = random.Random(4)
    for tag, pcap, port in sources:
        lt, frames = read_pcap(pcap)
        if lt != 1:
            skip('%s: link type %d' % (tag, lt))
            continue
        pkts = [x for x in tcp_packets(frames) if port in (x['sport'], x['dport'])]
        conns = sorted(set((x['sport'], x['dport']) for x in pkts if x['flags'] & 0x12 == 0x02))
        if not conns:
            skip(tag + ': no connection')
            continue
        # the connection with the most payload (wait_listen() probes first)
        c = max(conns, key=lambda cp: sum(len(x['data']) for x in pkts if set((x['sport'], x['dport'])) == set(cp)))
        pkts = [x for x in pkts if set((x['sport'], x['dport'])) == set(c)]
        for i, x in enumerate(pkts):  # a timeline with room for the pieces
            x['ts'] = 1600000000.0 + i * 0.01
        orig = os.path.join(tmp, 'orig-%s.pcap' % tag.replace(' ', '-'))
        open(orig, 'wb').write(pcap_bytes([(x['ts'], tcp_frame(x['src'], x['dst'], x['sport'], x['dport'],
                                                                x['seq'], x['ack'], x['flags'], x['data']))
                                            for x in pkts]))
        cut = os.path.join(tmp, 'shredded-%s.pcap' % tag.replace(' ', '-'))
        open(cut, 'wb').write(pcap_bytes(shred(pkts, rng)))
        a, _, _ = run_joy(orig)
        for opts in ((), ('retrans=1',)):
            b, _, _ = run_joy(cut, *opts)
            ta = [r['tls'] for r in a if 'tls' in r]
            tb = [r['tls'] for r in b if 'tls' in r]
            if ok(len(ta) == 1 and len(tb) == 1, '%s shredded %s: one tls record each (%d, %d)' % (tag, opts, len(ta), len(tb))):
                eq(comparable(tb[0]), comparable(ta[0]),
                   '%s shredded into 1-40 byte reordered/repeated segments %s: same tls object' % (tag, opts))
            fa = [r.get('fingerprints') for r in a if 'tls' in r]
            fb = [r.get('fingerprints') for r in b if 'tls' in r]
            eq(fb, fa, '%s shredded %s: same fingerprints' % (tag, opts))


# --------------------------------------------------------------------------
# 4. hostile input
# --------------------------------------------------------------------------

def hostile_cases():
    rng = random.Random(7)
    cases = {}
    ch = hs(1, client_hello_body())
    sh = hs(2, server_hello_body())

    c = Conn()
    c.send(0, record(22, ch)[:100])  # record says more than is sent
    c.close()
    cases['truncated-record'] = (c.pcap(), {'incomplete': {'out': 'truncated'}})

    c = Conn()
    body = client_hello_body()
    bad = body[:35 + 32] + b'\xff\xff' + body[35 + 32 + 2:]  # cipher suites length lies
    c.send(0, record(22, hs(1, bad)))
    c.send(1, record(22, sh))
    c.close()
    cases['lying-suites-length'] = (c.pcap(), None)

    c = Conn()
    body = client_hello_body()
    c.send(0, record(22, hs(1, body[:-10] + b'\x00\x30' + body[-8:])))  # an extension length lies
    c.send(1, record(22, sh))
    c.close()
    cases['lying-extension-length'] = (c.pcap(), None)

    c = Conn()
    c.send(0, record(22, hs(1, client_hello_body(), length=0x00ffff)))  # message longer than the record
    c.close()
    cases['lying-handshake-length'] = (c.pcap(), {'incomplete': {'out': 'truncated'}})

    c = Conn()
    c.send(0, record(22, ch))
    c.send(1, record(22, sh + hs(11, cert_body([b'\x30\x82\x01\x00' + bytes(rng.randrange(256) for _ in range(50)),
                                                 b'not DER at all']))))
    c.send(1, record(22, hs(14, b'')))
    c.close()
    cases['cert-not-der'] = (c.pcap(), 'cert-errors')

    c = Conn()
    c.send(0, record(22, ch))
    big = hs(11, cert_body([bytes(rng.randrange(256) for _ in range(3000))] * 40))
    c.send(1, record(22, sh))
    for i in range(0, len(big), 16000):
        c.send(1, record(22, big[i:i + 16000], ver=0x0303))
    c.close()
    cases['message-over-cap'] = (c.pcap(), 'cap')

    c = Conn()
    c.send(0, record(22, ch))
    c.send(1, record(22, sh) + b'GET / HTTP/1.1\r\n\r\n' * 5)
    c.close()
    cases['junk-after-hello'] = (c.pcap(), {'incomplete': {'in': 'malformed'}})

    c = Conn()
    c.send(0, record(22, ch))
    c.send(1, b''.join(record(22, hs(0, b'')) for _ in range(20000)), seg=8000)
    c.close()
    cases['many-tiny-records'] = (c.pcap(), None)

    c = Conn()
    c.send(0, record(22, b'\x01\x00'))  # a record holding 2 bytes of a header
    c.send(0, record(22, b'\x00\x10' + b'\x03\x03' + b'\x00' * 14))
    c.close()
    cases['header-across-records'] = (c.pcap(), None)

    c = Conn()
    junk = bytes(rng.randrange(256) for _ in range(5000))
    c.send(0, record(22, ch) + junk)
    c.send(1, junk)
    c.close()
    cases['random-after-hello'] = (c.pcap(), None)

    c = Conn()
    c.send(0, record(22, b''))  # empty record
    c.close()
    cases['empty-record'] = (c.pcap(), None)

    # an SSLv2-format ClientHello cut short
    c = Conn()
    v2 = b'\x01\x03\x01\x00\x09\x00\x00\x00\x10' + b'\x00\x00\x2f\x00\x00\x35\x00\x00\x0a' + b'\x55' * 16
    c.send(0, bytes([0x80, len(v2)]) + v2[:20])
    c.close()
    cases['sslv2-cut'] = (c.pcap(), None)

    # random mutations of a whole handshake
    c = Conn()
    full = record(22, ch)
    srv = record(22, sh) + record(22, hs(11, cert_body([b'\x30\x03\x02\x01\x01'])) + hs(14, b''))
    for k in range(30):
        cc = Conn(cport=41000 + k)
        m = bytearray(full)
        n = bytearray(srv)
        for _ in range(rng.randint(1, 8)):
            m[rng.randrange(len(m))] = rng.randrange(256)
            n[rng.randrange(len(n))] = rng.randrange(256)
        cc.send(0, bytes(m), seg=rng.randint(1, 300))
        cc.send(1, bytes(n), seg=rng.randint(1, 300))
        cc.close()
        c.frames += cc.frames
    cases['mutations'] = (pcap_bytes(sorted(c.frames, key=lambda f: f[0])), None)
    return cases


def test_hostile(tmp):
    for name, (data, expect) in hostile_cases().items():
        path = os.path.join(tmp, 'hostile-%s.pcap' % name)
        open(path, 'wb').write(data)
        opts = ('reasm_bytes=16384',) if expect == 'cap' else ()
        for joy in [JOY] + ([JOY_ASAN] if JOY_ASAN and os.path.exists(JOY_ASAN) else []):
            recs, rc, err = run_joy(path, *opts, joy=joy)
            ok(rc == 0 and 'Sanitizer' not in err and 'runtime error' not in err,
               'hostile %s (%s): exit %d, no sanitizer report %s' % (name, os.path.basename(joy), rc, err[-300:]))
        tls = [r['tls'] for r in recs if 'tls' in r]
        if isinstance(expect, dict):
            ok(tls and all(tls[0].get(k) == v for k, v in expect.items()),
               'hostile %s: %s in %s' % (name, expect, tls and {k: tls[0].get(k) for k in expect}))
        elif expect == 'cert-errors':
            certs = tls[0].get('s_cert', []) if tls else []
            ok(len(certs) == 2 and all('error' in x for x in certs) and 'cs' in tls[0],
               'hostile cert-not-der: two certificates reported as not parsed, hello kept')
        elif expect == 'cap':
            ok(tls and tls[0].get('incomplete', {}).get('in') == 'cap' and 'scs' in tls[0],
               'hostile message-over-cap: incomplete in=cap, what came before kept')


# --------------------------------------------------------------------------
# fuzz seeds
# --------------------------------------------------------------------------

def dtls_client_hello_body():
    """the ClientHello body of client_hello_body() in DTLS 1.2 form (empty cookie)"""
    body = client_hello_body()
    return struct.pack('!H', 0xfefd) + body[2:34 + 33] + b'\x00' + body[34 + 33:]


def test_dtls_switch(tmp):
    """tls=1 reads DTLS too (dtls=2, the default, follows tls); dtls=0 and dtls=1 override."""
    body = dtls_client_hello_body()
    msg = hs(1, body)[:4] + b'\x00\x00' + u24(0) + u24(len(body)) + body
    rec = struct.pack('!BHH', 22, 0xfefd, 0) + b'\x00' * 6 + u16v(msg)
    path = os.path.join(tmp, 'dtls-switch.pcap')
    with open(path, 'wb') as f:
        f.write(pcap_bytes([(1600000000.0, udp_frame('10.1.0.1', '10.1.0.2', 40001, 4433, rec))]))
    for opts, want in (((), True), (('dtls=0',), False), (('tls=0', 'dtls=1'), True),
                       (('tls=0',), False)):
        recs, rc, _ = run_joy(path, *opts)
        t = recs[0].get('tls') if len(recs) == 1 else None
        tag = ' '.join(('DTLS, options tls=1',) + opts)
        if want:
            good = rc == 0 and t is not None and t.get('transport') == 'dtls' and \
                t.get('sni') == ['joy.test']
            ok(good, tag + ': DTLS fields' + ('' if good else ' (got %r)' % t))
            ja4 = recs[0].get('fingerprints', {}).get('ja4', '')
            eq(ja4[:4], 'd13d', tag + ': JA4 with transport d')
        else:
            ok(rc == 0 and len(recs) == 1 and t is None, tag + ': no DTLS fields')


def write_seeds():
    base = os.path.join(ROOT, 'fuzz', 'corpus')
    tdir, rdir = os.path.join(base, 'tls'), os.path.join(base, 'reasm')
    os.makedirs(tdir, exist_ok=True)
    os.makedirs(rdir, exist_ok=True)
    ch = hs(1, client_hello_body())
    sh = hs(2, server_hello_body())
    sh13 = hs(2, server_hello_body(suite=0x1301, exts=ext(43, b'\x03\x04') +
                                   ext(51, struct.pack('!HH', 0x1d, 32) + b'\x42' * 32)))
    v2 = b'\x01\x03\x01\x00\x09\x00\x00\x00\x10' + b'\x00\x00\x2f\x00\x00\x35\x01\x00\x80' + b'\x55' * 16
    der = b''
    with tempfile.TemporaryDirectory() as tmp:
        k, c = os.path.join(tmp, 'k'), os.path.join(tmp, 'c')
        if subprocess.run(['openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256',
                           '-nodes', '-keyout', k, '-outform', 'DER', '-out', c, '-subj', '/CN=seed',
                           '-addext', 'subjectAltName=DNS:seed.test'],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0:
            der = open(c, 'rb').read()
    seeds = {
        'client-hello': b'\x00' + ch,
        'server-hello': b'\x00' + sh,
        'server-hello-13': b'\x00' + sh13,
        'dtls-hello': b'\x01' + b'\x01' + u24(len(client_hello_body())) + b'\x00\x00' + u24(0) +
                      u24(len(client_hello_body())) + client_hello_body()[:34 + 33] + b'\x00' +
                      client_hello_body()[34 + 33:],
        'sslv2': b'\x02' + bytes([0x80, len(v2)]) + v2,
        # a TLS 1.3 draft-18 ServerHello (no session id, no compression)
        'server-hello-draft18': b'\x00' + hs(2, struct.pack('!H', 0x7f12) + b'\x22' * 32 + b'\x13\x01' +
                                             u16v(ext(40, struct.pack('!HH', 0x1d, 32) + b'\x42' * 32))),
        # extensions block with a lying last extension (partial fingerprints)
        'client-hello-partial': b'\x00' + hs(1, client_hello_body(extra=(struct.pack('!HH', 21, 50) + b'\x00' * 10,))),
        'certs': b'\x03' + cert_body([der] if der else [b'\x30\x00']),
    }
    conn = [(0, record(22, ch)), (1, record(22, sh + hs(11, cert_body([der or b'\x30\x00'])) + hs(14, b''))),
            (0, record(22, hs(16, u8v(b'\x04' + b'\x01' * 64))) + record(20, b'\x01') + record(22, b'\x00' * 40)),
            (1, record(20, b'\x01') + record(22, b'\x00' * 40)), (0, record(23, b'\x00' * 100))]
    seg = b''
    for d, data in conn:
        for i in range(0, len(data), 200):
            piece = data[i:i + 200]
            seg += bytes([d]) + struct.pack('!H', len(piece)) + piece
    seeds['connection'] = b'\x04\x18' + seg
    seeds['connection-retrans'] = b'\x04\x19' + seg[:300] + bytes([0x02 | (20 << 2)]) + struct.pack('!H', 30) + \
        seg[3:33] + seg[300:]
    for n, b in seeds.items():
        open(os.path.join(tdir, n), 'wb').write(b)
    rseeds = {
        'in-order': bytes([3]) + b''.join(struct.pack('!HBB', o, 100, 0) for o in range(0, 1000, 100)),
        'reordered': bytes([2]) + b''.join(struct.pack('!HBB', o, 100, 4) for o in (300, 100, 0, 200, 500, 400)),
        'overlap-skip': bytes([5]) + b''.join(struct.pack('!HBB', o, 200, f) for o, f in
                                             ((0, 12), (100, 0), (150, 4), (900, 8), (300, 1 << 2 | 2))),
    }
    for n, b in rseeds.items():
        open(os.path.join(rdir, n), 'wb').write(b)
    print('seeds written to', tdir, rdir)


def main():
    if '--seeds' in sys.argv:
        write_seeds()
        return 0
    if not os.path.exists(JOY):
        print('joy binary %s not found (set JOY)' % JOY)
        print('0 passed, 1 failed')
        return 1
    tmp = tempfile.mkdtemp(prefix='joy-tls-')
    try:
        test_reasm_unit(tmp)
        recs_by_file = {}
        test_shared()
        check_ja4(recs_by_file)
        live = test_live(tmp)
        test_shredded(tmp, live)
        test_hostile(tmp)
        test_dtls_switch(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print('%d passed, %d failed, %d skipped' % (passed, failed, skipped))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
