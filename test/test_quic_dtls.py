#!/usr/bin/env python3
"""test_quic_dtls.py - tests of the quic (quic=1) and dtls (on with tls=1) modules.

Usage:  JOY=path/to/joy python3 test/test_quic_dtls.py [-v] [--seeds]

  1. test/quic_unit.c (compiled with cc against src/proto/quic_crypto.c): Initial
     keys and header protection masks against RFC 9001 Appendix A and RFC
     9369 Appendix A;
  2. the QUIC and DTLS captures in ../shared/pcaps against tshark (which
     decrypts QUIC Initials itself: quic.version, quic.dcid, quic.scid, SNI,
     cipher suites, the ServerHello's suite and random; dtls.handshake.*)
     and against the truth files; JA4 against every QUIC row of
     ../shared/ja4/expected.tsv;
  3. captures made here: quic_unit gen writes QUIC Initials it protects
     itself (a ClientHello split over three Initials, reordered and
     overlapping CRYPTO frames, coalesced packets, QUIC v2, absurd CRYPTO
     offsets, a forged tag, a lying Length, a cut header, CONNECTION_CLOSE),
     checked against tshark and expected values; DTLS handshakes with
     fragmented, reordered and repeated ClientHello fragments, written in
     Python;
  4. hostile input: those captures with random bytes flipped and frames
     cut (valid JSON, exit 0; also under the ASan build named by JOY_ASAN).

--seeds writes the fuzz seed files (fuzz/corpus/quic, fuzz/corpus/dtls).
Python standard library only.  Last line: "N passed, N failed, N skipped".
"""

import json
import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
JOY = os.environ.get('JOY', os.path.join(ROOT, 'joy'))
JOY_ASAN = os.environ.get('JOY_ASAN', '')
SHARED = os.path.join(os.path.dirname(ROOT), 'shared')
PCAPS = os.path.join(SHARED, 'pcaps')
JA4DIR = os.path.join(SHARED, 'ja4')
VERBOSE = '-v' in sys.argv
HRR_RANDOM = 'cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c'

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


def run_joy(pcap, *opts, joy=None):
    p = subprocess.run([joy or JOY, '-w', '-'] + list(opts) + [pcap], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=120)
    recs, valid = [], True
    for line in p.stdout.decode('utf-8', 'replace').splitlines():
        try:
            d = json.loads(line)
        except ValueError:
            valid = False
            continue
        if 'version' in d and 'sa' not in d:
            continue
        recs.append(d)
    return p.returncode, recs, valid, p.stderr.decode('utf-8', 'replace')


def tshark(pcap, fields, yfilter=None):
    if not shutil.which('tshark'):
        return None
    cmd = ['tshark', '-r', pcap, '-T', 'fields', '-E', 'occurrence=a', '-E', 'aggregator=,']
    if yfilter:
        cmd += ['-Y', yfilter]
    for f in fields:
        cmd += ['-e', f]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=120)
    return [line.split('\t') for line in p.stdout.decode().splitlines()]


def hexlist(s):
    return [x[2:] if x.startswith('0x') else x for x in s.split(',') if x]


def quic_recs(recs):
    return [r for r in recs if isinstance(r.get('quic'), dict)]


# --- 1. unit test ----------------------------------------------------------

