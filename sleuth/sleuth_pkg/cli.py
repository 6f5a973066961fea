"""Command line and pipeline of sleuth.

Pipeline, per record (each stage is a generator; nothing is buffered except
what stitching must hold)::

    [prefilter on raw lines] -> read (reader) -> remember DNS answers (dnslink.observe) -> stitch
      -> linked_dns (dnslink.link) -> tls_sec -> inferences (fingerprint)
      -> --where -> --select -> writer (JSON / CSV / TSV / --count)
                                or aggregator (--dist / --groupby / --sum / --stats)

--where runs after stitching and enrichment, so it sees whole flows and can
test the added fields (``tls_sec{classification}=avoid``, ``linked_dns=*``).

Exit status: 0 success, 1 an input could not be read completely (damaged
file, joy failed or missing), 2 bad command line, query or data file.
Unparseable lines are reported but do not change the exit status.
"""

import argparse
import gc
import os
import re
import sys

from . import __version__
from .aggregate import Count, Dist, GroupBy, Stats, Sum
from .dnslink import DnsLinker
from .errors import SleuthError, UsageError
from .output import CountWriter, JsonWriter, TableWriter
from .prefilter import make_prefilter
from .projection import compile_normalize, compile_projection, leaf_paths, parse_spec
from .query import compile_where
from .reader import InputReader
from .stitch import Stitcher

DEFAULT_COLUMNS = ("sa", "da", "pr", "sp", "dp", "bytes_out", "num_pkts_out", "bytes_in",
                   "num_pkts_in", "time_start", "time_end")

DESCRIPTION = """\
Query the JSON Lines flow records written by joy: filter them (--where), keep
the fields you want (--select), count and sum them (--dist, --groupby, --sum,
--count, --stats), write JSON, CSV or TSV.  Inputs are files or standard input
(no file, or "-"): plain, gzip, bzip2 or xz JSON Lines, or pcap/pcapng captures,
which are run through joy first.  Successive records of one flow that joy split
at its active timeout are merged (stitched) unless --no_stitch is given.
"""

EPILOG = """\
query language (--where):
  field=value          equal (numbers numerically, IP addresses as addresses)
  field~value          not equal (also !=); for arrays: no element equals value
  field>N field<N field>=N field<=N
  field=*  field~*     field present / absent
  wildcards            * and ? in values: tls{sni}=*.example.com  (\\* is a literal *)
  CIDR                 da=10.0.0.0/8  sa=2001:db8::/32
  nesting              tls{scs}=c02b  or  tls.scs=c02b; arrays match if any element
                       does: packets[{b}]>1000, tls{cs[]}=c02b
  one element          packets[{b>1000,dir=">"}]: the same element satisfies both
  A,B  A|B  (A)  !A    and, or, grouping, not; "|" binds tighter than ","
  "quoted value"       literal string (for blanks or , | ( ) { } [ ] in values)

examples:
  joy tls=1 -r x.pcap -w - | sleuth --where 'dp=443,tls{sni}=*.example.com' --select 'sa,da,tls{sni,scs}'
  sleuth flows.json.gz --select dp --dist
  sleuth flows.json.gz --groupby da --sum bytes_out,bytes_in
  sleuth capture.pcap --fingerprint --select 'fingerprints,inferences'
  sleuth flows.json --fingerprint all --fp_db res_tls_fingerprints.json --select inferences
  sleuth flows.json --select 'tls{sni,cs}' --normalize 'tls{sni}' --dist
  sleuth flows.json --where 'da=10.0.0.0/8|da=2001:db8::/32' --csv --select sa,da,dp,bytes_out
  sleuth flows.json --tls_sec --where 'tls_sec{classification}=avoid' --select 'sa,da,tls_sec'
  sleuth flows.json --stats --pretty

exit status: 0 ok, 1 an input could not be read completely, 2 usage or query error.
"""


class _Parser(argparse.ArgumentParser):
    """argparse that reports errors as one ``sleuth: ...`` line and exits with status 2."""

    def error(self, message):
        raise UsageError("%s (see sleuth --help)" % message)


