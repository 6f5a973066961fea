"""IP address helpers for the query language.

Addresses are compared as integers: ``addr_key(text)`` turns an IPv4 or IPv6
address string into a ``(family_bits, integer)`` pair (32 or 128 bits), so
that ``2001:db8::1`` and ``2001:0db8:0:0:0:0:0:1`` compare equal and a CIDR
prefix test is two shifts.  Parsing uses ``socket.inet_pton`` (implemented in
C) and a bounded cache, because the same few addresses recur in flow data.
"""

import ipaddress
import socket

_CACHE = {}
_CACHE_MAX = 65536


def addr_key(text):
    """Return ``(bits, int)`` for an address string, or None if it is not one.

    A zone suffix (``fe80::1%eth0``) is ignored.  Results are cached.
    """
    try:
        return _CACHE[text]
    except KeyError:
        pass
    except TypeError:          # unhashable: not a string
        return None
    key = _parse(text)
    if len(_CACHE) >= _CACHE_MAX:
        _CACHE.clear()
    _CACHE[text] = key
    return key


def _parse(text):
    if not isinstance(text, str):
        return None
    addr = text.split("%", 1)[0]
    try:
        if ":" in addr:
            return (128, int.from_bytes(socket.inet_pton(socket.AF_INET6, addr), "big"))
        if "." in addr:
            return (32, int.from_bytes(socket.inet_pton(socket.AF_INET, addr), "big"))
    except (OSError, ValueError):
        return None
    return None


def parse_address_literal(text):
    """Parse a query value as an address: ``(bits, int)`` or None.

    Stricter than :func:`addr_key` (uses :mod:`ipaddress`), so that values such
    as ``1.5`` are not mistaken for addresses.
    """
    try:
        ip = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None
    return (ip.max_prefixlen, int(ip))


def parse_network_literal(text):
    """Parse ``addr/len`` as a network: ``(bits, prefixlen, int)`` or None.

    Host bits set in the address are ignored (``10.1.2.3/8`` means 10.0.0.0/8).
    """
    if "/" not in text:
        return None
    try:
        net = ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None
    return (net.max_prefixlen, net.prefixlen, int(net.network_address))


def make_network_test(network):
    """Return ``test(text) -> bool`` telling whether an address string is in ``network``."""
    bits, plen, base = network
    shift = bits - plen
    want = base >> shift

    def in_network(text):
        key = addr_key(text)
        return key is not None and key[0] == bits and (key[1] >> shift) == want

    return in_network
