#!/usr/bin/env python3
"""Golden tests: run joy on the captures written by gen_pcaps.py and compare
its records with the hand-derived expectations in test/golden/*.json.

Usage:  python3 test/run_golden.py [-v] [-k] [SPEC_NAME ...]
        JOY=/path/to/joy python3 test/run_golden.py

  -v   also print passing specs and the command lines
  -k   keep the temporary capture directory (its path is printed)

The captures are regenerated into a temporary directory first; sample.pcap
is also compared byte for byte with the committed test/data/sample.pcap
(proving the generator deterministic).  The last line printed is always
"N passed, N failed"; the exit status is 1 when anything failed.

Spec format (one JSON object per file):
  "pcap": "name.pcap"          capture (relative to the generated directory),
  "pcaps": ["a.pcap", "dir"]   or several captures / directories, in order
  "stdin": true                feed the (single) capture on stdin as "-r -"
  "args": ["bidir=1", ...]     extra joy arguments (joy is always run with -w -)
  "exit": 0                    expected exit status (omit or null: not checked)
  "count": N                   number of flow records (the metadata line excluded)
  "stderr_contains": [...]     every string must occur in stderr
  "stderr_any": [...]          at least one of them must occur in stderr
  "deterministic": true        run twice, outputs (metadata line excepted) identical
  "records": [{
      "match":  {field: value}   the record(s) whose fields equal these
      "nth":    k                pick the k-th matching record (default: exactly one must match)
      "expect": {field: value}   dicts compare as subsets, lists and scalars exactly;
                                 time_start/time_end are strings compared with the raw
                                 JSON text ("time_start":1500000000.000001)
      "absent": [field, ...]     fields that must not be present
      "present": [field, ...]    fields that must be present (any value)
      "len":  {"a.b": n}         length of the list at dotted path a.b
      "head": {"a.b": [...]}     the list at a.b starts with these items
      "tail": {"a.b": [...]}     the list at a.b ends with these items
      "why": "..."               explanation (ignored)
  }]
Every record is also checked for: valid JSON in valid UTF-8, the core keys
in contract order, time fields with exactly 6 decimals, a known expire_type,
and (TCP/UDP/SCTP/other non-ICMP protocols) a correct Community ID.
"""

import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True
import gen_pcaps  # noqa: E402

CORE_ORDER = ['sa', 'da', 'pr', 'sp', 'dp', 'bytes_out', 'num_pkts_out', 'bytes_in',
              'num_pkts_in', 'time_start', 'time_end', 'packets', 'ip', 'tcp',
              'community_id', 'debug', 'expire_type']
REQUIRED = ['sa', 'da', 'pr', 'sp', 'dp', 'bytes_out', 'num_pkts_out', 'time_start',
            'time_end', 'expire_type']
TIME_KEYS = ('time_start', 'time_end')
RUN_TIMEOUT = 120


class Output(object):
    def __init__(self):
        self.meta = None
        self.records = []   # (dict, raw line text)
        self.errors = []


def raw_time(line, key):
    m = re.search(r'"%s"\s*:\s*([-0-9.eE+]+)\s*[,}]' % key, line)
    return m.group(1) if m else None


def pairs_hook(pairs):
    d = {}
    for k, v in pairs:
        if k in d:
            raise ValueError('duplicate key %r' % k)
        d[k] = v
    return d


def parse_output(data):
    out = Output()
    try:
        text = data.decode('utf-8')
    except UnicodeDecodeError as e:
        out.errors.append('stdout is not valid UTF-8: %s' % e)
        text = data.decode('utf-8', 'replace')
    lines = text.split('\n')
    if lines and lines[-1] == '':
        lines.pop()
    elif lines:
        out.errors.append('output does not end with a newline')
    for n, line in enumerate(lines, 1):
        try:
            obj = json.loads(line, object_pairs_hook=pairs_hook)
        except ValueError as e:
            out.errors.append('line %d is not valid JSON (%s): %.120s' % (n, e, line))
            continue
        if not isinstance(obj, dict):
            out.errors.append('line %d is not a JSON object' % n)
            continue
        if n == 1:
            if 'version' not in obj:
                out.errors.append('line 1 is not the metadata object (no "version")')
                out.records.append((obj, line))
            else:
                out.meta = obj
            continue
        if 'version' in obj:
            out.errors.append('line %d: a flow record has a "version" key' % n)
        out.records.append((obj, line))
    if not lines:
        out.errors.append('no output at all (the metadata line is missing)')
    return out


