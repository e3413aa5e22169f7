package server

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"testing"

	"obkv/config"
	"obkv/paxos"
	"obkv/rootservice"
)

// A server never creates a replica the root service assigns only to be kept (the placement no
// longer wants it; a leader report, perhaps out of date, still counts it in the group): created
// empty under that membership, it would be a voter that forgot what it accepted and promised.
func TestKeepOnlyAssignmentCreatesNothing(t *testing.T) {
	dir := t.TempDir()
	cl, err := config.Parse([]byte(`
cluster: c
regions: [{name: r1, zones: [z1, z2, z3]}]
servers:
  - {name: s1, zone: z1, rpc_addr: 127.0.0.1:1, gossip_addr: 127.0.0.1:2, data_dir: d1}
  - {name: s2, zone: z2, rpc_addr: 127.0.0.1:3, gossip_addr: 127.0.0.1:4, data_dir: d2}
  - {name: s3, zone: z3, rpc_addr: 127.0.0.1:5, gossip_addr: 127.0.0.1:6, data_dir: d3}
`), "c.yaml", dir)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(cl, "s3", slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = s.clog.Close()
		_ = s.store.Close()
	}()
	members := []paxos.Member{{ID: 1, Type: paxos.Full}, {ID: 2, Type: paxos.Full}, {ID: 3, Type: paxos.Full}}
	s.reconcile(context.Background(), []rootservice.Assignment{
		{Partition: 9, Type: paxos.Full, Members: members, KeepOnly: true}})
	if s.replica(9) != nil || slices.Contains(s.clog.Partitions(), 9) {
		t.Fatal("s3 created a replica of partition 9 from an assignment to keep one it does not host")
	}
}
