package paxos

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func threeFull() []Member {
	return []Member{{ID: 1, Type: Full}, {ID: 2, Type: Full}, {ID: 3, Type: Full}}
}

// Reconfirm copies a long suffix from the voter that holds it, one MaxMsgEntries page at a time.
func TestReconfirmFetchesInPages(t *testing.T) {
	h := newHarness(threeFull(), false, func(c *Config) { c.MaxMsgEntries = 2 })
	h.nodes[2].SetPriority(Priority{Healthy: true, ZoneRank: 5})
	h.nodes[3].SetPriority(Priority{Healthy: true, ZoneRank: 1})
	if !h.tickUntil(100, func() bool { return h.leader() == 1 }) {
		t.Fatalf("replica 1 did not lead:\n%s", h.status())
	}
	h.cut[[2]ID{1, 3}] = true
	h.cut[[2]ID{2, 1}] = true // 2 accepts, but 1 never hears: nothing is chosen
	var want []string
	for i := 0; i < 7; i++ {
		d := fmt.Sprintf("w%d", i)
		want = append(want, d)
		if _, err := h.propose(1, d); err != nil {
			t.Fatal(err)
		}
		h.deliver(1 << 20)
	}
	h.crash(1)
	h.heal()
	var trace strings.Builder
	h.trace = &trace
	if !h.tickUntil(200, func() bool { return h.leader() == 3 }) {
		t.Fatalf("replica 3 did not lead:\n%s", h.status())
	}
	h.trace = nil
	h.tick(4)
	if got := h.appliedData(3); got != strings.Join(want, ",") {
		t.Fatalf("replica 3 applied %q, want %q", got, strings.Join(want, ","))
	}
	if pages := strings.Count(trace.String(), "Fetch b="); pages < 4 {
		t.Fatalf("want at least 4 pages of 2 entries fetched, trace:\n%s", trace.String())
	}
}

// A released grant withdraws exactly the promise made for it: the voter goes back to what it
// had promised before, not to nothing.
func TestReleaseRestoresPreviousPromise(t *testing.T) {
	cfg := testConfig(2)
	n, err := New(cfg, Boot{Snapshot: SnapshotMeta{Membership: Membership{Members: threeFull()}}})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		n.Tick()
	}
	drain := func() []Message {
		var out []Message
		for n.HasReady() {
			rd := n.Ready()
			out = append(out, rd.Messages...)
			n.Advance(rd)
		}
		return out
	}
	drain()
	// Leader 1 under ballot 5.1 is followed; then candidate 3 asks under 6.3 after the grant ran out.
	_ = n.Step(Message{Type: MsgHeartbeat, From: 1, To: 2, Ballot: Ballot{5, 1}, Tick: 1})
	drain()
	for i := uint64(0); i < cfg.LeaseTicks; i++ {
		n.Tick()
	}
	drain()
	_ = n.Step(Message{Type: MsgLease, From: 3, To: 2, Ballot: Ballot{6, 3}, Tick: 1})
	out := drain()
	if len(out) == 0 || out[len(out)-1].Type != MsgLeaseResp || out[len(out)-1].Reject {
		t.Fatalf("want a grant, got %v", out)
	}
	if got := n.Status().Promised; got != (Ballot{6, 3}) {
		t.Fatalf("promised %s, want 6.3", got)
	}
	_ = n.Step(Message{Type: MsgLeaseRelease, From: 3, To: 2, Ballot: Ballot{6, 3}})
	if got := n.Status().Promised; got != (Ballot{5, 1}) {
		t.Fatalf("after release promised %s, want the earlier 5.1", got)
	}
	// A release of a ballot it no longer holds changes nothing.
	_ = n.Step(Message{Type: MsgLeaseRelease, From: 3, To: 2, Ballot: Ballot{6, 3}})
	if got := n.Status().Promised; got != (Ballot{5, 1}) {
		t.Fatalf("after a duplicate release promised %s, want 5.1", got)
	}
}

