#!/usr/bin/env python3
"""Build sleuth's --tls_sec policy file (sleuth_pkg/data/tls_policy.json).

Usage:  python3 sleuth/tools/build_tls_policy.py [OUTPUT]

The cipher suite *names* (code -> IANA name) are read from the local
Wireshark dissector table (``tshark -G values``, field
``tls.handshake.ciphersuite``), so the list covers every registered suite
without typing them in by hand.  The *classification* is made by the rules
below, applied in order to each name; every rule states its source.  All
other tables of the policy (versions, groups, signature algorithms, key
sizes) are written out from this file as they are.  Re-run this script after
editing a rule.

Classes, best first: recommended > acceptable > legacy > avoid.
"""

import datetime
import json
import re
import subprocess
import sys

SOURCES = {
    "IANA": "IANA 'Transport Layer Security (TLS) Parameters' registry, TLS Cipher Suites, "
            "'Recommended' column as defined by RFC 8447 (value Y); the 24 suites marked Y are "
            "listed in IANA_RECOMMENDED below",
    "RFC9325": "RFC 9325 (BCP 195, 2022), Recommendations for Secure Use of TLS and DTLS: "
               "sec. 4.1 (no NULL, RC4, 40/56-bit, anonymous suites; SHOULD NOT use static RSA or "
               "finite-field DHE key exchange), sec. 4.2 (recommended TLS 1.2 suites: ECDHE with "
               "AES-GCM)",
    "SP800-52r2": "NIST SP 800-52 Rev. 2 (2019), Guidelines for the Selection, Configuration, and "
                  "Use of TLS Implementations: sec. 3.1 (TLS 1.2 required, TLS 1.3 to be "
                  "supported, "
                  "TLS 1.0/1.1 and SSL not to be used), sec. 3.3.1 (approved TLS 1.2 suites: "
                  "ECDHE/DHE with AES-GCM, AES-CCM, AES-CBC; TLS 1.3 suites with AES)",
    "SP800-131Ar2": "NIST SP 800-131A Rev. 2 (2019), Transitioning the Use of Cryptographic "
                    "Algorithms and Key Lengths: at least 112-bit security; SHA-1 disallowed for "
                    "digital signature generation; three-key TDEA disallowed for encryption after "
                    "2023; RSA key transport with PKCS#1 v1.5 padding disallowed after 2023",
    "SP800-57p1r5": "NIST SP 800-57 Part 1 Rev. 5 (2020), Table 2: security strength of key sizes "
                    "(RSA/FFC 2048 = 112 bits, 3072 = 128; ECC 224-255 = 112, 256-383 = 128, "
                    "384-511 = 192, 512+ = 256)",
    "RFC7465": "RFC 7465: prohibiting RC4 cipher suites",
    "RFC8996": "RFC 8996: deprecating TLS 1.0 and TLS 1.1",
    "RFC7568": "RFC 7568: deprecating SSL 3.0; RFC 6176: prohibiting SSL 2.0",
    "RFC8446": "RFC 8446: TLS 1.3 (removes static RSA/DH key exchange, non-AEAD ciphers)",
    "RFC8701": "RFC 8701: GREASE values (not real cipher suites)",
    "RFC5746": "RFC 5746 / RFC 7507: signalling cipher suite values (not real cipher suites)",
    "DEPRECATE-KEX": "draft-ietf-tls-deprecate-obsolete-kex: deprecates RSA key exchange and "
                     "finite-field DHE in TLS 1.2, discourages static ECDH",
    "sleuth": "sleuth's own reading where the sources above are silent (stated in 'reason')",
}

# TLS Cipher Suites marked Recommended = Y (RFC 8447 column) in the IANA registry.
IANA_RECOMMENDED = {
    0x009e, 0x009f, 0x00aa, 0x00ab,                  # DHE_RSA/DHE_PSK AES-GCM
    0x1301, 0x1302, 0x1303, 0x1304,                  # TLS 1.3 (not 1305 CCM_8)
    0xc02b, 0xc02c, 0xc02f, 0xc030,                  # ECDHE AES-GCM
    0xc09e, 0xc09f, 0xc0a6, 0xc0a7,                  # DHE_RSA/DHE_PSK AES-CCM
    0xcca8, 0xcca9, 0xccaa, 0xccac, 0xccad,          # ChaCha20-Poly1305
    0xd001, 0xd002, 0xd005,                          # ECDHE_PSK AES-GCM/CCM
}

