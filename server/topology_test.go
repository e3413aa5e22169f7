package server

import (
	"testing"

	"obkv/config"
	"obkv/tenant"
)

// The root service sees each server's declared capacity from the cluster file, and nothing for
// a server that declared none.
func TestTopologyCarriesCapacity(t *testing.T) {
	cl, err := config.Parse([]byte(`
cluster: c
regions: [{name: r1, zones: [z1, z2]}]
servers:
  - {name: s1, zone: z1, rpc_addr: 127.0.0.1:1, gossip_addr: 127.0.0.1:2, data_dir: d1, capacity: {cpu: 8, memory: 16GiB, log_disk: 64GiB}}
  - {name: s2, zone: z2, rpc_addr: 127.0.0.1:3, gossip_addr: 127.0.0.1:4, data_dir: d2}
`), "c.yaml", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	topo := clusterView{&Server{cl: cl}}.Topology()
	if got, want := topo.Capacity["s1"], (tenant.Capacity{CPU: 8, Memory: 16 * tenant.GiB, LogDisk: 64 * tenant.GiB}); got != want {
		t.Errorf("s1 capacity %+v, want %+v", got, want)
	}
	if c, ok := topo.Capacity["s2"]; ok {
		t.Errorf("s2 declared no capacity, topology has %+v", c)
	}
	if len(topo.Zones) != 2 || topo.Zones[0].Servers[0] != "s1" {
		t.Errorf("zones %+v", topo.Zones)
	}
}
