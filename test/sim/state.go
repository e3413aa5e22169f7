package sim

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"obkv/paxos"
)

// numKeys is the size of the simulated key space: small, so that operations conflict.
const numKeys = 6

// encodePut is the command of a Put: the op id (unique per run; it is also the value written)
// and the key.
func encodePut(op uint64, key int) []byte {
	return []byte(strconv.FormatUint(op, 10) + ":" + strconv.Itoa(key))
}

func decodePut(b []byte) (op uint64, key int, ok bool) {
	a, k, found := strings.Cut(string(b), ":")
	if !found {
		return 0, 0, false
	}
	op, err1 := strconv.ParseUint(a, 10, 64)
	key, err2 := strconv.Atoi(k)
	return op, key, err1 == nil && err2 == nil && key >= 0 && key < numKeys
}

// kvVersion is one write of a key in a replica's MVCC state.
type kvVersion struct {
	version uint64
	op      uint64
}

// kvState is a replica's state machine: an MVCC map from key to its writes in apply order, plus
// what a checkpoint of it must record (the membership and the last applied entry).
type kvState struct {
	keys    [numKeys][]kvVersion
	conf    paxos.Membership
	index   uint64
	ballot  paxos.Ballot
	version uint64 // version of the entry at index
	// maxVersion is the highest version applied: the replica's hybrid clock never issues a
	// version at or below it.
	maxVersion uint64
}

func newKVState(conf paxos.Membership) *kvState {
	return &kvState{conf: cloneConf(conf)}
}

func cloneConf(m paxos.Membership) paxos.Membership {
	return paxos.Membership{Members: append([]paxos.Member(nil), m.Members...)}
}

// clone returns a copy that shares the version arrays read-only: each slice is capped at its
// length, so an append to either copy reallocates instead of writing into the other.
func (s *kvState) clone() *kvState {
	for k := range s.keys {
		s.keys[k] = s.keys[k][:len(s.keys[k]):len(s.keys[k])]
	}
	c := *s
	c.conf = cloneConf(s.conf)
	return &c
}

// apply applies a chosen entry. It returns an error for what only a simulator bug can cause.
func (s *kvState) apply(e paxos.Entry) error {
	s.index, s.ballot, s.version = e.Index, e.Ballot, e.Version
	switch e.Type {
	case paxos.EntryNormal:
		op, key, ok := decodePut(e.Data)
		if !ok {
			return fmt.Errorf("simulator: entry %d carries %q, not a put", e.Index, e.Data)
		}
		s.keys[key] = append(s.keys[key], kvVersion{version: e.Version, op: op})
		s.maxVersion = max(s.maxVersion, e.Version)
	case paxos.EntryConfChange:
		cc, err := paxos.DecodeConfChange(e.Data)
		if err != nil {
			return fmt.Errorf("simulator: entry %d: %w", e.Index, err)
		}
		s.conf = applyConf(s.conf, cc)
	}
	return nil
}

// applyConf mirrors the membership change rules of paxos/membership.go for the changes the
// workload proposes (which the leader validated). The simulator needs the membership at a
// checkpoint index to boot a replica from it; the driver cross-checks it against the node's own.
func applyConf(m paxos.Membership, cc paxos.ConfChange) paxos.Membership {
	out := cloneConf(m)
	idx := slices.IndexFunc(out.Members, func(x paxos.Member) bool { return x.ID == cc.ID })
	switch cc.Type {
	case paxos.ConfAdd:
		if idx >= 0 {
			return m
		}
		nm := paxos.Member{ID: cc.ID, Type: cc.Replica}
		if cc.Replica == paxos.ReadOnly {
			nm.Upstream = cc.Upstream
		}
		out.Members = append(out.Members, nm)
		slices.SortFunc(out.Members, func(a, b paxos.Member) int { return cmp.Compare(a.ID, b.ID) })
	case paxos.ConfRemove:
		if idx < 0 {
			return m
		}
		out.Members = slices.Delete(out.Members, idx, idx+1)
		for i := range out.Members {
			if out.Members[i].Upstream == cc.ID {
				out.Members[i].Upstream = paxos.None
			}
		}
	case paxos.ConfSetType:
		if idx < 0 {
			return m
		}
		out.Members[idx].Type = cc.Replica
		if cc.Replica != paxos.ReadOnly {
			out.Members[idx].Upstream = paxos.None
		}
	case paxos.ConfSetUpstream:
		if idx < 0 {
			return m
		}
		out.Members[idx].Upstream = cc.Upstream
	}
	return out
}

// latest returns the op id of the last write of key in apply order (0: none): what a strong
// read returns.
func (s *kvState) latest(key int) uint64 {
	vs := s.keys[key]
	if len(vs) == 0 {
		return 0
	}
	return vs[len(vs)-1].op
}

