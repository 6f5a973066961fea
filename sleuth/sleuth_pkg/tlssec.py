"""--tls_sec: classify the security of each TLS flow against a policy file.

The policy (default ``data/tls_policy.json``, built by
``tools/build_tls_policy.py``; its ``sources`` table names the documents every
rule rests on) assigns one of the classes ``recommended``, ``acceptable``,
``legacy``, ``avoid`` to:

  * the negotiated version (``tls.s_version``: joy's code 1..6 or a name),
  * the selected cipher suite (``tls.scs``, hex such as "c02b"),
  * the key exchange: for TLS 1.3 the server's key_share group (from
    ``tls.s_extensions``), otherwise the size of the client's key exchange
    value (``c_key_length``/``c_key_exchange``) turned into a security
    strength for the suite's key exchange family (ECDHE, DHE or RSA),
  * every server certificate (``tls.s_cert[]``): its signature algorithm
    (skipped for a self-signed certificate after the first: a root's own
    signature is not checked by anyone), its public key size, and for RSA
    signatures the signature (issuer key) size.

Each flow with a ``tls`` object gets::

    "tls_sec": {"classification": <worst class found, or "unknown">,
                "concerns": ["<component>: <class>: <why>", ...],   # legacy/avoid only
                "components": {"version": {...}, "cipher_suite": {...},
                               "key_exchange": {...}, "certificates": [...]},
                "unknown": ["<what the policy does not know>", ...]}   # if any

Components the record does not carry are left out; values the policy does not
list are named in ``unknown`` and do not change the classification.

Joy's options:

  * ``failure_threshold`` (``--sec_failure_threshold N``): a finding becomes a
    concern when its level is N or worse, with Joy's numbering 1 avoid,
    2 legacy, 3 acceptable, 4 recommended (class names are accepted too);
    default 2: legacy and avoid findings are concerns.
  * ``unknowns`` (``--sec_unknowns``): ``report`` (default) lists unknown values
    in ``unknown``; ``ignore`` leaves the list out; ``fail`` makes the
    classification ``"unknown"`` as soon as anything is unknown (what Joy's
    ``report`` did to the whole classification).
  * ``compliance`` (``--sec_compliance NAME ...``): adds ``"<NAME>_compliant":
    "yes"|"no"|"unknown"``, a soft check of the selected cipher suite against
    the named profile (see :data:`COMPLIANCE`), as Joy's sleuth did.
"""

import re

import json
import os

from .errors import DataFileError, UsageError

DEFAULT_POLICY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data",
                              "tls_policy.json")

_VERSION_CODES = {1: "SSLv2", 2: "SSLv3", 3: "TLS1.0", 4: "TLS1.1", 5: "TLS1.2", 6: "TLS1.3"}
_WIRE_VERSIONS = {0x0002: "SSLv2", 0x0300: "SSLv3", 0x0301: "TLS1.0", 0x0302: "TLS1.1",
                  0x0303: "TLS1.2", 0x0304: "TLS1.3"}
# Key exchange value length in bytes (with or without its 1-byte length prefix) -> curve
# size in bits.  57 bytes is either secp224r1 or X448 with prefix: the smaller is assumed.
_ECC_SIZES = {32: 255, 33: 255, 65: 256, 66: 256, 97: 384, 98: 384, 133: 521, 134: 521,
              56: 448, 57: 224, 49: 192, 50: 192}


def load_policy(path=None):
    """Read and check a policy file; raises :class:`DataFileError` with a clear message."""
    path = path or DEFAULT_POLICY
    try:
        with open(path, "rb") as handle:
            policy = json.loads(handle.read())
    except OSError as exc:
        raise DataFileError("cannot read TLS policy file %s: %s" % (path, exc.strerror or exc))
    except ValueError as exc:
        raise DataFileError("TLS policy file %s is not valid JSON: %s" % (path, exc))
    if not isinstance(policy, dict) or policy.get("format") != "sleuth-tls-policy":
        raise DataFileError("%s is not a sleuth TLS policy file (no \"format\": "
                            "\"sleuth-tls-policy\")" % path)
    for key in ("classes", "versions", "cipher_suites", "groups", "signature_algorithms",
                "key_strength", "key_families", "strength_classes"):
        if key not in policy:
            raise DataFileError("TLS policy file %s lacks the %r table" % (path, key))
    return policy


