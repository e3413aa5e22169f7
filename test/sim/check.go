package sim

import (
	"fmt"

	"obkv/paxos"
)

// value is what makes an entry's value: everything but its ballot. Reconfirm re-proposes chosen
// values under newer ballots, so two replicas may hold the same chosen value under different
// ballots; comparing ballots would be a false alarm.
type value struct {
	Type    paxos.EntryType
	Version uint64
	Data    string
}

func valueOf(e paxos.Entry) value {
	return value{Type: e.Type, Version: e.Version, Data: string(e.Data)}
}

func (v value) String() string {
	return fmt.Sprintf("%s v=%d %q", v.Type, v.Version, v.Data)
}

// Holding is what one voter's durable disk says about one log index.
type Holding uint8

const (
	// Absent: the disk has no entry at the index.
	Absent Holding = iota
	// Present: the disk has the entry (its value is returned beside).
	Present
	// Compacted: the index is at or below the disk's checkpoint: its value is part of the
	// checkpointed state, which is built from chosen entries only.
	Compacted
)

// Checker holds the invariants of DESIGN.md that are checked while a cluster runs. Each method
// feeds it one observation and returns an error naming the invariant when the observation
// breaks it. It is independent of the simulator so that its tests can feed it known-bad
// observations (STYLE.md rule 4).
type Checker struct {
	// chosen[i-1] is the value applied at index i by the first replica that applied it.
	// Invariant 1: every later application at i has the same value.
	chosen []value
	// applied is each live replica's highest applied index (invariant 4: no going back).
	applied map[paxos.ID]uint64
	// closed is each live replica's newest closed version (invariant 5: no going back).
	closed map[paxos.ID]uint64
	// published lists every distinct closed version any replica ever reported.
	published     []paxos.Closed
	publishedSeen map[paxos.Closed]bool
	// lastVersion is the highest version of the chosen normal entries, in index order.
	lastVersion      uint64
	lastVersionIndex uint64
}

// NewChecker returns an empty checker.
func NewChecker() *Checker {
	return &Checker{applied: map[paxos.ID]uint64{}, closed: map[paxos.ID]uint64{}, publishedSeen: map[paxos.Closed]bool{}}
}

// ChosenLen returns how many indexes (from 1) have a known chosen value.
func (c *Checker) ChosenLen() uint64 { return uint64(len(c.chosen)) }

// Chosen returns the value chosen at index i (1-based), if known.
func (c *Checker) Chosen(i uint64) (value, bool) {
	if i == 0 || i > uint64(len(c.chosen)) {
		return value{}, false
	}
	return c.chosen[i-1], true
}

// Started records that a replica (re)started with its state machine at index applied (its
// durable checkpoint): the only way its applied index may go back (invariant 4).
func (c *Checker) Started(node paxos.ID, applied uint64) {
	c.applied[node] = applied
	delete(c.closed, node)
}

// Installed records that a replica installed a snapshot at index: its applied index jumps.
func (c *Checker) Installed(node paxos.ID, index uint64) error {
	if index < c.applied[node] {
		return fmt.Errorf("invariant 4: replica %d installed a snapshot at %d below its applied index %d", node, index, c.applied[node])
	}
	if index > uint64(len(c.chosen)) {
		return fmt.Errorf("invariant 1: replica %d installed a snapshot at %d but only %d indexes are known chosen", node, index, len(c.chosen))
	}
	c.applied[node] = index
	return nil
}

// Applied checks one entry a replica applied: invariant 1 (the value chosen at an index never
// changes: every replica applies the same value there) and invariant 4 (each replica applies
// the indexes in order, without gaps, never going back), and records new chosen values
// against the published closed versions (invariant 5).
func (c *Checker) Applied(node paxos.ID, e paxos.Entry) error {
	if want := c.applied[node] + 1; e.Index != want {
		return fmt.Errorf("invariant 4: replica %d applied index %d after %d (want %d)", node, e.Index, c.applied[node], want)
	}
	c.applied[node] = e.Index
	v := valueOf(e)
	if got, ok := c.Chosen(e.Index); ok {
		if got != v {
			return fmt.Errorf("invariant 1: replica %d applied %s at index %d, but %s was chosen there", node, v, e.Index, got)
		}
		return nil
	}
	if e.Index != uint64(len(c.chosen))+1 {
		return fmt.Errorf("invariant 1: replica %d applied index %d but index %d was never applied anywhere", node, e.Index, len(c.chosen)+1)
	}
	c.chosen = append(c.chosen, v)
	if e.Type != paxos.EntryNormal {
		return nil
	}
	// Versions are monotonic per partition (DESIGN.md, versions and reads): the MVCC state
	// and the weak-read answers depend on it.
	if e.Version <= c.lastVersion {
		return fmt.Errorf("invariant 5: entry %d was chosen with version %d, not above version %d of entry %d", e.Index, e.Version, c.lastVersion, c.lastVersionIndex)
	}
	c.lastVersion, c.lastVersionIndex = e.Version, e.Index
	for _, p := range c.published {
		if p.Index < e.Index && e.Version <= p.Version {
			return fmt.Errorf("invariant 5: entry %d was chosen with version %d, at or below closed version %d published for index %d", e.Index, e.Version, p.Version, p.Index)
		}
	}
	return nil
}