# Rules for cipher suites: (regex on the IANA name, class, reason, sources).
# The first rule whose pattern matches decides; IANA_RECOMMENDED is looked at
# after the "avoid" rules.
AVOID_RULES = [
    (r"_NULL_|WITH_NULL|_NULL$", "no encryption (NULL)", ["RFC9325"]),
    (r"_anon_", "anonymous key exchange: no server authentication", ["RFC9325"]),
    (r"EXPORT", "export-grade (40/56-bit) keys", ["RFC9325"]),
    (r"RC4", "RC4 is prohibited", ["RFC7465"]),
    (r"_DES40_|_DES_CBC_|_DES_CBC40_|WITH_DES_", "single DES (56-bit)",
     ["RFC9325", "SP800-131Ar2"]),
    (r"3DES|DES_EDE", "triple DES: 64-bit block (Sweet32), disallowed for encryption after 2023",
     ["SP800-131Ar2"]),
    (r"_RC2_", "RC2", ["RFC9325"]),
    (r"_IDEA_", "IDEA: 64-bit block cipher, not approved", ["SP800-52r2"]),
    (r"_MD5$", "HMAC-MD5 record protection", ["SP800-52r2"]),
    (r"FORTEZZA", "FORTEZZA suites (SSL 3.0 only)", ["RFC7568"]),
    (r"^TLS_KRB5_", "Kerberos suites (DES/3DES/RC4/IDEA only)", ["RFC9325"]),
]

# After the avoid rules and the IANA list:
OTHER_RULES = [
    (r"^TLS_AES_128_CCM_8_SHA256$", "acceptable",
     "TLS 1.3 AES-CCM with 8-byte tag: approved, but not IANA-recommended",
     ["SP800-52r2", "IANA"]),
    (r"^TLS_SM4_", "legacy", "TLS 1.3 SM4 suites: national algorithm, not IANA-recommended",
     ["IANA", "sleuth"]),
    (r"^TLS_ECDHE_(ECDSA|RSA)_WITH_AES_(128|256)_(CBC|CCM)", "acceptable",
     "ephemeral ECDH with AES-CBC or AES-CCM: approved for TLS 1.2 (CBC MAC-then-encrypt "
     "is weaker than AEAD)", ["SP800-52r2"]),
    (r"^TLS_DHE_(RSA|DSS)_WITH_AES_(128|256)_(GCM|CCM|CBC)", "legacy",
     "finite-field DHE: approved in 2019, now discouraged", ["SP800-52r2", "RFC9325",
                                                              "DEPRECATE-KEX"]),
    (r"^TLS_ECDHE_PSK_WITH_AES_(128|256)_(CBC|CCM|GCM)", "acceptable",
     "ephemeral ECDH with PSK and AES", ["sleuth"]),
    (r"^TLS_ECDHE_\w+_WITH_(CAMELLIA|ARIA|SEED)_", "legacy",
     "ephemeral ECDH, but a cipher not approved by NIST and not IANA-recommended",
     ["SP800-52r2", "IANA"]),
    (r"^TLS_RSA_WITH_|^TLS_RSA_PSK_", "legacy",
     "RSA key transport: no forward secrecy; PKCS#1 v1.5 key transport disallowed after 2023",
     ["RFC9325", "SP800-131Ar2", "DEPRECATE-KEX", "RFC8446"]),
    (r"^TLS_(DH|ECDH)_(RSA|DSS|ECDSA)_", "legacy",
     "static (EC)DH key exchange: no forward secrecy", ["RFC9325", "DEPRECATE-KEX"]),
    (r"^TLS_DHE_", "legacy", "finite-field DHE key exchange: discouraged",
     ["RFC9325", "DEPRECATE-KEX"]),
    (r"^TLS_(PSK|SRP|ECCPWD|GOSTR|SHA256_SHA256|SHA384_SHA384)", "legacy",
     "pre-shared-key, SRP, password or GOST suites without ephemeral key exchange or with "
     "non-approved algorithms", ["sleuth"]),
    (r".", "legacy", "not covered by the recommendations above", ["sleuth"]),
]

