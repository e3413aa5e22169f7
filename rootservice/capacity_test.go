package rootservice

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"

	"obkv/config"
	"obkv/paxos"
	"obkv/tenant"
)

// TestCapacityFloorsHoldTheSystemUnit: a server's smallest declarable capacity (package config)
// is exactly what the system tenant's unit reserves, so a valid cluster file always bootstraps.
func TestCapacityFloorsHoldTheSystemUnit(t *testing.T) {
	d := sysUnit.Demand()
	if d.CPU != config.MinCapacityCPU || d.Memory != int64(config.MinCapacityMemory) || d.LogDisk != int64(config.MinCapacityLogDisk) {
		t.Fatalf("system unit reserves %+v; config's capacity floors are cpu %v, memory %v, log_disk %v",
			d, config.MinCapacityCPU, config.MinCapacityMemory, config.MinCapacityLogDisk)
	}
}

// bootstrapped returns a root service over a fresh meta partition of cluster, bootstrapped.
func bootstrapped(t *testing.T, cluster Cluster) *Service {
	t.Helper()
	s := New(&fakeMeta{ballot: paxos.Ballot{Round: 1, Node: 1}, serving: true}, cluster, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err := s.Bootstrap(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

// capCluster is fakeCluster with declared capacities: s1 4 CPUs and 2GiB of memory, s2 nothing
// declared, s3 2GiB of log disk.
type capCluster struct{ fakeCluster }

func (capCluster) Topology() tenant.Topology {
	t := fakeCluster{}.Topology()
	t.Capacity = map[string]tenant.Capacity{"s1": {CPU: 4, Memory: 2 * tenant.GiB}, "s3": {LogDisk: 2 * tenant.GiB}}
	return t
}

// TestCreatePoolChecksCapacity: the root service places a pool's units only where the declared
// capacity holds them with what is there already, refuses a pool naming the server and what it
// lacks, and shows each server's capacity and what its units reserve.
func TestCreatePoolChecksCapacity(t *testing.T) {
	ctx := context.Background()
	s := bootstrapped(t, capCluster{})
	exec := func(op string, args any) error {
		t.Helper()
		b, _ := json.Marshal(args)
		_, err := s.Execute(ctx, op, b)
		return err
	}
	if err := exec("create-unit", tenant.Unit{Name: "u2", MaxCPU: 2, MemorySize: tenant.GiB}); err != nil {
		t.Fatal(err)
	}
	if err := exec("create-pool", tenant.Pool{Name: "p1", Unit: "u2", UnitNum: 1, ZoneList: []string{"z1", "z2"}}); err != nil {
		t.Fatalf("p1 fits s1 (1 of 4 CPUs and 256MiB of 2GiB taken by the system unit) and s2: %v", err)
	}
	err := exec("create-pool", tenant.Pool{Name: "p2", Unit: "u2", UnitNum: 1, ZoneList: []string{"z1"}})
	want := `resource pool "p2": no alive server in zone z1 has room for unit 1 of 1 of "u2" (min_cpu 2, memory_size 1GiB, log_disk_size 3GiB): s1: cpu 1 of 4 free, memory 768MiB of 2GiB free`
	if err == nil || !errors.Is(err, tenant.ErrInvalid) || !strings.Contains(err.Error(), want) {
		t.Fatalf("second pool on s1: %v\nwant an ErrInvalid containing %s", err, want)
	}
	err = exec("create-pool", tenant.Pool{Name: "p3", Unit: "u2", UnitNum: 1, ZoneList: []string{"z3"}})
	if want := `s3: log_disk 1280MiB of 2GiB free`; err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("pool on s3: %v; want it refused with %q", err, want)
	}
	rows, err := s.Show(ctx, "servers", "", "")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Row{}
	for _, r := range rows {
		got[r["server"].(string)] = r
	}
	if r := got["s1"]; r["cpu_assigned"] != 3.0 || r["cpu_capacity"] != 4.0 || r["memory_assigned"] != int64(1280*tenant.MiB) {
		t.Errorf("show servers, s1: %v; want cpu 3 of 4 assigned, memory 1280MiB", r)
	}
	if _, ok := got["s2"]["cpu_capacity"]; ok {
		t.Errorf("show servers, s2 declared no capacity but shows %v", got["s2"])
	}
}

// moveCluster has two servers in z1 (s1 and s4), s4 with the capacity the test sets.
type moveCluster struct {
	fakeCluster
	s4 tenant.Capacity
}

func (c moveCluster) Topology() tenant.Topology {
	return tenant.Topology{
		Zones:    []tenant.ZoneInfo{{Name: "z1", Servers: []string{"s1", "s4"}}, {Name: "z2", Servers: []string{"s2"}}, {Name: "z3", Servers: []string{"s3"}}},
		Capacity: map[string]tenant.Capacity{"s4": c.s4},
	}
}

// TestUnitMovesOffADeadServerOnlyWhereItFits: re-replication moves a tenant's unit off a
// server gone for good only onto a server of the zone with room for it.
func TestUnitMovesOffADeadServerOnlyWhereItFits(t *testing.T) {
	for _, tc := range []struct {
		name string
		s4   tenant.Capacity
		want string
	}{
		{"no room", tenant.Capacity{CPU: 2}, ""}, // the system unit takes 1 of 2 CPUs; u2 needs 2
		{"room", tenant.Capacity{CPU: 3}, "s4"},
		{"undeclared", tenant.Capacity{}, "s4"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var m Meta
			m.Catalog.Units = map[string]tenant.Unit{"sys": sysUnit.WithDefaults(), "u2": tenant.Unit{Name: "u2", MaxCPU: 2, MemorySize: tenant.GiB}.WithDefaults()}
			m.Catalog.Pools = map[string]tenant.Pool{"sys_pool": {Name: "sys_pool", Unit: "sys"}, "p1": {Name: "p1", Unit: "u2"}}
			tn := tenant.Tenant{Name: "t1", PoolList: []string{"p1"}}
			m.Units = []tenant.UnitAssignment{{Pool: "sys_pool", Zone: "z1", Server: "s4"}, {Pool: "p1", Zone: "z1", Server: "s1"}}
			p := &Partition{ID: 9, Tenant: "t1", Replicas: []tenant.ReplicaPlacement{{Zone: "z1", Server: "s1", Type: paxos.Full}}}
			s := New(&fakeMeta{}, moveCluster{s4: tc.s4}, slog.New(slog.NewTextHandler(io.Discard, nil)))
			alive := map[string]bool{"s1": false, "s2": true, "s3": true, "s4": true}
			if got := s.replacementServer(&m, tn, "z1", p, alive); got != tc.want {
				t.Fatalf("replacement for s1's replica: %q, want %q", got, tc.want)
			}
			if on := m.Units[1].Server; (tc.want == "" && on != "s1") || (tc.want != "" && on != tc.want) {
				t.Fatalf("p1's unit is on %s after the move", on)
			}
		})
	}
}

// TestSystemTenantIsProtected: what bootstrap made cannot be dropped or altered, and the system
// tenant takes no tables (a dropped system tenant left a cluster that never bootstrapped again,
// so its schedulers never ran); the catalog is unchanged and bootstrap still finds it done.
func TestSystemTenantIsProtected(t *testing.T) {
	ctx := context.Background()
	s := bootstrapped(t, fakeCluster{})
	before := string(s.meta.encode())
	for _, tc := range []struct {
		op   string
		args string
		want string
	}{
		{"drop-tenant", `{"name": "sys"}`, `tenant "sys" is the system tenant: it cannot be dropped or altered`},
		{"alter-tenant", `{"name": "sys", "primary_zone": "z3"}`, `tenant "sys" is the system tenant: it cannot be dropped or altered`},
		{"drop-pool", `{"name": "sys_pool"}`, `resource pool "sys_pool" belongs to the system tenant`},
		{"drop-unit", `{"name": "sys_unit_config"}`, `resource unit "sys_unit_config" is the system tenant's`},
		{"create-table", `{"tenant": "sys", "name": "__all_meta", "partitions": 1}`, `it holds only the meta partition (__all_meta), no tables of users`},
		{"drop-table", `{"tenant": "sys", "name": "__all_meta"}`, `it holds only the meta partition`},
		{"switch-leader", `{"tenant": "sys", "table": "__all_meta", "partition": 0, "to": "s2"}`, `it holds only the meta partition`},
		// Not about the system tenant: requests that name nothing are invalid, not "not found".
		{"switch-leader", `{}`, `switch-leader: tenant "" and table "": each must be a name`},
		{"switch-leader", `{"tenant": "t1", "table": "kv"}`, `switch-leader: to: empty`},
	} {
		_, err := s.Execute(ctx, tc.op, []byte(tc.args))
		if err == nil || !errors.Is(err, tenant.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %s: %v; want an ErrInvalid containing %q", tc.op, tc.args, err, tc.want)
		}
	}
	if after := string(s.meta.encode()); after != before {
		t.Errorf("refused operations changed the meta:\nbefore %s\nafter  %s", before, after)
	}
	if err := s.Bootstrap(ctx); err != nil {
		t.Errorf("bootstrap after the refusals: %v", err)
	}
}

// TestShowFiltersNameWhatExists: a show filter naming a tenant or table that does not exist is
// an error, not an empty list that reads as "none".
func TestShowFiltersNameWhatExists(t *testing.T) {
	ctx := context.Background()
	s := bootstrapped(t, fakeCluster{})
	for _, tc := range []struct {
		what, tenant, table string
		kind                error
		want                string
	}{
		{"tables", "nosuch", "", tenant.ErrNotFound, `tenant "nosuch" does not exist`},
		{"replicas", "nosuch", "", tenant.ErrNotFound, `tenant "nosuch" does not exist`},
		{"replicas", "sys", "kv", tenant.ErrNotFound, `table "kv" does not exist in tenant sys`},
		{"replicas", "", "kv", tenant.ErrInvalid, `table "kv": name its tenant too`},
	} {
		_, err := s.Show(ctx, tc.what, tc.tenant, tc.table)
		if err == nil || !errors.Is(err, tc.kind) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("show %s --tenant %q --table %q: %v; want %v containing %q", tc.what, tc.tenant, tc.table, err, tc.kind, tc.want)
		}
	}
	if _, err := s.Show(ctx, "replicas", SysTenant, MetaTable); err != nil {
		t.Errorf("show replicas of the meta partition (sys.%s): %v", MetaTable, err)
	}
}

