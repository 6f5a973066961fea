#!/bin/sh
# sanitize_check.sh - run a sanitizer-built joy over every capture and check that
# AddressSanitizer / LeakSanitizer / UndefinedBehaviorSanitizer report nothing and that
# every output line is valid JSON.
#
#   test/sanitize_check.sh [DIR]
#
# JOY_ASAN   the sanitizer build of joy (default <repo>/build-asan/joy, made by `make asan`);
#            this script builds nothing.
# DIR        optional directory of generated test captures (test/gen_pcaps.py output),
#            checked in addition to ../shared/pcaps (relative to the repository root).
#            When ../shared is absent its captures are skipped with a message and DIR is
#            still checked.
#
# Every capture is run with several option sets:
#   1. the defaults
#   2. bidir=0
#   3. zeros=1 retrans=1 num_pkts=1000
#   4. every option of every module listed by `joy -h` turned on (0|1 -> 1, N -> a value
#      joy accepts, label=/anon= with a subnet file made here), plus fpx=1, zeros=1
#      (read from the help text so that new modules are covered without editing this)
#   5. the defaults, written gzip-compressed with -w FILE.json.gz (the gzip writer)
# and then once more with all captures in one run (flows continuing across files), once
# with ../shared/pcaps as a directory argument (non-capture files in it included), once
# through standard input (-r -), and `joy -h` / `joy -V` (which must not leak either).
# A run fails when the sanitizers print anything, when joy is killed or exits with a
# status other than 0 or 1 (1 = damaged input, allowed), or when an output line does not
# parse as JSON (python3 json, UTF-8).  Last line: "N passed, N failed".

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
pcaps="$root/../shared/pcaps"
joy=${JOY_ASAN:-$root/build-asan/joy}
gen=${1:-}

ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export ASAN_OPTIONS UBSAN_OPTIONS

if [ ! -x "$joy" ]; then
    echo "sanitize_check: $joy not found: build it with 'make asan' (or set JOY_ASAN)"
    echo "0 passed, 1 failed"
    exit 1
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/joy-sanitize.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM

