#!/usr/bin/env python3
"""test_tls_fields.py - regression tests of the TLS field errors of issue 16.

Usage:  JOY=path/to/joy python3 test/test_tls_fields.py [-v]

Every capture is made here (the TLS builders of test_tls.py) and checked
field by field; tshark is the oracle where it decodes the same bytes.

  1. TLS 1.3 draft ServerHellos: drafts before 22 (version 0x7f00 + N) have
     no session id and no compression method.  The selected suite, the
     extensions and JA3S must be those tshark reads (drafts 14, 18, 21), and
     drafts 22 and later keep the final layout (22, 23, 28).
  2. TLS after a plaintext prefix (HTTP CONNECT, SOCKS5, SMTP STARTTLS)
     whose first hello is split and a later segment is captured first: the
     client's (ClientHello), the server's (ServerHello and Certificate, the
     ClientHello not captured) and both.  The tls object and fingerprints
     must be those of the same handshake in order, and the hellos' fields
     those tshark reads on the TLS bytes alone.  Plaintext that is reordered
     but is not TLS gets no tls object, and a STARTTLS after it is found.
  3. A ClientHello (or ServerHello) whose extensions block is malformed:
     the fingerprints are made from the extensions that parsed and marked
     "partial": true; a whole hello has no "partial".
(JA4's ALPN rules are C unit tests: test/unit/test_ja4.c.)

Interpreter: any Python 3 (standard library only).
Last line: "N passed, N failed, N skipped".
"""

import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from test_tls import (Conn, cert_body, client_hello_body, ext, ext_types, hs, ja3_of,  # noqa: E402
                      record, server_hello_body, tshark, u16v, u8v)

ROOT = os.path.dirname(HERE)
JOY = os.environ.get('JOY', os.path.join(ROOT, 'joy'))
VERBOSE = '-v' in sys.argv
TSHARK = shutil.which('tshark')

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


def eq(got, exp, what):
    return ok(got == exp, what if got == exp else '%s: got %r, expected %r' % (what, got, exp))


def skip(what):
    global skipped
    skipped += 1
    print('skip ' + what)


