#!/bin/sh
# run.sh FUZZ_DIR SECONDS - run every built fuzz target for SECONDS each on a
# working copy of its corpus (fuzz/corpus/NAME, plus the test captures for
# the pipeline target) and print executions and coverage per target.
set -u
dir=$1
secs=$2
here=$(cd "$(dirname "$0")" && pwd)
for bin in "$dir"/fuzz_*; do
    [ -x "$bin" ] || continue
    name=$(basename "$bin" | sed 's/^fuzz_//')
    work="$dir/corpus-$name"
    mkdir -p "$work"
    [ -d "$here/corpus/$name" ] && cp -n "$here/corpus/$name"/* "$work"/ 2>/dev/null
    if [ "$name" = pipeline ]; then
        cp -n "$here"/../test/data/*.pcap "$work"/ 2>/dev/null
        [ -d "$here/../../shared/pcaps" ] && cp -n "$here"/../../shared/pcaps/*.pcap* "$here"/../../shared/pcaps/*.cap "$work"/ 2>/dev/null
    fi
    mkdir -p "$dir/artifacts-$name"
    "$bin" -max_total_time="$secs" -print_final_stats=1 -artifact_prefix="$dir/artifacts-$name/" \
        "$work" > "$dir/log-$name.txt" 2>&1
    rc=$?
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$dir/log-$name.txt" | grep -o '[0-9]*$')
    cov=$(grep -o 'cov: [0-9]*' "$dir/log-$name.txt" | tail -1)
    echo "fuzz_$name: exit $rc, $execs executions, $cov, log $dir/log-$name.txt"
done