def _fips_140(name):
    """Selected suite uses only FIPS 140 approved algorithms (SP 800-52 Rev. 2 §3.3.1,
    SP 800-131A Rev. 2): AES in GCM/CCM/CBC with SHA-1/SHA-2 HMAC or AEAD, key exchange
    by (EC)DHE, (EC)DH, RSA or PSK; not ChaCha20, Camellia, ARIA, SEED, 3DES (disallowed
    after 2023), RC4, NULL, anonymous or export."""
    if re.fullmatch(r"TLS_AES_(128|256)_(GCM|CCM|CCM_8)_SHA(256|384)", name):
        return True
    match = re.fullmatch(r"TLS_(.+)_WITH_(.+)", name)
    if not match:
        return False
    kx, rest = match.groups()
    if kx not in ("RSA", "DHE_RSA", "DHE_DSS", "DH_RSA", "DH_DSS", "ECDHE_RSA", "ECDHE_ECDSA",
                  "ECDH_RSA", "ECDH_ECDSA", "PSK", "DHE_PSK", "ECDHE_PSK", "RSA_PSK"):
        return False
    return re.fullmatch(r"AES_(128|256)_(GCM_SHA(256|384)|CCM(_8)?|CBC_SHA(256|384)?)",
                        rest) is not None


def _cnsa(name):
    """NSA CNSA suite profile (RFC 9151): AES-256-GCM with SHA-384, ECDHE or DHE."""
    return name in ("TLS_AES_256_GCM_SHA384", "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
                    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
                    "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384")


COMPLIANCE = {"fips_140": _fips_140, "cnsa": _cnsa}
UNKNOWNS = ("report", "ignore", "fail")


def threshold_level(value, classes):
    """``--sec_failure_threshold`` value (1..len(classes) or a class name) -> level int."""
    text = str(value).strip().lower()
    levels = {name: len(classes) - index for index, name in enumerate(classes)}
    if text in levels:
        return levels[text]
    try:
        level = int(text)
    except ValueError:
        level = None
    if level is None or not 0 <= level <= len(classes):
        raise UsageError("--sec_failure_threshold %r: expected 0 to %d (1 %s ... %d %s) or "
                            "a class name" % (value, len(classes), classes[-1], len(classes),
                                              classes[0]))
    return level


