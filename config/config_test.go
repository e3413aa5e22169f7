package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// base is a valid cluster file; the rule tests edit one line of it, so the
// line numbers in the golden messages below refer to this text.
const base = `cluster: demo
regions:
  - name: r1
    zones: [z1, z2]
  - name: r2
    zones: [z3]
servers:
  - name: s1
    zone: z1
    rpc_addr: 127.0.0.1:1001
    gossip_addr: 127.0.0.1:2001
    data_dir: data/s1
  - name: s2
    zone: z2
    rpc_addr: 127.0.0.1:1002
    gossip_addr: 127.0.0.1:2002
    data_dir: data/s2
  - name: s3
    zone: z3
    rpc_addr: 127.0.0.1:1003
    gossip_addr: 127.0.0.1:2003
    data_dir: /abs/s3
settings:
  tick: 10ms
`

func edit(t *testing.T, old, new string) string {
	t.Helper()
	if !strings.Contains(base, old) {
		t.Fatalf("base has no %q", old)
	}
	return strings.Replace(base, old, new, 1)
}

func TestBaseIsValid(t *testing.T) {
	cl, err := Parse([]byte(base), "cluster.yaml", "/base")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := cl.Zones(), []string{"z1", "z2", "z3"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Zones() = %v, want %v", got, want)
	}
	if got := cl.RegionOf("z3"); got != "r2" {
		t.Errorf("RegionOf(z3) = %q, want r2", got)
	}
	if got := cl.RegionOf("z9"); got != "" {
		t.Errorf("RegionOf(z9) = %q, want empty", got)
	}
	s, ok := cl.Server("s2")
	want := Server{Name: "s2", Zone: "z2", RPCAddr: "127.0.0.1:1002", GossipAddr: "127.0.0.1:2002", DataDir: "/base/data/s2"}
	if !ok || s != want {
		t.Errorf("Server(s2) = %+v, %v; want %+v", s, ok, want)
	}
	if _, ok := cl.Server("s9"); ok {
		t.Error("Server(s9) found")
	}
	if got := cl.ServersIn("z1"); len(got) != 1 || got[0].Name != "s1" {
		t.Errorf("ServersIn(z1) = %+v", got)
	}
	if got := cl.ServersIn("z9"); len(got) != 0 {
		t.Errorf("ServersIn(z9) = %+v", got)
	}
	if got := cl.ServerNames(); !reflect.DeepEqual(got, []string{"s1", "s2", "s3"}) {
		t.Errorf("ServerNames() = %v", got)
	}
	if cl.Path != "cluster.yaml" || cl.Dir != "/base" {
		t.Errorf("Path, Dir = %q, %q", cl.Path, cl.Dir)
	}
	if cl.Settings != DefaultSettings() {
		t.Errorf("Settings = %+v, want the defaults", cl.Settings)
	}
	if err := cl.Validate(); err != nil {
		t.Errorf("Validate after Parse: %v", err)
	}
}

