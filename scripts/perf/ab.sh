#!/bin/bash
# ab.sh ROUNDS DIR_A DIR_B [obctl bench flags]: interleaved A/B of two observer builds on the same
# data: each round restarts the cluster with each build in turn (order alternating), warms up 3 s,
# then runs bench.sh. DIR_A and DIR_B hold an observer binary each.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd); . "$here/env.sh"
R=$1; A=$2; B=$3; shift 3
for i in $(seq 1 "$R"); do
  if [ $((i % 2)) = 0 ]; then order="$A $B"; else order="$B $A"; fi
  for d in $order; do
    "$W/obctl" cluster down -c "$C" >/dev/null 2>&1 || true
    cp "$d/observer" "$W/observer.real"
    "$W/obctl" cluster up -c "$C" >/dev/null 2>&1 || { echo "cluster up failed: see $P/data/*/observer.log" >&2; exit 1; }
    "$W/obctl" bench -c "$C" --skip-load --duration 3s "$@" >/dev/null 2>&1 || true
    echo "$d $("$here/bench.sh" "$@")"
  done
done
