"""TLS client fingerprints: Joy's format, JA3 and JA4, from one common form.

The common form of a ClientHello is a *Hello* tuple::

    (version, ciphers, extensions)
      version    int     legacy_version field (0x0303 for TLS 1.2 and 1.3)
      ciphers    [int]   cipher suites in the order offered (GREASE kept)
      extensions [(type, data)]  in the order sent; data is bytes, or None
                                 when the source did not carry it

It can be built from a raw ClientHello (:func:`parse_client_hello`) or from
joy's ``fingerprints.tls`` string (:func:`parse_joy_fingerprint`), whose
format is ``(vvvv)(cccc...)((tttt[llll data])...)``: hex version, the
concatenated hex cipher suites, then one parenthesised element per
extension -- its type, followed for some types by the extension length and
data.

From a Hello:
  * :func:`joy_fingerprint` writes Joy's string (GREASE values written as
    0a0a; data kept for extension types in ``KEEP_DATA``);
  * :func:`canonical_fingerprint` is the form used to *match* Joy strings: the
    same, but with data kept only for ``KEEP_DATA``, GREASE values inside
    signature_algorithms written as 0a0a too, and the extension elements
    sorted, so that implementations that keep more data or clients that
    shuffle their extensions (Chrome since version 110) or put GREASE in
    their signature algorithms (Chromium 156) still match;
  * :func:`ja3_string` / :func:`ja3` (MD5) follow the JA3 definition
    (salesforce/ja3): ``version,ciphers,extensions,groups,point_formats`` in
    decimal, GREASE values removed;
  * :func:`ja4` follows the JA4 TLS client specification (FoxIO, BSD-3):
    ``{t|q|d}{version}{d|i}{nn}{nn}{alpn}_{sha256(sorted ciphers)[:12]}_``
    ``{sha256(sorted extensions minus SNI/ALPN + "_" + signature algorithms)[:12]}``
    (GREASE left out everywhere, signature algorithms included, as joy's C code).
Each returns None when the needed extension data is not available.
"""

import hashlib
import re

KEEP_DATA = frozenset((0x0005, 0x000a, 0x000b, 0x000d, 0x0010, 0x002b, 0x002d))

EXT_SNI = 0x0000
EXT_GROUPS = 0x000a
EXT_POINT_FORMATS = 0x000b
EXT_SIGALGS = 0x000d
EXT_ALPN = 0x0010
EXT_VERSIONS = 0x002b

_JA4_VERSIONS = {0x0304: "13", 0x0303: "12", 0x0302: "11", 0x0301: "10", 0x0300: "s3",
                 0x0002: "s2", 0xfeff: "d1", 0xfefd: "d2", 0xfefc: "d3"}


def is_grease(value):
    """GREASE values (RFC 8701): 0x0a0a, 0x1a1a, ... 0xfafa."""
    return (value & 0x0f0f) == 0x0a0a and (value >> 8) == (value & 0xff)


def _u16_list(data, offset, length):
    return [int.from_bytes(data[i:i + 2], "big") for i in range(offset, offset + length - 1, 2)]


# ----------------------------------------------------------------------------
# Building Hellos
# ----------------------------------------------------------------------------

def parse_client_hello(body, dtls=False):
    """Parse a ClientHello handshake *body* (after the 4-byte handshake header).

    Returns a Hello tuple, or None if the bytes are not a well-formed ClientHello.
    """
    try:
        pos = 0
        version = int.from_bytes(body[0:2], "big")
        pos = 2 + 32
        pos += 1 + body[pos]                          # session id
        if dtls or version >= 0xfe00:
            pos += 1 + body[pos]                      # DTLS cookie
        cs_len = int.from_bytes(body[pos:pos + 2], "big")
        ciphers = _u16_list(body, pos + 2, cs_len)
        pos += 2 + cs_len
        pos += 1 + body[pos]                          # compression methods
        extensions = []
        if pos + 2 <= len(body):
            ext_end = pos + 2 + int.from_bytes(body[pos:pos + 2], "big")
            pos += 2
            while pos + 4 <= ext_end:
                etype = int.from_bytes(body[pos:pos + 2], "big")
                elen = int.from_bytes(body[pos + 2:pos + 4], "big")
                extensions.append((etype, bytes(body[pos + 4:pos + 4 + elen])))
                pos += 4 + elen
        if pos > len(body) or cs_len % 2:
            return None
        return (version, ciphers, extensions)
    except IndexError:
        return None


