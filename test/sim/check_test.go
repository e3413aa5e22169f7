package sim

import (
	"errors"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/anishathalye/porcupine"

	"obkv/paxos"
)

// Every checker is fed a known-bad observation and must reject it (STYLE.md rule 4), and a
// matching good one that it must accept.

func put(i uint64, op uint64, key int, version uint64) paxos.Entry {
	return paxos.Entry{Index: i, Ballot: paxos.Ballot{Round: 1, Node: 1}, Type: paxos.EntryNormal, Version: version, Data: encodePut(op, key)}
}

func wantErr(t *testing.T, err error, substr string) {
	t.Helper()
	if err == nil {
		t.Fatalf("checker accepted a known-bad observation (want an error about %q)", substr)
	}
	if !strings.Contains(err.Error(), substr) {
		t.Fatalf("error %q does not mention %q", err, substr)
	}
}

func noErr(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("checker rejected a good observation: %v", err)
	}
}

func TestCheckerChosenValueNeverChanges(t *testing.T) {
	c := NewChecker()
	c.Started(1, 0)
	c.Started(2, 0)
	noErr(t, c.Applied(1, put(1, 7, 0, 10)))
	// Same value under another ballot (reconfirm re-proposes chosen values): fine.
	e := put(1, 7, 0, 10)
	e.Ballot = paxos.Ballot{Round: 9, Node: 3}
	noErr(t, c.Applied(2, e))
	c.Started(3, 0)
	wantErr(t, c.Applied(3, put(1, 8, 0, 10)), "invariant 1")
}

func TestCheckerAppliedNeverGoesBack(t *testing.T) {
	c := NewChecker()
	c.Started(1, 0)
	noErr(t, c.Applied(1, put(1, 1, 0, 10)))
	noErr(t, c.Applied(1, put(2, 2, 0, 11)))
	wantErr(t, c.Applied(1, put(2, 2, 0, 11)), "invariant 4") // applied twice: went back
	c2 := NewChecker()
	c2.Started(1, 0)
	wantErr(t, c2.Applied(1, put(2, 2, 0, 11)), "invariant 4") // a gap
	// A restart goes back to the durable checkpoint: allowed.
	c.Started(1, 1)
	noErr(t, c.Applied(1, put(2, 2, 0, 11)))
	wantErr(t, c.Installed(1, 1), "invariant 4")
}

func TestCheckerVersionsAscend(t *testing.T) {
	c := NewChecker()
	c.Started(1, 0)
	noErr(t, c.Applied(1, put(1, 1, 0, 10)))
	wantErr(t, c.Applied(1, put(2, 2, 0, 10)), "invariant 5")
}

func TestCheckerServingIsUnique(t *testing.T) {
	c := NewChecker()
	noErr(t, c.Serving(nil))
	noErr(t, c.Serving([]paxos.ID{2}))
	wantErr(t, c.Serving([]paxos.ID{1, 2}), "invariant 2")
}

func TestCheckerOnlyFullLeads(t *testing.T) {
	c := NewChecker()
	noErr(t, c.Role(1, paxos.Full, paxos.Leader))
	noErr(t, c.Role(2, paxos.LogOnly, paxos.Follower))
	wantErr(t, c.Role(2, paxos.LogOnly, paxos.Leader), "invariant 3")
	wantErr(t, c.Role(3, paxos.ReadOnly, paxos.Leader), "invariant 3")
}

func TestCheckerCommitNeedsDurableVoterMajority(t *testing.T) {
	conf := paxos.Membership{Members: []paxos.Member{
		{ID: 1, Type: paxos.Full}, {ID: 2, Type: paxos.Full}, {ID: 3, Type: paxos.LogOnly},
		{ID: 4, Type: paxos.ReadOnly}, {ID: 5, Type: paxos.ReadOnly},
	}}
	v := valueOf(put(5, 1, 0, 10))
	disks := map[paxos.ID]Holding{}
	holds := func(id paxos.ID, i uint64) (Holding, value) { return disks[id], v }
	// The leader and both listeners hold it, no other voter: READONLY acks do not count.
	disks[1], disks[4], disks[5] = Present, Present, Present
	wantErr(t, c0().Commit(1, conf, 4, 5, unlogged, holds), "invariants 1 and 3")
	// The leader has not persisted it, two voters have: fine (a majority is durable).
	disks = map[paxos.ID]Holding{2: Present, 3: Present}
	noErr(t, c0().Commit(1, conf, 4, 5, unlogged, holds))
	// Only one voter durable, the leader not at all (acknowledged before persisted).
	disks = map[paxos.ID]Holding{2: Present}
	wantErr(t, c0().Commit(1, conf, 4, 5, unlogged, holds), "invariants 1 and 3")
	// A voter that checkpointed past the index holds it.
	disks = map[paxos.ID]Holding{1: Present, 3: Compacted}
	noErr(t, c0().Commit(1, conf, 4, 5, unlogged, holds))
	// Two voters hold a different value than the leader's.
	other := valueOf(put(5, 2, 0, 10))
	mixed := func(id paxos.ID, i uint64) (Holding, value) {
		if id == 1 {
			return Present, v
		}
		return Present, other
	}
	wantErr(t, c0().Commit(1, conf, 4, 5, unlogged, mixed), "invariants 1 and 3")
	// The leader's log holds the others' value, its disk still an older one (its write is
	// under way): the others are the majority.
	logged := func(uint64) (value, bool) { return other, true }
	noErr(t, c0().Commit(1, conf, 4, 5, logged, mixed))
	// Its log holds its disk's value: the others hold another one.
	logged = func(uint64) (value, bool) { return v, true }
	wantErr(t, c0().Commit(1, conf, 4, 5, logged, mixed), "invariants 1 and 3")
}