class TlsClassifier:
    """Applies a loaded policy to records (``annotate``)."""

    def __init__(self, policy, failure_threshold=None, unknowns="report", compliance=()):
        self.policy = policy
        classes = policy["classes"]
        level = threshold_level(2 if failure_threshold is None else failure_threshold, classes)
        # class index (0 = best) from which findings are concerns
        self.concern_rank = len(classes) - level
        if unknowns not in UNKNOWNS:
            raise UsageError("--sec_unknowns %r: expected one of %s"
                                % (unknowns, ", ".join(UNKNOWNS)))
        self.unknowns = unknowns
        for name in compliance:
            if name not in COMPLIANCE:
                raise UsageError("--sec_compliance %r: known profiles are %s"
                                    % (name, ", ".join(sorted(COMPLIANCE))))
        self.compliance = tuple(compliance)
        self.rank = {name: index for index, name in enumerate(policy["classes"])}
        self.suites = policy["cipher_suites"]
        self.groups = policy["groups"]
        self.sigalgs = policy["signature_algorithms"]["classes"]
        self.families = policy["key_families"]
        self.key_strength = policy["key_strength"]
        self.thresholds = policy["strength_classes"]["thresholds"]

    # -- entry point ----------------------------------------------------------
    def annotate(self, record):
        """Add ``tls_sec`` to a record that has a ``tls`` object; returns the record."""
        tls = record.get("tls")
        if type(tls) is dict:
            record["tls_sec"] = self.classify(tls)
        return record

    def classify(self, tls):
        found = _Findings(self.rank, self.concern_rank)
        components = {}
        version = self._version(tls, found)
        if version:
            components["version"] = version
        suite = self._suite(tls, found)
        if suite:
            components["cipher_suite"] = suite
        kx = self._key_exchange(tls, suite, version, found)
        if kx:
            components["key_exchange"] = kx
        certs = self._certificates(tls, found)
        if certs:
            components["certificates"] = certs
        classification = found.worst or "unknown"
        if found.unknown and self.unknowns == "fail":
            classification = "unknown"
        result = {"classification": classification, "concerns": found.concerns,
                  "components": components}
        if found.unknown and self.unknowns != "ignore":
            result["unknown"] = found.unknown
        for name in self.compliance:
            result[name + "_compliant"] = ("unknown" if not suite or "name" not in suite else
                                           "yes" if COMPLIANCE[name](suite["name"]) else "no")
        return result

    # -- components -----------------------------------------------------------
    def _version(self, tls, found):
        name = _version_name(tls.get("s_version"))
        if name is None:
            name = _server_selected_version(tls.get("s_extensions"))
        if name is None:
            return None
        entry = self.policy["versions"].get(name)
        if entry is None:
            found.unknown.append("version %s" % name)
            return {"value": name}
        found.add(entry["class"], "version %s: %s" % (name, entry["reason"]))
        return {"value": name, "class": entry["class"]}

    def _suite(self, tls, found):
        code = _hex4(tls.get("scs"))
        if code is None:
            return None
        entry = self.suites.get(code)
        if entry is None:
            found.unknown.append("cipher suite %s" % code)
            return {"value": code}
        found.add(entry["class"], "cipher suite %s (%s): %s" % (entry["name"], code,
                                                               entry["reason"]))
        return {"value": code, "name": entry["name"], "class": entry["class"]}

    def _key_exchange(self, tls, suite, version, found):
        group = _server_key_share_group(tls.get("s_extensions"))
        if group is not None:
            entry = self.groups.get(group)
            if entry is None:
                found.unknown.append("key exchange group %s" % group)
                return {"group": group}
            found.add(entry["class"], "key exchange group %s: %s" % (entry["name"],
                                                                     entry["reason"]))
            return {"group": group, "name": entry["name"], "strength": entry["strength"],
                    "class": entry["class"]}
        family = _kx_family(suite.get("name") if suite else None)
        if family is None:
            return None
        bits = _kx_bits(family, tls.get("c_key_length"), tls.get("c_key_exchange"))
        if bits is None:
            return None
        strength = self._strength(family, bits)
        klass = self._strength_class(strength)
        label = {"ecc": "ECDHE", "ffc": "DHE", "rsa": "RSA key transport"}[family]
        found.add(klass, "key exchange %s %d bits (%d-bit security)" % (label, bits, strength))
        return {"method": label, "bits": bits, "strength": strength, "class": klass}

    def _certificates(self, tls, found):
        certs = tls.get("s_cert")
        if type(certs) is not list:
            return None
        results = []
        for index, cert in enumerate(certs):
            if type(cert) is not dict:
                continue
            results.append(self._certificate(index, cert, found))
        return results

    def _certificate(self, index, cert, found):
        out = {"index": index}
        where = "certificate %d" % index
        algo = cert.get("signature_algo")
        self_signed = cert.get("issuer") is not None and cert.get("issuer") == cert.get("subject")
        if isinstance(algo, str) and not (self_signed and index > 0):
            klass = self.sigalgs.get(algo)
            out["signature_algo"] = algo
            if klass is None:
                found.unknown.append("%s signature algorithm %s" % (where, algo))
            else:
                out["signature_class"] = klass
                found.add(klass, "%s signature algorithm %s" % (where, algo))
            size = cert.get("signature_key_size")
            if "RSA" in algo.upper() and _is_int(size):
                self._key_size(out, "signature_key", "rsa", size, where + " signature key",
                               found)
        key_algo = cert.get("subject_public_key_algo")
        key_size = cert.get("subject_public_key_size")
        if isinstance(key_algo, str) and _is_int(key_size):
            family = self.families.get(key_algo)
            if family is None:
                found.unknown.append("%s public key algorithm %s" % (where, key_algo))
            else:
                self._key_size(out, "public_key", family, key_size,
                               "%s public key %s %d bits" % (where, key_algo, key_size), found)
        return out

    def _key_size(self, out, name, family, bits, label, found):
        strength = self._strength(family, bits)
        klass = self._strength_class(strength)
        out[name] = {"bits": bits, "strength": strength, "class": klass}
        found.add(klass, "%s (%d-bit security)" % (label, strength))

    # -- strength tables ------------------------------------------------------
    def _strength(self, family, bits):
        for minimum, strength in self.key_strength[family]:
            if bits >= minimum:
                return strength
        return 0

    def _strength_class(self, strength):
        for minimum, klass in self.thresholds:
            if strength >= minimum:
                return klass
        return self.policy["classes"][-1]


