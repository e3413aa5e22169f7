#!/bin/bash
# longsum.sh NAME...: sums up long.sh runs: writes per second over each 300 s of the run, the
# seconds under 500 writes/s, the leadership lines (one per replica gaining or losing
# leadership), the leases that lapsed and those that came back without an election, and the
# pollers' "went without ticks" lines in the servers' logs, with the longest gap, and each
# server's RssAnon at the end.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd); . "$here/env.sh"
for n in "$@"; do
  O=$P/long/$n
  echo "== $n"
  grep '^run' "$O/err.log" | awk '{t=int($2); w=int((t-1)/300); s[w]+=$5; c[w]++; if ($5 < 500) low++}
    END{for (i=0; i in s; i++) printf "  %d-%ds: %d writes/s\n", i*300, i*300+c[i], s[i]/c[i]; printf "  seconds under 500 writes/s: %d\n", low}'
  cat "$O"/s?.log 2>/dev/null | awk '/msg=leadership/{l++} /lease lapsed/{lp++} /lease back/{lb++} /went without ticks/{t++; match($0, /longest=[0-9.]+m?s/); v=substr($0, RSTART+8, RLENGTH-8); ms=(v ~ /ms$/) ? v+0 : v*1000; if (ms > m) m=ms}
    END{printf "  leadership lines: %d; leases lapsed %d, back %d; stall lines: %d, longest %d ms\n", l, lp, lb, t, m}'
  tail -4 "$O/mem.log" | awk '/RssAnon/{split($4, a, ":"); printf "  %s RssAnon %d MB\n", $2, a[2]/1024}'
done