// downCluster is fakeCluster with the servers in down not alive.
type downCluster struct {
	fakeCluster
	down map[string]bool
}

func (c downCluster) Alive(s string) bool { return !c.down[s] }

// TestSwitchLeaderToADeadServerSaysSo: a pin to a server that is down is kept, and the answer
// says what happens meanwhile instead of a plain "ok".
func TestSwitchLeaderToADeadServerSaysSo(t *testing.T) {
	c := downCluster{down: map[string]bool{}}
	s := bootstrapped(t, c)
	for _, d := range []struct {
		op   string
		args any
	}{
		{"create-unit", tenant.Unit{Name: "u", MaxCPU: 1, MemorySize: tenant.GiB}},
		{"create-pool", tenant.Pool{Name: "p", Unit: "u", UnitNum: 1, ZoneList: []string{"z1", "z2", "z3"}}},
		{"create-tenant", tenant.Tenant{Name: "t1", PoolList: []string{"p"}, Locality: "F@z1,F@z2,F@z3"}},
		{"create-table", tenant.Table{Tenant: "t1", Name: "kv", Partitions: 1}},
	} {
		b, _ := json.Marshal(d.args)
		if _, err := s.Execute(context.Background(), d.op, b); err != nil {
			t.Fatalf("%s: %v", d.op, err)
		}
	}
	pin := []byte(`{"tenant": "t1", "table": "kv", "partition": 0, "to": "s3"}`)
	if out, err := s.Execute(context.Background(), "switch-leader", pin); err != nil || string(out) != `{"status":"ok"}` {
		t.Errorf("pin to a live server: %s, %v; want a plain ok", out, err)
	}
	c.down["s3"] = true
	out, err := s.Execute(context.Background(), "switch-leader", pin)
	if want := `s3 is not alive: primary_zone picks the leader until it is back`; err != nil || !strings.Contains(string(out), want) {
		t.Errorf("pin to a dead server: %s, %v; want a note containing %q", out, err, want)
	}
}
