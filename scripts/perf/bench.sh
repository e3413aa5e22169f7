#!/bin/bash
# bench.sh [obctl bench flags]: one 8 s run on the perf cluster; prints ops/s, count, p50, p99
# (µs), errors, and each server's CPU µs per operation (from /proc/PID/stat around the run).
# Example: bench.sh --workload W --tenant b8
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd); . "$here/env.sh"
pids=$(for n in 1 2 3; do cat "$P/data/s$n/observer.pid"; done)
cpu() { for p in $pids; do awk '{print $14+$15}' "/proc/$p/stat"; done | paste -sd' '; }
c0=$(cpu)
"$W/obctl" bench -c "$C" --skip-load --duration 8s -o json "$@" > "$P/last.json" 2>/dev/null
c1=$(cpu)
python3 - "$P/last.json" "$c0" "$c1" <<'PY'
import json, sys
run = [x for x in json.load(open(sys.argv[1])) if x['phase'] == 'run'][0]
t = [o for o in run['ops'] if o['op'] == 'total'][0]
hz = 100  # clock ticks per second of /proc/PID/stat
us = [(b - a) * 1e6 / hz / t['count'] for a, b in zip(map(int, sys.argv[2].split()), map(int, sys.argv[3].split()))]
print("ops/s=%.0f n=%d p50=%d p99=%d errs=%d cpu_us/op=%s" % (
    t['ops_per_sec'], t['count'], t['p50_us'], t['p99_us'], t['errors'], [round(x) for x in us]))
PY
