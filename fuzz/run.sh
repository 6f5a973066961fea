#!/bin/sh
# run.sh FUZZ_DIR SECONDS [MIN_EXECS] - run every built fuzz target on a
# working copy of its corpus (fuzz/corpus/NAME, plus the test captures for
# the pipeline target) for at least SECONDS and at least MIN_EXECS
# executions (default 1000000), whichever takes longer, and print
# executions and coverage per target.  A target that stops early (a
# finding) keeps its artifacts in FUZZ_DIR/artifacts-NAME/.
#
# Per-target libFuzzer options:
#   pipeline   -max_len=65536: its seeds are capture files of up to 537 KB,
#              which libFuzzer would otherwise take as the input size limit
#              (a seed longer than the limit is cut to it when loaded).
#   pipeline, intraflow_a, intraflow_b, tls (the targets that build a meter
#   per input and so touch thousands of edges each run): -entropic=0.
#              libFuzzer's entropic power schedule updates per-feature
#              frequencies on every run; with these targets that
#              bookkeeping took 25-60% of the time (clang 14), and
#              throughput counts more here.
set -u
dir=$1
secs=$2
min_execs=${3:-1000000}
here=$(cd "$(dirname "$0")" && pwd)
status=0
for bin in "$dir"/fuzz_*; do
    [ -x "$bin" ] || continue
    name=$(basename "$bin" | sed 's/^fuzz_//')
    work="$dir/corpus-$name"
    mkdir -p "$work"
    [ -d "$here/corpus/$name" ] && cp -n "$here/corpus/$name"/* "$work"/ 2>/dev/null
    opts=
    if [ "$name" = pipeline ]; then
        cp -n "$here"/../test/data/*.pcap "$work"/ 2>/dev/null
        [ -d "$here/../../shared/pcaps" ] && cp -n "$here"/../../shared/pcaps/*.pcap* "$here"/../../shared/pcaps/*.cap "$work"/ 2>/dev/null
        opts="-max_len=65536"
    fi
    case $name in
    pipeline | intraflow_a | intraflow_b | tls) opts="$opts -entropic=0" ;;
    esac
    mkdir -p "$dir/artifacts-$name"
    log="$dir/log-$name.txt"
    : > "$log"
    execs=0
    start=$(date +%s)
    limit="-max_total_time=$secs"
    while :; do
        # shellcheck disable=SC2086
        "$bin" $limit $opts -print_final_stats=1 -artifact_prefix="$dir/artifacts-$name/" \
            "$work" > "$log.run" 2>&1
        rc=$?
        cat "$log.run" >> "$log"
        n=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log.run" | grep -o '[0-9]*$')
        execs=$((execs + ${n:-0}))
        [ $rc -ne 0 ] && break
        [ -z "$n" ] || [ "$n" -eq 0 ] && break
        [ $execs -ge "$min_execs" ] && break
        limit="-runs=$((min_execs - execs)) -max_total_time=86400"
    done
    rm -f "$log.run"
    [ $rc -ne 0 ] && status=1
    took=$(($(date +%s) - start))
    last=$(grep -E '^#[0-9]+' "$log" | tail -1)
    cov=$(echo "$last" | grep -o 'cov: [0-9]*')
    ft=$(echo "$last" | grep -o 'ft: [0-9]*')
    echo "fuzz_$name: exit $rc, $took s, $execs executions, $cov, $ft, $(ls "$work" | wc -l) corpus files, log $log"
done
exit $status