// TestRules has one case per rule: the edit that breaks it and the exact
// message (file:line: field "value": rule).
func TestRules(t *testing.T) {
	for _, tc := range []struct {
		name, old, new, want string
	}{
		// Structure and types.
		{"unknown key", "    zone: z1\n", "    zonez: z1\n",
			`cluster.yaml:9: unknown key "zonez" in server (known: name, zone, rpc_addr, gossip_addr, data_dir, clog_dir, capacity)`},
		{"unknown top key", "cluster: demo\n", "cluster: demo\nclusterz: x\n",
			`cluster.yaml:2: unknown key "clusterz" in the top level (known: cluster, regions, servers, settings)`},
		{"unknown region key", "    zones: [z3]\n", "    zones: [z3]\n    zone: z3\n",
			`cluster.yaml:7: unknown key "zone" in region (known: name, zones)`},
		{"unknown setting", "  tick: 10ms\n", "  tick: 10ms\n  leese: 1s\n",
			`cluster.yaml:25: unknown key "leese" in settings (known: tick, lease, heartbeat_interval, max_clock_drift, election_lag_entries, closed_version_interval, memstore_limit, permanent_offline_time, gossip_probe_interval, gossip_probe_timeout, gossip_suspicion_mult, clog_segment_size, sstable_memory, checkpoint_interval, version_retention, rpc_timeout, memory_limit)`},
		{"duplicate key", "    zone: z1\n", "    zone: z1\n    zone: z2\n",
			`cluster.yaml:10: duplicate key "zone" in server (first at line 9)`},
		{"duplicate top key", "cluster: demo\n", "cluster: demo\ncluster: other\n",
			`cluster.yaml:2: duplicate key "cluster" in the top level (first at line 1)`},
		{"yaml syntax", "    zone: z1\n", "    zone: [z1\n",
			`cluster.yaml:8: invalid YAML: did not find expected ',' or ']'`},
		{"two documents", "settings:\n", "---\nsettings:\n",
			`cluster.yaml:23: invalid YAML: a second YAML document: a cluster file holds one`},
		{"top is a list", base, "- a\n- b\n",
			`cluster.yaml:1: must be a mapping of cluster, regions, servers, settings, got a list`},
		{"servers not a list", "servers:\n", "servers: 3\nx:\n",
			`cluster.yaml:7: servers: must be a list of servers ({name, zone, rpc_addr, gossip_addr, data_dir, clog_dir, capacity}), got an integer` + "\n" +
				`cluster.yaml:8: unknown key "x" in the top level (known: cluster, regions, servers, settings)`},
		{"server not a mapping", "  - name: s3\n", "  - s4\n  - name: s3\n",
			`cluster.yaml:18: servers[2]: must be a mapping of name, zone, rpc_addr, gossip_addr, data_dir, clog_dir, capacity, got a string`},
		{"zones not a list", "zones: [z3]", "zones: z3",
			`cluster.yaml:6: regions[1].zones: must be a list of zone names, got a string`},
		{"name is a list", "  - name: s3\n", "  - name: [s3]\n",
			`cluster.yaml:18: servers[2].name: must be a string, got a list`},
		{"name is a bool", "cluster: demo", "cluster: true",
			`cluster.yaml:1: cluster "true": must be a string, got a boolean: quote it if it is meant as text`},
		{"name is a float", "cluster: demo", "cluster: 1.5",
			`cluster.yaml:1: cluster "1.5": must be a string, got a number: quote it if it is meant as text`},

		// Names.
		{"cluster missing", "cluster: demo\n", "",
			`cluster.yaml:1: cluster: is required`},
		{"cluster empty", "cluster: demo", "cluster: ",
			`cluster.yaml:1: cluster: is required`},
		{"cluster bad name", "cluster: demo", "cluster: 'my cluster'",
			`cluster.yaml:1: cluster "my cluster": must be 1 to 64 characters of A-Z a-z 0-9 _ . -, starting with a letter or digit`},
		{"cluster long name", "cluster: demo", "cluster: " + strings.Repeat("a", 65),
			`cluster.yaml:1: cluster "` + strings.Repeat("a", 65) + `": must be 1 to 64 characters of A-Z a-z 0-9 _ . -, starting with a letter or digit`},
		{"zone name with comma", "zones: [z3]", "zones: ['z3,z4']",
			`cluster.yaml:6: regions[1].zones[0] "z3,z4": must be 1 to 64 characters of A-Z a-z 0-9 _ . -, starting with a letter or digit` + "\n" +
				`cluster.yaml:19: servers[2].zone "z3": zone is not declared under regions (declared: z1, z2)`},
		{"zone RANDOM", "zones: [z3]", "zones: [z3, random]",
			`cluster.yaml:6: regions[1].zones[1] "random": is reserved: primary_zone RANDOM means every zone`},
		{"server name missing", "  - name: s3\n", "  - name:\n",
			`cluster.yaml:18: servers[2].name: is required`},

		// Regions and zones.
		{"no regions", "regions:\n  - name: r1\n    zones: [z1, z2]\n  - name: r2\n    zones: [z3]\n", "regions:\n",
			`cluster.yaml:2: regions: is required: list at least one region with its zones` + "\n" +
				`cluster.yaml:5: servers[0].zone "z1": zone is not declared under regions (declared: )` + "\n" +
				`cluster.yaml:10: servers[1].zone "z2": zone is not declared under regions (declared: )` + "\n" +
				`cluster.yaml:15: servers[2].zone "z3": zone is not declared under regions (declared: )`},
		{"duplicate region", "  - name: r2\n", "  - name: r1\n",
			`cluster.yaml:5: regions[1].name "r1": duplicate region name: regions[0] has it too`},
		{"region without zones", "zones: [z3]", "zones: []",
			`cluster.yaml:6: regions[1].zones: is required: a region lists at least one zone` + "\n" +
				`cluster.yaml:19: servers[2].zone "z3": zone is not declared under regions (declared: z1, z2)`},
		{"zone in two regions", "zones: [z3]", "zones: [z3, z1]",
			`cluster.yaml:6: regions[1].zones[1] "z1": zone is already declared at regions[0].zones[0] (region r1): a zone belongs to exactly one region`},
		{"zone twice in a region", "zones: [z1, z2]", "zones: [z1, z2, z1]",
			`cluster.yaml:4: regions[0].zones[2] "z1": zone is already declared at regions[0].zones[0] (region r1): a zone belongs to exactly one region`},
		{"zone without server", "zones: [z3]", "zones: [z3, z4]",
			`cluster.yaml:6: regions[1].zones[1] "z4": zone has no server: every zone needs at least one`},

		// Servers.
		{"no servers", base[strings.Index(base, "servers:"):strings.Index(base, "settings:")], "servers: []\n",
			`cluster.yaml:4: regions[0].zones[0] "z1": zone has no server: every zone needs at least one` + "\n" +
				`cluster.yaml:4: regions[0].zones[1] "z2": zone has no server: every zone needs at least one` + "\n" +
				`cluster.yaml:6: regions[1].zones[0] "z3": zone has no server: every zone needs at least one` + "\n" +
				`cluster.yaml:7: servers: is required: list at least one server`},
		{"duplicate server", "  - name: s2\n", "  - name: s1\n",
			`cluster.yaml:13: servers[1].name "s1": duplicate server name: servers[0] has it too`},
		{"undeclared zone", "    zone: z3\n", "    zone: z9\n",
			`cluster.yaml:6: regions[1].zones[0] "z3": zone has no server: every zone needs at least one` + "\n" +
				`cluster.yaml:19: servers[2].zone "z9": zone is not declared under regions (declared: z1, z2, z3)`},
		{"zone missing", "    zone: z1\n", "",
			`cluster.yaml:4: regions[0].zones[0] "z1": zone has no server: every zone needs at least one` + "\n" +
				`cluster.yaml:8: servers[0].zone: is required`},

		// Addresses.
		{"rpc_addr missing", "    rpc_addr: 127.0.0.1:1001\n", "",
			`cluster.yaml:8: servers[0].rpc_addr: is required`},
		{"rpc_addr no port", "127.0.0.1:1001", "127.0.0.1",
			`cluster.yaml:10: servers[0].rpc_addr "127.0.0.1": must be host:port, e.g. 127.0.0.1:28811`},
		{"rpc_addr no host", "127.0.0.1:1001", ":1001",
			`cluster.yaml:10: servers[0].rpc_addr ":1001": host is missing: give an address peers can dial, e.g. 127.0.0.1:28811`},
		{"rpc_addr unspecified", "127.0.0.1:1001", "0.0.0.0:1001",
			`cluster.yaml:10: servers[0].rpc_addr "0.0.0.0:1001": host 0.0.0.0 is the unspecified address: give an address peers can dial`},
		{"rpc_addr multicast", "127.0.0.1:1001", "224.0.0.1:1001",
			`cluster.yaml:10: servers[0].rpc_addr "224.0.0.1:1001": host 224.0.0.1 is a multicast or broadcast address: give an address peers can dial (TCP connects to one host)`},
		{"rpc_addr broadcast", "127.0.0.1:1001", "255.255.255.255:1001",
			`cluster.yaml:10: servers[0].rpc_addr "255.255.255.255:1001": host 255.255.255.255 is a multicast or broadcast address: give an address peers can dial (TCP connects to one host)`},
		{"port with a sign", "127.0.0.1:1001", "127.0.0.1:+1001",
			`cluster.yaml:10: servers[0].rpc_addr "127.0.0.1:+1001": port "+1001" must be a number between 1 and 65535`},
		{"port not numeric", "127.0.0.1:1001", "127.0.0.1:http",
			`cluster.yaml:10: servers[0].rpc_addr "127.0.0.1:http": port "http" must be a number between 1 and 65535`},
		{"port zero", "127.0.0.1:1001", "127.0.0.1:0",
			`cluster.yaml:10: servers[0].rpc_addr "127.0.0.1:0": port 0 must be between 1 and 65535`},
		{"port too big", "127.0.0.1:2001", "127.0.0.1:65536",
			`cluster.yaml:11: servers[0].gossip_addr "127.0.0.1:65536": port 65536 must be between 1 and 65535`},
		{"duplicate rpc_addr", "127.0.0.1:1002", "127.0.0.1:1001",
			`cluster.yaml:15: servers[1].rpc_addr "127.0.0.1:1001": address is already used by servers[0].rpc_addr: every rpc_addr and gossip_addr must be distinct`},
		{"gossip equals another rpc", "127.0.0.1:2003", "127.0.0.1:1002",
			`cluster.yaml:21: servers[2].gossip_addr "127.0.0.1:1002": address is already used by servers[1].rpc_addr: every rpc_addr and gossip_addr must be distinct`},
		{"gossip equals own rpc", "127.0.0.1:2001", "127.0.0.1:1001",
			`cluster.yaml:11: servers[0].gossip_addr "127.0.0.1:1001": address is already used by servers[0].rpc_addr: every rpc_addr and gossip_addr must be distinct`},
		{"ipv6 loopback and ipv4 loopback on one port are distinct", "rpc_addr: 127.0.0.1:1002", "rpc_addr: '[::1]:1002'\n    # x",
			``},
		{"an ipv6 rpc_addr on another server's ipv4 port is distinct", "127.0.0.1:1001", "'[::1]:1001'",
			``},

		// Data directories.
		{"data_dir missing", "    data_dir: data/s1\n", "",
			`cluster.yaml:8: servers[0].data_dir: is required`},
		{"data_dir tilde", "data_dir: data/s1", "data_dir: ~/s1",
			`cluster.yaml:12: servers[0].data_dir "~/s1": ~ is not expanded: write an absolute path or one relative to the cluster file`},
		{"duplicate data_dir", "data_dir: data/s2", "data_dir: ./data/../data/s1",
			`cluster.yaml:17: servers[1].data_dir "/base/data/s1": data_dir is already used by servers[0].data_dir: every server needs its own`},
		{"nested data_dir", "data_dir: data/s2", "data_dir: data/s1/inner",
			`cluster.yaml:17: servers[1].data_dir "/base/data/s1/inner": data_dir nests with servers[0].data_dir (/base/data/s1): servers' directories must not contain each other`},
		{"parent data_dir", "data_dir: /abs/s3", "data_dir: /base",
			`cluster.yaml:22: servers[2].data_dir "/base": data_dir nests with servers[0].data_dir (/base/data/s1): servers' directories must not contain each other`},

		// Settings: types.
		{"duration without unit", "tick: 10ms", "tick: 10",
			`cluster.yaml:24: settings.tick "10": not a duration: write a number with a unit (ns, us, ms, s, m, h), e.g. "10ms"`},
		{"duration garbage", "tick: 10ms", "tick: soon",
			`cluster.yaml:24: settings.tick "soon": not a duration: write a number with a unit (ns, us, ms, s, m, h), e.g. "10ms"`},
		{"duration is a list", "tick: 10ms", "tick: [10ms]",
			`cluster.yaml:24: settings.tick: must be a duration, got a list`},
		{"duration null", "tick: 10ms", "tick:",
			`cluster.yaml:24: settings.tick: must be a duration, got nothing`},
		{"size ambiguous unit", "tick: 10ms", "memstore_limit: 64MB",
			`cluster.yaml:24: settings.memstore_limit "64MB": unit MB is ambiguous (1000- or 1024-based): write MiB for 1024-based units`},
		{"size bool", "tick: 10ms", "memstore_limit: true",
			`cluster.yaml:24: settings.memstore_limit "true": not a size: write bytes or a number with a unit, e.g. 64MiB`},
		{"count not an integer", "tick: 10ms", "election_lag_entries: 1e4",
			`cluster.yaml:24: settings.election_lag_entries "1e4": must be an integer`},
		{"duration beyond int64", "tick: 10ms", "tick: 9999999999h",
			`cluster.yaml:24: settings.tick "9999999999h": is beyond the largest duration (about 2562047h); must be between 1ms and 1s`},
		{"count beyond int64", "tick: 10ms", "election_lag_entries: 99999999999999999999999",
			`cluster.yaml:24: settings.election_lag_entries "99999999999999999999999": is too large: must be between 1 and 1099511627776`},
		{"count quoted", "tick: 10ms", "election_lag_entries: '100'",
			`cluster.yaml:24: settings.election_lag_entries "100": must be an integer`},
		{"settings not a mapping", "settings:\n  tick: 10ms\n", "settings: [tick]\n",
			`cluster.yaml:23: settings: must be a mapping of tick, lease, heartbeat_interval, max_clock_drift, election_lag_entries, closed_version_interval, memstore_limit, permanent_offline_time, gossip_probe_interval, gossip_probe_timeout, gossip_suspicion_mult, clog_segment_size, sstable_memory, checkpoint_interval, version_retention, rpc_timeout, memory_limit, got a list`},

		// Settings: ranges.
		{"tick too small", "tick: 10ms", "tick: 100us",
			`cluster.yaml:24: settings.tick "100µs": must be between 1ms and 1s`},
		{"negative drift", "tick: 10ms", "max_clock_drift: -1ms",
			`cluster.yaml:24: settings.max_clock_drift "-1ms": must be between 0s and 10s`},
		{"permanent offline under 1s", "tick: 10ms", "permanent_offline_time: 500ms",
			`cluster.yaml:24: settings.permanent_offline_time "500ms": must be between 1s and 720h`},
		{"memstore too small", "tick: 10ms", "memstore_limit: 1000",
			`cluster.yaml:24: settings.memstore_limit "1000B": must be between 1MiB and 64GiB`},
		{"segment too large", "tick: 10ms", "clog_segment_size: 4GiB",
			`cluster.yaml:24: settings.clog_segment_size "4GiB": must be between 32MiB and 2GiB`},
		{"sstable memory too small", "tick: 10ms", "sstable_memory: 64MiB",
			`cluster.yaml:24: settings.sstable_memory "64MiB": must be between 128MiB and 1TiB`},
		{"memory limit under the sstable's budget", "tick: 10ms", "memory_limit: 512MiB",
			`cluster.yaml:24: settings.memory_limit "512MiB": must be 0 (no limit) or at least sstable_memory + 256MiB (768MiB), room for the Paxos logs, memstores and buffers beside the sstable's budget`},
		{"suspicion mult zero", "tick: 10ms", "gossip_suspicion_mult: 0",
			`cluster.yaml:24: settings.gossip_suspicion_mult "0": must be between 1 and 20`},
		{"election lag zero", "tick: 10ms", "election_lag_entries: 0",
			`cluster.yaml:24: settings.election_lag_entries "0": must be between 1 and 1099511627776`},
		{"checkpoint too long", "tick: 10ms", "checkpoint_interval: 48h",
			`cluster.yaml:24: settings.checkpoint_interval "48h": must be between 1s and 24h`},
		{"rpc timeout too short", "tick: 10ms", "rpc_timeout: 1ms",
			`cluster.yaml:24: settings.rpc_timeout "1ms": must be between 10ms and 10m`},

		// Settings: consistency.
		{"lease not a multiple of tick", "tick: 10ms", "lease: 505ms",
			`cluster.yaml:24: settings.lease "505ms": must be a multiple of tick (10ms)`},
		{"lease under 4 ticks", "tick: 10ms", "tick: 100ms\n  lease: 300ms\n  heartbeat_interval: 100ms\n  max_clock_drift: 0s\n  closed_version_interval: 100ms",
			`cluster.yaml:25: settings.lease "300ms": must be at least 4 ticks (400ms with tick 100ms) so a lease outlives a few heartbeats`},
		{"heartbeat not a multiple of tick", "tick: 10ms", "heartbeat_interval: 55ms",
			`cluster.yaml:24: settings.heartbeat_interval "55ms": must be a multiple of tick (10ms)`},
		{"closed version not a multiple of tick", "tick: 10ms", "closed_version_interval: 15ms",
			`cluster.yaml:24: settings.closed_version_interval "15ms": must be a multiple of tick (10ms)`},
		{"heartbeat over lease/2", "tick: 10ms", "heartbeat_interval: 250ms\n  max_clock_drift: 0s",
			`cluster.yaml:24: settings.heartbeat_interval "250ms": must be under (lease - max_clock_drift - tick)/2 = 245ms (max_clock_drift rounded up to ticks) so a lease survives one lost renewal`},
		{"heartbeat over (lease-drift-tick)/2", "tick: 10ms", "heartbeat_interval: 240ms\n  max_clock_drift: 1ms",
			`cluster.yaml:24: settings.heartbeat_interval "240ms": must be under (lease - max_clock_drift - tick)/2 = 240ms (max_clock_drift rounded up to ticks) so a lease survives one lost renewal`},
		{"heartbeat over (lease-drift)/2", "tick: 10ms", "heartbeat_interval: 200ms\n  max_clock_drift: 100ms",
			`cluster.yaml:24: settings.heartbeat_interval "200ms": must be under (lease - max_clock_drift - tick)/2 = 195ms (max_clock_drift rounded up to ticks) so a lease survives one lost renewal`},
		{"a default breaks a rule", "tick: 10ms", "max_clock_drift: 435ms",
			`cluster.yaml: settings.heartbeat_interval "50ms": must be under (lease - max_clock_drift - tick)/2 = 25ms (max_clock_drift rounded up to ticks) so a lease survives one lost renewal (this is the default: the file does not set heartbeat_interval)`},
		{"drift over lease - 2 ticks", "tick: 10ms", "max_clock_drift: 481ms",
			`cluster.yaml:24: settings.max_clock_drift "481ms": must be at most lease - 2 ticks (480ms): the leader ends its lease max_clock_drift (rounded up to ticks) plus one tick early, and must keep a tick of it`},
		{"probe timeout not under interval", "tick: 10ms", "gossip_probe_timeout: 200ms",
			`cluster.yaml:24: settings.gossip_probe_timeout "200ms": must be under gossip_probe_interval (200ms), which also holds the indirect probes`},
		// Clog directories.
		{"clog_dir on another disk", "    data_dir: data/s1\n", "    data_dir: data/s1\n    clog_dir: /disk2/s1\n", ""},
		{"clog_dir the default spelled out", "    data_dir: data/s1\n", "    data_dir: data/s1\n    clog_dir: data/s1/clog\n", ""},
		{"clog_dir tilde", "    data_dir: data/s1\n", "    data_dir: data/s1\n    clog_dir: ~/clog\n",
			`cluster.yaml:13: servers[0].clog_dir "~/clog": ~ is not expanded: write an absolute path or one relative to the cluster file`},
		{"clog_dir is the data_dir", "    data_dir: data/s1\n", "    data_dir: data/s1\n    clog_dir: data/s1\n",
			`cluster.yaml:13: servers[0].clog_dir "/base/data/s1": holds servers[0].data_dir (/base/data/s1): the clog needs a directory of its own`},
		{"clog_dir holds a data_dir", "    data_dir: data/s1\n", "    data_dir: data/s1\n    clog_dir: data\n",
			`cluster.yaml:13: servers[0].clog_dir "/base/data": holds servers[0].data_dir (/base/data/s1): the clog needs a directory of its own`},
		{"clog_dir in the sstable", "    data_dir: data/s1\n", "    data_dir: data/s1\n    clog_dir: data/s1/sstable\n",
			`cluster.yaml:13: servers[0].clog_dir "/base/data/s1/sstable": is inside this server's data_dir, where only /base/data/s1/clog (the default) may hold the clog`},
		{"clog_dir in another server's data_dir", "    data_dir: data/s1\n", "    data_dir: data/s1\n    clog_dir: data/s2/clog\n",
			`cluster.yaml:13: servers[0].clog_dir "/base/data/s2/clog": is inside servers[1].data_dir (/base/data/s2): every server needs its own`},
		{"clog_dir not a string", "    data_dir: data/s1\n", "    data_dir: data/s1\n    clog_dir: [a]\n",
			`cluster.yaml:13: servers[0].clog_dir: must be a string, got a list`},
		// Server capacity.
		{"capacity accepted", "    data_dir: data/s1\n", "    data_dir: data/s1\n    capacity: {cpu: 7.5, memory: 32GiB, log_disk: 100G}\n", ""},
		{"capacity empty", "    data_dir: data/s1\n", "    data_dir: data/s1\n    capacity:\n", ""},
		{"capacity unknown key", "    data_dir: data/s1\n", "    data_dir: data/s1\n    capacity: {cpus: 8}\n",
			`cluster.yaml:13: unknown key "cpus" in capacity (known: cpu, memory, log_disk)`},
		{"capacity not a mapping", "    data_dir: data/s1\n", "    data_dir: data/s1\n    capacity: 8\n",
			`cluster.yaml:13: servers[0].capacity: must be a mapping of cpu, memory, log_disk, got an integer`},
		{"capacity cpu not a number", "    data_dir: data/s1\n", "    data_dir: data/s1\n    capacity: {cpu: eight}\n",
			`cluster.yaml:13: servers[0].capacity.cpu "eight": must be a number of CPUs, e.g. 8 or 7.5`},
		{"capacity cpu below the system unit", "    data_dir: data/s1\n", "    data_dir: data/s1\n    capacity: {cpu: 0.5}\n",
			`cluster.yaml:13: servers[0].capacity.cpu "0.5": must be at least 1: every server holds the system tenant's unit (0 or missing: not checked)`},
		{"capacity cpu negative", "    data_dir: data/s1\n", "    data_dir: data/s1\n    capacity: {cpu: -2}\n",
			`cluster.yaml:13: servers[0].capacity.cpu "-2": must not be negative (0 or missing: not checked)`},
		{"capacity memory below the system unit", "    data_dir: data/s1\n", "    data_dir: data/s1\n    capacity: {memory: 128MiB}\n",
			`cluster.yaml:13: servers[0].capacity.memory "128MiB": must be at least 256MiB: every server holds the system tenant's unit (0 or missing: not checked)`},
		{"capacity log disk not a size", "    data_dir: data/s1\n", "    data_dir: data/s1\n    capacity: {log_disk: 10GB}\n",
			`cluster.yaml:13: servers[0].capacity.log_disk "10GB": unit GB is ambiguous (1000- or 1024-based): write GiB for 1024-based units`},
		{"capacity log disk below the system unit", "    data_dir: data/s1\n", "    data_dir: data/s1\n    capacity: {log_disk: 512MiB}\n",
			`cluster.yaml:13: servers[0].capacity.log_disk "512MiB": must be at least 768MiB: every server holds the system tenant's unit (0 or missing: not checked)`},
		{"empty file", base, "",
			`cluster.yaml: the file is empty: it needs cluster, regions and servers`},
		{"comments only", base, "# nothing\n",
			`cluster.yaml: the file is empty: it needs cluster, regions and servers`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cl, err := Parse([]byte(edit(t, tc.old, tc.new)), "cluster.yaml", "/base")
			if tc.want == "" {
				// Cases whose point is that they are accepted.
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Parse accepted the file; want error:\n%s", tc.want)
			}
			if cl != nil {
				t.Errorf("Parse returned a cluster with its error")
			}
			if err.Error() != tc.want {
				t.Errorf("error:\n%s\nwant:\n%s", err, tc.want)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error does not wrap ErrInvalid: %v", err)
			}
			var fe *FieldError
			if !errors.As(err, &fe) || fe.File != "cluster.yaml" {
				t.Errorf("error is not a *FieldError of cluster.yaml: %#v", err)
			}
		})
	}
}

