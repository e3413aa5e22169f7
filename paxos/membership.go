package paxos

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"slices"
)

// confPoint is the membership in force from a log index on.
type confPoint struct {
	index uint64
	m     Membership
}

// confs tracks the membership as the log changes it. A change takes effect as soon as its entry
// is in the log (appended, not chosen), as in the Raft dissertation's single-server changes;
// one change at a time keeps every two consecutive memberships' majorities overlapping, and a
// new leader commits its barrier before it accepts a change (the fix for the known single-server
// change bug in leader changes).
type confs struct {
	base    Membership  // in force at the log's offset
	changes []confPoint // conf entries after the offset, ascending
}

func (c *confs) current() Membership {
	if len(c.changes) == 0 {
		return c.base
	}
	return c.changes[len(c.changes)-1].m
}

// at returns the membership in force at index i (at or after the offset).
func (c *confs) at(i uint64) Membership {
	m := c.base
	for _, p := range c.changes {
		if p.index > i {
			break
		}
		m = p.m
	}
	return m
}

// pendingIndex returns the index of the newest conf entry in the log, or 0.
func (c *confs) pendingIndex() uint64 {
	if len(c.changes) == 0 {
		return 0
	}
	return c.changes[len(c.changes)-1].index
}

func (c *confs) onAppend(es []Entry) {
	for _, e := range es {
		if e.Type != EntryConfChange {
			continue
		}
		cc, err := decodeConfChange(e.Data)
		if err != nil {
			continue // every replica sees the same bytes and skips them the same way
		}
		m, err := applyConfChange(c.current(), cc)
		if err != nil {
			continue
		}
		c.changes = append(c.changes, confPoint{index: e.Index, m: m})
	}
}

func (c *confs) truncateFrom(i uint64) {
	for len(c.changes) > 0 && c.changes[len(c.changes)-1].index >= i {
		c.changes = c.changes[:len(c.changes)-1]
	}
}

func (c *confs) compact(i uint64) {
	for len(c.changes) > 0 && c.changes[0].index <= i {
		c.base = c.changes[0].m
		c.changes = c.changes[1:]
	}
}

// applyConfChange returns m changed by cc, or an error naming the rule cc breaks.
func applyConfChange(m Membership, cc ConfChange) (Membership, error) {
	if cc.ID == None {
		return m, fmt.Errorf("%w: replica id 0 is not valid", ErrConfChange)
	}
	out := m.clone()
	idx := slices.IndexFunc(out.Members, func(x Member) bool { return x.ID == cc.ID })
	switch cc.Type {
	case ConfAdd:
		if idx >= 0 {
			return m, fmt.Errorf("%w: replica %d is already a member (%s)", ErrConfChange, cc.ID, out.Members[idx].Type)
		}
		if cc.Replica < Full || cc.Replica > ReadOnly {
			return m, fmt.Errorf("%w: replica type %d is not FULL, LOGONLY or READONLY", ErrConfChange, cc.Replica)
		}
		nm := Member{ID: cc.ID, Type: cc.Replica}
		if cc.Replica == ReadOnly {
			nm.Upstream = cc.Upstream
		} else if cc.Upstream != None {
			return m, fmt.Errorf("%w: only a READONLY replica has an upstream, not %s replica %d", ErrConfChange, cc.Replica, cc.ID)
		}
		out.Members = append(out.Members, nm)
		slices.SortFunc(out.Members, func(a, b Member) int { return cmp.Compare(a.ID, b.ID) })
	case ConfRemove:
		if idx < 0 {
			return m, fmt.Errorf("%w: replica %d is not a member", ErrConfChange, cc.ID)
		}
		out.Members = slices.Delete(out.Members, idx, idx+1)
		for i := range out.Members {
			if out.Members[i].Upstream == cc.ID {
				out.Members[i].Upstream = None // fed by the leader again
			}
		}
	case ConfSetType:
		if idx < 0 {
			return m, fmt.Errorf("%w: replica %d is not a member", ErrConfChange, cc.ID)
		}
		if cc.Replica < Full || cc.Replica > ReadOnly {
			return m, fmt.Errorf("%w: replica type %d is not FULL, LOGONLY or READONLY", ErrConfChange, cc.Replica)
		}
		if out.Members[idx].Type == cc.Replica {
			return m, fmt.Errorf("%w: replica %d is already %s", ErrConfChange, cc.ID, cc.Replica)
		}
		if out.Members[idx].Type == LogOnly && cc.Replica == ReadOnly {
			// A LOGONLY replica keeps no data, so it cannot start serving reads in place
			// (READONLY to LOGONLY is fine: the listener already has the log and stops using
			// its data; the root service adds new voters that way, after they caught up).
			return m, fmt.Errorf("%w: replica %d: %s to %s is not supported (it keeps no data: remove it and add a READONLY replica)", ErrConfChange, cc.ID, out.Members[idx].Type, cc.Replica)
		}
		out.Members[idx].Type = cc.Replica
		if cc.Replica != ReadOnly {
			out.Members[idx].Upstream = None
		}
	case ConfSetUpstream:
		if idx < 0 {
			return m, fmt.Errorf("%w: replica %d is not a member", ErrConfChange, cc.ID)
		}
		if out.Members[idx].Type != ReadOnly {
			return m, fmt.Errorf("%w: replica %d is %s: only READONLY replicas have an upstream", ErrConfChange, cc.ID, out.Members[idx].Type)
		}
		out.Members[idx].Upstream = cc.Upstream
	default:
		return m, fmt.Errorf("%w: change type %d is unknown", ErrConfChange, cc.Type)
	}
	// Upstreams must name members and form no cycle.
	for _, x := range out.Members {
		seen := 0
		for up := x.Upstream; up != None; seen++ {
			u, ok := out.Member(up)
			if !ok {
				return m, fmt.Errorf("%w: upstream %d of replica %d is not a member", ErrConfChange, up, x.ID)
			}
			if up == x.ID || seen > len(out.Members) {
				return m, fmt.Errorf("%w: upstream chain of replica %d is a cycle", ErrConfChange, x.ID)
			}
			up = u.Upstream
		}
	}
	full := 0
	for _, x := range out.Members {
		if x.Type == Full {
			full++
		}
	}
	if full == 0 {
		return m, fmt.Errorf("%w: %s of replica %d would leave no FULL replica", ErrConfChange, cc.Type, cc.ID)
	}
	return out, nil
}

// confChangeSize is the encoded size: type, id, replica type, upstream.
const confChangeSize = 1 + 8 + 1 + 8

// EncodeConfChange returns the bytes of a conf entry.
func EncodeConfChange(cc ConfChange) []byte {
	b := make([]byte, confChangeSize)
	b[0] = byte(cc.Type)
	binary.BigEndian.PutUint64(b[1:], uint64(cc.ID))
	b[9] = byte(cc.Replica)
	binary.BigEndian.PutUint64(b[10:], uint64(cc.Upstream))
	return b
}

// DecodeConfChange parses a conf entry's bytes.
func DecodeConfChange(b []byte) (ConfChange, error) { return decodeConfChange(b) }

func decodeConfChange(b []byte) (ConfChange, error) {
	if len(b) != confChangeSize {
		return ConfChange{}, fmt.Errorf("%w: conf change of %d bytes, want %d", ErrBadMessage, len(b), confChangeSize)
	}
	return ConfChange{
		Type:     ConfChangeType(b[0]),
		ID:       ID(binary.BigEndian.Uint64(b[1:])),
		Replica:  ReplicaType(b[9]),
		Upstream: ID(binary.BigEndian.Uint64(b[10:])),
	}, nil
}
