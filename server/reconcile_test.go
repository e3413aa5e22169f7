package server

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"testing"

	"obkv/paxos"
	"obkv/rootservice"
)

// A server never creates a replica the root service assigns only to be kept (the placement no
// longer wants it; a leader report, perhaps out of date, still counts it in the group): created
// empty under that membership, it would be a voter that forgot what it accepted and promised.
func TestKeepOnlyAssignmentCreatesNothing(t *testing.T) {
	cl := threeServers(t)
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