def build_parser():
    parser = _Parser(prog="sleuth", description=DESCRIPTION, epilog=EPILOG,
                     formatter_class=argparse.RawDescriptionHelpFormatter)

    def option(names, **kw):
        # every --a_b option is also accepted as --a-b
        aliases = list(names)
        for name in names:
            if "_" in name:
                aliases.append(name.replace("_", "-"))
        parser.add_argument(*aliases, **kw)

    parser.add_argument("inputs", nargs="*", metavar="FILE",
                        help="JSON Lines (plain/gz/bz2/xz) or pcap/pcapng files; '-' or none "
                             "for standard input")
    option(["--where"], metavar="QUERY",
           help="keep records matching QUERY (see 'query language' below); "
                "e.g. --where 'pr=6,dp=443|dp=8443'")
    option(["--select"], metavar="FIELDS",
           help="keep only these fields; nested a{b,c}, arrays a[{b}]; "
                "e.g. --select 'sa,da,tls{sni,scs},packets[{b}]'")
    option(["--groupby"], metavar="FIELDS",
           help="one result per distinct value of FIELDS: its count, or with --sum/--dist "
                "the sums/distribution within it; e.g. --groupby da --sum bytes_out")
    option(["--dist"], action="store_true",
           help="count identical (selected) records, most frequent first, with 'count' and "
                "'total'; e.g. --select dp --dist")
    option(["--sum"], metavar="FIELDS",
           help="add up numeric FIELDS (arrays element by element) with the record 'count'; "
                "e.g. --sum bytes_out,bytes_in")
    option(["--count"], action="store_true",
           help="print only the number of records (or result lines) that would be written; "
                "e.g. --where dp=53 --count")
    option(["--head"], type=_positive_int, metavar="N",
           help="stop after writing N records (or result lines); e.g. --head 10")
    option(["--stats"], action="store_true",
           help="write one summary: flows, bytes, packets, time span, protocol mix, top talkers "
                "and top destination ports; e.g. --stats --pretty")
    option(["--top"], type=_positive_int, default=10, metavar="N",
           help="entries in the --stats top lists (default 10); e.g. --stats --top 5")
    option(["--pretty"], action="store_true",
           help="indented JSON output; e.g. --select tls --pretty")
    option(["--csv"], action="store_true",
           help="comma-separated output of the selected fields with a header row; "
                "e.g. --select sa,da,dp --csv")
    option(["--tsv"], action="store_true",
           help="tab-separated output, as --csv; e.g. --select sa,da,dp --tsv")
    option(["--no_stitch"], action="store_true",
           help="do not merge records that continue one flow; e.g. --no_stitch --count")
    option(["--stitch_timeout"], type=_non_negative_float, metavar="SECONDS",
           help="largest gap between the end of a record and the start of its continuation "
                "(default: joy's inactive_timeout from its metadata line, else 10); "
                "e.g. --stitch_timeout 30")
    option(["--fingerprint"], nargs="?", const="tls", metavar="KINDS",
           help="add inferences.tls: the client's JA3/JA4 and matches in the fingerprint "
                "database; KINDS (Joy's form) is tls (default), tcp (SYN options), http "
                "(User-Agent), all, or a comma list; e.g. --fingerprint --select "
                "'fingerprints,inferences' or --fingerprint all")
    option(["--fp_db", "--fingerprint_db"], metavar="FILE", action="append",
           help="fingerprint database for --fingerprint, ours or Joy's res_tls_fingerprints.json "
                "(JSON Lines, gzip allowed); repeat to use several (default: the one shipped "
                "with sleuth); e.g. --fp_db my_fingerprints.json")
    option(["--normalize"], metavar="FIELDS",
           help="set these fields to null after --select (Joy's --normalize), so that values "
                "that differ per flow do not split --dist; e.g. --normalize 'tls{sni}'")
    option(["--tls_sec"], action="store_true",
           help="add tls_sec: classification of the TLS version, suite, key exchange and "
                "certificates against the policy file; e.g. --tls_sec --select 'da,tls_sec'")
    option(["--tls_policy", "--sec_policy_file"], metavar="FILE",
           help="policy file for --tls_sec (default: the one shipped with sleuth); "
                "e.g. --tls_policy strict.json")
    option(["--sec_failure_threshold"], metavar="N",
           help="--tls_sec findings at this level or worse are concerns: 1 avoid, 2 legacy "
                "(default), 3 acceptable, 4 recommended, or the class name; "
                "e.g. --sec_failure_threshold 3")
    option(["--sec_unknowns"], choices=("report", "ignore", "fail"),
           help="--tls_sec values the policy does not know: report (default: listed in "
                "'unknown'), ignore (not listed), fail (classification 'unknown'); "
                "e.g. --sec_unknowns ignore")
    option(["--sec_compliance"], metavar="PROFILE", action="append",
           help="add tls_sec.<PROFILE>_compliant yes/no/unknown for the selected cipher suite; "
                "profiles fips_140, cnsa; several may follow, or repeat the option; "
                "e.g. --sec_compliance fips_140")
    option(["--no_dns_link"], action="store_true",
           help="do not add linked_dns (DNS name that resolved a flow's destination); "
                "e.g. --no_dns_link")
    option(["--strict"], action="store_true",
           help="parse every line: without it, lines that cannot match a --where port or "
                "protocol test (pr=, sp=, dp=) are skipped after a shape check only, so an "
                "error inside such a line is not reported; e.g. --strict")
    option(["--joy"], metavar="PATH",
           help="joy binary for pcap inputs (default: ../joy beside sleuth, then PATH); "
                "e.g. --joy ./joy")
    option(["--joy_options"], metavar="OPTS",
           help="module options passed to joy for pcap inputs (default "
                "'tls=1 dns=1 http=1 fpx=1'); e.g. --joy_options 'tls=1 dns=1'")
    option(["--version"], action="version", version="sleuth " + __version__)
    return parser


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("%r is not a whole number" % text)
    if value < 1:
        raise argparse.ArgumentTypeError("%r must be at least 1" % text)
    return value