def run_joy(path, *opts):
    p = subprocess.run([JOY, 'tls=1', 'fpx=1'] + list(opts) + ['-r', path, '-w', '-'],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    recs, bad = [], 0
    for line in p.stdout.decode('utf-8', 'replace').splitlines():
        try:
            d = json.loads(line)
        except ValueError:
            bad += 1
            continue
        if 'version' not in d:
            recs.append(d)
    ok(p.returncode == 0 and bad == 0, '%s: exit 0, valid JSON' % os.path.basename(path))
    return recs


def write(tmp, name, data):
    path = os.path.join(tmp, name)
    with open(path, 'wb') as f:
        f.write(data)
    return path


def tls_rec(recs):
    r = [x for x in recs if 'tls' in x]
    return r[0] if r else {}


def ts_hello(path, htype):
    """tshark's view of the first hello of a type: suite(s), extension types, JA3(S)."""
    if not TSHARK:
        return None
    ja3 = 'tls.handshake.ja3_full' if htype == 1 else 'tls.handshake.ja3s_full'
    rows = tshark(path, 'tls.handshake.type == %d' % htype,
                  ['tls.handshake.ciphersuite', 'tls.handshake.extension.type', ja3,
                   'tls.handshake.session_id_length'])
    if not rows:
        return {}
    r = rows[0]
    return {'suites': ['%04x' % int(x, 16) for x in r['tls.handshake.ciphersuite'].split('|') if x],
            'exts': [int(x) for x in r['tls.handshake.extension.type'].split('|') if x],
            'ja3': r[ja3].split('|')[0],
            'sid_len': r['tls.handshake.session_id_length']}


# --------------------------------------------------------------------------
# 1. TLS 1.3 draft ServerHellos
# --------------------------------------------------------------------------

def draft_client_hello(n):
    """a ClientHello offering only TLS 1.3 draft n (key_share 40 before draft 23)"""
    ks = 40 if n < 23 else 51
    body = client_hello_body(extra=())
    # replace supported_versions and key_share: rebuild from parts
    exts = [ext(0, u16v(b'\x00' + u16v(b'joy.test'))),
            ext(10, u16v(struct.pack('!2H', 0x001d, 0x0017))),
            ext(13, u16v(struct.pack('!2H', 0x0403, 0x0804))),
            ext(ks, u16v(struct.pack('!HH', 0x001d, 32) + b'\x42' * 32)),
            ext(43, u8v(struct.pack('!H', 0x7f00 + n)))]
    return body[:35 + 32] + u16v(struct.pack('!3H', 0x1301, 0x1302, 0x1303)) + u8v(b'\x00') + \
        u16v(b''.join(exts))


def draft_server_hello(n, suite=0x1302):
    ks = 40 if n < 23 else 51
    share = ext(ks, struct.pack('!HH', 0x001d, 32) + b'\x55' * 32)
    if n < 22:
        # draft-ietf-tls-tls13-21 4.1.3: version random cipher_suite extensions
        return struct.pack('!H', 0x7f00 + n) + b'\x22' * 32 + struct.pack('!H', suite) + u16v(share)
    return server_hello_body(suite=suite, sid=b'\x11' * 32,
                             exts=ext(43, struct.pack('!H', 0x7f00 + n)) + share)


def test_drafts(tmp):
    for n in (14, 18, 21, 22, 23, 28):
        c = Conn(cport=42000 + n)
        c.send(0, record(22, hs(1, draft_client_hello(n))))
        c.send(1, record(22, hs(2, draft_server_hello(n)), ver=0x0303) +
               record(23, b'\x17' * 400, ver=0x0303) + record(23, b'\x17' * 60, ver=0x0303))
        c.send(0, record(23, b'\x17' * 80, ver=0x0303))
        c.close()
        path = write(tmp, 'draft%d.pcap' % n, c.pcap())
        r = tls_rec(run_joy(path))
        t = r.get('tls', {})
        tag = 'draft %d ServerHello' % n
        ks = 40 if n < 23 else 51
        eq(t.get('scs'), '1302', tag + ': selected suite')
        eq([k for k, _ in ext_types(t.get('s_extensions', []))], [ks] if n < 22 else [43, ks],
           tag + ': extensions')
        eq(t.get('s_version'), 6, tag + ': s_version (TLS 1.3)')
        eq('s_sid' in t, n >= 22, tag + ': session id only from draft 22')
        ok('incomplete' not in t, tag + ': complete (%s)' % t.get('incomplete'))
        eq([e.get('tp') for e in t.get('srlt', [])], [22, 22, 23, 23, 23], tag + ': srlt record types')
        fin = r.get('fingerprints_in', {})
        ver = (0x7f00 + n) if n < 22 else 0x0303
        exts = '%d' % ks if n < 22 else '43-%d' % ks
        eq(fin.get('ja3s'), '%d,%d,%s' % (ver, 0x1302, exts), tag + ': ja3s (version field as sent)')
        ok('partial' not in fin, tag + ': not partial')
        ts = ts_hello(path, 2)
        if ts is None:
            skip(tag + ': tshark not found')
            continue
        eq([t.get('scs')], ts.get('suites'), tag + ': suite as tshark')
        eq([k for k, _ in ext_types(t.get('s_extensions', []))], ts.get('exts'), tag + ': extensions as tshark')
        eq(fin.get('ja3s'), ts.get('ja3'), tag + ': ja3s as tshark')
        eq(ts.get('sid_len'), '' if n < 22 else '32', tag + ': tshark sees the same layout')


# --------------------------------------------------------------------------
# 2. reordering after a plaintext prefix
# --------------------------------------------------------------------------

CH = record(22, hs(1, client_hello_body()))
SH = record(22, hs(2, server_hello_body()) + hs(11, cert_body([b'\x30\x03\x02\x01\x01'])) +
            hs(14, b''), ver=0x0303)


def prefix_conn(kind, cport):
    """a connection with the plaintext exchange before TLS"""
    if kind == 'connect':
        c = Conn(cport=cport, sport=3128)
        c.send(0, b'CONNECT joy.test:443 HTTP/1.1\r\nHost: joy.test:443\r\n\r\n')
        c.send(1, b'HTTP/1.1 200 Connection established\r\n\r\n')
    elif kind == 'socks5':
        c = Conn(cport=cport, sport=1080)
        c.send(0, b'\x05\x01\x00')
        c.send(1, b'\x05\x00')
        c.send(0, b'\x05\x01\x00\x03\x08joy.test\x01\xbb')
        c.send(1, b'\x05\x00\x00\x01\x0a\x01\x00\x02\x01\xbb')
    else:  # SMTP STARTTLS: the server speaks first
        c = Conn(cport=cport, sport=25)
        c.send(1, b'220 mx.joy.test ESMTP\r\n')
        c.send(0, b'EHLO client.joy.test\r\n')
        c.send(1, b'250-mx.joy.test\r\n250-PIPELINING\r\n250 STARTTLS\r\n')
        c.send(0, b'STARTTLS\r\n')
        c.send(1, b'220 2.0.0 Ready to start TLS\r\n')
    return c


def send_late_first(c, d, data, cut):
    """data in two segments, the second captured before the first"""
    c.raw(d, cut, data[cut:])
    c.send(d, data[:cut])
    c.seq[d] += len(data) - cut


def prefix_case(kind, case, cport):
    c = prefix_conn(kind, cport)
    if case in ('out', 'both'):
        send_late_first(c, 0, CH, 100)
    elif case == 'in':
        # the ClientHello is not captured: the server's hello starts TLS
        c.send(0, CH)
        del c.frames[-1]
    else:
        c.send(0, CH)
    if case in ('in', 'both'):
        send_late_first(c, 1, SH, 60)
    else:
        c.send(1, SH)
    c.send(0, record(23, b'\x17' * 50, ver=0x0303))
    c.send(1, record(23, b'\x17' * 70, ver=0x0303))
    c.close()
    return c.pcap()


def comparable(r):
    t = dict(r.get('tls', {}))
    t.pop('srlt', None)  # record times differ with the order
    return t, r.get('fingerprints', {}), r.get('fingerprints_in', {})


def test_prefix_reorder(tmp):
    # the hellos as tshark reads them, from the TLS bytes alone
    c = Conn(cport=43999)
    c.send(0, CH)
    c.send(1, SH)
    c.close()
    plain = write(tmp, 'plain-tls.pcap', c.pcap())
    ts_ch, ts_sh = ts_hello(plain, 1), ts_hello(plain, 2)
    port = 43000
    for kind in ('connect', 'socks5', 'starttls'):
        port += 10
        control = tls_rec(run_joy(write(tmp, '%s-inorder.pcap' % kind,
                                        prefix_case(kind, 'none', port))))
        ct, cf, cfi = comparable(control)
        ok('cs' in ct and 'scs' in ct and 'incomplete' not in ct,
           '%s in order: both hellos (%s)' % (kind, sorted(ct)))
        if ts_ch is not None:
            eq(ct.get('cs'), ts_ch.get('suites'), '%s: cs as tshark' % kind)
            eq([k for k, _ in ext_types(ct.get('c_extensions', []))], ts_ch.get('exts'),
               '%s: c_extensions as tshark' % kind)
            eq(cf.get('ja3'), ts_ch.get('ja3'), '%s: ja3 as tshark' % kind)
            eq(cfi.get('ja3s'), ts_sh.get('ja3'), '%s: ja3s as tshark' % kind)
        else:
            skip('%s: tshark not found' % kind)
        for i, case in enumerate(('out', 'in', 'both')):
            name = '%s-late-%s' % (kind, case)
            r = tls_rec(run_joy(write(tmp, name + '.pcap', prefix_case(kind, case, port + 1 + i))))
            t, f, fi = comparable(r)
            ok('incomplete' not in t, '%s: nothing incomplete (%s)' % (name, t.get('incomplete')))
            if case == 'in':
                # no ClientHello: the server's half must equal the control's
                srv = ('s_version', 's_random', 's_sid', 'scs', 's_extensions', 's_cert')
                eq({k: t.get(k) for k in srv}, {k: ct.get(k) for k in srv}, name + ': server fields')
                eq(fi, cfi, name + ': server fingerprints')
            else:
                eq(t, ct, name + ': same tls object as in order')
                eq((f, fi), (cf, cfi), name + ': same fingerprints as in order')

    # plaintext reordered, not TLS: no tls object; STARTTLS after it is found
    c = Conn(cport=43500, sport=80)
    req = b'GET /index.html HTTP/1.1\r\nHost: joy.test\r\nUser-Agent: test\r\n\r\n'
    c.send(0, b'GET / HTTP/1.1\r\nHost: joy.test\r\n\r\n')
    c.send(1, b'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n')
    send_late_first(c, 0, req, 20)
    c.send(1, b'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n')
    c.close()
    recs = run_joy(write(tmp, 'http-reordered.pcap', c.pcap()))
    ok(recs and not any('tls' in x for x in recs), 'reordered plaintext: no tls object')

    c = prefix_conn('starttls', 43501)
    send_late_first(c, 0, b'NOOP\r\nNOOP\r\nNOOP\r\n', 6)
    c.send(1, b'250 OK\r\n250 OK\r\n250 OK\r\n')
    c.send(0, CH)
    c.send(1, SH)
    c.close()
    t = tls_rec(run_joy(write(tmp, 'starttls-after-reorder.pcap', c.pcap()))).get('tls', {})
    ok(t.get('sni') == ['joy.test'] and t.get('scs') == 'c02f' and 'incomplete' not in t,
       'STARTTLS after reordered plaintext: found (%s)' % sorted(t))

    # a plaintext segment the capture missed (a gap that is never filled),
    # then STARTTLS: the ClientHello is found where it starts
    c = Conn(cport=43502, sport=25)
    c.send(1, b'220 mx.joy.test ESMTP\r\n')
    c.send(0, b'EHLO client.joy.test\r\n')
    c.send(1, b'250-mx.joy.test\r\n250 STARTTLS\r\n')
    c.send(0, b'NOOP\r\n')
    del c.frames[-1]
    c.send(1, b'250 OK\r\n')
    c.send(0, b'STARTTLS\r\n')
    c.send(1, b'220 2.0.0 Ready to start TLS\r\n')
    c.send(0, CH)
    c.send(1, SH)
    c.close()
    r = tls_rec(run_joy(write(tmp, 'starttls-after-missed.pcap', c.pcap())))
    t = r.get('tls', {})
    ok(t.get('sni') == ['joy.test'] and t.get('scs') == 'c02f' and 'incomplete' not in t and
       'ja3' in r.get('fingerprints', {}),
       'STARTTLS after a missed plaintext segment: found (%s)' % sorted(t))

    # the server's last plaintext reply partly missed (a gap in its direction
    # that is never filled), then the hellos in order: the client's hello
    # settles TLS and the server is read from its next byte
    # (and: the ClientHello not captured either: the ServerHello after
    # the unfilled gap is found where it starts)
    for i, case in enumerate(('with-ch', 'no-ch', 'with-ch-late-sh')):
        c = Conn(cport=43503 + i, sport=25)
        c.send(1, b'220 mx.joy.test ESMTP\r\n')
        c.send(0, b'EHLO client.joy.test\r\n')
        c.send(1, b'250-mx.joy.test\r\n250 STARTTLS\r\n')
        c.send(0, b'STARTTLS\r\n')
        c.send(1, b'220 2.0.0 Ready')
        del c.frames[-1]
        c.send(1, b' to start TLS\r\n')
        c.send(0, CH)
        if case == 'no-ch':
            del c.frames[-1]
        if case == 'with-ch-late-sh':
            send_late_first(c, 1, SH, 60)
        else:
            c.send(1, SH)
        c.close()
        r = tls_rec(run_joy(write(tmp, 'starttls-server-missed-%s.pcap' % case, c.pcap())))
        t = r.get('tls', {})
        ok(t.get('scs') == 'c02f' and 'incomplete' not in t and 'ja3s' in r.get('fingerprints_in', {}) and
           (case == 'no-ch' or t.get('sni') == ['joy.test']),
           'STARTTLS, server reply partly missed (%s): ServerHello found (%s)' % (case, t))


# --------------------------------------------------------------------------
# 3. malformed extensions block: partial fingerprints
# --------------------------------------------------------------------------

def test_partial(tmp):
    bad_ext = struct.pack('!HH', 21, 50) + b'\x00' * 10  # claims 50 bytes, has 10
    good_sh = server_hello_body()
    bad_sh = server_hello_body(exts=ext(0xff01, b'\x00') + ext(11, u8v(b'\x00')) + ext(23, b'') +
                               struct.pack('!HH', 35, 9) + b'\x00\x00')
    cases = [('whole', client_hello_body(), good_sh),
             ('ch-lying-ext', client_hello_body(extra=(bad_ext,)), good_sh),
             ('ch-ext-block-cut', client_hello_body()[:-30], good_sh),
             ('sh-lying-ext', client_hello_body(), bad_sh)]
    for i, (name, chb, shb) in enumerate(cases):
        c = Conn(cport=44000 + i)
        c.send(0, record(22, hs(1, chb)))
        c.send(1, record(22, hs(2, shb) + hs(14, b''), ver=0x0303))
        c.close()
        path = write(tmp, 'partial-%s.pcap' % name, c.pcap())
        r = tls_rec(run_joy(path))
        f, fi = r.get('fingerprints', {}), r.get('fingerprints_in', {})
        ch_bad = name.startswith('ch-')
        sh_bad = name.startswith('sh-')
        eq(f.get('partial'), True if ch_bad else None, name + ': client fingerprints partial')
        eq(fi.get('partial'), True if sh_bad else None, name + ': server fingerprints partial')
        # made from the extensions that parsed: those before the faulty one
        parsed = parsed_hello(chb)
        eq(f.get('ja3'), ja3_of(parsed), name + ': ja3 of what parsed')
        eq(f.get('ja4', '')[:11], ja4_a(parsed), name + ': ja4 counts what parsed')
        eq(fi.get('ja3s'), '771,49199,65281-11-23', name + ': ja3s of what parsed')


def parsed_hello(body):
    """a ClientHello body rebuilt with only its extensions that are whole
    (within both the extensions block and the body)"""
    i = 35 + 32
    i += 2 + struct.unpack_from('!H', body, i)[0]
    i += 1 + body[i]
    head = body[:i]
    end = min(len(body), i + 2 + struct.unpack_from('!H', body, i)[0])
    i += 2
    exts = []
    while i + 4 <= end:
        n = struct.unpack_from('!H', body, i + 2)[0]
        if i + 4 + n > end:
            break
        exts.append(body[i:i + 4 + n])
        i += 4 + n
    return head + u16v(b''.join(exts))


def ja4_a(body):
    """the first 11 characters of JA4 (section a and '_'), computed here"""
    def grease(v):
        return (v & 0x0f0f) == 0x0a0a and (v >> 8) == (v & 0xff)
    ver = struct.unpack_from('!H', body, 0)[0]
    i = 35 + 32
    n = struct.unpack_from('!H', body, i)[0]
    suites = [x for x in struct.unpack_from('!%dH' % (n // 2), body, i + 2) if not grease(x)]
    i += 2 + n
    i += 1 + body[i]
    end = i + 2 + struct.unpack_from('!H', body, i)[0]
    i += 2
    types, alpn = [], '00'
    while i + 4 <= end:
        t, m = struct.unpack_from('!HH', body, i)
        d = body[i + 4:i + 4 + m]
        if not grease(t):
            types.append(t)
        if t == 43:
            ver = max(x for x in struct.unpack_from('!%dH' % (d[0] // 2), d, 1) if not grease(x))
        if t == 16 and len(d) > 3 and d[2]:
            alpn = chr(d[3]) + chr(d[2 + d[2]])
        i += 4 + m
    v = {0x0304: '13', 0x0303: '12', 0x0302: '11', 0x0301: '10'}.get(ver, '00')
    return 't%s%s%02d%02d%s_' % (v, 'd' if 0 in types else 'i', len(suites), len(types), alpn)


def main():
    if not os.path.exists(JOY):
        print('joy binary %s not found (set JOY)' % JOY)
        print('0 passed, 1 failed, 0 skipped')
        return 1
    if not TSHARK:
        skip('tshark not found: the cross-checks with tshark are left out')
    tmp = tempfile.mkdtemp(prefix='joy-tlsfields-')
    try:
        test_drafts(tmp)
        test_prefix_reorder(tmp)
        test_partial(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print('%d passed, %d failed, %d skipped' % (passed, failed, skipped))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