def record_name(r):
    return '%s:%s > %s:%s pr %s' % (r.get('sa'), r.get('sp'), r.get('da'), r.get('dp'),
                                   r.get('pr'))


def generic_checks(rec, line):
    errs = []
    name = record_name(rec)
    for k in REQUIRED:
        if k not in rec:
            errs.append('record %s: missing "%s"' % (name, k))
    order = [k for k in rec if k in CORE_ORDER]
    want = sorted(order, key=CORE_ORDER.index)
    if order != want:
        errs.append('record %s: key order %s, contract order %s' % (name, order, want))
    for k in TIME_KEYS:
        if k in rec:
            t = raw_time(line, k)
            if t is None or not re.match(r'^\d+\.\d{6}$', t):
                errs.append('record %s: %s is %r, not epoch seconds with 6 decimals'
                            % (name, k, t))
    if 'time_start' in rec and 'time_end' in rec:
        try:
            if float(rec['time_end']) < float(rec['time_start']):
                errs.append('record %s: time_end before time_start' % name)
        except (TypeError, ValueError):
            pass
    if rec.get('expire_type') not in ('i', 'a', 'e', 'r', 'c'):
        errs.append('record %s: expire_type %r' % (name, rec.get('expire_type')))
    pr = rec.get('pr')
    if isinstance(pr, int) and pr not in (1, 58) and 'community_id' in rec:
        try:
            if pr in gen_pcaps.PORT_PROTOS:
                want_cid = gen_pcaps.community_id(rec['sa'], rec['da'], pr, rec['sp'], rec['dp'])
            else:
                want_cid = gen_pcaps.community_id(rec['sa'], rec['da'], pr)
            if rec['community_id'] != want_cid:
                errs.append('record %s: community_id %s, expected %s'
                            % (name, rec['community_id'], want_cid))
        except (KeyError, OSError, TypeError, ValueError) as e:
            errs.append('record %s: cannot recompute community_id: %s' % (name, e))
    if pr not in (6, 17, 132) and isinstance(pr, int):
        if rec.get('sp') is not None or rec.get('dp') is not None:
            errs.append('record %s: sp/dp must be null for protocol %s' % (name, pr))
    return errs


def same(exp, got):
    if exp is None or got is None:
        return exp is got
    if isinstance(exp, bool) or isinstance(got, bool):
        return isinstance(exp, bool) and isinstance(got, bool) and exp == got
    if isinstance(exp, dict):
        return isinstance(got, dict) and all(k in got and same(v, got[k]) for k, v in exp.items())
    if isinstance(exp, list):
        return (isinstance(got, list) and len(exp) == len(got)
                and all(same_exact(a, b) for a, b in zip(exp, got)))
    if isinstance(exp, str) or isinstance(got, str):
        return isinstance(exp, str) and isinstance(got, str) and exp == got
    return exp == got


def same_exact(exp, got):
    """List items: dicts compare with exactly the same keys."""
    if isinstance(exp, dict):
        return isinstance(got, dict) and set(exp) == set(got) and same(exp, got)
    return same(exp, got)


def compare(path, exp, got, errs):
    if isinstance(exp, dict) and isinstance(got, dict):
        for k, v in exp.items():
            if k not in got:
                errs.append('%s%s missing' % (path, k))
            else:
                compare(path + k + '.', v, got[k], errs)
    elif not same(exp, got):
        errs.append('%s = %s, expected %s' % (path.rstrip('.'), short(got), short(exp)))


def short(v):
    s = json.dumps(v)
    return s if len(s) <= 300 else s[:300] + '...'