// unlogged: the leader's log no longer holds the index (compacted).
func unlogged(uint64) (value, bool) { return value{}, false }

func c0() *Checker { return NewChecker() }

func TestCheckerClosedVersions(t *testing.T) {
	c := NewChecker()
	c.Started(1, 0)
	noErr(t, c.Closed(1, paxos.Closed{Version: 100, Index: 1}))
	wantErr(t, c.Closed(1, paxos.Closed{Version: 90, Index: 1}), "went back")
	// A restart forgets the volatile closed version.
	c.Started(1, 0)
	noErr(t, c.Closed(1, paxos.Closed{Version: 90, Index: 1}))

	// An entry after a closed version's index must carry a version above it...
	c = NewChecker()
	c.Started(1, 0)
	noErr(t, c.Applied(1, put(1, 1, 0, 50)))
	noErr(t, c.Closed(1, paxos.Closed{Version: 100, Index: 1}))
	wantErr(t, c.Applied(1, put(2, 2, 0, 100)), "closed version 100")
	// ...whichever is observed first.
	c = NewChecker()
	c.Started(1, 0)
	noErr(t, c.Applied(1, put(1, 1, 0, 50)))
	noErr(t, c.Applied(1, put(2, 2, 0, 100)))
	wantErr(t, c.Closed(2, paxos.Closed{Version: 100, Index: 1}), "closed version 100")
	noErr(t, c.Closed(3, paxos.Closed{Version: 99, Index: 1}))
}

func TestCheckerWeakReads(t *testing.T) {
	c := NewChecker()
	c.Started(1, 0)
	noErr(t, c.Applied(1, put(1, 11, 3, 100)))
	noErr(t, c.Applied(1, put(2, 12, 3, 200)))
	noErr(t, c.WeakReads([]WeakRead{{Key: 3, Version: 99, Got: 0}, {Key: 3, Version: 150, Got: 11}, {Key: 3, Version: 200, Got: 12}}))
	wantErr(t, c.WeakReads([]WeakRead{{Key: 3, Version: 150, Got: 12}}), "invariant 5") // read the future
	wantErr(t, c.WeakReads([]WeakRead{{Key: 3, Version: 250, Got: 11}}), "invariant 5") // stale
}

func TestLinearizabilityCheckerRejectsStaleRead(t *testing.T) {
	// put(k0, 1) returns at 2; a get that starts after it returns the initial value.
	bad := []porcupine.Operation{
		{ClientId: 0, Input: kvInput{put: true, key: 0, value: 1}, Call: 1, Output: uint64(0), Return: 2},
		{ClientId: 1, Input: kvInput{key: 0}, Call: 3, Output: uint64(0), Return: 4},
	}
	dir := t.TempDir()
	path, err := checkHistory(kvModel, bad, dir, "bad")
	if !errors.Is(err, errNotLinearizable) {
		t.Fatalf("stale read accepted: %v", err)
	}
	if _, statErr := os.Stat(path); statErr != nil {
		t.Fatalf("no visualisation written: %v", statErr)
	}
	// The same read overlapping the put, and a put of unknown outcome, are fine.
	good := []porcupine.Operation{
		{ClientId: 0, Input: kvInput{put: true, key: 0, value: 1}, Call: 1, Output: uint64(0), Return: 3},
		{ClientId: 1, Input: kvInput{key: 0}, Call: 2, Output: uint64(0), Return: 4},
		{ClientId: 2, Input: kvInput{put: true, key: 0, value: 2}, Call: 5, Output: uint64(0), Return: math.MaxInt64},
		{ClientId: 1, Input: kvInput{key: 0}, Call: 6, Output: uint64(1), Return: 7},
		{ClientId: 1, Input: kvInput{key: 0}, Call: 8, Output: uint64(2), Return: 9},
	}
	if _, err := checkHistory(kvModel, good, dir, "good"); err != nil {
		t.Fatalf("linearizable history rejected: %v", err)
	}
}

// TestDeterministic: a seed replays exactly.
func TestDeterministic(t *testing.T) {
	for _, seed := range []uint64{3, 4} {
		opts := Options{Seed: seed, SafetySteps: 600, LivenessSteps: livenessSteps, HistoryDir: t.TempDir()}
		a, b := Run(opts), Run(opts)
		if a.Stats != b.Stats || a.Trace != b.Trace || (a.Err == nil) != (b.Err == nil) {
			t.Fatalf("seed %d is not deterministic:\n%+v\n%+v", seed, a.Stats, b.Stats)
		}
	}
}
