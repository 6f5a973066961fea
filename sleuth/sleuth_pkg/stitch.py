"""Stitching: merge records that are continuations of the same flow.

joy closes a long flow after ``active_timeout`` seconds and opens a new record
for its next packet; a continuation may even have ``sa``/``da`` swapped (its
first packet came from the server).  The stitcher merges such records back:

A later record B is a continuation of an earlier record A when
  * they have the same 5-tuple (``pr`` and the two address/port endpoints, in
    either order; if either record is unidirectional -- it has no ``*_in``
    counters -- the direction must be the same),
  * A did not end for good: its ``expire_type`` is not "i" (inactive timeout),
    "e" (end of input) or "c" (its TCP connection ended and B is a new one on
    the same ports),
  * B starts at or after A's end and at most ``timeout`` seconds later
    (the inactive timeout: default 10 s, or joy's ``inactive_timeout`` from
    the metadata line, or --stitch_timeout).
Merging sums ``bytes_*`` and ``num_pkts_*`` (out/in swapped when B is
reversed), appends B's ``packets`` (``dir`` flipped when reversed; the first
appended ``ipt`` re-based on A's last listed packet), keeps the earliest
``time_start`` and latest ``time_end``, takes B's ``expire_type``, adds
fields that only B has, and sets ``"stitched": N`` (records merged).  Nothing
else is ever merged.

Streaming.  Only records that may still be continued are held: those whose
``expire_type`` is "a", "r" or missing.  The stream clock ("watermark") is the
latest ``time_end`` seen.  A held record whose continuation has not arrived
when the watermark passes ``time_end + 2*inactive + active + 5`` seconds is
written out: joy writes records as they expire, so a continuation (which
starts within ``inactive`` of the end and expires within ``active +
inactive`` of its start) is written before that point.  Memory is thus
bounded by the flows active within that window.  The assumption is that the
input is in joy's output order (roughly by expiry time); concatenating
captures out of time order can leave continuations unmerged, never merges
unrelated records.

Data structures: ``self.pending`` maps a canonical 5-tuple key to the list of
held :class:`_Held` entries of that key (usually one); ``self.heap`` is a
min-heap of ``(deadline, seq, entry)`` with lazy deletion (an entry whose
deadline has moved or that was already written is skipped when popped).
"""

import heapq

_FINAL_EXPIRE = ("i", "e", "c")
_GRACE = 5.0


class _Held:
    __slots__ = ("record", "deadline", "alive")

    def __init__(self, record, deadline):
        self.record = record
        self.deadline = deadline
        self.alive = True


def flow_key(record):
    """Canonical key ``(pr, low endpoint, high endpoint)``, or None if incomplete."""
    sa = record.get("sa")
    da = record.get("da")
    if sa is None or da is None:
        return None
    sp = record.get("sp")
    dp = record.get("dp")
    a = (sa, -1 if sp is None else sp)
    b = (da, -1 if dp is None else dp)
    try:
        if a <= b:
            return (record.get("pr"), a, b)
        return (record.get("pr"), b, a)
    except TypeError:
        return None


def _is_bidirectional(record):
    return "num_pkts_in" in record or "bytes_in" in record


def _same_direction(a, b):
    return (a.get("sa") == b.get("sa") and a.get("sp") == b.get("sp")
            and a.get("da") == b.get("da") and a.get("dp") == b.get("dp"))


def _number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class Stitcher:
    """Streaming stitcher; see the module docstring."""

    def __init__(self, timeout=10.0, active_timeout=30.0, timeout_fixed=False):
        self.timeout = float(timeout)
        self.active_timeout = float(active_timeout)
        self.timeout_fixed = timeout_fixed
        self.pending = {}
        self.heap = []
        self.seq = 0
        self.watermark = float("-inf")
        self.merged = 0

    @property
    def window(self):
        return 2 * self.timeout + self.active_timeout + _GRACE

    def set_timeouts(self, metadata):
        """Take joy's timeouts from a metadata object (unless fixed on the command line)."""
        for source in [metadata] + [v for v in metadata.values() if isinstance(v, dict)]:
            inactive = source.get("inactive_timeout")
            if _number(inactive) and not self.timeout_fixed:
                self.timeout = float(inactive)
            active = source.get("active_timeout")
            if _number(active):
                self.active_timeout = float(active)

    # -- the stream -----------------------------------------------------------
    def process(self, records, observe_dns=None):
        """Generator: stitched records, each written once.

        Before a record is handled, held records whose window has closed
        (by the clock including this record's ``time_end``) are written.
        ``observe_dns``, if given, is called with every record that has a
        ``dns`` key as it is read (see dnslink; saves a pipeline stage).
        """
        final = _FINAL_EXPIRE
        pending = self.pending
        heap = self.heap
        for record in records:
            if observe_dns is not None and "dns" in record:
                observe_dns(record)
            end = record.get("time_end")
            if (type(end) is float or type(end) is int) and end > self.watermark:
                self.watermark = end
            if heap and heap[0][0] < self.watermark:
                yield from self._expired()
            if record.get("expire_type") in final:
                # Fast path: a record that ends its flow with nothing held
                # under its key is written at once (most records).
                if not pending:
                    yield record
                    continue
                key = flow_key(record)
                if key is not None and key not in pending:
                    yield record
                    continue
            yield from self.push(record)
        yield from self.flush()

    def advance(self, end):
        """Move the clock for a record dropped unparsed by the prefilter."""
        if end > self.watermark:
            self.watermark = end

    def push(self, record):
        """Take one record; return the list of records that can be written now."""
        key = flow_key(record)
        start = record.get("time_start")
        end = record.get("time_end")
        if key is None or not _number(start) or not _number(end):
            return [record]
        if end > self.watermark:
            self.watermark = end
        entries = self.pending.get(key)
        target = self._predecessor(entries, record) if entries else None
        if target is not None:
            merge(target.record, record)
            self.merged += 1
            if record.get("expire_type") in _FINAL_EXPIRE:
                self._release(key, target)
                return [target.record]
            self._schedule(target, target.record["time_end"])
            return ()
        if record.get("expire_type") in _FINAL_EXPIRE:
            return [record]
        held = _Held(record, 0.0)
        self.pending.setdefault(key, []).append(held)
        self._schedule(held, end)
        return ()

    def _expired(self):
        out = []
        self._expire(out)
        return out

    def flush(self):
        """Write out everything still held (end of input), in deadline order."""
        out = []
        while self.heap:
            deadline, _, held = heapq.heappop(self.heap)
            if held.alive and held.deadline == deadline:
                self._release(flow_key(held.record), held)
                out.append(held.record)
        return out

    # -- internals ------------------------------------------------------------
    def _predecessor(self, entries, record):
        """The held record that ``record`` continues (latest end wins), or None."""
        best = None
        start = record["time_start"]
        for held in entries:
            prev = held.record
            gap = start - prev["time_end"]
            if gap < -1e-6 or gap > self.timeout or start < prev["time_start"]:
                continue
            if not _same_direction(prev, record) and not (
                    _is_bidirectional(prev) and _is_bidirectional(record)):
                continue
            if best is None or prev["time_end"] > best.record["time_end"]:
                best = held
        return best

    def _schedule(self, held, end):
        held.deadline = end + self.window
        self.seq += 1
        heapq.heappush(self.heap, (held.deadline, self.seq, held))

    def _release(self, key, held):
        held.alive = False
        entries = self.pending.get(key)
        if entries is not None:
            try:
                entries.remove(held)
            except ValueError:
                pass
            if not entries:
                del self.pending[key]

    def _expire(self, out):
        heap = self.heap
        while heap and heap[0][0] < self.watermark:
            deadline, _, held = heapq.heappop(heap)
            if held.alive and held.deadline == deadline:
                self._release(flow_key(held.record), held)
                out.append(held.record)