def get_path(rec, dotted):
    cur = rec
    for part in dotted.split('.'):
        if not isinstance(cur, dict) or part not in cur:
            raise KeyError(dotted)
        cur = cur[part]
    return cur


def field_matches(rec, line, k, v):
    if k in TIME_KEYS:
        return raw_time(line, k) == v
    return k in rec and same(v, rec[k])


def check_record(spec_rec, out):
    errs = []
    match = spec_rec.get('match', {})
    cands = [(r, l) for r, l in out.records
             if all(field_matches(r, l, k, v) for k, v in match.items())]
    nth = spec_rec.get('nth')
    label = 'record %s' % json.dumps(match, sort_keys=True)
    if nth is None:
        if len(cands) != 1:
            have = '; '.join(record_name(r) for r, _ in out.records[:12])
            return ['%s: %d records match, expected exactly 1 (records: %s)'
                    % (label, len(cands), have or 'none')]
        rec, line = cands[0]
    else:
        if len(cands) <= nth:
            return ['%s: only %d records match, wanted #%d' % (label, len(cands), nth)]
        rec, line = cands[nth]
        label += '#%d' % nth
    sub = []
    for k, v in spec_rec.get('expect', {}).items():
        if k in TIME_KEYS:
            got = raw_time(line, k)
            if got != v:
                sub.append('%s is %s, expected %s' % (k, got, v))
        elif k not in rec:
            sub.append('%s missing' % k)
        else:
            compare(k + '.', v, rec[k], sub)
    for k in spec_rec.get('absent', []):
        if k in rec:
            sub.append('%s present (%s), must be absent' % (k, short(rec[k])))
    for k in spec_rec.get('present', []):
        if k not in rec:
            sub.append('%s absent, must be present' % k)
    for kind in ('len', 'head', 'tail'):
        for p, v in spec_rec.get(kind, {}).items():
            try:
                lst = get_path(rec, p)
            except KeyError:
                sub.append('%s missing' % p)
                continue
            if not isinstance(lst, list):
                sub.append('%s is not a list' % p)
            elif kind == 'len' and len(lst) != v:
                sub.append('len(%s) = %d, expected %d' % (p, len(lst), v))
            elif kind == 'head' and not same(v, lst[:len(v)]):
                sub.append('%s starts %s, expected %s' % (p, short(lst[:len(v)]), short(v)))
            elif kind == 'tail' and not same(v, lst[len(lst) - len(v):]):
                sub.append('%s ends %s, expected %s'
                           % (p, short(lst[len(lst) - len(v):]), short(v)))
    errs += ['%s: %s' % (label, s) for s in sub]
    return errs


