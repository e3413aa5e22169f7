package memstore

import (
	"bytes"
)

// iteratorChunk is how many keys one refill takes from the B-tree under the
// read lock: large enough to amortise the lock and the descent, small enough
// that the writer never waits long behind a scan. The versions of those keys
// are searched after the lock is released.
const iteratorChunk = 128

// Iterator walks, in key order, the entries visible at one version in
// [start, end): per key the newest entry with a version <= the read version,
// tombstones included (Entry.Tombstone) so a merging reader can let them hide
// older tables. It is not safe for concurrent use; the table may be written
// concurrently. It takes the table's keys in chunks, each under the read lock,
// and searches a key's versions when it reaches the key, so a key new to the
// table is seen only if it was added before the chunk that would hold it was
// taken, and a version only if it was linked before the iterator reached its
// key and is <= the read version.
type Iterator struct {
	t       *Table
	version uint64
	end     []byte // exclusive; nil: no bound

	// recs is the chunk of keys the last refill took, and pos the index of the
	// current one.
	recs []*record
	pos  int
	cur  Entry // recs[pos]'s entry visible at version, when valid
	// valid: the iterator is positioned on cur.
	valid bool
	// pivot is the refill's search key; a field, so that a refill does not
	// allocate one. Its key is the start of the scan, then the last key taken.
	pivot record
	// started: a refill happened, so the pivot's key was taken and is skipped.
	started bool
	// exhausted: the table holds no key in range after recs.
	exhausted bool
}

// NewIterator returns an iterator over [start, end) at version, positioned on
// the first visible entry. A nil start is the first key, a nil end no bound.
func (t *Table) NewIterator(start, end []byte, version uint64) *Iterator {
	it := &Iterator{t: t, version: version, end: end}
	it.pivot.key = start
	it.settle()
	return it
}

// Valid reports whether the iterator is positioned on an entry.
func (it *Iterator) Valid() bool { return it.valid }

// Entry returns the current entry. Call only when Valid.
func (it *Iterator) Entry() Entry { return it.cur }

// Next moves to the next visible key.
func (it *Iterator) Next() {
	it.pos++
	it.settle()
}

// settle positions the iterator on the first key from recs[pos] on with an
// entry visible at the read version, refilling recs as needed.
func (it *Iterator) settle() {
	for {
		for ; it.pos < len(it.recs); it.pos++ {
			rec := it.recs[it.pos]
			// No lock: a chain's nodes never change once published.
			if n := rec.newest.Load().at(it.version); n != nil {
				it.cur, it.valid = n.entry(rec.key), true
				return
			}
		}
		if it.exhausted {
			it.cur, it.valid = Entry{}, false
			return
		}
		it.refill()
	}
}

// refill replaces recs with the next keys in range, at most iteratorChunk of
// them, taken under the read lock.
func (it *Iterator) refill() {
	if it.recs == nil {
		it.recs = make([]*record, 0, iteratorChunk)
	}
	it.recs = it.recs[:0]
	it.pos = 0
	skip := it.started // the pivot's key was taken by the previous refill
	reachedEnd := true

	it.t.mu.RLock()
	it.t.tree.AscendGreaterOrEqual(&it.pivot, func(rec *record) bool {
		if it.end != nil && bytes.Compare(rec.key, it.end) >= 0 {
			return false
		}
		if skip {
			skip = false
			if bytes.Equal(rec.key, it.pivot.key) {
				return true
			}
		}
		if len(it.recs) == iteratorChunk {
			reachedEnd = false
			return false
		}
		it.recs = append(it.recs, rec)
		return true
	})
	it.t.mu.RUnlock()

	it.started = true
	if len(it.recs) > 0 {
		it.pivot.key = it.recs[len(it.recs)-1].key
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
