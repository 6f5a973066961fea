"""Raw-line prefilter: skip parsing lines that cannot match --where.

Parsing JSON is most of sleuth's cost, and most queries name a port or a
protocol.  A record can only satisfy ``dp=443`` if the text ``443`` occurs in
its line, however the number is spelled in JSON (``443``, ``443.0``,
``"443"``).  So when the query *requires* such an integer equality on one of
the 5-tuple keys ``pr``, ``sp``, ``dp`` (the whole query is true only if it
holds), a line without that text is dropped before it is parsed.

Why this never changes the result:

  * only ``pr``/``sp``/``dp`` equalities are used: stitching merges records
    of the same 5-tuple only (``sp``/``dp`` exchanged at most), so a merged
    flow satisfies such a condition exactly when each of its records' lines
    contains the text; dropping one of them drops a flow that --where would
    have dropped anyway;
  * lines with a ``"dns"`` key are always parsed (DNS answers are remembered
    from every record), and the ``time_end`` of a dropped line still moves the
    stitching clock, so held records are written at the same points;
  * requirements are combined soundly: for ``A,B`` a line must meet those of
    A and of B; for ``A|B`` those of A or of B, and none if either has none.

What it does change: a dropped line is only checked for the structure of one
JSON object (see :func:`_looks_whole`: truncated lines, glued records,
non-ASCII bytes and garbage are caught and reported as usual), not fully parsed, so an error such as a missing value inside an
otherwise well-formed line goes unreported.  Numbers written with an exponent
(``4.43e2``) would not be recognised; joy never writes them.  ``--strict``
turns the prefilter off.
"""

import re

from .query import BoolOp, Pred, parse_where, _number

PREFILTER_KEYS = ("pr", "sp", "dp")
_TIME_END = re.compile(rb'"time_end":(-?[0-9.]+)')
_INTEGER = re.compile(r"-?\d+\Z")


def requirement(node):
    """``need(line) -> bool`` that every line of a matching record meets, or None."""
    if isinstance(node, Pred):
        value = node.value
        if (node.op == "=" and len(node.path) == 1 and node.path[0] in PREFILTER_KEYS
                and value.regex is None and not value.quoted and _INTEGER.match(value.text)):
            token = str(_number(value.text)).encode("ascii")
            return lambda line: token in line
        return None
    if isinstance(node, BoolOp):
        parts = [requirement(item) for item in node.items]
        if node.kind == "and":
            parts = [p for p in parts if p is not None]
            if not parts:
                return None
            if len(parts) == 1:
                return parts[0]
            return lambda line: all(p(line) for p in parts)
        if any(p is None for p in parts):
            return None
        return lambda line: any(p(line) for p in parts)
    return None


def _looks_whole(line):
    """Cheap structural check that a line is one complete JSON object.

    ASCII only (so valid UTF-8: joy escapes everything else), ``{`` first and
    ``}`` last (not truncated, not garbage), no ``}{`` (two records glued
    together).  A line failing it may still be valid JSON: it is then simply
    parsed.  (Counting brackets and quotes as well would cost as much as the
    parse this is meant to save.)
    """
    body = line.rstrip()
    return (body.isascii() and body.startswith(b"{") and body.endswith(b"}")
            and b"}{" not in body)


def make_prefilter(where_text, stitcher=None):
    """Return ``keep(raw line) -> bool`` for the reader, or None when it cannot help."""
    need = requirement(parse_where(where_text))
    if need is None:
        return None
    advance = stitcher.advance if stitcher is not None else None
    time_end = _TIME_END.search

    def keep(line):
        if need(line) or b'"dns"' in line:
            return True
        if not _looks_whole(line):
            return True                        # parse it, so that it is reported
        if advance is not None:
            found = time_end(line)
            if found is not None:
                try:
                    advance(float(found.group(1)))
                except ValueError:
                    return True
        return False

    return keep