# captures, one per line
: >"$tmp/list"
if [ -d "$pcaps" ]; then
    for f in "$pcaps"/*.pcap "$pcaps"/*.pcapng "$pcaps"/*.cap; do
        [ -f "$f" ] && printf '%s\n' "$f" >>"$tmp/list"
    done
else
    echo "sanitize_check: $pcaps is absent: the shared captures are skipped"
fi
if [ -n "$gen" ]; then
    if [ -d "$gen" ]; then
        find "$gen" -type f \( -name '*.pcap' -o -name '*.pcapng' -o -name '*.cap' \) \
            | LC_ALL=C sort >>"$tmp/list"
    else
        echo "sanitize_check: $gen is not a directory"
    fi
fi
if [ ! -s "$tmp/list" ]; then
    echo "sanitize_check: no captures to run"
    echo "0 passed, 0 failed, 1 skipped"
    exit 0
fi

# an empty capture, for probing option values
printf '\324\303\262\241\002\000\004\000\000\000\000\000\000\000\000\000\377\377\000\000\001\000\000\000' >"$tmp/empty.pcap"
printf '10.0.0.0/8\n192.168.0.0/16\n2001:db8::/32\n0.0.0.0/0\n' >"$tmp/nets.txt"

# option set 4: every option of every module section of `joy -h` turned on:
# 0|1 -> 1; N -> the first of 64 32 16 8 1 that joy accepts; FILE options that accept
# 'default' -> default; label= and anon= get a subnet file made here.  Read from the
# help text so that new modules are covered without editing this script.
ASAN_OPTIONS=detect_leaks=0 "$joy" -h 2>/dev/null >"$tmp/help.txt"
python3 - "$tmp/help.txt" "$tmp" >"$tmp/candidates" <<'PYEOF'
import re, sys
help_text, tmp = open(sys.argv[1]).read(), sys.argv[2]
section = None
for line in help_text.split("\n"):
    if re.match(r"^\S.*:", line):
        section = "core" if line.startswith("Flow options") else line.split(":")[0]
        continue
    m = re.match(r"^\s+([a-z0-9_]+)=(\S+)\s+(.*)$", line)
    if not m or section in (None, "core"):
        if m and section == "core" and m.group(2) == "0|1" and m.group(1) not in (
                "bidir", "promisc", "progress", "zeros", "retrans"):
            print("%s=1" % m.group(1))      # e.g. fpx=1, community_id=1
        continue
    key, arg, text = m.groups()
    if arg == "0|1":
        print("%s=1" % key)
    elif arg == "N":
        print(" ".join("%s=%d" % (key, v) for v in (64, 32, 16, 8, 1)))
    elif key == "label":
        print("label=nets:%s/nets.txt" % tmp)
    elif key == "anon":
        print("anon=%s/nets.txt" % tmp)
    elif key == "anon_key":
        print("anon_key=%s/anon.key" % tmp)
    elif "'default'" in text:
        print("%s=default" % key)
PYEOF
modopts=""
while read -r cands; do
    for c in $cands; do
        # shellcheck disable=SC2086
        if ASAN_OPTIONS=detect_leaks=0 "$joy" $modopts "$c" -w - -r "$tmp/empty.pcap" >/dev/null 2>&1 </dev/null \
            || [ $? -ne 2 ]; then
            modopts="$modopts $c"
            break
        fi
    done
done <"$tmp/candidates"
echo "sanitize_check: $joy; all-options set:${modopts:- none}"

# JSON validator, run once at the end over every kept output: "NAME<TAB>FILE" lines on
# stdin; prints one FAIL line per bad output, then "BAD <count>".
cat >"$tmp/valid.py" <<'EOF'
import gzip, json, sys
bad = 0
for entry in sys.stdin.read().split("\n"):
    if not entry:
        continue
    name, path = entry.split("\t", 1)
    why = None
    try:
        with (gzip.open if path.endswith(".gz") else open)(path, "rb") as fh:
            data = fh.read()
    except (OSError, EOFError) as e:
        why = "cannot read the output (%s)" % e
        data = b""
    lines = data.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    elif why is None:
        why = "the last output line has no newline"
    if not lines and why is None:
        why = "no output at all (not even the metadata line)"
    for i, raw in enumerate(lines, 1):
        if why:
            break
        try:
            json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            why = "output line %d is not valid JSON (%s): %r" % (i, e, raw[:160])
    if why:
        bad += 1
        print("FAIL %s: %s" % (name, why))
print("BAD %d" % bad)
EOF

pass=0
fail=0
n=0
mkdir "$tmp/o" || exit 1
: >"$tmp/outputs"
sanitizer_re='ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|SUMMARY: [A-Za-z]*Sanitizer|WARNING: [A-Za-z]*Sanitizer'

# run NAME OUT ARGS... : run joy; OUT is "-" when joy writes to stdout, else the file it
# writes.  The status and the sanitizers are checked now, the JSON at the end.
run() {
    name=$1
    out=$2
    shift 2
    n=$((n + 1))
    "$joy" "$@" >"$tmp/o/$n" 2>"$tmp/stderr" </dev/null
    rc=$?
    why=""
    if grep -Eq "$sanitizer_re" "$tmp/stderr"; then
        why="sanitizer report"
    elif [ "$rc" -ne 0 ] && [ "$rc" -ne 1 ]; then
        why="exit status $rc"
    fi
    if [ -n "$why" ]; then
        fail=$((fail + 1))
        echo "FAIL $name: $why"
        echo "     joy $*"
        sed -n '1,40p' "$tmp/stderr" | sed 's/^/     | /'
        rm -f "$out" 2>/dev/null
        return
    fi
    if [ "$out" != "-" ]; then
        mv "$out" "$tmp/o/$n.json.gz" 2>/dev/null || : >"$tmp/o/$n.json.gz"
        printf '%s\t%s\n' "$name" "$tmp/o/$n.json.gz" >>"$tmp/outputs"
    else
        printf '%s\t%s\n' "$name" "$tmp/o/$n" >>"$tmp/outputs"
    fi
}

while IFS= read -r f; do
    b=$(basename "$f")
    run "$b [default]" - -w - -r "$f"
    run "$b [bidir=0]" - bidir=0 -w - -r "$f"
    run "$b [zeros=1 retrans=1 num_pkts=1000]" - zeros=1 retrans=1 num_pkts=1000 -w - -r "$f"
    # shellcheck disable=SC2086
    run "$b [all module options]" - $modopts zeros=1 -w - -r "$f"
    run "$b [gzip output]" "$tmp/out.json.gz" -w "$tmp/out.json.gz" -r "$f"
done <"$tmp/list"

# all captures in one run, in the order given (flows continue across files)
set --
while IFS= read -r f; do set -- "$@" "$f"; done <"$tmp/list"
# shellcheck disable=SC2086
run "all captures in one run" - $modopts zeros=1 retrans=1 -w - "$@"

# the shared folder as a directory argument (joy reads it file by file, README.md,
# SOURCES.tsv and the truth/ folder included: files that are not captures at all)
if [ -d "$pcaps" ]; then
    run "directory $pcaps" - zeros=1 -w - "$pcaps"
fi

# standard input
first=$(sed -n 1p "$tmp/list")
n=$((n + 1))
"$joy" -w - -r - <"$first" >"$tmp/o/$n" 2>"$tmp/stderr"
rc=$?
if grep -Eq "$sanitizer_re" "$tmp/stderr" || { [ "$rc" -ne 0 ] && [ "$rc" -ne 1 ]; }; then
    fail=$((fail + 1))
    echo "FAIL $(basename "$first") [stdin]: exit $rc"
    sed -n '1,40p' "$tmp/stderr" | sed 's/^/     | /'
else
    printf '%s\t%s\n' "$(basename "$first") [stdin]" "$tmp/o/$n" >>"$tmp/outputs"
fi

# every output line parses as JSON
checked=$(wc -l <"$tmp/outputs")
python3 "$tmp/valid.py" <"$tmp/outputs" >"$tmp/json" 2>&1
grep -v '^BAD ' "$tmp/json"
bad=$(sed -n 's/^BAD //p' "$tmp/json")
case $bad in
'' | *[!0-9]*)
    echo "FAIL the JSON check could not run"
    bad=$checked
    ;;
esac
pass=$((pass + checked - bad))
fail=$((fail + bad))

# -h and -V: exit 0, nothing from the sanitizers
for a in -h -V; do
    "$joy" "$a" >"$tmp/stdout" 2>"$tmp/stderr" </dev/null
    rc=$?
    if [ "$rc" -ne 0 ] || grep -Eq "$sanitizer_re" "$tmp/stderr"; then
        fail=$((fail + 1))
        echo "FAIL joy $a: exit $rc"
        sed -n '1,40p' "$tmp/stderr" | sed 's/^/     | /'
    else
        pass=$((pass + 1))
    fi
done

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