_ELEMENT = re.compile(r"\(([0-9a-fA-F]*)\)")


def parse_joy_fingerprint(text):
    """Parse Joy's ``(vvvv)(cccc...)((ext)...)`` string into a Hello, or None."""
    if not isinstance(text, str):
        return None
    text = text.strip()
    match = re.match(r"\(([0-9a-fA-F]{4})\)\(([0-9a-fA-F]*)\)(?:\((.*)\))?\Z", text)
    if not match:
        return None
    version = int(match.group(1), 16)
    cipher_hex = match.group(2)
    if len(cipher_hex) % 4:
        return None
    ciphers = [int(cipher_hex[i:i + 4], 16) for i in range(0, len(cipher_hex), 4)]
    extensions = []
    ext_text = match.group(3) or ""
    position = 0
    for element in _ELEMENT.finditer(ext_text):
        if element.start() != position:
            return None
        position = element.end()
        hexpart = element.group(1)
        if len(hexpart) < 4 or len(hexpart) % 2:
            return None
        etype = int(hexpart[:4], 16)
        data = None
        if len(hexpart) >= 8:
            data = bytes.fromhex(hexpart[8:])
        extensions.append((etype, data))
    if position != len(ext_text):
        return None
    return (version, ciphers, extensions)


# ----------------------------------------------------------------------------
# Joy strings
# ----------------------------------------------------------------------------

def _norm(value):
    return 0x0a0a if is_grease(value) else value


def _normalise_data(etype, data, sigalgs=False):
    """GREASE values inside supported_groups / supported_versions become 0a0a.

    With ``sigalgs`` also those inside signature_algorithms: Chromium puts a
    random GREASE value there (seen in version 156), which Joy's and mercury's
    strings keep as sent; the canonical (matching) form normalises it.
    """
    if data is None:
        return None
    if (etype == EXT_GROUPS or (sigalgs and etype == EXT_SIGALGS)) and len(data) >= 2:
        values = _u16_list(data, 2, len(data) - 2)
        return data[:2] + b"".join(_norm(v).to_bytes(2, "big") for v in values)
    if etype == EXT_VERSIONS and len(data) >= 1:
        values = _u16_list(data, 1, len(data) - 1)
        return data[:1] + b"".join(_norm(v).to_bytes(2, "big") for v in values)
    return data


def _ext_element(etype, data, keep, sigalgs=False):
    etype_n = _norm(etype)
    if etype_n in keep and data is not None:
        data = _normalise_data(etype_n, data, sigalgs)
        return "(%04x%04x%s)" % (etype_n, len(data), data.hex())
    return "(%04x)" % etype_n


def joy_fingerprint(hello, keep=KEEP_DATA):
    """Joy's ``fingerprints.tls`` string for a Hello (GREASE written as 0a0a)."""
    version, ciphers, extensions = hello
    return "(%04x)(%s)(%s)" % (
        version,
        "".join("%04x" % _norm(c) for c in ciphers),
        "".join(_ext_element(t, d, keep) for t, d in extensions))


def canonical_fingerprint(hello):
    """Order-insensitive form of Joy's string used for database matching."""
    version, ciphers, extensions = hello
    elements = sorted(_ext_element(t, d, KEEP_DATA, sigalgs=True) for t, d in extensions)
    return "(%04x)(%s)(%s)" % (version, "".join("%04x" % _norm(c) for c in ciphers),
                               "".join(elements))


# ----------------------------------------------------------------------------
# JA3
# ----------------------------------------------------------------------------

def _ext_data(extensions, etype):
    """(present, data) for an extension type; data None if present but not carried."""
    for t, data in extensions:
        if t == etype:
            return True, data
    return False, None