def _non_negative_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError("%r is not a number" % text)
    if value < 0 or value != value:
        raise argparse.ArgumentTypeError("%r must not be negative" % text)
    return value


# ----------------------------------------------------------------------------
# Building the pipeline
# ----------------------------------------------------------------------------

class Plan:
    """Everything compiled from the command line before any input is read."""

    def __init__(self, args):
        self.args = args
        self.where = compile_where(args.where) if args.where is not None else None
        self.select_spec = parse_spec(args.select, "--select") if args.select is not None \
            else None
        self.select = compile_projection(self.select_spec) if self.select_spec else None
        if args.normalize is not None:
            normalize = compile_normalize(parse_spec(args.normalize, "--normalize"))
            project = self.select
            self.select = normalize if project is None else \
                (lambda record: normalize(project(record)))
        self.group_spec = parse_spec(args.groupby, "--groupby") if args.groupby is not None \
            else None
        self.sum_spec = parse_spec(args.sum, "--sum") if args.sum is not None else None
        self.check_combinations()
        self.tls_sec = self.fingerprint = None
        if args.tls_sec:
            from .tlssec import TlsClassifier, load_policy
            compliance = [name.strip() for value in args.sec_compliance or ()
                          for name in value.split(",") if name.strip()]
            self.tls_sec = TlsClassifier(load_policy(args.tls_policy),
                                         failure_threshold=args.sec_failure_threshold,
                                         unknowns=args.sec_unknowns or "report",
                                         compliance=compliance)
        if args.fingerprint:
            from .fingerprint import FingerprintMatcher, load_databases, parse_kinds
            kinds = parse_kinds(args.fingerprint)
            self.fingerprint = FingerprintMatcher(load_databases(args.fp_db), kinds)

    def check_combinations(self):
        args = self.args
        if args.csv and args.tsv:
            raise UsageError("choose one of --csv and --tsv")
        if args.pretty and (args.csv or args.tsv):
            raise UsageError("--pretty is for JSON output; it cannot be used with --csv/--tsv")
        if args.dist and args.sum:
            raise UsageError("choose one of --dist and --sum")
        if args.stats and (args.dist or args.sum or args.groupby or args.count):
            raise UsageError("--stats cannot be combined with --dist, --sum, --groupby or --count")
        if args.stats and (args.csv or args.tsv):
            raise UsageError("--stats writes one JSON object; --csv/--tsv do not apply")
        if args.count and (args.csv or args.tsv or args.pretty):
            raise UsageError("--count prints a number; --csv/--tsv/--pretty do not apply")
        if args.fp_db and not args.fingerprint:
            raise UsageError("--fp_db needs --fingerprint")
        if args.tls_policy and not args.tls_sec:
            raise UsageError("--tls_policy needs --tls_sec")
        for name in ("sec_failure_threshold", "sec_unknowns", "sec_compliance"):
            if getattr(args, name) is not None and not args.tls_sec:
                raise UsageError("--%s needs --tls_sec" % name)

    # -- aggregation ------------------------------------------------------------
    def aggregator(self):
        """The aggregator for --dist/--sum/--groupby/--stats, or None for plain output."""
        args = self.args
        if args.stats:
            return Stats(args.top)
        if self.group_spec:
            group = compile_projection(self.group_spec)
            if args.sum:
                paths = leaf_paths(self.sum_spec)
                return GroupBy(group, lambda: Sum(paths, self.select), "sum")
            if args.dist:
                return GroupBy(group, lambda: Dist(self.select), "dist")
            return GroupBy(group, Count, "count")
        if args.sum:
            return Sum(leaf_paths(self.sum_spec), self.select)
        if args.dist:
            return Dist(self.select)
        return None

    def columns(self):
        """CSV/TSV columns for the chosen output."""
        args = self.args
        selected = leaf_paths(self.select_spec) if self.select_spec else [(c,) for c in
                                                                          DEFAULT_COLUMNS]
        group = leaf_paths(self.group_spec) if self.group_spec else []
        if args.dist:
            return group + [("count",), ("total",)] + [p for p in selected if p not in group]
        if args.sum:
            sums = leaf_paths(self.sum_spec)
            return group + sums + [("count",)]
        if self.group_spec:
            return group + [("count",)]
        return selected

    def writer(self, stdout):
        args = self.args
        if args.count:
            return CountWriter(stdout)
        if args.csv or args.tsv:
            return TableWriter(stdout, self.columns(), "," if args.csv else "\t")
        return JsonWriter(stdout, pretty=args.pretty)