func TestMalformedMessagesAreRefused(t *testing.T) {
	n, err := New(testConfig(1), Boot{Snapshot: SnapshotMeta{Membership: Membership{Members: threeFull()}}})
	if err != nil {
		t.Fatal(err)
	}
	before := n.Status()
	for _, m := range []Message{
		{Type: MsgAccept, From: 2, To: 9},
		{Type: MsgAccept, From: 0, To: 1},
		{Type: MsgAccept, From: 1, To: 1},
		{Type: 0, From: 2, To: 1},
		{Type: 200, From: 2, To: 1},
		{Type: MsgAccept, From: 2, To: 1, Index: 3, Entries: []Entry{{Index: 5}}},
		{Type: MsgSnapshot, From: 2, To: 1},
	} {
		if err := n.Step(m); !errors.Is(err, ErrBadMessage) {
			t.Errorf("Step(%v) = %v, want ErrBadMessage", m, err)
		}
	}
	if after := n.Status(); after.Promised != before.Promised || after.Last != before.Last || n.HasReady() {
		t.Fatalf("a refused message changed state: %+v -> %+v", before, after)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"ok", func(*Config) {}, ""},
		{"zero id", func(c *Config) { c.ID = 0 }, "ID is 0"},
		{"zero lease", func(c *Config) { c.LeaseTicks = 0 }, "LeaseTicks is 0"},
		{"drift above lease", func(c *Config) { c.MaxDriftTicks = 50 }, "MaxDriftTicks 50 must be below LeaseTicks 50"},
		{"heartbeat too slow", func(c *Config) { c.HeartbeatTicks = 30 }, "HeartbeatTicks 30"},
		{"unknown mutation", func(c *Config) { c.Mutation = 99 }, "Mutation 99"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig(1)
			tc.mutate(&c)
			err := c.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate() = %v, want ErrInvalidConfig mentioning %q", err, tc.want)
			}
		})
	}
	if _, err := ParseMutation("no-such"); err == nil {
		t.Fatal("ParseMutation accepted an unknown name")
	}
	for _, m := range Mutations() {
		if got, err := ParseMutation(m.String()); err != nil || got != m {
			t.Fatalf("ParseMutation(%q) = %v, %v", m, got, err)
		}
	}
}

func TestBootRejectsInconsistentState(t *testing.T) {
	conf := Membership{Members: threeFull()}
	for _, tc := range []struct {
		name string
		boot Boot
	}{
		{"gap", Boot{Snapshot: SnapshotMeta{Membership: conf}, Entries: []Entry{{Index: 2}}}},
		{"applied beyond log", Boot{Snapshot: SnapshotMeta{Membership: conf}, Entries: []Entry{{Index: 1}}, Applied: 3}},
		{"applied below snapshot", Boot{Snapshot: SnapshotMeta{Index: 5, Membership: conf}, Applied: 2}},
	} {
		if _, err := New(testConfig(1), tc.boot); !errors.Is(err, ErrBadBoot) {
			t.Errorf("%s: New = %v, want ErrBadBoot", tc.name, err)
		}
	}
}