def build_unit(tmp):
    cc = shutil.which('cc') or shutil.which('gcc') or shutil.which('clang')
    if not cc:
        return None
    exe = os.path.join(tmp, 'quic_unit')
    p = subprocess.run([cc, '-std=c11', '-D_DEFAULT_SOURCE', '-I' + os.path.join(ROOT, 'src', 'proto'),
                        '-O1', '-o', exe, os.path.join(HERE, 'quic_unit.c'),
                        os.path.join(ROOT, 'src', 'proto', 'quic_crypto.c'), '-lcrypto'],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if not ok(p.returncode == 0, 'quic_unit.c compiles: ' + p.stdout.decode()[-400:]):
        return None
    return exe


def test_unit(exe):
    p = subprocess.run([exe], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
    lines = p.stdout.decode().splitlines()
    for line in lines:
        ok(line.startswith('ok '), 'RFC vector: ' + line)
    ok(p.returncode == 0 and len(lines) >= 16, 'quic_unit exit status and count')


# --- 2. shared captures ----------------------------------------------------

def truth(name):
    path = os.path.join(PCAPS, 'truth', name + '.jsonl')
    out = []
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                d = json.loads(line)
                if d.get('type') == 'tls':
                    out.append(d)
    return out


def ja3_exts(rec):
    ja3 = rec.get('fingerprints', {}).get('ja3', '')
    parts = ja3.split(',')
    return [int(x) for x in parts[2].split('-') if x] if len(parts) > 2 else None


def is_grease(v):
    return (v & 0x0f0f) == 0x0a0a and (v >> 8) == (v & 0xff)


def check_hellos_vs_truth(name, tls, rec, t):
    """tls: our tls object; t: the truth tls record for the flow."""
    chs = [c for c in t['client_hellos'] if c.get('random')]
    shs = [s for s in t['server_hellos'] if s.get('random') and s['random'] != HRR_RANDOM]
    if chs:
        c = chs[0]
        ok(tls.get('c_random') == c['random'], name + ': c_random = truth')
        ok(tls.get('cs') == c['ciphersuites'], name + ': cs = truth')
        if 'sni' in c:
            ok(tls.get('sni') == [c['sni']], name + ': sni = truth')
        want = [e['type'] for e in c['extensions'] if not is_grease(e['type'])]
        ok(ja3_exts(rec) == want, name + ': extension types (ja3) = truth %s' % want)
        if 'alpn' in c:
            ok(tls.get('alpn') == c['alpn'], name + ': alpn = truth')
        if 'supported_groups' in c:
            ok(tls.get('supported_groups') == c['supported_groups'], name + ': supported_groups = truth')
    if shs:
        s = shs[-1]
        ok(tls.get('s_random') == s['random'], name + ': s_random = truth')
        ok(tls.get('scs') == s['ciphersuite'], name + ': scs = truth')


def test_quic_captures():
    for name in ('quic-v2-http3.pcap', 'quic-draft29.pcap', 'linktype-ppp-quic.pcap'):
        pcap = os.path.join(PCAPS, name)
        if not os.path.exists(pcap):
            skip(name + ' absent')
            continue
        rc, recs, valid, _ = run_joy(pcap, 'quic=1', 'fpx=1')
        ok(rc == 0 and valid, name + ': exit 0, valid JSON')
        qs = quic_recs(recs)
        if not ok(len(qs) == 1, name + ': one QUIC flow (%d)' % len(qs)):
            continue
        r = qs[0]
        q = r['quic']
        tls = q.get('tls', {})
        ok('incomplete' not in q, name + ': both hellos whole')
        rows = tshark(pcap, ['quic.version', 'quic.dcid', 'quic.scid', 'tls.handshake.type',
                             'tls.handshake.extensions_server_name', 'tls.handshake.ciphersuite',
                             'tls.handshake.random'], 'tls.handshake.type')
        if rows is None:
            skip(name + ': tshark absent')
        else:
            ch = [x for x in rows if '1' in x[3].split(',')]
            sh = [x for x in rows if '2' in x[3].split(',') and HRR_RANDOM not in x[6]]
            if ok(ch, name + ': tshark sees a ClientHello'):
                x = ch[0]
                ok(q.get('version') == hexlist(x[0])[0].rjust(8, '0'),
                   name + ': version = tshark %s' % x[0])
                ok(q.get('dcid') == x[1].split(',')[0], name + ': dcid = tshark %s' % x[1])
                ok(q.get('scid') == (x[2].split(',')[0] if x[2] else ''),
                   name + ': scid = tshark %s' % x[2])
                if x[4]:
                    ok(tls.get('sni') == [x[4]], name + ': sni = tshark %s' % x[4])
                ok(tls.get('cs') == hexlist(x[5]), name + ': cs = tshark')
            if ok(sh, name + ': tshark sees a ServerHello'):
                x = sh[-1]
                ok(tls.get('scs') == hexlist(x[5])[-1], name + ': scs = tshark %s' % x[5])
                ok(tls.get('s_random') in x[6].split(','), name + ': s_random = tshark')
                ok(q.get('s_scid') == x[2].split(',')[0], name + ': s_scid = tshark %s' % x[2])
        for t in truth(name):
            check_hellos_vs_truth(name, tls, r, t)
        ok(r.get('fingerprints', {}).get('ja4', '').startswith('q'), name + ': ja4 is a QUIC one')
    # the draft-29 capture has a Retry and a HelloRetryRequest
    pcap = os.path.join(PCAPS, 'quic-draft29.pcap')
    if os.path.exists(pcap):
        q = quic_recs(run_joy(pcap, 'quic=1')[1])[0]['quic']
        ok(q.get('retry_scid') == '2e9a32ed45c9066ad4f9ac32c1d23c19e480', 'draft-29: retry_scid')
        ok(q.get('hello_retry') is True, 'draft-29: hello_retry')


def test_ja4():
    tsv = os.path.join(JA4DIR, 'expected.tsv')
    if not os.path.exists(tsv):
        skip('ja4 expected.tsv absent')
        return
    rows = []
    with open(tsv) as f:
        next(f)
        for line in f:
            c = line.rstrip('\n').split('\t')
            if len(c) >= 8 and c[1] == 'udp':
                rows.append(c)
    ok(rows, 'expected.tsv has QUIC rows')
    cache = {}
    for c in rows:
        pcap = os.path.join(JA4DIR, c[0])
        if c[0] not in cache:
            cache[c[0]] = quic_recs(run_joy(pcap, 'quic=1', 'fpx=1')[1])
        got = [r for r in cache[c[0]] if r['sa'] == c[2] and str(r['sp']) == c[3]
               and r['da'] == c[4] and str(r['dp']) == c[5]]
        ja4 = got[0].get('fingerprints', {}).get('ja4') if got else None
        ok(ja4 == c[7], 'JA4 %s %s:%s -> %s' % (c[0], c[2], c[3], c[7]))
        if got and c[6]:
            ok(got[0]['quic'].get('tls', {}).get('sni') == [c[6]], 'JA4 row sni %s' % c[6])


def test_dtls_capture():
    name = 'dtls12-handshake.pcap'
    pcap = os.path.join(PCAPS, name)
    if not os.path.exists(pcap):
        skip(name + ' absent')
        return
    rc, recs, valid, _ = run_joy(pcap, 'tls=1', 'fpx=1')
    ok(rc == 0 and valid, name + ': exit 0, valid JSON')
    ds = [r for r in recs if 'tls' in r]
    if not ok(len(ds) == 1, name + ': one DTLS flow'):
        return
    r = ds[0]
    tls = r['tls']
    ok(tls.get('c_version') == 8 and tls.get('s_version') == 8, name + ': DTLS 1.2 versions (8)')
    ok(tls.get('hello_verify') is True, name + ': HelloVerifyRequest seen')
    ok(r.get('fingerprints', {}).get('ja4', '').startswith('dd2'), name + ': ja4 starts dd2 (JA4 writes DTLS 1.2 as d2)')
    rows = tshark(pcap, ['dtls.handshake.type', 'dtls.handshake.random', 'dtls.handshake.ciphersuite',
                         'dtls.handshake.extension.type'], 'dtls.handshake.random')
    if rows is None:
        skip(name + ': tshark absent')
    else:
        ch = [x for x in rows if x[0].split(',')[0] == '1']
        sh = [x for x in rows if x[0].split(',')[0] == '2']
        if ok(ch and sh, name + ': tshark sees both hellos'):
            ok(tls.get('c_random') == ch[0][1], name + ': c_random = tshark')
            ok(tls.get('cs') == hexlist(ch[0][2]), name + ': cs = tshark')
            ok(ja3_exts(r) == [int(v) for v in ch[0][3].split(',') if not is_grease(int(v))],
               name + ': extension types = tshark')
            ok(tls.get('s_random') == sh[0][1], name + ': s_random = tshark')
            ok(tls.get('scs') == hexlist(sh[0][2])[0], name + ': scs = tshark')
    for t in truth(name):
        check_hellos_vs_truth(name, tls, r, t)


# --- 3. generated captures -------------------------------------------------

def test_generated_quic(exe, tmp):
    pcap = os.path.join(tmp, 'gen-quic.pcap')
    subprocess.run([exe, 'gen', pcap], check=True)
    rc, recs, valid, _ = run_joy(pcap, 'quic=1', 'fpx=1')
    ok(rc == 0 and valid, 'generated QUIC: exit 0, valid JSON')
    by = {r['sp']: r for r in quic_recs(recs)}
    a = by.get(40001, {}).get('quic', {})
    ok(a.get('c_initials') == 3 and a.get('s_initials') == 1, 'split CH: 3 client Initials, 1 server')
    ok(a.get('tls', {}).get('sni') == ['split.example'], 'split CH: sni')
    ok(a.get('tls', {}).get('scs') == '1301', 'split CH: ServerHello suite')
    ok(a.get('tls', {}).get('c_random') == '11' * 32, 'split CH: c_random')
    ok('incomplete' not in a, 'split CH: complete')
    b = by.get(40002, {}).get('quic', {})
    ok(b.get('version') == '6b3343cf' and b.get('tls', {}).get('sni') == ['v2.example'],
       'v2 Initial decrypted')
    ok(b.get('tls', {}).get('s_random') == '22' * 32, 'v2 ServerHello')
    ok(by.get(40003, {}).get('quic', {}).get('incomplete') == {'out': 'cap'}, 'absurd offsets: cap')
    ok('fingerprints' not in by.get(40003, {}), 'absurd offsets: no fingerprint from a partial hello')
    ok(by.get(40004, {}).get('quic', {}).get('incomplete') == {'out': 'decrypt'}, 'forged tag: decrypt')
    ok(by.get(40005, {}).get('quic', {}).get('incomplete') == {'out': 'truncated'},
       'lying Length: truncated')
    ok(40006 in by and 'tls' not in by[40006]['quic'], 'cut header: no hello')
    g = by.get(40007, {}).get('quic', {})
    ok(g.get('close') == {'code': 10, 'reason': 'b"d'}, 'CONNECTION_CLOSE code and reason')
    # issue 16: a ClientHello whose extension block is malformed is
    # fingerprinted from the extensions that parsed and marked partial
    h = by.get(40008, {})
    ok(h.get('quic', {}).get('tls', {}).get('sni') == ['partial.example'], 'malformed extensions: sni')
    hf = h.get('fingerprints', {})
    ok(hf.get('partial') is True and hf.get('ja4', '').startswith('q13d0205h3_'),
       'malformed extensions: partial, ja4 of the 5 extensions before key_share (%s)' % hf)
    ok('partial' not in by.get(40002, {}).get('fingerprints', {'partial': 1}),
       'whole ClientHello: no partial')
    rows = tshark(pcap, ['udp.srcport', 'tls.handshake.extensions_server_name'],
                  'tls.handshake.type == 1')
    if rows is not None:
        seen = {int(x[0]): x[1] for x in rows}
        ok(seen.get(40001) == 'split.example' and seen.get(40002) == 'v2.example',
           'tshark decrypts the generated Initials too (%s)' % seen)
    return pcap


def pcap_file(path, frames):
    with open(path, 'wb') as f:
        f.write(struct.pack('<IHHiIII', 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
        t = 1700000000.0
        for sport, dport, payload, rev in frames:
            t += 0.001
            src, dst = (b'\x0a\x00\x00\x02', b'\x0a\x00\x00\x01') if rev else \
                (b'\x0a\x00\x00\x01', b'\x0a\x00\x00\x02')
            udp = struct.pack('>HHHH', sport, dport, 8 + len(payload), 0) + payload
            ip = struct.pack('>BBHHHBBH4s4s', 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0, src, dst) + udp
            fr = b'\x00' * 12 + b'\x08\x00' + ip
            f.write(struct.pack('<IIII', int(t), int((t % 1) * 1e6), len(fr), len(fr)) + fr)


def dtls_record(body, ctype=22, version=0xfefd, epoch=0, seq=0):
    return struct.pack('>BHH', ctype, version, epoch) + seq.to_bytes(6, 'big') + \
        struct.pack('>H', len(body)) + body


def dtls_frag(mtype, msg, seq, off, n, length=None):
    length = len(msg) if length is None else length
    return struct.pack('>B', mtype) + length.to_bytes(3, 'big') + struct.pack('>H', seq) + \
        off.to_bytes(3, 'big') + n.to_bytes(3, 'big') + msg[off:off + n]


def dtls_client_hello(name, cookie=b''):
    ext = b''
    sn = name.encode()
    ext += struct.pack('>HHHBH', 0, len(sn) + 5, len(sn) + 3, 0, len(sn)) + sn
    ext += struct.pack('>HHH', 10, 4, 2) + b'\x00\x1d'
    ext += struct.pack('>HH', 21, 600) + b'\x00' * 600  # padding: fragments needed
    body = b'\xfe\xfd' + bytes(range(32)) + b'\x00' + bytes([len(cookie)]) + cookie
    body += struct.pack('>HHH', 4, 0xc02b, 0xc02f) + b'\x01\x00' + struct.pack('>H', len(ext)) + ext
    return body


def dtls_server_hello():
    return b'\xfe\xfd' + b'\x33' * 32 + b'\x00' + b'\xc0\x2b\x00' + struct.pack('>H', 5) + \
        struct.pack('>HHB', 0xff01, 1, 0)


def test_generated_dtls(tmp):
    ch = dtls_client_hello('dtls.example')
    ch2 = dtls_client_hello('dtls.example', b'\xaa' * 16)
    sh = dtls_server_hello()
    hvr = b'\xfe\xff\x10' + b'\xaa' * 16
    # the padding extension (the last, 600 bytes) claims 20 bytes more
    bad = ch[:-602] + struct.pack('>H', 620) + ch[-600:]
    frames = [
        # CH seq 0 in three fragments, the last first, one repeated
        (5000, 4433, dtls_record(dtls_frag(1, ch, 0, 400, len(ch) - 400), seq=2), False),
        (5000, 4433, dtls_record(dtls_frag(1, ch, 0, 0, 200), seq=0) +
         dtls_record(dtls_frag(1, ch, 0, 150, 250), seq=1), False),
        (4433, 5000, dtls_record(dtls_frag(3, hvr, 0, 0, len(hvr)), version=0xfeff), True),
        (5000, 4433, dtls_record(dtls_frag(1, ch2, 1, 0, len(ch2)), seq=3), False),
        (4433, 5000, dtls_record(dtls_frag(2, sh, 1, 0, len(sh)), seq=1) +
         dtls_record(b'\x01', ctype=20, seq=2) + b'\x2f' + b'\x00' * 20, True),
        # hostile flows
        (5001, 4433, dtls_record(dtls_frag(1, ch, 0, 0, 100, length=0xffffff)), False),
        (5002, 4433, dtls_record(dtls_frag(1, ch, 0, 0, 100)[:-50] + b'\x00' * 8), False),
        (5003, 4433, dtls_record(dtls_frag(1, ch, 0, 0, 100)) + b'\x16\xfe\xfd\x00', False),
        (5004, 4433, dtls_record(dtls_frag(1, ch, 0, 0, 100)), False),
        (5004, 4433, dtls_record(dtls_frag(1, ch, 0, len(ch) - 10, 10, length=len(ch) - 5)), False),
        (5005, 4433, dtls_record(dtls_frag(1, bad, 0, 0, len(bad))), False),
    ]
    pcap = os.path.join(tmp, 'gen-dtls.pcap')
    pcap_file(pcap, frames)
    rc, recs, valid, _ = run_joy(pcap, 'tls=1', 'fpx=1')
    ok(rc == 0 and valid, 'generated DTLS: exit 0, valid JSON')
    by = {r['sp']: r for r in recs if 'tls' in r}
    a = by.get(5000, {})
    t = a.get('tls', {})
    ok(t.get('sni') == ['dtls.example'], 'DTLS fragments reassembled: sni')
    ok(t.get('c_random') == bytes(range(32)).hex() and t.get('s_random') == '33' * 32,
       'DTLS randoms')
    ok(t.get('cs') == ['c02b', 'c02f'] and t.get('scs') == 'c02b', 'DTLS suites')
    ok(t.get('hello_verify') is True and 'incomplete' not in t, 'DTLS HelloVerifyRequest, complete')
    ok(a.get('fingerprints', {}).get('ja4', '').startswith('dd2d0203'), 'DTLS ja4 %s' %
       a.get('fingerprints', {}).get('ja4'))
    ok('ja3s' in a.get('fingerprints_in', {}), 'DTLS ja3s')
    ok(by.get(5001, {}).get('tls', {}).get('incomplete') == {'out': 'cap'}, 'DTLS length over cap')
    ok('fingerprints' not in by.get(5004, {}), 'DTLS lying fragment: no fingerprint')
    ok('partial' not in a.get('fingerprints', {}), 'DTLS whole ClientHello: no partial')
    e = by.get(5005, {})
    ef = e.get('fingerprints', {})
    ok(ef.get('partial') is True and ef.get('ja4', '').startswith('dd2d020200_') and
       ef.get('ja3', '').endswith(',0-10,29,'),
       'DTLS malformed extensions: partial, fingerprints of the 2 extensions that parsed (%s)' % ef)
    ok([list(x) for x in e.get('tls', {}).get('c_extensions', [])] == [['server_name'], ['supported_groups']],
       'DTLS malformed extensions: c_extensions as parsed')
    rows = tshark(pcap, ['udp.srcport', 'dtls.handshake.extensions_server_name'],
                  'dtls.handshake.type == 1 && udp.srcport == 5000')
    if rows is not None:
        ok(any(x[1] == 'dtls.example' for x in rows), 'tshark reassembles the same ClientHello')
    return pcap


def test_live_dtls(tmp):
    """openssl s_server/s_client DTLS 1.0 and 1.2 on 127.0.0.1, captured with dumpcap."""
    import socket
    import time
    if not (shutil.which('openssl') and shutil.which('dumpcap') and shutil.which('tshark')):
        skip('live DTLS: openssl, dumpcap or tshark (the oracle) absent')
        return
    key, crt = os.path.join(tmp, 'k.pem'), os.path.join(tmp, 'c.pem')
    if subprocess.run(['openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt',
                       'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', crt, '-days', '2',
                       '-subj', '/CN=dtls.test'], stdout=subprocess.DEVNULL,
                      stderr=subprocess.DEVNULL).returncode:
        skip('live DTLS: openssl req failed')
        return
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
    pcap = os.path.join(tmp, 'live-dtls.pcapng')
    cap = subprocess.Popen(['dumpcap', '-q', '-i', 'lo', '-f', 'udp port %d' % port, '-w', pcap,
                            '-a', 'duration:12'], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(1.5)
        for ver in ('-dtls1_2', '-dtls1'):
            srv = subprocess.Popen(['openssl', 's_server', ver, '-accept', '127.0.0.1:%d' % port,
                                    '-cert', crt, '-key', key, '-quiet'] +
                                   (['-cipher', 'DEFAULT:@SECLEVEL=0'] if ver == '-dtls1' else []),
                                   stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
            time.sleep(0.7)
            try:
                subprocess.run(['openssl', 's_client', ver, '-connect', '127.0.0.1:%d' % port,
                                '-servername', 'dtls.test', '-quiet'] +
                               (['-cipher', 'DEFAULT:@SECLEVEL=0'] if ver == '-dtls1' else []),
                               input=b'hi\n', stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               timeout=3)
            except subprocess.TimeoutExpired:
                pass
            time.sleep(0.3)
            srv.kill()
            srv.wait()
            time.sleep(1.0)  # a new source port: a new flow
    finally:
        cap.wait(timeout=20)
    if not os.path.exists(pcap):
        skip('live DTLS: no capture (dumpcap not permitted?)')
        return
    rc, recs, valid, _ = run_joy(pcap, 'tls=1', 'fpx=1')
    ok(rc == 0 and valid, 'live DTLS: exit 0, valid JSON')
    ds = [r for r in recs if isinstance(r.get('tls'), dict)]
    rows = tshark(pcap, ['udp.srcport', 'dtls.handshake.random', 'dtls.handshake.ciphersuite',
                         'dtls.handshake.extensions_server_name', 'dtls.handshake.version'],
                  'dtls.handshake.type == 1 && dtls.handshake.random') or []
    seen = set()
    for r in ds:
        t = r['tls']
        mine = [x for x in rows if x[0] == str(r['sp'])]
        if not mine:
            continue
        v = t.get('c_version')
        seen.add(v)
        ok(t.get('sni') == ['dtls.test'], 'live DTLS (code %s): sni' % v)
        ok(t.get('c_random') == mine[0][1], 'live DTLS (code %s): c_random = tshark' % v)
        ok(t.get('cs') == hexlist(mine[0][2]), 'live DTLS (code %s): cs = tshark' % v)
        ok('incomplete' not in t and t.get('scs'), 'live DTLS (code %s): both hellos' % v)
        ok(r.get('fingerprints', {}).get('ja4', '')[:3] == {8: 'dd2', 7: 'dd1'}.get(v),
           'live DTLS (code %s): ja4 %s' % (v, r.get('fingerprints', {}).get('ja4')))
    ok(8 in seen, 'live DTLS 1.2 handshake captured and read')
    if 7 not in seen:
        skip('live DTLS 1.0: not negotiated by this OpenSSL build')


# --- 4. hostile mutations --------------------------------------------------

def read_frames(pcap):
    with open(pcap, 'rb') as f:
        data = f.read()
    hdr, off, out = data[:24], 24, []
    while off + 16 <= len(data):
        _, _, cl, _ = struct.unpack('<IIII', data[off:off + 16])
        out.append(data[off + 16:off + 16 + cl])
        off += 16 + cl
    return hdr, out


def write_frames(path, hdr, frames):
    with open(path, 'wb') as f:
        f.write(hdr)
        for i, fr in enumerate(frames):
            f.write(struct.pack('<IIII', 1700000000 + i, 0, len(fr), len(fr)) + fr)


def test_mutations(pcaps, tmp, rounds=60):
    rnd = random.Random(4)
    bins = [JOY] + ([JOY_ASAN] if JOY_ASAN else [])
    for src in pcaps:
        hdr, frames = read_frames(src)
        bad = 0
        for i in range(rounds):
            fs = []
            for fr in frames:
                fr = bytearray(fr)
                for _ in range(rnd.randint(0, 4)):
                    if len(fr) > 42:
                        fr[rnd.randrange(42, len(fr))] = rnd.randrange(256)
                if rnd.random() < 0.3 and len(fr) > 43:
                    fr = fr[:rnd.randrange(42, len(fr))]
                fs.append(bytes(fr))
            if rnd.random() < 0.3:
                rnd.shuffle(fs)
            path = os.path.join(tmp, 'mut.pcap')
            write_frames(path, hdr, fs)
            for b in bins:
                rc, _, valid, err = run_joy(path, 'quic=1', 'tls=1', 'fpx=1', joy=b)
                if rc != 0 or not valid or 'ERROR' in err or 'runtime error' in err:
                    bad += 1
                    print('mutation %d of %s with %s: rc %d valid %s %s' % (i, src, b, rc, valid, err[:300]))
        ok(bad == 0, 'mutated %s: %d runs, exit 0 and valid JSON' % (os.path.basename(src), rounds))


def write_seeds(qpcap, dpcap):
    """fuzz seeds: fuzz_appmod.h format (mode byte, then <ctl><len16><bytes>)."""
    for name, pcap, port_mode in (('quic', qpcap, 0), ('dtls', dpcap, 0)):
        d = os.path.join(ROOT, 'fuzz', 'corpus', name)
        os.makedirs(d, exist_ok=True)
        _, frames = read_frames(pcap)
        # group by source port (flow), server frames have sport 443 / 4433
        flows = {}
        for fr in frames:
            sp, dp = struct.unpack('>HH', fr[34:38])
            cli = dp in (443, 4433)
            flows.setdefault(sp if cli else dp, []).append((0 if cli else 1, fr[42:]))
        for port, pk in sorted(flows.items()):
            blob = bytes([port_mode])
            for ctl, payload in pk:
                blob += bytes([ctl]) + struct.pack('>H', len(payload)) + payload
            if len(blob) < 8000:
                with open(os.path.join(d, 'gen-%d' % port), 'wb') as f:
                    f.write(blob)


def tls_client_hello(name):
    sn = name.encode()
    ext = struct.pack('>HHHBH', 0, len(sn) + 5, len(sn) + 3, 0, len(sn)) + sn
    ext += struct.pack('>HHB', 43, 3, 2) + b'\x03\x04'
    ext += struct.pack('>HHH', 16, 5, 3) + b'\x02h3'
    body = b'\x03\x03' + b'\x44' * 32 + b'\x00' + struct.pack('>HH', 2, 0x1301) + b'\x01\x00'
    body += struct.pack('>H', len(ext)) + ext
    return b'\x01' + len(body).to_bytes(3, 'big') + body


def varint(v):
    if v < 64:
        return bytes([v])
    if v < 16384:
        return struct.pack('>H', 0x4000 | v)
    return struct.pack('>I', 0x80000000 | v)


def write_plain_seeds():
    """fuzz_quic seeds with mode bit 7: plaintext Initial payloads."""
    d = os.path.join(ROOT, 'fuzz', 'corpus', 'quic')
    ch = tls_client_hello('plain.example')
    sh = b'\x02' + (46).to_bytes(3, 'big') + b'\x03\x03' + b'\x55' * 32 + \
        b'\x00\x13\x01\x00' + struct.pack('>HHHH', 6, 43, 2, 0x0304)
    f1 = b'\x06' + varint(40) + varint(len(ch) - 40) + ch[40:] + b'\x00' * 5
    f2 = b'\x01\x02\x00\x00\x00\x00' + b'\x06' + varint(0) + varint(40) + ch[:40]
    f3 = b'\x03\x05\x00\x01\x00\x01\x00\x01\x02\x03' + b'\x06\x00' + varint(len(sh)) + sh + \
        b'\x1c\x0a\x06\x02ok'
    blob = b'\x80'
    for ctl, pl in ((0, f1), (0, f2), (1, f3)):
        blob += bytes([ctl]) + struct.pack('>H', len(pl)) + pl
    with open(os.path.join(d, 'plain-split'), 'wb') as f:
        f.write(blob)


def main():
    if not os.path.exists(JOY):
        print('joy binary not found: %s' % JOY)
        print('0 passed, 1 failed')
        sys.exit(1)
    tmp = tempfile.mkdtemp(prefix='joy-quic-')
    try:
        exe = build_unit(tmp)
        if exe:
            test_unit(exe)
        if os.path.isdir(PCAPS):
            test_quic_captures()
            test_dtls_capture()
        else:
            skip('../shared/pcaps absent')
        if os.path.isdir(JA4DIR):
            test_ja4()
        else:
            skip('../shared/ja4 absent')
        gen = []
        qp = test_generated_quic(exe, tmp) if exe else None
        dp = test_generated_dtls(tmp)
        test_live_dtls(tmp)
        gen = [p for p in (qp, dp) if p]
        if '--seeds' in sys.argv and qp and dp:
            write_seeds(qp, dp)
            write_plain_seeds()
        test_mutations(gen, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print('%d passed, %d failed, %d skipped' % (passed, failed, skipped))
    sys.exit(1 if failed else 0)


if __name__ == '__main__':
    main()