def _pipeline(plan, reader, stitcher, linker):
    """Generator of the records that reach --where, stitched and enriched."""
    records = reader.iter_records()
    if stitcher is not None:
        # the stitcher also hands every record it reads to the DNS linker
        records = stitcher.process(records, linker.observe if linker is not None else None)
    elif linker is not None:
        records = _observing(records, linker)
    stages = []
    if plan.tls_sec is not None:
        stages.append(plan.tls_sec.annotate)
    if plan.fingerprint is not None:
        stages.append(plan.fingerprint.annotate)
    if linker is None and not stages and plan.where is None:
        return records
    return _enriched(records, linker, stages, plan.where)


def _observing(records, linker):
    observe = linker.observe
    for record in records:
        if "dns" in record:
            observe(record)
        yield record


def _enriched(records, linker, stages, where):
    """linked_dns, --tls_sec, --fingerprint, then --where."""
    answers = linker.answers if linker is not None else None
    link = linker.link if linker is not None else None
    for record in records:
        if answers and record.get("da") in answers:
            link(record)
        for stage in stages:
            record = stage(record)
        if where is None or where(record):
            yield record


def run(args, stdout, stderr, stdin=None):
    """Run sleuth with parsed arguments; returns the exit status."""
    plan = Plan(args)
    stitcher = None
    if not args.no_stitch:
        stitcher = Stitcher(timeout=args.stitch_timeout if args.stitch_timeout is not None
                            else 10.0, timeout_fixed=args.stitch_timeout is not None)
    linker = None if args.no_dns_link else DnsLinker()
    joy_options = args.joy_options.split() if args.joy_options is not None else None
    prefilter = None
    if plan.where is not None and not args.strict:
        prefilter = make_prefilter(args.where, stitcher)
    reader = InputReader(args.inputs, joy=args.joy, joy_options=joy_options,
                         on_metadata=stitcher.set_timeouts if stitcher else None,
                         err=stderr, stdin=stdin, prefilter=prefilter)
    records = _pipeline(plan, reader, stitcher, linker)
    writer = plan.writer(stdout)
    aggregator = plan.aggregator()
    head = args.head
    if aggregator is None:
        _write_records(records, plan.select, writer, head)
    else:
        for record in records:
            aggregator.add(record)
        results = aggregator.results()
        for item in results[:head] if head else results:
            writer.write(item)
    writer.close()
    return reader.exit_status


