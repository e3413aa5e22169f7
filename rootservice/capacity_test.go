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
	f := &fakeMeta{ballot: paxos.Ballot{Round: 1, Node: 1}, serving: true}
	s := New(f, capCluster{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err := s.Bootstrap(ctx); err != nil {
		t.Fatal(err)
	}
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
