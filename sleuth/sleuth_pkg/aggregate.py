"""Aggregations: --dist, --groupby, --sum, --count and --stats.

Every aggregator has ``add(record)`` and ``results()`` (a list of output
objects).  Memory is one entry per group or distinct value, never one per
record:

  Dist     distinct (projected) objects -> [count, object]
  Sum      one running total per summed path (+ the fields that stayed constant)
  GroupBy  group key -> (group fields, an inner Count / Sum / Dist)
  Stats    counters per address, per (protocol, port) and per protocol

Keys of groups and distinct objects are their canonical JSON text
(``sort_keys``), so lists and nested objects can be grouped on.
"""

import json

from .paths import walk

_KEY = json.JSONEncoder(sort_keys=True, separators=(",", ":"), check_circular=False).encode


def _is_number(value):
    kind = type(value)
    return kind is int or kind is float


class Count:
    """Counts records (used alone by --groupby)."""

    def __init__(self):
        self.count = 0

    def add(self, record):
        self.count += 1

    def results(self):
        return [{"count": self.count}]


class Dist:
    """--dist: count identical objects; results sorted by count, then first appearance."""

    def __init__(self, project=None):
        self.project = project
        self.entries = {}
        self.total = 0

    def add(self, record):
        obj = self.project(record) if self.project else record
        self.total += 1
        key = _KEY(obj)
        entry = self.entries.get(key)
        if entry is None:
            self.entries[key] = [1, obj]
        else:
            entry[0] += 1

    def results(self):
        ordered = sorted(self.entries.values(), key=lambda e: -e[0])   # stable: first seen
        out = []
        for count, obj in ordered:
            item = {"count": count, "total": self.total}
            for key, value in obj.items():
                if key not in item:
                    item[key] = value
            out.append(item)
        return out


class Sum:
    """--sum: add up numbers (and numeric arrays element by element) at given paths.

    ``paths`` are leaf paths; numbers reached through arrays are all added.
    ``project`` (from --select) gives fields reported when they had the same
    value in every record summed.
    """

    def __init__(self, paths, project=None):
        self.paths = [tuple(p) for p in paths]
        self.project = project
        self.sums = {p: None for p in self.paths}
        self.count = 0
        self.constant = None

    def add(self, record):
        self.count += 1
        for path in self.paths:
            self.sums[path] = _accumulate(self.sums[path], _value_at(record, path))
        if self.project is not None:
            obj = self.project(record)
            if self.constant is None:
                self.constant = dict(obj)
            else:
                for key in list(self.constant):
                    if key not in obj or obj[key] != self.constant[key]:
                        del self.constant[key]

    def results(self):
        out = {}
        if self.constant:
            out.update(self.constant)
        for path in self.paths:
            _set_path(out, path, 0 if self.sums[path] is None else self.sums[path])
        out["count"] = self.count
        return [out]


def _value_at(record, path):
    """The value at ``path`` through objects.

    If an array is met on the way (``packets[{b}]``), the numbers reached
    through it are added up into one number; a numeric array at the end of the
    path (``byte_dist``) is returned as it is, to be summed element by element.
    """
    value = record
    for index, key in enumerate(path):
        if type(value) is dict:
            value = value.get(key)
        elif type(value) is list:
            leaves = [leaf for leaf in walk(value, path[index:]) if _is_number(leaf)]
            return sum(leaves) if leaves else None
        else:
            return None
    return value


def _accumulate(total, value):
    if _is_number(value):
        if total is None:
            return value
        if type(total) is list:
            return total          # the path held arrays before: numbers cannot be added in
        return total + value
    if type(value) is list and value and all(_is_number(v) for v in value):
        if total is None:
            return list(value)
        if type(total) is list:
            if len(total) < len(value):
                total.extend([0] * (len(value) - len(total)))
            for index, item in enumerate(value):
                total[index] += item
            return total
        return total + sum(value)
    return total


def _set_path(out, path, value):
    node = out
    for key in path[:-1]:
        child = node.get(key)
        if type(child) is not dict:
            child = node[key] = {}
        node = child
    node[path[-1]] = value