class _Findings:
    """Accumulates the worst class, the concerns and the unknowns of one flow."""

    def __init__(self, rank, concern_rank=2):
        self.rank = rank
        self.concern_rank = concern_rank
        self.worst = None
        self.concerns = []
        self.unknown = []

    def add(self, klass, text):
        if klass not in self.rank:
            self.unknown.append(text)
            return
        if self.worst is None or self.rank[klass] > self.rank[self.worst]:
            self.worst = klass
        if self.rank[klass] >= self.concern_rank:
            self.concerns.append("%s: %s" % (klass, text))


# ----------------------------------------------------------------------------
# Reading joy's TLS fields
# ----------------------------------------------------------------------------

def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _hex4(value):
    """Cipher suite / group code as 4 lowercase hex digits ("c02b", "0xC02B", 49195)."""
    if _is_int(value):
        return "%04x" % value
    if isinstance(value, str):
        text = value.strip().lower()
        if text.startswith("0x"):
            text = text[2:]
        if 1 <= len(text) <= 4 and all(c in "0123456789abcdef" for c in text):
            return text.zfill(4)
    return None


def _version_name(value):
    """Map joy's version code (1..6), a wire value or a name like "TLS 1.3" to "TLS1.3"."""
    if _is_int(value):
        if value in _VERSION_CODES:
            return _VERSION_CODES[value]
        return _WIRE_VERSIONS.get(value)
    if isinstance(value, str):
        text = value.strip().upper().replace(" ", "").replace("V", "").replace("_", "")
        if text in ("TLS1.0", "TLS1.1", "TLS1.2", "TLS1.3", "SSL2", "SSL3"):
            return text.replace("SSL", "SSLv") if text.startswith("SSL") else text
        code = _hex4(value)
        if code is not None:
            return _WIRE_VERSIONS.get(int(code, 16))
    return None


def _extension_data(extensions, name, kind):
    """Hex data of an extension in joy's ``[{"name": hex}, {"kind": N, "data": hex}]`` list."""
    if type(extensions) is not list:
        return None
    for ext in extensions:
        if type(ext) is not dict:
            continue
        if name in ext and isinstance(ext[name], str):
            return ext[name]
        if ext.get("kind") == kind and isinstance(ext.get("data"), str):
            return ext["data"]
        if ext.get("type") in (kind, name) and isinstance(ext.get("data"), str):
            return ext["data"]
    return None


def _server_key_share_group(extensions):
    data = _extension_data(extensions, "key_share", 51)
    if data and len(data) >= 4:
        return data[:4].lower()
    return None


def _server_selected_version(extensions):
    data = _extension_data(extensions, "supported_versions", 43)
    if data and len(data) == 4:
        try:
            return _WIRE_VERSIONS.get(int(data, 16))
        except ValueError:
            return None
    return None


def _kx_family(suite_name):
    """Key exchange family of a TLS <= 1.2 suite name: "ecc", "ffc", "rsa" or None."""
    if not suite_name or "_WITH_" not in suite_name:
        return None
    kx = suite_name.split("_WITH_")[0]
    if kx.startswith("TLS_ECDHE_"):
        return "ecc"
    if kx.startswith("TLS_DHE_"):
        return "ffc"
    if kx in ("TLS_RSA", "TLS_RSA_PSK"):
        return "rsa"
    return None


def _kx_bits(family, length, exchange):
    """Key size in bits behind a ClientKeyExchange (see the module docstring)."""
    raw = None
    if isinstance(exchange, str):
        try:
            raw = bytes.fromhex(exchange)
        except ValueError:
            raw = None
    if family == "ecc":
        if raw and len(raw) >= 2 and raw[0] == len(raw) - 1:
            point = raw[1:]
            if len(point) in (32, 56):               # X25519 / X448
                return 255 if len(point) == 32 else 448
            if point[0] == 4:                        # uncompressed point: 04 || x || y
                return _ECC_SIZES.get(len(point), (len(point) - 1) // 2 * 8)
            return _ECC_SIZES.get(len(point))
        if _is_int(length) and length % 8 == 0:
            return _ECC_SIZES.get(length // 8)
        return None
    if raw and len(raw) >= 3 and int.from_bytes(raw[:2], "big") == len(raw) - 2:
        return (len(raw) - 2) * 8
    if _is_int(length) and length > 0:
        if length > 16 and (length - 16) % 256 == 0:
            return length - 16
        return length
    return None