def _write_records(records, project, writer, head):
    write = writer.write
    written = 0
    try:
        if project is None and not head:
            for record in records:
                write(record)
            return
        for record in records:
            write(project(record) if project is not None else record)
            written += 1
            if head and written >= head:
                break
    finally:
        close = getattr(records, "close", None)
        if close is not None:
            close()           # stops joy early after --head


def main(argv=None, stdout=None, stderr=None, stdin=None):
    """Entry point; returns the exit status (never raises for user errors).

    The cyclic garbage collector is switched off while sleuth runs: records
    are trees (no reference cycles), reference counting frees them, and the
    collector's passes over millions of short-lived objects cost ~7 %.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    stdout = stdout if stdout is not None else sys.stdout
    stderr = stderr if stderr is not None else sys.stderr
    try:
        args = build_parser().parse_args(_joy_style_argv(sys.argv[1:] if argv is None
                                                         else list(argv)))
        return run(args, stdout, stderr, stdin)
    except SleuthError as exc:
        stderr.write("sleuth: %s\n" % exc)
        return exc.exit_status
    except BrokenPipeError:
        _silence_stdout()
        return 0
    except RecursionError:
        stderr.write("sleuth: a record is nested too deeply to be processed\n")
        return 1
    except KeyboardInterrupt:
        stderr.write("sleuth: interrupted\n")
        return 130
    finally:
        if was_enabled:
            gc.enable()


_FP_KINDS = re.compile(r"(tls|tcp|http|all)(,(tls|tcp|http|all))*\Z")
_PROFILE = re.compile(r"[a-z][a-z0-9_]*(,[a-z][a-z0-9_]*)*\Z")


def _joy_style_argv(argv):
    """Accept Joy's spellings whose option values are optional or repeated.

    ``--fingerprint`` alone is ``--fingerprint=tls``; ``--fingerprint tcp`` (any of
    tls, tcp, http, all or a comma list of them) takes the word as its value, and a
    file name after a bare ``--fingerprint`` stays an input.  ``--sec_compliance
    fips_140 cnsa`` takes every following profile-like word that is not an existing
    file.
    """
    out = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            out.extend(argv[i:])
            break
        if arg in ("--fingerprint",):
            if i + 1 < len(argv) and _FP_KINDS.match(argv[i + 1]):
                out.append("--fingerprint=" + argv[i + 1])
                i += 2
            else:
                out.append("--fingerprint=tls")
                i += 1
            continue
        if arg in ("--sec_compliance", "--sec-compliance") and i + 1 < len(argv):
            out.extend([arg, argv[i + 1]])
            i += 2
            while i < len(argv) and _PROFILE.match(argv[i]) and not os.path.exists(argv[i]):
                out.extend([arg, argv[i]])
                i += 1
            continue
        out.append(arg)
        i += 1
    return out


def _silence_stdout():
    """After EPIPE, point stdout at /dev/null so the interpreter's final flush is quiet."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


def script_main():
    """Used by the ``sleuth`` launcher script."""
    sys.exit(main())