// TestIPv6DuplicateDetected: addresses are compared after normalizing IPs.
func TestIPv6DuplicateDetected(t *testing.T) {
	text := strings.Replace(base, "127.0.0.1:1001", "'[::1]:1001'", 1)
	text = strings.Replace(text, "127.0.0.1:1002", "'[0:0::1]:1001'", 1)
	_, err := Parse([]byte(text), "c.yaml", "/base")
	want := `c.yaml:15: servers[1].rpc_addr "[0:0::1]:1001": address is already used by servers[0].rpc_addr: every rpc_addr and gossip_addr must be distinct`
	if err == nil || err.Error() != want {
		t.Fatalf("error:\n%v\nwant:\n%s", err, want)
	}
}

// TestUnknownKeyLine is the example of the brief: the misspelled key is on
// line 12 and the message names it, the section and the known keys.
func TestUnknownKeyLine(t *testing.T) {
	text := edit(t, "    data_dir: data/s1\n", "    zonez: data/s1\n")
	_, err := Parse([]byte(text), "cluster.yaml", "/base")
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Line != 12 {
		t.Fatalf("error %v: want a *FieldError at line 12", err)
	}
	want := `cluster.yaml:12: unknown key "zonez" in server (known: name, zone, rpc_addr, gossip_addr, data_dir, clog_dir, capacity)`
	if got := strings.SplitN(err.Error(), "\n", 2)[0]; got != want {
		t.Errorf("first error %q, want %q", got, want)
	}
}