VERSIONS = {
    "SSLv2": ["avoid", "SSL 2.0 is prohibited", ["RFC7568"]],
    "SSLv3": ["avoid", "SSL 3.0 is deprecated", ["RFC7568"]],
    "TLS1.0": ["avoid", "TLS 1.0 is deprecated", ["RFC8996", "SP800-52r2"]],
    "TLS1.1": ["avoid", "TLS 1.1 is deprecated", ["RFC8996", "SP800-52r2"]],
    "TLS1.2": ["acceptable", "TLS 1.2 is required to be supported", ["SP800-52r2", "RFC9325"]],
    "TLS1.3": ["recommended", "TLS 1.3 should be supported", ["SP800-52r2", "RFC9325"]],
}

# Named groups (key exchange in TLS 1.3, and ECDHE/FFDHE in TLS 1.2):
# code -> [name, security strength in bits (SP 800-57), class, reason]
GROUPS = {
    "0013": ["secp192r1", 96, "avoid", "below 112-bit security"],
    "0015": ["secp224r1", 112, "acceptable", "112-bit security"],
    "0016": ["secp256k1", 128, "legacy", "not a NIST or IANA-recommended curve"],
    "0017": ["secp256r1", 128, "recommended", "128-bit security"],
    "0018": ["secp384r1", 192, "recommended", "192-bit security"],
    "0019": ["secp521r1", 256, "recommended", "256-bit security"],
    "001a": ["brainpoolP256r1", 128, "legacy", "not IANA-recommended for TLS 1.2/1.3"],
    "001b": ["brainpoolP384r1", 192, "legacy", "not IANA-recommended for TLS 1.2/1.3"],
    "001c": ["brainpoolP512r1", 256, "legacy", "not IANA-recommended for TLS 1.2/1.3"],
    "001d": ["x25519", 128, "recommended", "128-bit security"],
    "001e": ["x448", 224, "recommended", "224-bit security"],
    "0100": ["ffdhe2048", 112, "acceptable", "finite-field group, 112-bit security"],
    "0101": ["ffdhe3072", 128, "acceptable", "finite-field group, 128-bit security"],
    "0102": ["ffdhe4096", 152, "acceptable", "finite-field group"],
    "0103": ["ffdhe6144", 176, "acceptable", "finite-field group"],
    "0104": ["ffdhe8192", 192, "acceptable", "finite-field group"],
    "11eb": ["SecP256r1MLKEM768", 128, "recommended", "hybrid post-quantum key agreement"],
    "11ec": ["X25519MLKEM768", 128, "recommended", "hybrid post-quantum key agreement"],
    "11ed": ["SecP384r1MLKEM1024", 192, "recommended", "hybrid post-quantum key agreement"],
    "6399": ["X25519Kyber768Draft00", 128, "acceptable", "pre-standard hybrid (draft code point)"],
}

# Thresholds on security strength (bits) for key exchange and certificate keys.
STRENGTH = [[128, "recommended"], [112, "acceptable"], [0, "avoid"]]
STRENGTH_NOTE = "at least 112-bit security is required, 128-bit preferred (SP800-131Ar2, " \
                "SP800-57p1r5)"

# Certificate signature algorithms (OpenSSL names as joy prints them).
SIGNATURE_ALGORITHMS = {
    "sha256WithRSAEncryption": "recommended", "sha384WithRSAEncryption": "recommended",
    "sha512WithRSAEncryption": "recommended", "rsassaPss": "recommended",
    "RSASSA-PSS": "recommended", "ecdsa-with-SHA256": "recommended",
    "ecdsa-with-SHA384": "recommended", "ecdsa-with-SHA512": "recommended",
    "ED25519": "recommended", "ED448": "recommended",
    "sha224WithRSAEncryption": "acceptable", "ecdsa-with-SHA224": "acceptable",
    "dsa_with_SHA256": "legacy", "dsa_with_SHA224": "legacy",
    "sha1WithRSAEncryption": "avoid", "ecdsa-with-SHA1": "avoid", "dsaWithSHA1": "avoid",
    "shaWithRSAEncryption": "avoid", "md5WithRSAEncryption": "avoid",
    "md4WithRSAEncryption": "avoid", "md2WithRSAEncryption": "avoid",
}
SIGNATURE_NOTE = "SHA-1 and MD5 signatures are disallowed (SP800-131Ar2); SHA-2, RSA-PSS and " \
                 "EdDSA are recommended (SP800-52r2 sec. 3.5)"