# ----------------------------------------------------------------------------
# Merging two records
# ----------------------------------------------------------------------------

_COUNTERS = (("bytes_out", "bytes_in"), ("num_pkts_out", "num_pkts_in"))
_FLIP_DIR = {">": "<", "<": ">"}


def _swap_name(key):
    if key.endswith("_out"):
        return key[:-4] + "_in"
    if key.endswith("_in"):
        return key[:-3] + "_out"
    if key == "fingerprints":
        return "fingerprints_in"
    if key == "fingerprints_in":
        return "fingerprints"
    return key


def _swap_halves(value):
    if isinstance(value, dict) and ("out" in value or "in" in value):
        swapped = dict(value)
        swapped.pop("out", None)
        swapped.pop("in", None)
        if "in" in value:
            swapped["out"] = value["in"]
        if "out" in value:
            swapped["in"] = value["out"]
        return swapped
    return value


def merge(first, later):
    """Merge record ``later`` into ``first`` in place (see the module docstring)."""
    reverse = not _same_direction(first, later)
    for out_key, in_key in _COUNTERS:
        add_out = later.get(in_key if reverse else out_key)
        add_in = later.get(out_key if reverse else in_key)
        for key, add in ((out_key, add_out), (in_key, add_in)):
            if _number(add):
                base = first.get(key, 0)
                first[key] = (base if _number(base) else 0) + add
    _append_packets(first, later, reverse)
    first["time_start"] = min(first["time_start"], later["time_start"])
    first["time_end"] = max(first["time_end"], later["time_end"])
    if "expire_type" in later:
        first["expire_type"] = later["expire_type"]
    elif "expire_type" in first:
        del first["expire_type"]
    skip = {"sa", "da", "sp", "dp", "pr", "time_start", "time_end", "packets",
            "expire_type", "stitched", "bytes_out", "bytes_in", "num_pkts_out", "num_pkts_in"}
    for key, value in later.items():
        if key in skip:
            continue
        name = _swap_name(key) if reverse else key
        if name not in first:
            first[name] = _swap_halves(value) if reverse else value
    first["stitched"] = first.get("stitched", 1) + later.get("stitched", 1)


def _append_packets(first, later, reverse):
    more = later.get("packets")
    if not isinstance(more, list) or not more:
        return
    mine = first.get("packets")
    if not isinstance(mine, list):
        mine = first["packets"] = []
    appended = []
    for index, packet in enumerate(more):
        if isinstance(packet, dict):
            packet = dict(packet)
            if reverse and packet.get("dir") in _FLIP_DIR:
                packet["dir"] = _FLIP_DIR[packet["dir"]]
            if index == 0 and mine and _number(packet.get("ipt")):
                packet["ipt"] = _rebased_ipt(first, later, packet["ipt"])
        appended.append(packet)
    mine.extend(appended)


def _rebased_ipt(first, later, ipt):
    """ms from the last listed packet of ``first`` to the first one of ``later``.

    The absolute time of ``first``'s last listed packet is estimated as its
    ``time_start`` plus the sum of its ``ipt`` values (whole milliseconds).
    """
    elapsed = 0
    for packet in first.get("packets", ()):
        if isinstance(packet, dict) and _number(packet.get("ipt")):
            elapsed += packet["ipt"]
    last = first["time_start"] + elapsed / 1000.0
    arrival = later["time_start"] + ipt / 1000.0
    return max(0, int(round((arrival - last) * 1000.0)))