def run_joy(joy, spec, datadir, verbose):
    inputs = spec.get('pcaps') or [spec['pcap']]
    paths = [os.path.join(datadir, p) for p in inputs]
    cmd = [joy, '-w', '-'] + list(spec.get('args', []))
    stdin_data = None
    if spec.get('stdin'):
        with open(paths[0], 'rb') as f:
            stdin_data = f.read()
        cmd += ['-r', '-']
    else:
        cmd += paths
    if verbose:
        print('  $ ' + ' '.join(cmd))
    try:
        p = subprocess.run(cmd, input=stdin_data, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=RUN_TIMEOUT,
                           stdin=None if stdin_data is not None else subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return None, b'', b'', ['joy timed out after %d s' % RUN_TIMEOUT]
    except OSError as e:
        return None, b'', b'', ['cannot run %s: %s' % (joy, e)]
    return p.returncode, p.stdout, p.stderr, []


def check_spec(joy, spec, datadir, verbose):
    rc, stdout, stderr, errs = run_joy(joy, spec, datadir, verbose)
    if errs:
        return errs
    errs = []
    if rc is not None and rc < 0:
        errs.append('joy killed by signal %d' % -rc)
    if spec.get('exit') is not None and rc != spec['exit']:
        errs.append('exit status %s, expected %s' % (rc, spec['exit']))
    err_text = stderr.decode('utf-8', 'replace')
    if 'AddressSanitizer' in err_text or 'runtime error:' in err_text:
        errs.append('sanitizer report on stderr: %.200s' % err_text)
    for s in spec.get('stderr_contains', []):
        if s not in err_text:
            errs.append('stderr lacks %r (stderr: %.200r)' % (s, err_text))
    if spec.get('stderr_any') and not any(s in err_text for s in spec['stderr_any']):
        errs.append('stderr has none of %r (stderr: %.200r)' % (spec['stderr_any'], err_text))
    out = parse_output(stdout)
    errs += out.errors
    for rec, line in out.records:
        errs += generic_checks(rec, line)
    if 'count' in spec and len(out.records) != spec['count']:
        errs.append('%d flow records, expected %d (%s)'
                    % (len(out.records), spec['count'],
                       '; '.join(record_name(r) for r, _ in out.records[:12])))
    for srec in spec.get('records', []):
        errs += check_record(srec, out)
    if spec.get('deterministic'):
        rc2, stdout2, _, e2 = run_joy(joy, spec, datadir, False)
        if e2:
            errs += e2
        elif stdout.split(b'\n')[1:] != stdout2.split(b'\n')[1:] or rc2 != rc:
            errs.append('two runs on the same input gave different output')
    return errs


def main(argv):
    verbose = keep = False
    names = []
    for a in argv:
        if a == '-v':
            verbose = True
        elif a == '-k':
            keep = True
        elif a in ('-h', '--help'):
            print(__doc__)
            return 0
        else:
            names.append(a[:-5] if a.endswith('.json') else a)
    joy = os.environ.get('JOY') or os.path.join(ROOT, 'joy')
    passed = failed = 0

    def fail(name, msg):
        print('FAIL %s: %s' % (name, msg))

    specs = sorted(glob.glob(os.path.join(HERE, 'golden', '*.json')))
    if names:
        specs = [s for s in specs if os.path.basename(s)[:-5] in names]
    tmp = tempfile.mkdtemp(prefix='joy-golden-')
    try:
        # 1. the generator: Community ID self-test, regeneration, determinism.
        bad = gen_pcaps.community_id_selftest()
        if bad:
            fail('community_id-selftest', '; '.join(bad))
            failed += 1
        else:
            passed += 1
        g = subprocess.run([sys.executable, os.path.join(HERE, 'gen_pcaps.py'), tmp],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if g.returncode != 0:
            fail('gen_pcaps', g.stdout.decode('utf-8', 'replace').strip())
            print('%d passed, %d failed' % (passed, failed + 1))
            return 1
        committed = os.path.join(HERE, 'data', 'sample.pcap')
        try:
            with open(committed, 'rb') as f1, open(os.path.join(tmp, 'sample.pcap'), 'rb') as f2:
                same_bytes = f1.read() == f2.read()
            if same_bytes:
                passed += 1
                if verbose:
                    print('ok   sample.pcap-determinism')
            else:
                failed += 1
                fail('sample.pcap-determinism',
                     'regenerated sample.pcap differs from test/data/sample.pcap')
        except OSError as e:
            failed += 1
            fail('sample.pcap-determinism', str(e))

        # 2. the specs.
        if not (os.path.isfile(joy) and os.access(joy, os.X_OK)):
            fail('joy', 'no executable joy at %s (build it, or set JOY=)' % joy)
            print('%d passed, %d failed' % (passed, failed + len(specs)))
            return 1
        for path in specs:
            name = os.path.basename(path)[:-5]
            try:
                with open(path) as f:
                    spec = json.load(f)
            except ValueError as e:
                fail(name, 'bad spec: %s' % e)
                failed += 1
                continue
            errs = check_spec(joy, spec, tmp, verbose)
            if errs:
                failed += 1
                for e in errs:
                    fail(name, e)
            else:
                passed += 1
                if verbose:
                    print('ok   %s' % name)
    finally:
        if keep:
            print('captures kept in %s' % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print('%d passed, %d failed' % (passed, failed))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