# Public key algorithm -> family used to turn a key size into a strength.
KEY_FAMILIES = {
    "rsaEncryption": "rsa", "rsassaPss": "rsa", "RSASSA-PSS": "rsa", "dsaEncryption": "ffc",
    "dhpublicnumber": "ffc", "id-ecPublicKey": "ecc", "ED25519": "ecc", "ED448": "ecc",
    "X25519": "ecc", "X448": "ecc",
}
# Strength tables: [[min key bits, strength bits], ...] (SP 800-57 Part 1 Table 2).
KEY_STRENGTH = {
    "rsa": [[15360, 256], [7680, 192], [3072, 128], [2048, 112], [1024, 80], [0, 0]],
    "ffc": [[15360, 256], [7680, 192], [3072, 128], [2048, 112], [1024, 80], [0, 0]],
    "ecc": [[512, 256], [384, 192], [255, 128], [224, 112], [160, 80], [0, 0]],
}


def suite_names():
    """code -> name from tshark's TLS dissector tables."""
    out = subprocess.run(["tshark", "-G", "values"], capture_output=True, text=True,
                         check=True).stdout
    names = {}
    for line in out.splitlines():
        parts = line.split("\t")
        if len(parts) >= 4 and parts[0] == "V" and parts[1] == "tls.handshake.ciphersuite":
            names[int(parts[2])] = parts[3]
    return names


def tshark_version():
    out = subprocess.run(["tshark", "--version"], capture_output=True, text=True).stdout
    return out.splitlines()[0] if out else "unknown"


def classify_suite(code, name):
    """Return (class, reason, sources) for one suite, or None for non-suites."""
    if (code & 0x0f0f) == 0x0a0a and (code >> 8) == (code & 0xff):
        return None                                     # GREASE
    if code in (0x00ff, 0x5600) or name.endswith("_SCSV"):
        return None                                     # signalling values
    if name in ("Reserved", "Unassigned") or not re.match(r"^(TLS|SSL)_", name):
        return None
    for pattern, reason, sources in AVOID_RULES:
        if re.search(pattern, name):
            return "avoid", reason, sources
    if code in IANA_RECOMMENDED:
        if name.startswith("TLS_DHE_"):
            return ("acceptable", "IANA-recommended, but finite-field DHE is now discouraged",
                    ["IANA", "RFC9325", "DEPRECATE-KEX"])
        return "recommended", "IANA-recommended AEAD suite with forward secrecy", ["IANA"]
    for pattern, klass, reason, sources in OTHER_RULES:
        if re.search(pattern, name):
            return klass, reason, sources
    return "legacy", "unclassified", ["sleuth"]


def build():
    suites = {}
    for code, name in sorted(suite_names().items()):
        result = classify_suite(code, name)
        if result is None:
            continue
        klass, reason, sources = result
        suites["%04x" % code] = {"name": name, "class": klass, "reason": reason,
                                 "sources": sources}
    return {
        "format": "sleuth-tls-policy",
        "format_version": 1,
        "description": "Classes for --tls_sec, best first. Each table entry says which sources "
                       "it rests on (keys of 'sources'). Built by sleuth/tools/"
                       "build_tls_policy.py; see sleuth_pkg/data/README.md.",
        "generated": {"date": datetime.date.today().isoformat(),
                      "suite_names_from": tshark_version() + " (tshark -G values)"},
        "classes": ["recommended", "acceptable", "legacy", "avoid"],
        "sources": SOURCES,
        "versions": {k: {"class": v[0], "reason": v[1], "sources": v[2]}
                     for k, v in VERSIONS.items()},
        "strength_classes": {"thresholds": STRENGTH, "reason": STRENGTH_NOTE,
                             "sources": ["SP800-131Ar2", "SP800-57p1r5"]},
        "key_strength": KEY_STRENGTH,
        "key_families": KEY_FAMILIES,
        "groups": {k: {"name": v[0], "strength": v[1], "class": v[2], "reason": v[3]}
                   for k, v in GROUPS.items()},
        "signature_algorithms": {"classes": SIGNATURE_ALGORITHMS, "reason": SIGNATURE_NOTE,
                                 "sources": ["SP800-131Ar2", "SP800-52r2"]},
        "cipher_suites": suites,
    }


def main(argv):
    output = argv[1] if len(argv) > 1 else None
    policy = build()
    text = json.dumps(policy, indent=1, sort_keys=False) + "\n"
    if output:
        with open(output, "w") as handle:
            handle.write(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