// Closed checks a closed version a replica reports: it never goes back while the replica lives,
// and no chosen entry after its index carries a version at or below it (invariant 5).
func (c *Checker) Closed(node paxos.ID, cl paxos.Closed) error {
	if cl.Version < c.closed[node] {
		return fmt.Errorf("invariant 5: replica %d's closed version went back from %d to %d", node, c.closed[node], cl.Version)
	}
	c.closed[node] = cl.Version
	if cl.Version == 0 || c.publishedSeen[cl] {
		return nil
	}
	c.publishedSeen[cl] = true
	c.published = append(c.published, cl)
	for i := cl.Index + 1; i <= uint64(len(c.chosen)); i++ {
		if v := c.chosen[i-1]; v.Type == paxos.EntryNormal && v.Version <= cl.Version {
			return fmt.Errorf("invariant 5: closed version %d published for index %d, but entry %d was chosen with version %d", cl.Version, cl.Index, i, v.Version)
		}
	}
	return nil
}

// Serving checks invariant 2: at most one replica serves as leader at any instant.
func (c *Checker) Serving(serving []paxos.ID) error {
	if len(serving) > 1 {
		return fmt.Errorf("invariant 2: replicas %v serve as leader at the same time", serving)
	}
	return nil
}

// Role checks invariant 3: LOGONLY and READONLY replicas never lead.
func (c *Checker) Role(node paxos.ID, typ paxos.ReplicaType, role paxos.Role) error {
	if role == paxos.Leader && typ != paxos.Full {
		return fmt.Errorf("invariant 3: replica %d is %s and has role %s", node, typ, role)
	}
	return nil
}

// Commit checks, when a leader's commit index moves from `from` to `to`, that a majority of the
// voters of its membership durably hold the value at every newly committed index (invariants 1
// and 3: commit = accepted and persisted by a majority of voters; READONLY replicas never
// count). leaderHolds and holds look at the durable disks.
func (c *Checker) Commit(leader paxos.ID, conf paxos.Membership, from, to uint64, logged func(i uint64) (value, bool), holds func(node paxos.ID, i uint64) (Holding, value)) error {
	voters := conf.Voters()
	q := conf.Quorum()
	for i := from + 1; i <= to; i++ {
		// The value: the one in the leader's log (logged; its write may still be under way),
		// else the one on its disk; otherwise the value most voters hold.
		want, known := logged(i)
		if h, v := holds(leader, i); !known && h == Present {
			want, known = v, true
		}
		if !known {
			best := 0
			for _, a := range voters {
				h, v := holds(a, i)
				if h != Present {
					continue
				}
				n := 0
				for _, b := range voters {
					if hb, vb := holds(b, i); hb == Present && vb == v {
						n++
					}
				}
				if n > best {
					best, want, known = n, v, true
				}
			}
		}
		got := 0
		var have []paxos.ID
		for _, a := range voters {
			h, v := holds(a, i)
			if h == Compacted || (h == Present && known && v == want) {
				got++
				have = append(have, a)
			}
		}
		if got < q {
			return fmt.Errorf("invariants 1 and 3: leader %d committed index %d, but only voters %v of %v (quorum %d) durably hold its value", leader, i, have, voters, q)
		}
	}
	return nil
}

// WeakRead is one weak read a replica answered at its readable version.
type WeakRead struct {
	Node    paxos.ID
	Key     int
	Version uint64
	// Got is the op id of the write the replica returned (0: no value).
	Got uint64
	// Step is the simulated step it was answered at (for the report).
	Step uint64
}

// WeakReads checks invariant 5 for weak reads, against the final chosen log: a read at version v
// returns exactly the latest chosen write of its key with version <= v.
func (c *Checker) WeakReads(reads []WeakRead) error {
	type write struct{ version, op uint64 }
	byKey := map[int][]write{}
	for _, v := range c.chosen {
		if v.Type != paxos.EntryNormal {
			continue
		}
		op, key, ok := decodePut([]byte(v.Data))
		if !ok {
			continue
		}
		byKey[key] = append(byKey[key], write{v.Version, op})
	}
	for _, r := range reads {
		var want, best uint64
		for _, w := range byKey[r.Key] {
			if w.version <= r.Version && w.version >= best {
				best, want = w.version, w.op
			}
		}
		if r.Got != want {
			return fmt.Errorf("invariant 5: weak read of key %d at version %d on replica %d (step %d) returned write %d, but the latest chosen write at or below that version is %d",
				r.Key, r.Version, r.Node, r.Step, r.Got, want)
		}
	}
	return nil
}
