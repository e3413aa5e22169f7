#!/usr/bin/env bash
# A tour of a local four-zone obkv cluster: build, start the servers of examples/cluster.yaml,
# declare a tenant whose partitions have FULL replicas in z1, z2, z3 and a READONLY replica in
# z4 with leaders preferring z1, then kill the z1 server and watch the leaders fail over to
# z2/z3 and come back when it restarts.
#
#   bash examples/demo.sh          # run the tour (leaves the cluster running)
#   bin/obctl cluster down -c examples/cluster.yaml   # stop it afterwards
set -euo pipefail
cd "$(dirname "$0")/.."
C=(-c examples/cluster.yaml)
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
leaders() { bin/obctl show replicas --tenant demo "${C[@]}" -o json | python3 -c '
import json, sys, collections
rows = json.load(sys.stdin)
c = collections.Counter(r["server"] + "/" + r["zone"] for r in rows if r["role"] == "LEADER")
print("   leaders:", ", ".join(f"{k}: {v}" for k, v in sorted(c.items())) or "none yet")'; }
wait_leaders_in() { # wait until every partition of table demo.orders leads from one of the zones given
  for _ in $(seq 1 100); do
    if bin/obctl show replicas --tenant demo "${C[@]}" -o json | python3 -c '
import json, sys
zones = set(sys.argv[1].split(","))
rows = json.load(sys.stdin)
led = {r["partition"] for r in rows if r["role"] == "LEADER" and r["zone"] in zones}
parts = {r["partition"] for r in rows}
sys.exit(0 if parts and led == parts else 1)' "$1"; then return 0; fi
    sleep 0.1
  done
  echo "leaders did not settle in $1" >&2; return 1
}

say "build"
go build -o bin/ ./cmd/...

say "start the cluster (4 servers, zones z1 z2 z3 in region r1, z4 in region r2)"
bin/obctl cluster up "${C[@]}"

say "declare a unit, a pool over the four zones and a tenant"
bin/obctl show resource-units "${C[@]}" -o json | grep -q '"demo_unit"' ||
  bin/obctl create resource-unit demo_unit --max-cpu 1 --memory-size 1GiB "${C[@]}" >/dev/null
bin/obctl show resource-pools "${C[@]}" -o json | grep -q '"demo_pool"' ||
  bin/obctl create resource-pool demo_pool --unit demo_unit --unit-num 1 --zone-list z1,z2,z3,z4 "${C[@]}" >/dev/null
bin/obctl show tenants "${C[@]}" -o json | grep -q '"name": "demo"' ||
  bin/obctl create tenant demo --resource-pool-list demo_pool --locality F@z1,F@z2,F@z3,R@z4 --primary-zone 'z1;z2,z3' "${C[@]}" >/dev/null
bin/obctl show tables --tenant demo "${C[@]}" -o json | grep -q '"orders"' ||
  bin/obctl create table demo.orders --partitions 4 "${C[@]}" >/dev/null
bin/obctl show tenants "${C[@]}"

say "each partition is a Paxos group: FULL in z1-z3, READONLY in z4; leaders in z1 (primary_zone z1;z2,z3)"
wait_leaders_in z1
bin/obctl show replicas --tenant demo "${C[@]}"

say "kill -9 the z1 server: leaders move to the next level, z2 and z3, split evenly"
bin/obctl cluster stop --server s1 --kill "${C[@]}"
start=$(date +%s%N)
wait_leaders_in z2,z3
echo "   every partition led from z2/z3 again $(( ($(date +%s%N) - start) / 1000000 )) ms after the kill was confirmed"
leaders

say "restart it: it recovers from its clog and sstable, catches up, and leadership returns to z1"
bin/obctl cluster start --server s1 "${C[@]}"
wait_leaders_in z1
leaders

say "explore further"
cat <<'TXT'
   bin/obctl show replicas --tenant demo -c examples/cluster.yaml
   bin/obctl switch-leader demo.orders --partition 0 --to s2 -c examples/cluster.yaml
   bin/obctl alter tenant demo --primary-zone 'z2;z1,z3' -c examples/cluster.yaml
   bin/obctl alter tenant demo --locality F@z1,F@z2,F@z3,F@z4 -c examples/cluster.yaml && bin/obctl show jobs -c examples/cluster.yaml
   bin/obctl cluster status -c examples/cluster.yaml
   bin/obctl cluster down -c examples/cluster.yaml
TXT