func TestManyErrorsAreCapped(t *testing.T) {
	var b strings.Builder
	b.WriteString("cluster: demo\nregions: [{name: r1, zones: [z1]}]\nservers: [{name: s1, zone: z1, rpc_addr: 'a:1', gossip_addr: 'a:2', data_dir: d}]\nsettings:\n")
	for range 30 {
		b.WriteString("  tick: 10ms\n")
	}
	_, err := Parse([]byte(b.String()), "c.yaml", "/")
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != maxErrors+1 || lines[maxErrors] != "invalid cluster file: 9 more problems not shown" {
		t.Errorf("got %d lines, last %q", len(lines), lines[len(lines)-1])
	}
}

func TestAliasesAndFlowStyle(t *testing.T) {
	text := `cluster: demo
regions: [{name: r1, zones: &zs [z1]}]
x-zones: *zs
`
	_, err := Parse([]byte(text), "c.yaml", "/")
	if err == nil || !strings.Contains(err.Error(), `c.yaml:3: unknown key "x-zones"`) {
		t.Errorf("error %v: want unknown key x-zones at line 3", err)
	}
	text = `cluster: demo
regions: [{name: r1, zones: [z1]}]
servers:
  - &s {name: s1, zone: z1, rpc_addr: 'h:1', gossip_addr: 'h:2', data_dir: d1}
  - *s
`
	_, err = Parse([]byte(text), "c.yaml", "/")
	if err == nil || !strings.Contains(err.Error(), `servers[1].name "s1": duplicate server name`) {
		t.Errorf("error %v: want a duplicate from the alias", err)
	}
}

