package paxos

import "fmt"

// plog is a replica's in-memory view of its log: the compacted point (offset) and the entries
// after it. It mirrors what the driver persisted plus what it is about to persist.
type plog struct {
	// offset is the index of the last compacted entry (or the snapshot index); entries[0] has
	// Index offset+1.
	offset        uint64
	offsetBallot  Ballot
	offsetVersion uint64
	entries       []Entry
	// conf follows the membership changes in entries.
	conf confs

	// Invariant: offset <= applied <= commit.
	commit uint64
	// applied is the highest index handed to the driver to apply.
	applied uint64
	// stable is the highest index the driver confirmed persisted.
	// Invariant: offset <= stable <= last().
	stable uint64
}

func (l *plog) first() uint64 { return l.offset + 1 }

func (l *plog) last() uint64 { return l.offset + uint64(len(l.entries)) }

// ballotAt returns the ballot of the entry at i; ok is false when i is compacted (below offset)
// or beyond the end.
func (l *plog) ballotAt(i uint64) (Ballot, bool) {
	switch {
	case i == l.offset:
		return l.offsetBallot, true
	case i < l.offset || i > l.last():
		return Ballot{}, false
	}
	return l.entries[i-l.offset-1].Ballot, true
}

func (l *plog) lastBallot() Ballot {
	b, _ := l.ballotAt(l.last())
	return b
}

func (l *plog) at(i uint64) *Entry { return &l.entries[i-l.offset-1] }

// matches reports whether the log holds an entry at i accepted under b. Index 0 always matches.
//
// Entries at or below commit are chosen: every replica holds the same value there, though a
// reconfirm may have re-accepted it under a newer ballot, so they match whatever the ballot.
func (l *plog) matches(i uint64, b Ballot) bool {
	if i <= l.commit {
		return true
	}
	got, ok := l.ballotAt(i)
	return ok && got == b
}

// slice returns entries in [lo, hi] limited to maxEntries and maxBytes (at least one entry
// when the range is not empty). lo must be above offset.
func (l *plog) slice(lo, hi, maxEntries, maxBytes uint64) []Entry {
	if lo <= l.offset {
		panic(fmt.Sprintf("paxos: slice from %d below offset %d", lo, l.offset))
	}
	if hi > l.last() {
		hi = l.last()
	}
	if lo > hi {
		return nil
	}
	var n, bytes uint64
	for i := lo; i <= hi && n < maxEntries; i++ {
		s := l.at(i).size()
		if n > 0 && bytes+s > maxBytes {
			break
		}
		bytes += s
		n++
	}
	return l.entries[lo-l.offset-1 : lo-l.offset-1+n : lo-l.offset-1+n]
}

// truncateFrom discards entries at and after i (i > commit) and pulls stable back.
func (l *plog) truncateFrom(i uint64) {
	if i <= l.commit {
		panic(fmt.Sprintf("paxos: truncate at %d would drop chosen entries (commit %d)", i, l.commit))
	}
	if i > l.last() {
		return
	}
	// Copy rather than reslice: messages of an unsent Ready may still point at the old array.
	l.entries = append([]Entry(nil), l.entries[:i-l.offset-1]...)
	l.conf.truncateFrom(i)
	if l.stable >= i {
		l.stable = i - 1
	}
}

// appendAt writes es (contiguous, es[0].Index <= last+1) over the log, truncating any suffix
// that conflicts. Entries already present with the same ballot are kept (a duplicate message
// does not pull stable back). It returns the index of the first entry actually written, or 0.
func (l *plog) appendAt(es []Entry) uint64 {
	var written uint64
	for k, e := range es {
		if e.Index <= l.commit {
			continue // chosen: the same value is already here
		}
		if e.Index <= l.last() {
			if l.at(e.Index).Ballot == e.Ballot {
				continue
			}
			l.truncateFrom(e.Index)
		}
		if e.Index != l.last()+1 {
			panic(fmt.Sprintf("paxos: append of %d leaves a gap after %d", e.Index, l.last()))
		}
		if written == 0 {
			written = e.Index
		}
		l.entries = append(l.entries, es[k:]...)
		l.conf.onAppend(es[k:])
		break
	}
	return written
}

// compact drops entries at and below i (i <= applied).
func (l *plog) compact(i uint64) {
	if i <= l.offset {
		return
	}
	e := l.at(i)
	l.offsetBallot, l.offsetVersion = e.Ballot, e.Version
	rest := l.entries[i-l.offset:]
	l.entries = append(make([]Entry, 0, len(rest)), rest...)
	l.offset = i
	l.conf.compact(i)
}

// unstable returns the entries not yet confirmed persisted.
func (l *plog) unstable() []Entry {
	if l.stable >= l.last() {
		return nil
	}
	return l.entries[l.stable-l.offset:]
}

// toApply returns chosen, persisted entries not yet handed to the driver.
func (l *plog) toApply() []Entry {
	hi := min(l.commit, l.stable)
	if hi <= l.applied {
		return nil
	}
	return l.entries[l.applied-l.offset : hi-l.offset]
}
