#!/bin/bash
# watch.sh: every second, save `obctl show replicas --tenant b8` and every server's goroutine dump
# under $PERF_DIR/snaps (the last 200 files); when some b8 partition has had no leader in 4
# snapshots in a row, copy them all to $PERF_DIR/caught/TIME. Run it beside failover.sh to catch
# a long failover gap as it happens. Stop it with kill.
here=$(cd "$(dirname "$0")" && pwd); . "$here/env.sh"
mkdir -p "$P/snaps" "$P/caught"
bad=0
while true; do
  t=$(date +%H%M%S)
  "$W/obctl" show replicas -c "$C" --tenant b8 --timeout 1s > "$P/snaps/$t.replicas" 2>&1
  for n in 1 2 3; do curl -s -m 1 "http://127.0.0.1:606$n/debug/pprof/goroutine?debug=2" > "$P/snaps/$t.g$n"; done
  leaders=$(awk '$7=="LEADER"{print $3}' "$P/snaps/$t.replicas" | sort -u | wc -l)
  if [ "$leaders" -lt 8 ] && grep -q "^b8" "$P/snaps/$t.replicas"; then bad=$((bad+1)); else bad=0; fi
  if [ $bad -ge 4 ]; then mkdir -p "$P/caught/$t"; cp "$P"/snaps/* "$P/caught/$t/"; bad=-30; fi
  ls "$P/snaps" | head -n -200 | sed "s#^#$P/snaps/#" | xargs -r rm
  sleep 1
done
