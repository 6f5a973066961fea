"""DNS linking: ``linked_dns`` on flows whose destination was a DNS answer.

Every record with a ``dns`` array is *observed* as it is read: each A/AAAA
answer (``{"a": addr}`` / ``{"aaaa": addr}`` in a message's ``rr`` list) is
remembered as ``address -> answers``.  Every non-DNS record is *linked* when
it is written: if its ``da`` was answered by a DNS exchange that started no
later than the flow did, the record gets::

    "linked_dns": {"name": <queried name>, "server": <DNS server address>,
                   "client": <address that asked>, "time": <DNS flow time_start>,
                   "ttl": <answer TTL, if given>}

When several exchanges answered the address, the latest one before the flow
wins, preferring one asked by the flow's own ``sa``.

The DNS server is the side using port 53/5353/5355 (the original sleuth took
the flow's ``da``, which named the client for joy's reversed DNS records).
Records marked as coming from a non-answer section (an ``rr`` element with
``"section"``/``"sec"`` other than an answer) are skipped.

Memory: ``answers`` keeps at most ``KEEP`` answers per address and at most
``max_addresses`` addresses (the oldest address is forgotten first).  Linking
happens when a record is written, which with stitching is after the
stitching window, so a DNS record that joy wrote shortly after the flow still
links; with --no_stitch only DNS records read before the flow do.
"""

DNS_PORTS = (53, 5353, 5355)
KEEP = 4
_ANSWER_SECTIONS = ("an", "ans", "answer", "answers")


class DnsLinker:
    """Collects DNS answers (``observe``) and annotates flows (``link``)."""

    def __init__(self, max_addresses=1000000):
        self.max_addresses = max_addresses
        # address -> list of (time_start, name, server, client, ttl), oldest first
        self.answers = {}

    def observe(self, record):
        """Remember the A/AAAA answers of a DNS record (any other record is ignored)."""
        messages = record.get("dns")
        if type(messages) is not list:
            return
        start = record.get("time_start")
        if not isinstance(start, (int, float)):
            return
        server, client = _dns_roles(record)
        for message in messages:
            if type(message) is not dict:
                continue
            name = message.get("rn") or message.get("qn")
            records = message.get("rr")
            if type(records) is not list:
                continue
            for rr in records:
                if type(rr) is not dict:
                    continue
                address = rr.get("a") or rr.get("aaaa")
                if type(address) is not str:
                    continue
                section = rr.get("section", rr.get("sec"))
                if section is not None and str(section).lower() not in _ANSWER_SECTIONS:
                    continue
                self._remember(address, (start, name, server, client, rr.get("ttl")))

    def _remember(self, address, entry):
        entries = self.answers.get(address)
        if entries is None:
            if len(self.answers) >= self.max_addresses:
                del self.answers[next(iter(self.answers))]
            self.answers[address] = [entry]
            return
        entries.append(entry)
        if len(entries) > KEEP:
            del entries[0]

    def link(self, record):
        """Add ``linked_dns`` to a non-DNS record whose ``da`` was answered; returns the record."""
        if not self.answers or "dns" in record:
            return record
        entries = self.answers.get(record.get("da"))
        if not entries:
            return record
        start = record.get("time_start")
        if not isinstance(start, (int, float)):
            return record
        best = None
        sa = record.get("sa")
        for entry in entries:
            if entry[0] > start:
                continue
            if best is None or (entry[3] == sa, entry[0]) >= (best[3] == sa, best[0]):
                best = entry
        if best is None:
            return record
        linked = {"name": best[1], "server": best[2], "client": best[3], "time": best[0]}
        if best[4] is not None:
            linked["ttl"] = best[4]
        record["linked_dns"] = linked
        return record


def _dns_roles(record):
    """(server, client) addresses of a DNS record, judged by the DNS port."""
    sa, da = record.get("sa"), record.get("da")
    if record.get("sp") in DNS_PORTS and record.get("dp") not in DNS_PORTS:
        return sa, da
    return da, sa