func TestRelativeDataDir(t *testing.T) {
	dir := t.TempDir()
	sub := filepath.Join(dir, "conf")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(sub, "c.yaml")
	if err := os.WriteFile(path, []byte(base), 0o644); err != nil {
		t.Fatal(err)
	}
	// Load through a relative path: the data dirs follow the file, not the
	// working directory.
	t.Chdir(dir)
	cl, err := Load("conf/c.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if cl.Path != path || cl.Dir != sub {
		t.Errorf("Path, Dir = %q, %q; want %q, %q", cl.Path, cl.Dir, path, sub)
	}
	for _, tc := range []struct{ server, want string }{
		{"s1", filepath.Join(sub, "data", "s1")},
		{"s3", "/abs/s3"},
	} {
		if s, _ := cl.Server(tc.server); s.DataDir != tc.want {
			t.Errorf("%s data_dir = %q, want %q", tc.server, s.DataDir, tc.want)
		}
	}
	// Parse with an empty baseDir uses the working directory.
	cl, err = Parse([]byte(base), "c.yaml", "")
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := cl.Server("s1"); s.DataDir != filepath.Join(dir, "data", "s1") {
		t.Errorf("data_dir with empty baseDir = %q", s.DataDir)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"))
	if !errors.Is(err, os.ErrNotExist) || !strings.HasPrefix(err.Error(), "cluster file: open ") {
		t.Errorf("error %v: want a not-exist error naming the file", err)
	}
}

// TestLoadRefusesWhatIsNotAClusterFile: a directory, a device and a file over MaxFileBytes
// are refused by name, not read (/dev/zero ran the process out of memory).
func TestLoadRefusesWhatIsNotAClusterFile(t *testing.T) {
	big := filepath.Join(t.TempDir(), "big.yaml")
	if err := os.WriteFile(big, make([]byte, MaxFileBytes+1), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ path, want string }{
		{t.TempDir(), "not a regular file"},
		{"/dev/zero", "not a regular file"},
		{big, "over 16 MiB"},
	} {
		if _, err := Load(tc.path); err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.path) {
			t.Errorf("Load(%s) = %v; want an error naming it: %q", tc.path, err, tc.want)
		}
	}
}

