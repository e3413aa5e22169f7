#!/bin/bash
# failover.sh KILLS [preload]: a fresh perf cluster, PRELOAD (default 20s) of W load on b8, then
# obctl bench failover --kills KILLS --interval 4s --tenant b8 -o json (to stdout); the per-kill
# lines go to $PERF_DIR/failover.err. Run setup.sh first (it makes the wrapper).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd); . "$here/env.sh"
K=$1; PRELOAD=${2:-20s}
"$W/obctl" cluster down -c "$C" >/dev/null 2>&1 || true
rm -rf "$P/data"
"$W/obctl" cluster up -c "$C" >/dev/null 2>&1 || { echo "cluster up failed: see $P/data/*/observer.log" >&2; exit 1; }
"$W/obctl" bench -c "$C" --workload W --partitions 8 --tenant b8 --duration "$PRELOAD" >/dev/null 2>&1
"$W/obctl" bench failover -c "$C" --kills "$K" --interval 4s --tenant b8 -o json 2>"$P/failover.err"
"$W/obctl" cluster down -c "$C" >/dev/null 2>&1
