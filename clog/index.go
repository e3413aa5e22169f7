package clog

import (
	"fmt"
	"sort"
	"sync"
)

// loc is where a retained entry's record lives.
type loc struct {
	seg uint32 // segment id
	off uint32 // offset of the record in the segment file
	n   uint32 // encoded size of the record
}

// segment is one segment file.
type segment struct {
	id   uint64
	path string
	f    File
	size int64 // capacity: the preallocated size of the file
	// live is the number of retained entries stored in the segment.
	// Invariant: live == the number of locs of all partitions naming id.
	live int
	// readers counts the Entries calls reading the file; it is only
	// incremented under the index lock while the segment is in the index,
	// and gc and Close wait for it before closing the file.
	readers sync.WaitGroup
}

// part is the durable state of one partition.
type part struct {
	// first is the index of locs[0], and the next index to append when locs
	// is empty; 0 while the partition has neither entries nor a compaction
	// point. Invariant: first == 0 implies len(locs) == 0.
	first    uint64
	locs     []loc
	state    []byte
	hasState bool
}

// next is the index the next entry must have (0: any).
func (p *part) next() uint64 {
	if p.first == 0 {
		return 0
	}
	return p.first + uint64(len(p.locs))
}

// index is the in-memory index of what is durable. The methods return an
// error when what they are asked to apply breaks the per-partition rules:
// at recovery that is corruption; at run time it cannot happen because Save
// validated the same rules first.
type index struct {
	parts map[uint64]*part
	segs  map[uint64]*segment
}

func newIndex() index {
	return index{parts: map[uint64]*part{}, segs: map[uint64]*segment{}}
}

func (ix *index) part(p uint64) *part {
	ps := ix.parts[p]
	if ps == nil {
		ps = &part{}
		ix.parts[p] = ps
	}
	return ps
}

// release decrements the live counts of the segments holding locs.
func (ix *index) release(locs []loc) {
	for _, l := range locs {
		if s := ix.segs[uint64(l.seg)]; s != nil {
			s.live--
		}
	}
}

func (ix *index) applyEntry(p, idx uint64, l loc) error {
	ps := ix.part(p)
	switch {
	case idx == 0:
		return fmt.Errorf("partition %d: entry index 0 (indexes start at 1)", p)
	case ps.first == 0:
		ps.first = idx
	case idx != ps.next():
		return fmt.Errorf("partition %d: entry %d is not the next index %d", p, idx, ps.next())
	}
	ps.locs = append(ps.locs, l)
	if s := ix.segs[uint64(l.seg)]; s != nil {
		s.live++
	}
	return nil
}

func (ix *index) applyTruncate(p, from uint64) error {
	ps := ix.part(p)
	if ps.first == 0 || from >= ps.next() {
		return nil
	}
	if from < ps.first {
		return fmt.Errorf("partition %d: truncate from %d is below the first retained index %d", p, from, ps.first)
	}
	k := from - ps.first
	ix.release(ps.locs[k:])
	ps.locs = ps.locs[:k]
	return nil
}

func (ix *index) applyCompact(p, below uint64) error {
	if below == 0 {
		return fmt.Errorf("partition %d: compact below 0", p)
	}
	ps := ix.part(p)
	if below <= ps.first {
		return nil
	}
	if ps.first != 0 {
		k := min(below-ps.first, uint64(len(ps.locs)))
		ix.release(ps.locs[:k])
		// Copy so the compacted prefix's memory is released.
		ps.locs = append([]loc(nil), ps.locs[k:]...)
	}
	ps.first = below
	return nil
}

// applyDrop forgets partition p: its entries, range and hard state.
func (ix *index) applyDrop(p uint64) {
	if ps := ix.parts[p]; ps != nil {
		ix.release(ps.locs)
		delete(ix.parts, p)
	}
}

func (ix *index) applyState(p uint64, state []byte) {
	ps := ix.part(p)
	ps.state = append(ps.state[:0], state...)
	ps.hasState = true
}

// applySnapshot resets the index to a segment's snapshot batch: every
// partition named keeps exactly its entries [first, next), which must all be
// present by the end of recovery, and takes the snapshot's hard state;
// partitions not named are dropped.
// maxRange bounds next-first of a meta record: no honest log retains more
// entries than its files can hold, and the bound keeps a forged record from
// making recovery allocate without limit.
func (ix *index) applySnapshot(metas []record, maxRange uint64) error {
	named := make(map[uint64]bool, len(metas))
	for _, m := range metas {
		p, first, next := m.partition, m.a, m.b
		if named[p] {
			return fmt.Errorf("partition %d is named twice", p)
		}
		named[p] = true
		if (first == 0 && next != 0) || next < first {
			return fmt.Errorf("partition %d: meta range [%d, %d) is malformed", p, first, next)
		}
		if next-first > maxRange {
			return fmt.Errorf("partition %d: meta range [%d, %d) holds more entries than the log's files can (%d)", p, first, next, maxRange)
		}
		// Entries the snapshot names but no earlier segment holds get a
		// placeholder (segment 0): they were in segments deleted after a later
		// compaction, which a later record will show. Open fails if a
		// placeholder is still retained at the end of recovery.
		ps := ix.part(p)
		locs := make([]loc, next-first)
		for i := first; i < next; i++ {
			if ps.first != 0 && i >= ps.first && i < ps.next() {
				locs[i-first] = ps.locs[i-ps.first]
				ps.locs[i-ps.first] = loc{}
			}
		}
		ix.release(ps.locs)
		ps.locs = locs
		ps.first = first
		ps.state, ps.hasState = append(ps.state[:0], m.data...), m.hasState
		if !m.hasState {
			ps.state = nil
		}
	}
	for p, ps := range ix.parts {
		if !named[p] {
			ix.release(ps.locs)
			delete(ix.parts, p)
		}
	}
	return nil
}

// appendSnapshot appends one meta record per partition, in partition order.
func (ix *index) appendSnapshot(buf []byte) ([]byte, int) {
	ids := make([]uint64, 0, len(ix.parts))
	for p := range ix.parts {
		ids = append(ids, p)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for _, p := range ids {
		ps := ix.parts[p]
		buf = appendRecord(buf, kindMeta, p, [2]uint64{ps.first, ps.next()}, ps.hasState, nil, ps.state)
	}
	return buf, len(ids)
}

// missing returns a partition retaining an entry no segment holds, if any.
func (ix *index) missing() (p, idx uint64, ok bool) {
	for p, ps := range ix.parts {
		for i, l := range ps.locs {
			if l.seg == 0 {
				return p, ps.first + uint64(i), true
			}
		}
	}
	return 0, 0, false
}
