#!/bin/bash
# setup.sh BINDIR: make $PERF_DIR's cluster file and wrapper from BINDIR's obctl and observer,
# start a fresh cluster and load tenants b1 (1 partition) and b8 (8 partitions). The wrapper
# sources $PERF_DIR/wb/env when it exists: export GOMAXPROCS or GODEBUG there for an experiment.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd); . "$here/env.sh"
B=$(cd "$1" && pwd)
mkdir -p "$P" "$W"
sed "s/2885/2985/g; s/2886/2986/g; s#data/demo-3#$P/data#; s/cluster: demo-3/cluster: perf-3/" \
  "$here/../../examples/cluster-3.yaml" > "$C"
[ -x "$W/obctl" ] && "$W/obctl" cluster down -c "$C" >/dev/null 2>&1 || true
cp "$B/obctl" "$W/obctl"; cp "$B/observer" "$W/observer.real"
cat > "$W/observer" <<WRAP
#!/bin/bash
for a in "\$@"; do case \$prev in --server) S=\$a;; esac; prev=\$a; done
[ -f "$W/env" ] && . "$W/env"
exec "$W/observer.real" --pprof 127.0.0.1:606\${S#s} "\$@"
WRAP
chmod +x "$W/observer"
rm -rf "$P/data"
"$W/obctl" cluster up -c "$C"
"$W/obctl" bench -c "$C" --workload W --partitions 1 --tenant b1 --duration 1s >/dev/null
"$W/obctl" bench -c "$C" --workload W --partitions 8 --tenant b8 --duration 1s >/dev/null
echo "cluster perf-3 up with tenants b1 and b8; data in $P/data"