// TestWithin: the nesting test of data and clog directories.
func TestWithin(t *testing.T) {
	for _, tc := range []struct {
		dir, parent string
		want        bool
	}{
		{"/a/b", "/a", true}, {"/a/b/c", "/a", true}, {"/a", "/a", false}, {"/ab", "/a", false},
		{"/a", "/a/b", false}, {"/a", "/", true}, {"/", "/", false}, {"/b", "/a", false},
	} {
		if got := within(tc.dir, tc.parent); got != tc.want {
			t.Errorf("within(%q, %q) = %v; want %v", tc.dir, tc.parent, got, tc.want)
		}
	}
}

func TestExamples(t *testing.T) {
	for _, tc := range []struct {
		file    string
		name    string
		zones   []string
		servers int
	}{
		{"cluster.yaml", "demo", []string{"z1", "z2", "z3", "z4"}, 4},
		{"cluster-3x2.yaml", "demo-3x2", []string{"z1", "z2", "z3"}, 6},
		{"cluster-3.yaml", "demo-3", []string{"z1", "z2", "z3"}, 3},
	} {
		t.Run(tc.file, func(t *testing.T) {
			cl, err := Load(filepath.Join("..", "examples", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			if cl.Name != tc.name || !reflect.DeepEqual(cl.Zones(), tc.zones) || len(cl.Servers) != tc.servers {
				t.Errorf("loaded %s with zones %v and %d servers", cl.Name, cl.Zones(), len(cl.Servers))
			}
			examples, _ := filepath.Abs(filepath.Join("..", "examples", "data"))
			for _, s := range cl.Servers {
				if !strings.HasPrefix(s.DataDir, examples+string(filepath.Separator)) {
					t.Errorf("%s data_dir %s is not under %s", s.Name, s.DataDir, examples)
				}
				if h := s.RPCAddr[:strings.LastIndex(s.RPCAddr, ":")]; h != "127.0.0.1" {
					t.Errorf("%s rpc_addr %s is not on loopback", s.Name, s.RPCAddr)
				}
			}
			// The example spells the defaults out; they must be the defaults.
			if cl.Settings != DefaultSettings() {
				t.Errorf("settings %+v differ from DefaultSettings %+v", cl.Settings, DefaultSettings())
			}
		})
	}
	cl, _ := Load(filepath.Join("..", "examples", "cluster.yaml"))
	if cl.RegionOf("z4") != "r2" || cl.RegionOf("z1") != "r1" {
		t.Errorf("regions of z4, z1 = %s, %s", cl.RegionOf("z4"), cl.RegionOf("z1"))
	}
}

// TestValidateInCode: a cluster built in code has no lines; messages still
// name field, value and rule.
func TestValidateInCode(t *testing.T) {
	cl := &Cluster{
		Name:     "c",
		Regions:  []Region{{Name: "r", Zones: []string{"z1"}}},
		Servers:  []Server{{Name: "s1", Zone: "z1", RPCAddr: "h:1", GossipAddr: "h:2", DataDir: "rel"}},
		Settings: DefaultSettings(),
	}
	want := `servers[0].data_dir "rel": must be absolute (Parse resolves relative paths against the file's directory)`
	if err := cl.Validate(); err == nil || err.Error() != want {
		t.Errorf("Validate:\n%v\nwant:\n%s", err, want)
	}
	cl.Servers[0].DataDir = "/d"
	if err := cl.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
	cl.Settings = Settings{}
	err := cl.Validate()
	if err == nil || !strings.HasPrefix(err.Error(), `settings.tick "0s": must be between 1ms and 1s`) {
		t.Errorf("zero settings: %v", err)
	}
}

func TestSettingsDefaults(t *testing.T) {
	s := DefaultSettings()
	if err := s.Validate(); err != nil {
		t.Fatalf("defaults do not validate: %v", err)
	}
	for _, tc := range []struct {
		name      string
		got, want uint64
	}{
		{"LeaseTicks", s.LeaseTicks(), 50},
		{"HeartbeatTicks", s.HeartbeatTicks(), 5},
		{"MaxDriftTicks", s.MaxDriftTicks(), 6}, // 50ms of drift and the tick counters' own tick
		{"ClosedVersionTicks", s.ClosedVersionTicks(), 5},
		{"Ticks(15ms)", s.Ticks(15 * time.Millisecond), 2},
		{"Ticks(0)", s.Ticks(0), 0},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %d, want %d", tc.name, tc.got, tc.want)
		}
	}
	s.MaxClockDrift = 1 * time.Millisecond
	if got := s.MaxDriftTicks(); got != 2 {
		t.Errorf("MaxDriftTicks of 1ms with a 10ms tick = %d, want 2 (rounded up, plus a tick)", got)
	}
	// Every spec reads and writes its own field.
	for i := range settingSpecs {
		sp := &settingSpecs[i]
		var z Settings
		sp.set(&z, 7)
		if sp.get(&z) != 7 {
			t.Errorf("%s: set/get do not round-trip", sp.key)
		}
		for j := range settingSpecs {
			if j != i && settingSpecs[j].get(&z) != 0 {
				t.Errorf("setting %s also changed %s", sp.key, settingSpecs[j].key)
			}
		}
		def := DefaultSettings()
		if v := sp.get(&def); v < sp.min || v > sp.max {
			t.Errorf("%s default %s outside its range", sp.key, sp.format(v))
		}
	}
	if n, f := len(settingSpecs), reflect.TypeFor[Settings]().NumField(); n != f {
		t.Errorf("%d setting specs for %d Settings fields", n, f)
	}
}

func TestSettingsOverride(t *testing.T) {
	text := edit(t, "  tick: 10ms\n", `  tick: 5ms
  lease: 1s
  heartbeat_interval: 100ms
  max_clock_drift: 0
  election_lag_entries: 0x10
  closed_version_interval: 20ms
  memstore_limit: 128M
  permanent_offline_time: 2s
  gossip_probe_interval: 1s
  gossip_probe_timeout: 500ms
  gossip_suspicion_mult: 4
  clog_segment_size: 33554432
  sstable_memory: 1GiB
  checkpoint_interval: 5m
  version_retention: 1h
  rpc_timeout: 500ms
`)
	cl, err := Parse([]byte(text), "c.yaml", "/")
	if err != nil {
		t.Fatal(err)
	}
	want := Settings{
		Tick: 5 * time.Millisecond, LeaseDuration: time.Second, HeartbeatInterval: 100 * time.Millisecond,
		MaxClockDrift: 0, ElectionLagEntries: 16, ClosedVersionInterval: 20 * time.Millisecond,
		MemstoreLimitBytes: 128 << 20, PermanentOfflineTime: 2 * time.Second,
		GossipProbeInterval: time.Second, GossipProbeTimeout: 500 * time.Millisecond, GossipSuspicionMult: 4,
		ClogSegmentBytes: 32 << 20, SSTableMemoryBytes: 1 << 30, CheckpointInterval: 5 * time.Minute,
		VersionRetention: time.Hour, RPCTimeout: 500 * time.Millisecond,
	}
	if cl.Settings != want {
		t.Errorf("settings\n%+v\nwant\n%+v", cl.Settings, want)
	}
	if cl.Settings.LeaseTicks() != 200 || cl.Settings.MaxDriftTicks() != 1 {
		t.Errorf("LeaseTicks, MaxDriftTicks = %d, %d", cl.Settings.LeaseTicks(), cl.Settings.MaxDriftTicks())
	}
	// An empty settings section means all defaults.
	cl, err = Parse([]byte(edit(t, "  tick: 10ms\n", "")), "c.yaml", "/")
	if err != nil || cl.Settings != DefaultSettings() {
		t.Errorf("empty settings: %v, %+v", err, cl)
	}
}

// TestDocsCoverSettings: docs/configuration.md has a table row for every
// setting, with its default.
func TestDocsCoverSettings(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "docs", "configuration.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, info := range SettingsInfo() {
		row := "| `" + info.Key + "` | " + info.Kind + " | `" + info.Default + "` |"
		if !strings.Contains(string(doc), row) {
			t.Errorf("docs/configuration.md has no row starting %q", row)
		}
	}
}

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Size
		err  string
	}{
		{"0", 0, ""},
		{"1048576", MiB, ""},
		{"64MiB", 64 * MiB, ""},
		{"64 MiB", 64 * MiB, ""},
		{" 1GiB ", GiB, ""},
		{"4G", 4 * GiB, ""},
		{"4gib", 4 * GiB, ""},
		{"512KiB", 512 * KiB, ""},
		{"2TiB", 2 * TiB, ""},
		{"10B", 10, ""},
		{"8388607TiB", 8388607 * TiB, ""},
		{"8388608TiB", 0, `invalid size "8388608TiB": above the largest size, 9223372036854775807 bytes`},
		{"99999999999999999999", 0, `invalid size "99999999999999999999": above the largest size, 9223372036854775807 bytes`},
		{"", 0, `invalid size "": must start with a non-negative integer number of bytes, e.g. 64MiB`},
		{"-1", 0, `invalid size "-1": must start with a non-negative integer number of bytes, e.g. 64MiB`},
		{"MiB", 0, `invalid size "MiB": must start with a non-negative integer number of bytes, e.g. 64MiB`},
		{"1.5GiB", 0, `invalid size "1.5GiB": must be a whole number: use a smaller unit`},
		{"64MB", 0, `invalid size "64MB": unit MB is ambiguous (1000- or 1024-based): write MiB for 1024-based units`},
		{"1gb", 0, `invalid size "1gb": unit gb is ambiguous (1000- or 1024-based): write GiB for 1024-based units`},
		{"3 bananas", 0, `invalid size "3 bananas": unknown unit "bananas" (known: B, KiB, MiB, GiB, TiB)`},
	} {
		got, err := ParseSize(tc.in)
		switch {
		case tc.err == "" && (err != nil || got != tc.want):
			t.Errorf("ParseSize(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		case tc.err != "" && (err == nil || err.Error() != tc.err || !errors.Is(err, ErrSize)):
			t.Errorf("ParseSize(%q) error %v; want %s", tc.in, err, tc.err)
		}
	}
	for _, s := range []Size{0, 1, 1000, KiB, 64 * MiB, 3 * GiB, 5 * TiB, MiB + 1} {
		back, err := ParseSize(s.String())
		if err != nil || back != s {
			t.Errorf("ParseSize(%s) = %d, %v; want %d", s, back, err, s)
		}
	}
	if got := (64 * MiB).String(); got != "64MiB" {
		t.Errorf("String = %s", got)
	}
	var v Size
	if err := v.Set("4GiB"); err != nil || v != 4*GiB || v.Type() != "size" || v.Bytes() != 4<<30 {
		t.Errorf("Set: %v, %d", err, v)
	}
	if err := v.Set("4GB"); err == nil || v != 4*GiB {
		t.Errorf("Set of a bad size: %v, changed to %d", err, v)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(base))
	for _, name := range []string{"cluster.yaml", "cluster-3x2.yaml"} {
		if b, err := os.ReadFile(filepath.Join("..", "examples", name)); err == nil {
			f.Add(b)
		}
	}
	for _, s := range []string{
		"", "---", "[", "{", "a: &a [*a]", "cluster: *x", "? [a]\n: b", "settings: {tick: 1h}",
		"regions: [{name: r, zones: [&z z, *z]}]", "servers: [{}, {name: 1}]", "- - -",
		"a: &a b\n<<: *a", "cluster: !!binary aGk=", "%YAML 1.2\n---\ncluster: x",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cl, err := Parse(data, "fuzz.yaml", "/base")
		if err != nil {
			if cl != nil {
				t.Fatal("Parse returned a cluster with an error")
			}
			return
		}
		// Whatever Parse accepts validates again, with absolute data dirs.
		if err := cl.Validate(); err != nil {
			t.Fatalf("accepted cluster fails Validate: %v", err)
		}
		for _, s := range cl.Servers {
			if !filepath.IsAbs(s.DataDir) {
				t.Fatalf("data_dir %q is not absolute", s.DataDir)
			}
		}
	})
}

