#!/bin/bash
# long.sh NAME KEYS DURATION [obctl bench flags]: a long write load on a fresh perf cluster (run
# setup.sh first: it makes the wrapper). Loads KEYS records into tenant lt (8 partitions), then
# runs W with 64 clients for DURATION, and writes under $PERF_DIR/long/NAME: the bench's progress
# lines (err.log) and JSON report (out.json), each server's VmRSS and RssAnon and the data size
# every 10 s (mem.log), the CPU's times, some of /proc/vmstat and the io pressure every 2 s
# (sys.log), the servers' logs (sN.log), and for each slump (two progress lines under
# 2,000 writes/s in a row, at most three) a goroutine dump and a 3 s execution trace of every
# server taken together, then CPU profiles of s1 and s2, top, and /proc's diskstats, stat,
# vmstat, meminfo and pressure before and after the traces (slumpN/). CLUSTER=FILE runs a
# copy of the cluster file with other settings (clog_dir, say) instead of $PERF_DIR/c.yaml; its
# data and clog directories are emptied first.
# Example (the seventeenth session's, docs/performance.md): long.sh w1m 1000000 600s
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd); . "$here/env.sh"
N=$1; K=$2; D=$3; shift 3
C=${CLUSTER:-$C}
O=$P/long/$N
mkdir -p "$O"
"$W/obctl" cluster down -c "$C" >/dev/null 2>&1
datadirs=$(awk -F'data_dir: ' '/data_dir:/{split($2, a, /[,} ]/); print a[1]}' "$C")
# Absolute paths only: a relative one is relative to the cluster file, not to here.
rm -rf "$P/data" $(printf '%s\n' $datadirs $(awk -F'clog_dir: ' '/clog_dir:/{split($2, a, /[,} ]/); print a[1]}' "$C") | grep '^/')
"$W/obctl" cluster up -c "$C" > "$O/up.log" 2>&1 || { echo "cluster up failed: see $O/up.log" >&2; exit 1; }
(
  while :; do
    ts=$(date +%s)
    for d in $datadirs; do
      pid=$(cat "$d/observer.pid" 2>/dev/null) || continue
      awk -v ts="$ts" -v s="$(basename "$d")" '/VmRSS|RssAnon/{a=a" "$1$2} END{print ts, s, a}' "/proc/$pid/status" 2>/dev/null
    done
    echo "$ts avail_kb $(awk '/MemAvailable/{print $2}' /proc/meminfo) data_mb $(du -smc $datadirs | tail -1 | cut -f1)"
    sleep 10
  done
) > "$O/mem.log" 2>&1 &
sampler=$!
(
  while :; do
    echo "$(date +%s) $(head -1 /proc/stat) $(awk '/^(nr_dirty|nr_writeback|pgmajfault|pgfault|pgsteal_kswapd|pgsteal_direct|pgscan_direct|allocstall_normal|compact_stall) /{printf "%s %s ", $1, $2}' /proc/vmstat) io $(awk '/some/{print $2}' /proc/pressure/io 2>/dev/null)"
    sleep 2
  done
) > "$O/sys.log" 2>&1 &
syssampler=$!
(
  n=0; low=0; caught=0
  while [ $n -lt 3 ]; do
    sleep 1
    r=$(grep -E '^run' "$O/err.log" 2>/dev/null | tail -1 | awk '{print $5}')
    [ -z "$r" ] && continue
    if [ "$r" -lt 2000 ]; then low=$((low+1)); else low=0; caught=0; fi
    [ $low -ge 2 ] && [ $caught -eq 0 ] || continue
    caught=1; n=$((n+1)); s="$O/slump$n"; mkdir -p "$s"
    date +%T.%N > "$s/when"; top -b -n1 -H -w 200 | head -40 > "$s/top"
    for f in diskstats stat vmstat meminfo pressure/cpu pressure/io pressure/memory; do
      cat /proc/$f > "$s/$(basename $f)0" 2>/dev/null; done
    for i in 1 2 3; do curl -s -o "$s/g$i.txt" "127.0.0.1:606$i/debug/pprof/goroutine?debug=2" & done
    wait
    for i in 1 2 3; do curl -s -o "$s/s$i.trace" "127.0.0.1:606$i/debug/pprof/trace?seconds=3" & done
    wait
    for f in diskstats stat vmstat meminfo pressure/cpu pressure/io pressure/memory; do
      cat /proc/$f > "$s/$(basename $f)1" 2>/dev/null; done
    for i in 1 2; do curl -s -o "$s/s$i.cpu" "127.0.0.1:606$i/debug/pprof/profile?seconds=5" & done
    wait
  done
) &
watcher=$!
"$W/obctl" bench -c "$C" --workload W --tenant lt --partitions 8 --keys "$K" --duration "$D" -o json "$@" > "$O/out.json" 2> "$O/err.log"
echo "bench exit $?" >> "$O/err.log"
kill $sampler $syssampler $watcher 2>/dev/null
for d in $datadirs; do cp "$d/observer.log" "$O/$(basename "$d").log"; done
"$W/obctl" cluster down -c "$C" >/dev/null 2>&1
echo "results in $O"
