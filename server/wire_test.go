package server

import (
	"reflect"
	"testing"

	"google.golang.org/protobuf/proto"

	"obkv/api"
	"obkv/paxos"
)

// Every field of a paxos message survives the trip through protobuf bytes.
func TestWireRoundTrip(t *testing.T) {
	m := paxos.Message{
		Type: paxos.MsgAccept, From: 1, To: 2, Ballot: paxos.Ballot{Round: 3, Node: 1}, Index: 9,
		LogBallot: paxos.Ballot{Round: 2, Node: 4},
		Entries: []paxos.Entry{{Index: 10, Ballot: paxos.Ballot{Round: 3, Node: 1}, Type: paxos.EntryNormal, Version: 77, Data: []byte("x")},
			{Index: 11, Ballot: paxos.Ballot{Round: 3, Node: 1}, Type: paxos.EntryConfChange, Data: []byte{1, 2}},
			// Ballots change along the entries (toWire shares each one's wire form) and back.
			{Index: 12, Ballot: paxos.Ballot{Round: 2, Node: 4}, Data: []byte("y")},
			{Index: 13, Ballot: paxos.Ballot{Round: 3, Node: 1}, Data: []byte("z")},
			{Index: 14, Data: []byte("zero ballot")}},
		Commit: 8, First: 2, Hint: 5, Tick: 99, Reject: true, Promised: paxos.Ballot{Round: 5, Node: 2},
		Priority: paxos.Priority{Healthy: true, Designated: true, ZoneRank: 2}, Transfer: true, ClosedFloor: 40,
		Closed: paxos.Closed{Version: 30, Index: 7}, RequestID: 12, WantSnapshot: true,
		Snapshot: &paxos.SnapshotMeta{Index: 6, Ballot: paxos.Ballot{Round: 1, Node: 1}, Version: 20,
			Membership: paxos.Membership{Members: []paxos.Member{{ID: 1, Type: paxos.Full}, {ID: 5, Type: paxos.ReadOnly, Upstream: 1}}},
			Closed:     paxos.Closed{Version: 19, Index: 6}},
	}
	b, err := proto.Marshal(toWire(m))
	if err != nil {
		t.Fatal(err)
	}
	var w api.PaxosMessage
	if err := proto.Unmarshal(b, &w); err != nil {
		t.Fatal(err)
	}
	if got := fromWire(&w); !reflect.DeepEqual(got, m) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, m)
	}
}

// TestToWireAllocations: an accept of many entries of one ballot allocates a few objects, not
// two per entry (an api.Ballot and an api.Entry each, some 20 objects per write on a leader).
func TestToWireAllocations(t *testing.T) {
	m := paxos.Message{Type: paxos.MsgAccept, From: 1, To: 2, Ballot: paxos.Ballot{Round: 3, Node: 1}}
	for i := range 64 {
		m.Entries = append(m.Entries, paxos.Entry{Index: uint64(i + 1), Ballot: m.Ballot, Version: uint64(i + 1), Data: []byte("v")})
	}
	if n := testing.AllocsPerRun(20, func() { _ = toWire(m) }); n > 8 {
		t.Fatalf("toWire of 64 entries: %v allocations, want at most 8", n)
	}
}

// Arbitrary bytes from the network never panic the conversion, and the Node refuses what is
// malformed.
func FuzzFromWire(f *testing.F) {
	b, _ := proto.Marshal(toWire(paxos.Message{Type: paxos.MsgHeartbeat, From: 2, To: 1}))
	f.Add(b)
	f.Fuzz(func(t *testing.T, data []byte) {
		var w api.PaxosMessage
		if proto.Unmarshal(data, &w) != nil {
			return
		}
		m := fromWire(&w)
		n, err := paxos.New(paxos.DefaultConfig(1), paxos.Boot{Snapshot: paxos.SnapshotMeta{Membership: paxos.Membership{Members: []paxos.Member{{ID: 1, Type: paxos.Full}, {ID: 2, Type: paxos.Full}}}}})
		if err != nil {
			t.Fatal(err)
		}
		m.To = 1
		_ = n.Step(m)
		for n.HasReady() {
			n.Advance(n.Ready())
		}
	})
}