class GroupBy:
    """--groupby: one inner aggregator per distinct value of the group fields."""

    def __init__(self, project, make_inner, kind):
        self.project = project
        self.make_inner = make_inner
        self.kind = kind           # "count", "sum" or "dist"
        self.groups = {}

    def add(self, record):
        obj = self.project(record)
        key = _KEY(obj)
        group = self.groups.get(key)
        if group is None:
            group = self.groups[key] = [obj, self.make_inner(), 0]
        group[1].add(record)
        group[2] += 1

    def results(self):
        ordered = sorted(self.groups.values(), key=lambda g: -g[2])
        out = []
        for obj, inner, _ in ordered:
            for item in inner.results():
                merged = dict(obj)
                for key, value in item.items():
                    if key not in merged or key in ("count", "total"):
                        merged[key] = value
                out.append(merged)
        return out


class Stats:
    """--stats: one summary object over all records."""

    def __init__(self, top=10):
        self.top = top
        self.flows = 0
        self.bytes_out = self.bytes_in = 0
        self.pkts_out = self.pkts_in = 0
        self.first = self.last = None
        self.protocols = {}      # pr -> [flows, bytes, packets]
        self.talkers = {}        # address -> [bytes, flows]
        self.ports = {}          # (pr, dp) -> [flows, bytes]
        self.stitched = 0

    def add(self, record):
        self.flows += 1
        b_out = _num(record.get("bytes_out"))
        b_in = _num(record.get("bytes_in"))
        p_out = _num(record.get("num_pkts_out"))
        p_in = _num(record.get("num_pkts_in"))
        self.bytes_out += b_out
        self.bytes_in += b_in
        self.pkts_out += p_out
        self.pkts_in += p_in
        total = b_out + b_in
        start, end = record.get("time_start"), record.get("time_end")
        if _is_number(start) and (self.first is None or start < self.first):
            self.first = start
        if _is_number(end) and (self.last is None or end > self.last):
            self.last = end
        proto = record.get("pr")
        entry = self.protocols.get(proto)
        if entry is None:
            entry = self.protocols[proto] = [0, 0, 0]
        entry[0] += 1
        entry[1] += total
        entry[2] += p_out + p_in
        for address in (record.get("sa"), record.get("da")):
            if isinstance(address, str):
                talker = self.talkers.get(address)
                if talker is None:
                    talker = self.talkers[address] = [0, 0]
                talker[0] += total
                talker[1] += 1
        port = record.get("dp")
        if _is_number(port):
            key = (proto, port)
            entry = self.ports.get(key)
            if entry is None:
                entry = self.ports[key] = [0, 0]
            entry[0] += 1
            entry[1] += total
        if record.get("stitched"):
            self.stitched += 1

    def results(self):
        talkers = sorted(self.talkers.items(), key=lambda kv: (-kv[1][0], -kv[1][1], kv[0]))
        ports = sorted(self.ports.items(), key=lambda kv: (-kv[1][0], -kv[1][1],
                                                          str(kv[0][0]), kv[0][1]))
        protocols = sorted(self.protocols.items(), key=lambda kv: (-kv[1][0], str(kv[0])))
        return [{
            "flows": self.flows,
            "stitched_flows": self.stitched,
            "bytes": {"out": self.bytes_out, "in": self.bytes_in,
                      "total": self.bytes_out + self.bytes_in},
            "packets": {"out": self.pkts_out, "in": self.pkts_in,
                        "total": self.pkts_out + self.pkts_in},
            "time": {"first": self.first, "last": self.last,
                     "duration": (round(self.last - self.first, 6)
                                  if self.first is not None and self.last is not None else None)},
            "protocols": [{"pr": pr, "name": PROTOCOL_NAMES.get(pr, str(pr)), "flows": v[0],
                           "bytes": v[1], "packets": v[2]} for pr, v in protocols],
            "top_talkers": [{"addr": addr, "bytes": v[0], "flows": v[1]}
                            for addr, v in talkers[:self.top]],
            "top_ports": [{"pr": key[0], "dp": key[1], "flows": v[0], "bytes": v[1]}
                          for key, v in ports[:self.top]],
        }]


def _num(value):
    return value if _is_number(value) else 0


PROTOCOL_NAMES = {1: "icmp", 2: "igmp", 6: "tcp", 17: "udp", 41: "ipv6", 47: "gre", 50: "esp",
                  51: "ah", 58: "icmpv6", 89: "ospf", 103: "pim", 112: "vrrp", 132: "sctp",
                  None: "unknown"}
