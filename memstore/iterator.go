package memstore

import (
	"bytes"
)

// iteratorChunk is how many visible entries one refill collects under the
// read lock: large enough to amortise the lock and the B-tree descent, small
// enough that the writer never waits long behind a scan.
const iteratorChunk = 128

// Iterator walks, in key order, the entries visible at one version in
// [start, end): per key the newest entry with a version <= the read version,
// tombstones included (Entry.Tombstone) so a merging reader can let them hide
// older tables. It is not safe for concurrent use; the table may be written
// concurrently. It reads the table in chunks, each under the read lock, so an
// entry written after the iterator passed its key is not seen, and one written
// ahead of it is seen only if its version is <= the read version.
type Iterator struct {
	t       *Table
	version uint64
	end     []byte // exclusive; nil: no bound

	chunk []Entry
	pos   int
	// resume is the last key returned by a refill: the next refill starts after it.
	resume []byte
	// started: a refill happened, so resume is meaningful.
	started bool
	// exhausted: the table holds nothing more in range.
	exhausted bool
}

// NewIterator returns an iterator over [start, end) at version, positioned on
// the first visible entry. A nil start is the first key, a nil end no bound.
func (t *Table) NewIterator(start, end []byte, version uint64) *Iterator {
	it := &Iterator{t: t, version: version, end: end, resume: start}
	it.refill()
	return it
}

// Valid reports whether the iterator is positioned on an entry.
func (it *Iterator) Valid() bool { return it.pos < len(it.chunk) }

// Entry returns the current entry. Call only when Valid.
func (it *Iterator) Entry() Entry { return it.chunk[it.pos] }

// Next moves to the next visible key.
func (it *Iterator) Next() {
	it.pos++
	if it.pos >= len(it.chunk) && !it.exhausted {
		it.refill()
	}
}

func (it *Iterator) refill() {
	it.chunk = it.chunk[:0]
	it.pos = 0
	var from item
	skipKey := []byte(nil)
	if it.started {
		// Every entry of the resume key orders before (resume, 0).
		from = pivot(it.resume, 0)
		skipKey = it.resume
	} else {
		from = pivot(it.resume, ^uint64(0))
	}
	it.started = true
	var last []byte // key of the last entry taken
	reachedEnd := true

	it.t.mu.RLock()
	it.t.tree.AscendGreaterOrEqual(from, func(x item) bool {
		k := x.key()
		if it.end != nil && bytes.Compare(k, it.end) >= 0 {
			return false
		}
		if skipKey != nil && bytes.Equal(k, skipKey) {
			return true
		}
		if last != nil && bytes.Equal(k, last) {
			return true // an older version of a key already taken
		}
		if x.version > it.version {
			return true // newer than the read; an older version may follow
		}
		if len(it.chunk) == iteratorChunk {
			reachedEnd = false
			return false
		}
		it.chunk = append(it.chunk, x.entry())
		last = k
		return true
	})
	it.t.mu.RUnlock()

	if len(it.chunk) > 0 {
		it.resume = it.chunk[len(it.chunk)-1].Key
	}
	it.exhausted = reachedEnd
}

// Scan calls fn, in key order, with each key of [start, end) visible at
// version and its value; tombstoned keys are skipped. It stops when fn returns
// false.
func (t *Table) Scan(start, end []byte, version uint64, fn func(key, value []byte) bool) {
	for it := t.NewIterator(start, end, version); it.Valid(); it.Next() {
		e := it.Entry()
		if e.Tombstone {
			continue
		}
		if !fn(e.Key, e.Value) {
			return
		}
	}
}