def ja3_string(hello):
    """JA3 full string, or None if the groups/point formats data is missing."""
    version, ciphers, extensions = hello
    present, groups_data = _ext_data(extensions, EXT_GROUPS)
    if present and groups_data is None:
        return None
    groups = []
    if groups_data and len(groups_data) >= 2:
        groups = [g for g in _u16_list(groups_data, 2, len(groups_data) - 2) if not is_grease(g)]
    present, formats_data = _ext_data(extensions, EXT_POINT_FORMATS)
    if present and formats_data is None:
        return None
    formats = list(formats_data[1:1 + formats_data[0]]) if formats_data else []
    return "%d,%s,%s,%s,%s" % (
        version,
        "-".join(str(c) for c in ciphers if not is_grease(c)),
        "-".join(str(t) for t, _ in extensions if not is_grease(t)),
        "-".join(str(g) for g in groups),
        "-".join(str(f) for f in formats))


def ja3(hello):
    """JA3 hash (MD5 hex of :func:`ja3_string`), or None."""
    text = ja3_string(hello)
    return None if text is None else hashlib.md5(text.encode("ascii")).hexdigest()


# ----------------------------------------------------------------------------
# JA4
# ----------------------------------------------------------------------------

def _sha12(text):
    return hashlib.sha256(text.encode("ascii")).hexdigest()[:12]


def _alnum(byte):
    return 0x30 <= byte <= 0x39 or 0x41 <= byte <= 0x5a or 0x61 <= byte <= 0x7a


def _ja4_alpn(extensions):
    present, data = _ext_data(extensions, EXT_ALPN)
    if not present:
        return "00"
    if data is None:
        return None
    if len(data) < 3:
        return "00"
    first_len = data[2]
    value = data[3:3 + first_len]
    if not value:
        return "00"
    if _alnum(value[0]) and _alnum(value[-1]):
        return chr(value[0]) + chr(value[-1])
    hexed = value.hex()
    return hexed[0] + hexed[-1]


def _ja4_version(version, extensions):
    present, data = _ext_data(extensions, EXT_VERSIONS)
    if present:
        if data is None:
            return None
        offered = [v for v in _u16_list(data, 1, len(data) - 1) if not is_grease(v)]
        if offered:
            version = max(offered)
    return _JA4_VERSIONS.get(version, "00")


def ja4(hello, transport="t"):
    """JA4 for a Hello; ``transport`` is "t" (TCP), "q" (QUIC) or "d" (DTLS)."""
    version, ciphers, extensions = hello
    if version >= 0xfe00 and transport == "t":
        transport = "d"
    ver = _ja4_version(version, extensions)
    alpn = _ja4_alpn(extensions)
    present, sigalg_data = _ext_data(extensions, EXT_SIGALGS)
    if ver is None or alpn is None or (present and sigalg_data is None):
        return None
    ciphers_clean = [c for c in ciphers if not is_grease(c)]
    ext_types = [t for t, _ in extensions if not is_grease(t)]
    sni = "d" if EXT_SNI in ext_types else "i"
    part_a = "%s%s%s%02d%02d%s" % (transport, ver, sni, min(len(ciphers_clean), 99),
                                   min(len(ext_types), 99), alpn)
    part_b = _sha12(",".join(sorted("%04x" % c for c in ciphers_clean))) if ciphers_clean \
        else "000000000000"
    hashed = sorted("%04x" % t for t in ext_types if t not in (EXT_SNI, EXT_ALPN))
    sigalgs = []
    if sigalg_data and len(sigalg_data) >= 2:
        # the specification: "ignore GREASE values anywhere it sees them"
        sigalgs = ["%04x" % s for s in _u16_list(sigalg_data, 2, len(sigalg_data) - 2)
                   if not is_grease(s)]
    if hashed:
        text = ",".join(hashed)
        if sigalgs:
            text += "_" + ",".join(sigalgs)
        part_c = _sha12(text)
    else:
        part_c = "000000000000"
    return "%s_%s_%s" % (part_a, part_b, part_c)