// TestCapacity reads a server's declared capacity; servers without one have none.
func TestCapacity(t *testing.T) {
	cl, err := Parse([]byte(edit(t, "    data_dir: data/s1\n", "    data_dir: data/s1\n    capacity: {cpu: 7.5, memory: 32GiB, log_disk: 100G}\n")), "cluster.yaml", "/base")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := cl.Servers[0].Capacity, (Capacity{CPU: 7.5, Memory: 32 * GiB, LogDisk: 100 * GiB}); got != want {
		t.Errorf("s1 capacity %+v, want %+v", got, want)
	}
	if got := cl.Servers[1].Capacity; got != (Capacity{}) {
		t.Errorf("s2 declared no capacity, got %+v", got)
	}
}

// clog_dir: resolved like data_dir, ClogPath defaults to data_dir/clog, and no two servers share
// or nest their clogs.
func TestClogDir(t *testing.T) {
	text := strings.Replace(edit(t, "    data_dir: data/s2\n", "    data_dir: data/s2\n    clog_dir: ../disk2/s2\n"),
		"    data_dir: /abs/s3\n", "    data_dir: /abs/s3\n    clog_dir: /disk3/clog\n", 1)
	cl, err := Parse([]byte(text), "cluster.yaml", "/base")
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"s1": "/base/data/s1/clog", "s2": "/disk2/s2", "s3": "/disk3/clog"} {
		if s, _ := cl.Server(name); s.ClogPath() != want {
			t.Errorf("%s: ClogPath() = %s, want %s", name, s.ClogPath(), want)
		}
	}
	for _, tc := range []struct{ name, s3, want string }{
		{"shared", "/disk2/s2", `cluster.yaml:24: servers[2].clog_dir "/disk2/s2": clog_dir is already used by or nests with servers[1].clog_dir (/disk2/s2): every server needs its own`},
		{"nested", "/disk2/s2/s3", `cluster.yaml:24: servers[2].clog_dir "/disk2/s2/s3": clog_dir is already used by or nests with servers[1].clog_dir (/disk2/s2): every server needs its own`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(strings.Replace(text, "/disk3/clog", tc.s3, 1)), "cluster.yaml", "/base")
			if err == nil || err.Error() != tc.want {
				t.Fatalf("Parse: %v\nwant: %s", err, tc.want)
			}
		})
	}
}

// TestLongValueIsCut: an error quotes at most maxValueShown bytes of a value (a 100 MB name
// once came back whole).
func TestLongValueIsCut(t *testing.T) {
	e := &FieldError{File: "c.yaml", Line: 1, Field: "cluster", Value: strings.Repeat("n", 1<<20), Rule: "too long"}
	got := e.Error()
	if len(got) > 200 || !strings.Contains(got, "...(1048576 bytes)") {
		t.Fatalf("error of %d bytes: %.200s; want the value cut, with its length", len(got), got)
	}
}
