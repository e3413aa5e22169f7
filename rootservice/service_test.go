package rootservice

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"obkv/paxos"
	"obkv/replica"
	"obkv/tenant"
)

// fakeMeta is a meta replica whose leadership and document the test sets.
type fakeMeta struct {
	ballot  paxos.Ballot
	serving bool
	doc     []byte
	reads   int
	writes  int
}

func (f *fakeMeta) Leading() (paxos.Ballot, bool)       { return f.ballot, f.serving }
func (f *fakeMeta) ReadIndex(ctx context.Context) error { f.reads++; return nil }
func (f *fakeMeta) Get(key []byte, version uint64) ([]byte, bool, error) {
	return f.doc, f.doc != nil, nil
}
func (f *fakeMeta) Write(ctx context.Context, b replica.Batch) (uint64, error) {
	if len(b.Ops) != 1 || string(b.Ops[0].Key) != string(metaKey) {
		return 0, errors.New("fakeMeta: only writes of the meta document")
	}
	f.doc, f.writes = b.Ops[0].Value, f.writes+1
	return 0, nil
}

// TestCachedMetaIsOfThisLeadership: the cached meta document serves only the leadership it
// was read in; a lost lead fails, and a lead regained under another ballot rereads the
// document (another root service may have changed it meanwhile).
func TestCachedMetaIsOfThisLeadership(t *testing.T) {
	ctx := context.Background()
	doc := func(partitions int) []byte {
		var m Meta
		for i := 0; i < partitions; i++ {
			m.Partitions = append(m.Partitions, Partition{ID: uint64(i + 1)})
		}
		return m.encode()
	}
	f := &fakeMeta{ballot: paxos.Ballot{Round: 1, Node: 1}, serving: true, doc: doc(1)}
	s := New(f, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err := s.current(ctx); err != nil || len(s.meta.Partitions) != 1 {
		t.Fatalf("first load: %v, %d partitions; want 1", err, len(s.meta.Partitions))
	}
	if err := s.current(ctx); err != nil || f.reads != 1 {
		t.Fatalf("same leadership: %v after %d reads; want the cached document (1 read)", err, f.reads)
	}
	f.serving = false
	if err := s.current(ctx); !errors.Is(err, ErrNotLeading) {
		t.Fatalf("not leading: %v; want ErrNotLeading", err)
	}
	// Another root service placed a partition; this replica leads again under a new ballot.
	f.doc, f.ballot, f.serving = doc(2), paxos.Ballot{Round: 3, Node: 1}, true
	if err := s.current(ctx); err != nil || len(s.meta.Partitions) != 2 {
		t.Fatalf("new leadership: %v, %d partitions; want the document reread (2)", err, len(s.meta.Partitions))
	}
}

// fakeCluster is servers s1..s3 in zones z1..z3, all alive.
type fakeCluster struct{}

func (fakeCluster) Topology() tenant.Topology {
	return tenant.Topology{Zones: []tenant.ZoneInfo{{Name: "z1", Servers: []string{"s1"}}, {Name: "z2", Servers: []string{"s2"}}, {Name: "z3", Servers: []string{"s3"}}}}
}
func (fakeCluster) ServerID(name string) (paxos.ID, bool) {
	return paxos.ID(name[1] - '0'), len(name) == 2
}
func (fakeCluster) ServerInfo(name string) (string, string, string, bool) {
	return "z" + name[1:], "r1", "", true
}
func (fakeCluster) Alive(string) bool                   { return true }
func (fakeCluster) MetaLocality() string                { return "F@z1,F@z2,F@z3" }
func (fakeCluster) LocalLeader(uint64) (paxos.ID, bool) { return 0, false }

// partition7 is a root service whose placement puts partition 7 (tenant t1, primary zone z1) on
// s1 and s2. It returns a function that sends a server's report and returns the server's
// assignment for partition 7, if any.
func partition7(t *testing.T) func(server string, replicas ...ReplicaReport) (Assignment, bool) {
	_, _, report := partition7Service(t)
	return report
}

// partition7Service is partition7 with the service and its meta replica.
func partition7Service(t *testing.T) (*Service, *fakeMeta, func(server string, replicas ...ReplicaReport) (Assignment, bool)) {
	var m Meta
	m.Catalog.Tenants = map[string]tenant.Tenant{"t1": {Name: "t1", PrimaryZone: "z1"}}
	m.Partitions = []Partition{{ID: 7, Tenant: "t1", Table: "kv", Replicas: []tenant.ReplicaPlacement{
		{Zone: "z1", Server: "s1", Type: paxos.Full}, {Zone: "z2", Server: "s2", Type: paxos.Full}}}}
	f := &fakeMeta{ballot: paxos.Ballot{Round: 1, Node: 1}, serving: true, doc: m.encode()}
	s := New(f, fakeCluster{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	return s, f, func(server string, replicas ...ReplicaReport) (Assignment, bool) {
		t.Helper()
		reply, err := s.Report(context.Background(), Report{Server: server, Replicas: replicas})
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range reply.Assignments {
			if a.Partition == 7 {
				return a, true
			}
		}
		return Assignment{}, false
	}
}

// TestUnplacedReplicaKeptWithoutLeader: a replica the placement no longer wants stays on its
// server while no leader reports whether the group still counts it, and goes once the leader
// reports a membership without it.
func TestUnplacedReplicaKeptWithoutLeader(t *testing.T) {
	assigned := partition7(t)
	hosts := func(server string, replicas ...ReplicaReport) bool {
		t.Helper()
		a, ok := assigned(server, replicas...)
		if ok && server == "s3" && !a.KeepOnly {
			t.Fatalf("s3's unplaced replica is assigned to be created, not only kept: %+v", a)
		}
		return ok
	}
	mine := ReplicaReport{Partition: 7, Type: paxos.Full, Role: "follower"}
	if !hosts("s3", mine) {
		t.Fatal("s3's unplaced replica of partition 7 is not kept while no leader reports the group")
	}
	withS3 := []paxos.Member{{ID: 1, Type: paxos.Full}, {ID: 2, Type: paxos.Full}, {ID: 3, Type: paxos.Full}}
	hosts("s1", ReplicaReport{Partition: 7, Type: paxos.Full, Role: "leader", Serving: true, Members: withS3})
	if !hosts("s3", mine) {
		t.Fatal("s3's replica is not kept while the leader's membership still counts it")
	}
	// s3 no longer hosts it (it dropped it, its report is newer than the leader's): whatever
	// s3 is told about it must not make it create the replica again.
	hosts("s3")
	hosts("s1", ReplicaReport{Partition: 7, Type: paxos.Full, Role: "leader", Serving: true, Members: withS3[:2]})
	if hosts("s3", mine) {
		t.Fatal("s3's replica is still assigned after the leader removed it from the group")
	}
}

// TestLeaderReportHighestBallot: when a deposed leader's last report is still recent, the new
// leader's (higher ballot) is the one whose membership counts.
func TestLeaderReportHighestBallot(t *testing.T) {
	s := New(&fakeMeta{}, fakeCluster{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	old := []paxos.Member{{ID: 1, Type: paxos.Full}, {ID: 2, Type: paxos.Full}, {ID: 3, Type: paxos.Full}}
	cur := old[:2]
	now := time.Now()
	// s1 sorts first: the deposed leader's report must not win by name order.
	s.reports["s1"] = serverReport{at: now, replicas: []ReplicaReport{{Partition: 7, Serving: true, Ballot: paxos.Ballot{Round: 4, Node: 1}, Members: old}}}
	s.reports["s2"] = serverReport{at: now, replicas: []ReplicaReport{{Partition: 7, Serving: true, Ballot: paxos.Ballot{Round: 5, Node: 2}, Members: cur}}}
	srv, rep, ok := s.leaderReport(7)
	if !ok || srv != "s2" || len(rep.Members) != 2 {
		t.Fatalf("leaderReport = %s, %+v, %v; want s2's report (ballot 5.2, two members)", srv, rep, ok)
	}
}

// TestNoMembershipChangeWhileRecovering: while a member of a group reports itself recovering
// (it started without its data and counts toward no quorum), the leader is given no membership
// change; a replica created again on a server the group counts starts from the group's own
// membership.
func TestNoMembershipChangeWhileRecovering(t *testing.T) {
	report := partition7(t)
	assigned := func(server string, replicas ...ReplicaReport) Assignment {
		t.Helper()
		a, ok := report(server, replicas...)
		if !ok {
			t.Fatalf("%s is assigned nothing for partition 7", server)
		}
		return a
	}
	// The group still counts s3, which the placement no longer wants: the change is its removal.
	withS3 := []paxos.Member{{ID: 1, Type: paxos.Full}, {ID: 2, Type: paxos.Full}, {ID: 3, Type: paxos.Full}}
	lead := ReplicaReport{Partition: 7, Type: paxos.Full, Role: "leader", Serving: true, Members: withS3}
	assigned("s1", lead)
	// s2 lost its replica: it is created again with the group's membership, not the placement's.
	if a := assigned("s2"); a.Join || len(a.Members) != 3 {
		t.Fatalf("s2's replica, counted by the group, is assigned %+v; want it created with the group's 3 members", a)
	}
	assigned("s2", ReplicaReport{Partition: 7, Type: paxos.Full, Role: "follower", Recovering: true})
	if a := assigned("s1", lead); a.Change != nil {
		t.Fatalf("the leader is given change %+v while s2 recovers", *a.Change)
	}
	assigned("s2", ReplicaReport{Partition: 7, Type: paxos.Full, Role: "follower"})
	if a := assigned("s1", lead); a.Change == nil || a.Change.Type != paxos.ConfRemove || a.Change.ID != 3 {
		t.Fatalf("after s2 recovered the leader is given %+v; want the removal of 3", a.Change)
	}
}

// TestEstablishedOnceALeaderServed: a partition is marked established (and written to the meta
// document) once a leader of it reports serving, and from then on its assignments say so, so
// that a replica created again after its data was lost never starts the group afresh.
func TestEstablishedOnceALeaderServed(t *testing.T) {
	ctx := context.Background()
	s, f, report := partition7Service(t)
	tick := func() {
		t.Helper()
		if err := s.Tick(ctx, func(string) time.Duration { return 0 }, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	tick()
	if a, ok := report("s2"); !ok || a.Established {
		t.Fatalf("before any leader served, s2 is assigned %+v (ok %v); want a replica not established", a, ok)
	}
	if f.writes != 0 {
		t.Fatalf("the meta document was written %d times with nothing to record", f.writes)
	}
	members := []paxos.Member{{ID: 1, Type: paxos.Full}, {ID: 2, Type: paxos.Full}}
	report("s1", ReplicaReport{Partition: 7, Type: paxos.Full, Role: "leader", Serving: true, Members: members})
	tick()
	if a, ok := report("s2"); !ok || !a.Established {
		t.Fatalf("after s1 served as leader, s2 is assigned %+v (ok %v); want established", a, ok)
	}
	m, err := decodeMeta(f.doc)
	if err != nil || len(m.Partitions) != 1 || !m.Partitions[0].Established {
		t.Fatalf("meta document after the tick: %+v, %v; want partition 7 established", m.Partitions, err)
	}
	tick()
	if f.writes != 1 {
		t.Fatalf("the meta document was written %d times; want once (established is recorded once)", f.writes)
	}
}

// leaderHearing is fakeCluster whose own replicas hear replica 3 (s3) lead.
type leaderHearing struct{ fakeCluster }

func (leaderHearing) LocalLeader(uint64) (paxos.ID, bool) { return 3, true }

// TestLocateBeforeReportsNamesTheLocalLeader: a root service that has no report of a partition
// yet (it has just taken over) names the leader its own server's replica hears from, not none;
// once a report arrives, the report decides.
func TestLocateBeforeReportsNamesTheLocalLeader(t *testing.T) {
	ctx := context.Background()
	var m Meta
	m.Catalog.Tables = map[string]tenant.Table{tenant.TableKey("t1", "kv"): {Name: "kv", Tenant: "t1", Partitions: 1, ID: 5}}
	m.Partitions = []Partition{{ID: PartitionID(5, 0), Tenant: "t1", Table: "kv", Replicas: []tenant.ReplicaPlacement{
		{Zone: "z1", Server: "s1", Type: paxos.Full}, {Zone: "z2", Server: "s2", Type: paxos.Full}, {Zone: "z3", Server: "s3", Type: paxos.Full}}}}
	f := &fakeMeta{ballot: paxos.Ballot{Round: 1, Node: 1}, serving: true, doc: m.encode()}
	s := New(f, leaderHearing{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	leaders := func() []string {
		t.Helper()
		_, locs, err := s.Locate(ctx, "t1", "kv")
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, r := range locs[0].Replicas {
			if r.Leader {
				out = append(out, r.Server)
			}
		}
		return out
	}
	if got := leaders(); len(got) != 1 || got[0] != "s3" {
		t.Fatalf("before any report: leaders %v, want [s3] (what this server's replica hears)", got)
	}
	if _, err := s.Report(ctx, Report{Server: "s2", Replicas: []ReplicaReport{{Partition: PartitionID(5, 0), Type: paxos.Full, Role: "leader", Serving: true}}}); err != nil {
		t.Fatal(err)
	}
	if got := leaders(); len(got) != 1 || got[0] != "s2" {
		t.Fatalf("after s2 reported leading: leaders %v, want [s2]", got)
	}
}