// The membership codec round-trips and refuses bytes of the wrong size.
func TestConfChangeCodec(t *testing.T) {
	cc := ConfChange{Type: ConfAdd, ID: 7, Replica: ReadOnly, Upstream: 3}
	got, err := DecodeConfChange(EncodeConfChange(cc))
	if err != nil || got != cc {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	if _, err := DecodeConfChange([]byte{1, 2}); !errors.Is(err, ErrBadMessage) {
		t.Fatalf("short bytes: %v", err)
	}
}

// Two equally good candidates that stand at once (the leader's lease ran out for both; the
// third voter is down) must not split the vote: the one with the lower ballot stands aside
// and grants the other, which then leads without waiting out CampaignTicks.
func TestEqualCandidatesDoNotSplitTheVote(t *testing.T) {
	newNode := func(id ID) *Node {
		n, err := New(testConfig(id), Boot{Snapshot: SnapshotMeta{Membership: Membership{Members: threeFull()}}})
		if err != nil {
			t.Fatal(err)
		}
		n.SetPriority(Priority{Healthy: true, ZoneRank: 1})
		return n
	}
	drain := func(n *Node) []Message {
		var out []Message
		for n.HasReady() {
			rd := n.Ready()
			out = append(out, rd.Messages...)
			n.Advance(rd)
		}
		return out
	}
	leaseTo := func(msgs []Message, to ID) Message {
		for _, m := range msgs {
			if m.Type == MsgLease && m.To == to {
				return m
			}
		}
		t.Fatalf("no lease request to %d in %v", to, msgs)
		return Message{}
	}
	a, b := newNode(2), newNode(3)
	var outA, outB []Message
	for i := 0; i < 100 && (a.Status().Role != Candidate || b.Status().Role != Candidate); i++ {
		if a.Status().Role != Candidate {
			a.Tick()
			outA = append(outA, drain(a)...)
		}
		if b.Status().Role != Candidate {
			b.Tick()
			outB = append(outB, drain(b)...)
		}
	}
	if a.Status().Role != Candidate || b.Status().Role != Candidate {
		t.Fatalf("both should stand with replica 1 silent: %v, %v", a.Status().Role, b.Status().Role)
	}
	reqA, reqB := leaseTo(outA, 3), leaseTo(outB, 2)
	if reqA.Ballot.Round != reqB.Ballot.Round {
		t.Fatalf("ballots %s and %s: the test wants a tie on the round", reqA.Ballot, reqB.Ballot)
	}
	// Each hears the other. 2 (lower ballot) stands aside and grants 3; 3 refuses 2.
	_ = a.Step(reqB)
	grant := drain(a)
	_ = b.Step(reqA)
	refusal := drain(b)
	var granted bool
	for _, m := range grant {
		if m.Type == MsgLeaseResp && m.To == 3 && !m.Reject {
			granted = true
			_ = b.Step(m)
		}
	}
	if !granted {
		t.Fatalf("replica 2 did not grant the higher ballot of an equal candidate: %v", grant)
	}
	for _, m := range refusal {
		if m.Type == MsgLeaseResp && m.To == 2 && !m.Reject {
			t.Fatalf("replica 3 granted the lower ballot while standing: %v", refusal)
		}
	}
	drain(b)
	if st := b.Status(); st.Role != Leader {
		t.Fatalf("replica 3 with grants from 2 and itself is %v, want leader", st.Role)
	}
}

// A replica whose snapshot fetch failed fetches again on the leader's next offer, though the
// leader's snapshot is the same one: an idle leader compacts no further and offers no newer one.
func TestSnapshotFetchRetriedAfterFailure(t *testing.T) {
	h := newHarness([]Member{{ID: 1, Type: Full}, {ID: 2, Type: Full}, {ID: 3, Type: Full}}, false, nil)
	if !h.tickUntil(100, func() bool { return h.leader() == 1 }) {
		t.Fatalf("no leader:\n%s", h.status())
	}
	h.crash(3)
	if _, err := h.propose(1, "a"); err != nil {
		t.Fatal(err)
	}
	applied := uint64(0)
	if !h.tickUntil(50, func() bool {
		applied = h.nodes[1].Status().Applied
		return applied >= 2 && h.nodes[2].Status().Applied == applied
	}) {
		t.Fatalf("the write was not applied on 1 and 2:\n%s", h.status())
	}
	for _, id := range []ID{1, 2} {
		if err := h.nodes[id].Compact(applied); err != nil {
			t.Fatal(err)
		}
	}
	h.start(3)
	fetchOffered := func() bool { return len(h.snaps[3]) > 0 }
	if !h.tickUntil(50, fetchOffered) {
		t.Fatalf("replica 3 was not asked to fetch a snapshot:\n%s", h.status())
	}
	h.snaps[3] = nil
	h.nodes[3].SnapshotFailed()
	if !h.tickUntil(3*int(h.cfgs[1].LeaseTicks), fetchOffered) {
		t.Fatalf("no new fetch after the failed one:\n%s", h.status())
	}
	if f := h.snaps[3][0]; f.Meta.Index != applied {
		t.Fatalf("fetch of snapshot %d, want %d", f.Meta.Index, applied)
	}
}

// Entries a checkpoint kept (CompactRetaining) bring a follower that missed the checkpoint up to
// date from the log: no snapshot fetch. The snapshot offered is the checkpoint's all the same.
func TestRetainedEntriesSpareASnapshot(t *testing.T) {
	h := newHarness([]Member{{ID: 1, Type: Full}, {ID: 2, Type: Full}, {ID: 3, Type: Full}}, false, nil)
	if !h.tickUntil(100, func() bool { return h.leader() == 1 }) {
		t.Fatalf("no leader:\n%s", h.status())
	}
	h.crash(3)
	var keep uint64
	for i, v := range []string{"a", "b", "c"} {
		if _, err := h.propose(1, v); err != nil {
			t.Fatal(err)
		}
		if !h.tickUntil(50, func() bool {
			a := h.nodes[1].Status().Applied
			return a >= uint64(i+2) && h.nodes[2].Status().Applied == a
		}) {
			t.Fatalf("write %s was not applied on 1 and 2:\n%s", v, h.status())
		}
		if i == 0 {
			keep = h.nodes[3].Status().Last // what replica 3 holds: the log keeps what follows
		}
	}
	applied := h.nodes[1].Status().Applied
	for _, id := range []ID{1, 2} {
		if err := h.nodes[id].CompactRetaining(applied, keep); err != nil {
			t.Fatal(err)
		}
		if st := h.nodes[id].Status(); st.First != keep+1 || st.Snapshot != applied {
			t.Fatalf("replica %d: first %d, snapshot %d; want %d, %d", id, st.First, st.Snapshot, keep+1, applied)
		}
		if m := h.nodes[id].SnapshotMeta(); m.Index != applied {
			t.Fatalf("replica %d offers snapshot %d, want the checkpoint's %d", id, m.Index, applied)
		}
	}
	if err := h.nodes[1].CompactRetaining(applied, applied+1); err == nil {
		t.Fatal("keeping entries from above the snapshot index was accepted")
	}
	h.start(3)
	if !h.tickUntil(100, func() bool { return h.nodes[3].Status().Applied == applied }) {
		t.Fatalf("replica 3 did not catch up:\n%s", h.status())
	}
	if len(h.snaps[3]) > 0 {
		t.Fatalf("replica 3 fetched a snapshot (%+v) though the leader kept the entries it lacked", h.snaps[3][0])
	}
}

// A leader elected while a replica is down knows nothing of that replica's log (match 0). Its
// messages to the replica are lost, and its window is reset again and again; each reset must
// probe where the lost messages were, not from match+1 = 1: below a compacted log, that offers
// the returning replica a snapshot although the leader kept every entry it lacks.
func TestNewLeaderCatchesUpAReturningReplicaFromItsLog(t *testing.T) {
	h := newHarness([]Member{{ID: 1, Type: Full}, {ID: 2, Type: Full}, {ID: 3, Type: Full}}, false, nil)
	if !h.tickUntil(100, func() bool { return h.leader() == 1 }) {
		t.Fatalf("no leader:\n%s", h.status())
	}
	write := func(v string) {
		t.Helper()
		leader := h.leader()
		if _, err := h.propose(leader, v); err != nil {
			t.Fatal(err)
		}
		want := h.nodes[leader].Status().Last
		if !h.tickUntil(50, func() bool {
			return h.nodes[1].Status().Applied >= want && h.nodes[2].Status().Applied >= want
		}) {
			t.Fatalf("write %s was not applied on 1 and 2:\n%s", v, h.status())
		}
	}
	write("a")
	keep := h.nodes[3].Status().Last
	h.crash(3)
	// Leadership moves while 3 is down (to 2, and maybe back to 1 under a newer ballot): the
	// new leader has never heard from 3.
	if err := h.nodes[1].TransferLeader(2); err != nil {
		t.Fatal(err)
	}
	if !h.tickUntil(100, func() bool { return h.leader() == 2 }) {
		t.Fatalf("leadership did not move to 2:\n%s", h.status())
	}
	write("b")
	write("c")
	applied := h.nodes[h.leader()].Status().Applied
	for _, id := range []ID{1, 2} {
		if err := h.nodes[id].CompactRetaining(applied, keep); err != nil {
			t.Fatal(err)
		}
	}
	// Many heartbeats without an answer from 3: its window is reset each time.
	h.tick(20 * int(h.cfgs[2].HeartbeatTicks))
	h.start(3)
	caughtUp := h.tickUntil(100, func() bool { return h.nodes[3].Status().Applied == applied })
	if len(h.snaps[3]) > 0 {
		t.Fatalf("replica 3 was offered a snapshot (%+v) though the leader kept the entries it lacked:\n%s", h.snaps[3][0], h.status())
	}
	if !caughtUp {
		t.Fatalf("replica 3 did not catch up:\n%s", h.status())
	}
}

// A follower's answer to a heartbeat leaves before its Ready is written exactly when everything
// it reports was durable already: the promise of the leader's ballot and the closed floor. A
// heartbeat that raises either is answered after the write, as every other acknowledgement.
func TestHeartbeatAnswerBeforePersistOnlyWhenDurable(t *testing.T) {
	n, err := New(testConfig(2), Boot{Snapshot: SnapshotMeta{Membership: Membership{Members: threeFull()}}})
	if err != nil {
		t.Fatal(err)
	}
	// answer steps msgs and returns the heartbeat answer of the Ready they cause, and whether
	// that Ready had entries or a hard state to write.
	answer := func(msgs ...Message) (Message, bool) {
		t.Helper()
		for _, m := range msgs {
			if err := n.Step(m); err != nil {
				t.Fatal(err)
			}
		}
		var resp *Message
		writes := false
		for n.HasReady() {
			rd := n.Ready()
			writes = writes || !rd.HardState.IsZero() || len(rd.Entries) > 0
			for _, out := range rd.Messages {
				if out.Type == MsgHeartbeatResp {
					resp = &out
				}
			}
			n.Advance(rd)
		}
		if resp == nil {
			t.Fatalf("no answer to %v", msgs)
		}
		return *resp, writes
	}
	b := Ballot{5, 1}
	hb := func(commit, floor uint64) Message {
		return Message{Type: MsgHeartbeat, From: 1, To: 2, Ballot: b, Tick: 7, Commit: commit, ClosedFloor: floor}
	}
	// The first heartbeat of ballot 5.1 promises it: the answer waits for that promise's write.
	if resp, _ := answer(hb(0, 0)); MaySendBeforePersist(resp) {
		t.Fatalf("answer promising a new ballot may leave before persisting: %s", resp)
	}
	// A heartbeat handled with an append (as under load, one Ready for both): the entry is
	// written, but the answer reports nothing of it and may leave first.
	accept := Message{Type: MsgAccept, From: 1, To: 2, Ballot: b, Index: 0, Entries: []Entry{{Index: 1, Ballot: b, Data: []byte("x")}}}
	resp, writes := answer(accept, hb(0, 0))
	if !writes || !MaySendBeforePersist(resp) || resp.Tick != 7 {
		t.Fatalf("answer to a heartbeat beside an append: early=%v, ready writes=%v, tick %d; want early, a write, tick 7",
			MaySendBeforePersist(resp), writes, resp.Tick)
	}
	// A heartbeat raising the closed floor: the answer reports the new floor, after its write.
	if resp, _ := answer(hb(1, 40)); MaySendBeforePersist(resp) || resp.ClosedFloor != 40 {
		t.Fatalf("answer to a heartbeat raising the floor: early=%v floor %d; want late with floor 40", MaySendBeforePersist(resp), resp.ClosedFloor)
	}
	// Once written, the same floor again costs no wait.
	if resp, _ := answer(hb(1, 40)); !MaySendBeforePersist(resp) || resp.ClosedFloor != 40 {
		t.Fatalf("answer to a heartbeat with the durable floor: early=%v floor %d; want early with floor 40", MaySendBeforePersist(resp), resp.ClosedFloor)
	}
	// A higher ballot is a new promise again.
	b = Ballot{6, 1}
	if resp, _ := answer(hb(1, 40)); MaySendBeforePersist(resp) {
		t.Fatalf("answer promising ballot 6.1 may leave before persisting: %s", resp)
	}
}

// Between a Ready and its Advance (its write under way), a follower stepped with a heartbeat and
// an append gives the heartbeat's answer through TakeEarly at once and keeps the append's
// answer, which acknowledges entries not yet written, for the next Ready; the Ready still
// carried out is not touched.
func TestTakeEarlyDuringAWrite(t *testing.T) {
	n, err := New(testConfig(2), Boot{Snapshot: SnapshotMeta{Membership: Membership{Members: threeFull()}}})
	if err != nil {
		t.Fatal(err)
	}
	b := Ballot{5, 1}
	step := func(m Message) {
		t.Helper()
		if err := n.Step(m); err != nil {
			t.Fatal(err)
		}
	}
	hb := Message{Type: MsgHeartbeat, From: 1, To: 2, Ballot: b, Tick: 3}
	step(hb) // promises 5.1: written by the first Ready
	for n.HasReady() {
		n.Advance(n.Ready())
	}
	// The Ready of an append: its write is under way.
	step(Message{Type: MsgAccept, From: 1, To: 2, Ballot: b, Entries: []Entry{{Index: 1, Ballot: b, Data: []byte("x")}}})
	rd := n.Ready()
	if len(rd.Entries) != 1 || len(rd.Messages) != 1 || rd.Messages[0].Type != MsgAcceptResp {
		t.Fatalf("ready of the append: %d entries, messages %v; want 1 entry and its answer", len(rd.Entries), rd.Messages)
	}
	inflight := rd.Messages[0]
	if got := n.TakeEarly(nil); len(got) != 0 {
		t.Fatalf("TakeEarly took %v from the Ready under way", got)
	}
	// Meanwhile: another append and a heartbeat.
	step(Message{Type: MsgAccept, From: 1, To: 2, Ballot: b, Index: 1, LogBallot: b, Entries: []Entry{{Index: 2, Ballot: b, Data: []byte("y")}}})
	hb.Tick = 9
	step(hb)
	early := n.TakeEarly(nil)
	if len(early) != 1 || early[0].Type != MsgHeartbeatResp || early[0].Tick != 9 {
		t.Fatalf("TakeEarly = %v, want only the heartbeat's answer (tick 9)", early)
	}
	if again := n.TakeEarly(nil); len(again) != 0 {
		t.Fatalf("a second TakeEarly took %v again", again)
	}
	if rd.Messages[0].Type != inflight.Type || rd.Messages[0].Index != inflight.Index {
		t.Fatalf("the Ready's message changed under way: %v, was %v", rd.Messages[0], inflight)
	}
	n.Advance(rd)
	// The next Ready writes entry 2 and only then answers it.
	rd = n.Ready()
	if len(rd.Entries) != 1 || rd.Entries[0].Index != 2 {
		t.Fatalf("next ready writes %v, want entry 2", rd.Entries)
	}
	if len(rd.Messages) != 1 || rd.Messages[0].Type != MsgAcceptResp || rd.Messages[0].Index != 2 || MaySendBeforePersist(rd.Messages[0]) {
		t.Fatalf("next ready sends %v, want the answer acknowledging entry 2, after the write", rd.Messages)
	}
	n.Advance(rd)
}

// A candidate whose type an installed snapshot changes (FULL to LOGONLY) does not win with the
// grants of its campaign: only FULL replicas lead (invariant 3; sim seed 16776).
func TestCandidateDemotedBySnapshotDoesNotLead(t *testing.T) {
	n, err := New(testConfig(2), Boot{Snapshot: SnapshotMeta{Membership: Membership{Members: threeFull()}}})
	if err != nil {
		t.Fatal(err)
	}
	var lease Message
	for i := 0; i < 200 && lease.Type != MsgLease; i++ {
		n.Tick()
		for n.HasReady() {
			rd := n.Ready()
			for _, m := range rd.Messages {
				if m.Type == MsgLease {
					lease = m
				}
			}
			n.Advance(rd)
		}
	}
	if lease.Type != MsgLease {
		t.Fatal("replica 2 never stood")
	}
	demoted := Membership{Members: []Member{{ID: 1, Type: Full}, {ID: 2, Type: LogOnly}, {ID: 3, Type: Full}}}
	n.InstallSnapshot(SnapshotMeta{Index: 5, Ballot: Ballot{1, 1}, Membership: demoted})
	if err := n.Step(Message{Type: MsgLeaseResp, From: 3, To: 2, Ballot: lease.Ballot, Tick: lease.Tick}); err != nil {
		t.Fatal(err)
	}
	if st := n.Status(); st.Role == Leader {
		t.Fatalf("LOGONLY replica 2 leads ballot %s", st.Ballot)
	}
}

// A new group of four voters whose first writes were lost on two of them (they boot with
// nothing stored and recover) while the other two promised in a campaign that chose nothing:
// no entry is stored anywhere, so the recovering pair ends recovery once what it may have
// forgotten is moot, and the group elects (before, neither pair could win without the other).
func TestNewGroupWithLostFirstWritesElects(t *testing.T) {
	members := []Member{{ID: 1, Type: Full}, {ID: 2, Type: Full}, {ID: 3, Type: Full}, {ID: 4, Type: LogOnly}}
	h := newHarness(members, true, nil)
	for _, id := range []ID{1, 3} {
		h.crash(id)
		h.disks[id].hs = HardState{Promised: Ballot{Round: 3, Node: 1}}
		h.start(id)
	}
	if !h.tickUntil(300, func() bool { return h.leader() != None }) {
		t.Fatalf("no leader after 300 ticks:\n%s", h.status())
	}
}

// A voter asked by a reconfirming leader for entries it no longer holds (it lost its data since
// it granted and recovers) refuses, so the leader stands again instead of asking for ever.
func TestFetchBeyondTheLogIsRefused(t *testing.T) {
	n, err := New(testConfig(2), Boot{Snapshot: SnapshotMeta{Membership: Membership{Members: threeFull()}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Step(Message{Type: MsgFetch, From: 1, To: 2, Ballot: Ballot{4, 1}, Index: 7, Hint: 9}); err != nil {
		t.Fatal(err)
	}
	rd := n.Ready()
	if len(rd.Messages) != 1 || rd.Messages[0].Type != MsgFetchResp || !rd.Messages[0].Reject {
		t.Fatalf("answer to a fetch beyond an empty log: %v; want a refusal", rd.Messages)
	}
	n.Advance(rd)
}