// readAt returns the op id of the write of key with the highest version <= v (0: none): what a
// weak read at version v returns.
func (s *kvState) readAt(key int, v uint64) uint64 {
	var best, op uint64
	for _, w := range s.keys[key] {
		if w.version <= v && w.version >= best {
			best, op = w.version, w.op
		}
	}
	return op
}

// disk is a replica's simulated durable storage: the checkpoint (snapshot meta and the state
// machine at its index; the log is compacted to it), the durable hard state and entries after
// the checkpoint. Unsynced writes never reach it: a Ready is written and synced in one call,
// and a crash between the write and the sync keeps only a prefix of it (see Sim.persist).
type disk struct {
	hs      paxos.HardState
	snap    paxos.SnapshotMeta
	kv      *kvState
	entries []paxos.Entry
}

func (d *disk) last() uint64 { return d.snap.Index + uint64(len(d.entries)) }

// confs returns the memberships the disk holds: its checkpoint's, then after each membership
// change in its log (chosen or not).
func (d *disk) confs() []paxos.Membership {
	out := []paxos.Membership{d.snap.Membership}
	for _, e := range d.entries {
		if e.Type == paxos.EntryConfChange {
			if cc, err := paxos.DecodeConfChange(e.Data); err == nil {
				out = append(out, applyConf(out[len(out)-1], cc))
			}
		}
	}
	return out
}

// pristine reports whether the disk holds nothing of the replica yet but, perhaps, that it is
// recovering (paxos's own test: no promise, no entry, no checkpoint).
func (d *disk) pristine() bool {
	return d.hs.Promised.IsZero() && len(d.entries) == 0 && d.snap.Index == 0
}

// at reports what the disk durably holds at index i.
func (d *disk) at(i uint64) (Holding, value) {
	switch {
	case i <= d.snap.Index:
		return Compacted, value{}
	case i > d.last():
		return Absent, value{}
	}
	return Present, valueOf(d.entries[i-d.snap.Index-1])
}

// write persists a hard state and entries, discarding the stored entries from the first new
// index on (Ready contract, step 1).
func (d *disk) write(hs paxos.HardState, es []paxos.Entry) error {
	if !hs.IsZero() {
		d.hs = hs
	}
	if len(es) == 0 {
		return nil
	}
	first := es[0].Index
	if first <= d.snap.Index || first > d.last()+1 {
		return fmt.Errorf("simulator: Ready entries start at %d, the disk holds (%d,%d]", first, d.snap.Index, d.last())
	}
	d.entries = append(d.entries[:first-d.snap.Index-1], es...) // the disk owns its array
	return nil
}

// writeTorn is what a crash before the sync leaves of a write of es: a prefix of the new entries,
// each replacing the stored entry at its index; stored entries after that prefix survive (the
// Ready contract: a discard is never durable without the entries that replace it).
func (d *disk) writeTorn(es []paxos.Entry) error {
	if len(es) == 0 {
		return nil
	}
	first := es[0].Index
	if first <= d.snap.Index || first > d.last()+1 {
		return fmt.Errorf("simulator: Ready entries start at %d, the disk holds (%d,%d]", first, d.snap.Index, d.last())
	}
	for _, e := range es {
		if e.Index <= d.last() {
			d.entries[e.Index-d.snap.Index-1] = e
		} else {
			d.entries = append(d.entries, e)
		}
	}
	return nil
}

// checkpoint makes kv (the state through kv.index) durable and compacts the log to it.
func (d *disk) checkpoint(kv *kvState, closed paxos.Closed) {
	i := kv.index
	if i <= d.snap.Index || i > d.last() {
		return
	}
	d.entries = append([]paxos.Entry(nil), d.entries[i-d.snap.Index:]...)
	d.snap = paxos.SnapshotMeta{Index: i, Ballot: kv.ballot, Version: kv.version, Membership: cloneConf(kv.conf), Closed: closed}
	d.kv = kv.clone()
}

// install replaces the checkpoint with a snapshot fetched from another replica. keepSuffix: the
// node kept its log after meta.Index (it held the snapshot's last entry), so the persisted
// entries after it stay; otherwise the log restarts empty.
func (d *disk) install(meta paxos.SnapshotMeta, kv *kvState, keepSuffix bool) {
	if keepSuffix && d.last() > meta.Index && meta.Index >= d.snap.Index {
		d.entries = append([]paxos.Entry(nil), d.entries[meta.Index-d.snap.Index:]...)
	} else {
		d.entries = nil
	}
	d.snap = meta
	d.snap.Membership = cloneConf(meta.Membership)
	d.kv = kv.clone()
	if d.hs.Commit < meta.Index {
		d.hs.Commit = meta.Index
	}
}
