package clog

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"time"
)

// Entry is one log entry of a partition. Data is opaque to clog.
type Entry struct {
	Index  uint64
	Ballot uint64
	// Head, when not empty, is written before Data as part of it: the record holds Head
	// then Data, and Entries returns both as one Data. A caller that frames a large payload
	// with a small header of its own saves copying the payload into a new slice.
	Head []byte
	Data []byte
}

// size is the length of the entry's record data: Head and Data.
func (e *Entry) size() int { return len(e.Head) + len(e.Data) }

// Update is what one partition asks to persist: what a Paxos Ready says to
// save before sending.
type Update struct {
	Partition uint64
	// State is the new hard state (e.g. the promised ballot); nil: unchanged.
	State []byte
	// TruncateFrom, when not 0, discards the partition's entries >=
	// TruncateFrom before Entries are appended (a conflict).
	TruncateFrom uint64
	// Entries are contiguous and ascending; the first is the partition's
	// next index (see the package doc).
	Entries []Entry
	// CompactBelow, when not 0, compacts the partition below it before the
	// rest of the update, as Compact does, in the same atomic write (a
	// replica installing a snapshot records the new snapshot point in State
	// and the log's new start together, and appends after it). The segment
	// files it frees are deleted by the next Compact or Drop.
	CompactBelow uint64
}

// Log is the durable log of one server. It is safe for concurrent use.
type Log struct {
	dir  string
	opts Options
	fs   FS

	// idxMu guards ix, active and closed. It is never held during I/O but
	// by the flusher's roll; readers register in segment.readers instead, so
	// gc and Close do not close a file under them.
	idxMu  sync.RWMutex
	ix     index
	active *segment // the newest segment, the one appended to
	closed bool
	cut    *TornTail // what Open cut from the newest segment, if anything

	// mu guards the queue: what Save validated and encoded but the flusher
	// has not written yet.
	mu   sync.Mutex
	wake *sync.Cond // signalled when cur gets work or closing is set
	// pend is the view of every partition after all queued updates: what
	// Save validates against. Invariant: pend == ix after the queue drains.
	pend    map[uint64]pview
	undo    []pundo
	cur     *batch        // the batch Saves append to
	spare   *batch        // the batch not being written, nil while written
	space   chan struct{} // closed when cur is handed to the flusher; nil if nobody waits
	writing bool          // a batch is being written (by the flusher or a Save: writeCur)
	// idle is set while the flusher waits with nothing to do: a write that ends then need not
	// wake it unless it left a batch behind (a wake-up per write costs a futex call and a
	// goroutine switch, on the poller's path).
	idle    bool
	wakes   uint64 // how often the flusher woke (tests)
	closing bool
	// lastParts is how many partitions the last batch written held (up to maxGatherParts);
	// gathering, gatherExpired and gatherTimer are the flusher's wait for as many (gather).
	lastParts     int
	gathering     bool
	gatherExpired bool
	gatherTimer   *time.Timer
	// err is set once a write, a sync or a roll failed; it wraps ErrFailed
	// and is returned to every later write.
	err error

	// Owned by whoever is writing (writing is set under mu).
	nextSeq uint64 // seq of the next batch
	off     int64  // where the next batch goes in active
	done    chan struct{}
}

type pview struct{ first, next uint64 }

// compacted is v after a compaction below below (0: none).
func (v pview) compacted(below uint64) pview {
	if below > v.first {
		v.first = below
		v.next = max(v.next, below)
	}
	return v
}

type pundo struct {
	p       uint64
	v       pview
	existed bool
}

// batch is the records of one write, with what the flusher applies to the
// index once they are durable.
type batch struct {
	buf   []byte // batchHeaderSize bytes reserved for the header, then records
	ops   []op
	count int
	res   *result
	// parts lists the distinct partitions of the batch's updates, up to maxGatherParts.
	parts []uint64
}

// maxGatherParts bounds how many partitions a flush waits for (gather).
const maxGatherParts = 64

// op is one record of a batch, for the index.
type op struct {
	kind      kind
	partition uint64
	a         uint64 // entry: index; truncate: from; compact: below
	off, n    uint32 // the record's offset in buf and its size
}

// result is shared by every caller whose updates are in one batch.
type result struct {
	done chan struct{}
	err  error
}

func newBatch() *batch {
	return &batch{buf: make([]byte, batchHeaderSize, 64<<10), res: &result{done: make(chan struct{})}}
}

func (b *batch) reset() {
	b.buf, b.ops, b.count, b.parts = b.buf[:batchHeaderSize], b.ops[:0], 0, b.parts[:0]
	b.res = &result{done: make(chan struct{})}
}

func segmentName(id uint64) string { return fmt.Sprintf("%016x.clog", id) }

// Save makes updates durable: it returns nil once they are written and
// fdatasync'ed. Concurrent Saves share one write and one fdatasync. The
// updates of one call are validated together: if one breaks a rule
// (ErrInvalid, ErrTooLarge) none is written. Any other error leaves the
// outcome ambiguous (see the package doc).
func (l *Log) Save(ctx context.Context, updates ...Update) error {
	// The flusher is not woken: this goroutine writes the batch itself unless a write is under
	// way, whose end wakes the flusher for what queued meanwhile (writeCur).
	p, err := l.Queue(ctx, updates...)
	if err != nil {
		return err
	}
	return p.Wait(ctx)
}

// Pending is a Save under way (StartSave).
type Pending struct {
	l   *Log
	res *result // nil: nothing to write
}

// StartSave validates and queues updates like Save, and returns without
// waiting for the write, which the flusher starts at once: the caller can do
// other work during the fdatasync and then Wait. Validation errors return
// here and nothing is queued.
func (l *Log) StartSave(ctx context.Context, updates ...Update) (Pending, error) {
	return l.startSave(ctx, true, updates)
}

// Queue validates and queues updates like StartSave without waking the flusher: Wait writes
// them on the caller's goroutine unless a write under way takes them first. For a caller with
// nothing to do meanwhile (a replica poller whose round applies nothing): no hand-off.
func (l *Log) Queue(ctx context.Context, updates ...Update) (Pending, error) {
	return l.startSave(ctx, false, updates)
}

func (l *Log) startSave(ctx context.Context, wake bool, updates []Update) (Pending, error) {
	size := 0
	for i := range updates {
		n, err := l.updateSize(&updates[i])
		if err != nil {
			return Pending{}, err
		}
		size += n
	}
	if size == 0 {
		return Pending{}, nil
	}
	res, err := l.enqueue(ctx, size, updates, kindEntry, 0, 0, wake)
	return Pending{l: l, res: res}, err
}

// Wait returns once the updates are durable, with Save's result. If the
// flusher has not taken their batch yet, Wait writes it itself: a wake-up of
// another goroutine less on the path of every write, which on a busy machine
// costs as much as the write.
func (p Pending) Wait(ctx context.Context) error {
	if p.res == nil {
		return nil
	}
	return p.l.await(ctx, p.res)
}

// Start makes sure the write is under way without waiting for it: if no writer has taken the
// updates' batch yet, it writes it on the caller's goroutine, as Wait would (returning once it
// is durable); if the flusher or another caller is writing, or will write it, it returns at
// once. A caller that has other work to do while a write goes on calls Start, then watches Done.
func (p Pending) Start() {
	if p.res != nil {
		p.l.kick(p.res)
	}
}

// Done is closed once the updates are durable or their write failed; Wait then returns at once.
// Only a write someone started ends: a Queue whose batch nobody writes needs Start or Wait.
func (p Pending) Done() <-chan struct{} {
	if p.res == nil {
		return closedDone
	}
	return p.res.done
}

// closedDone is the Done of a Pending with nothing to write.
var closedDone = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// Compact durably records that partition's entries below below are no
// longer needed and deletes the segment files no partition needs any more.
// A below beyond the partition's next index empties it and makes below the
// next index to append (installing a snapshot).
func (l *Log) Compact(ctx context.Context, partition, below uint64) error {
	if below == 0 {
		return fmt.Errorf("%w: partition %d: compact below 0 (indexes start at 1)", ErrInvalid, partition)
	}
	res, err := l.enqueue(ctx, recordSize(kindCompact, 0), nil, kindCompact, partition, below, false)
	if err != nil {
		return err
	}
	if err := l.await(ctx, res); err != nil {
		return err
	}
	return l.gc()
}

// Drop durably forgets partition: its entries, its range and its hard state,
// as if it had never been saved (a replica removed from this server; one
// created again later starts from nothing). It deletes the segment files no
// partition needs any more.
func (l *Log) Drop(ctx context.Context, partition uint64) error {
	res, err := l.enqueue(ctx, recordSize(kindDrop, 0), nil, kindDrop, partition, 0, false)
	if err != nil {
		return err
	}
	if err := l.await(ctx, res); err != nil {
		return err
	}
	return l.gc()
}

// Split cuts u into updates that each fit one batch (MaxBatchBytes), for a caller whose
// update may be larger: a replica catching up can receive many megabytes of entries at once.
// Each part is saved atomically, the whole is not: saved one after another, a crash may keep a
// prefix of the entries. The first part carries CompactBelow, TruncateFrom and State (a promise
// may be durable before the entries accepted under it, never after them). An update that fits
// is returned as it is; an entry too large for any batch is left to Save to refuse.
func (l *Log) Split(u Update) []Update {
	limit := l.opts.MaxBatchBytes - batchHeaderSize
	n := 0
	if u.CompactBelow != 0 {
		n += recordSize(kindCompact, 0)
	}
	if u.TruncateFrom != 0 {
		n += recordSize(kindTruncate, 0)
	}
	if u.State != nil {
		n += recordSize(kindState, len(u.State))
	}
	var parts []Update
	cur := Update{Partition: u.Partition, State: u.State, TruncateFrom: u.TruncateFrom, CompactBelow: u.CompactBelow}
	start := 0
	for i := range u.Entries {
		rs := recordSize(kindEntry, u.Entries[i].size())
		if n+rs > limit && i > start {
			cur.Entries = u.Entries[start:i]
			parts = append(parts, cur)
			cur = Update{Partition: u.Partition}
			start, n = i, 0
		}
		n += rs
	}
	cur.Entries = u.Entries[start:]
	if len(cur.Entries) == 0 {
		cur.Entries = nil
	}
	return append(parts, cur)
}

// updateSize checks an update's sizes against the limits and returns its
// encoded size (0: nothing to write).
func (l *Log) updateSize(u *Update) (int, error) {
	n := 0
	if u.CompactBelow != 0 {
		n += recordSize(kindCompact, 0)
	}
	if u.TruncateFrom != 0 {
		n += recordSize(kindTruncate, 0)
	}
	for i := range u.Entries {
		e := &u.Entries[i]
		rs := recordSize(kindEntry, e.size())
		if rs > l.opts.MaxRecordBytes {
			return 0, fmt.Errorf("%w: partition %d: entry %d of %d bytes exceeds MaxRecordBytes %d",
				ErrTooLarge, u.Partition, e.Index, rs, l.opts.MaxRecordBytes)
		}
		n += rs
	}
	if u.State != nil {
		if len(u.State) > l.opts.MaxStateBytes {
			return 0, fmt.Errorf("%w: partition %d: hard state of %d bytes exceeds MaxStateBytes %d",
				ErrTooLarge, u.Partition, len(u.State), l.opts.MaxStateBytes)
		}
		n += recordSize(kindState, len(u.State))
	}
	if n > l.opts.MaxBatchBytes-batchHeaderSize {
		return 0, fmt.Errorf("%w: partition %d: update of %d bytes exceeds MaxBatchBytes %d less the batch header",
			ErrTooLarge, u.Partition, n, l.opts.MaxBatchBytes)
	}
	return n, nil
}

// enqueue validates and encodes updates (or, if updates is nil, a compact or
// drop record, by k) into the current batch, wakes the flusher if wake, and
// returns the batch's result.
func (l *Log) enqueue(ctx context.Context, size int, updates []Update, k kind, partition, below uint64, wake bool) (*result, error) {
	if size > l.opts.MaxBatchBytes-batchHeaderSize {
		return nil, fmt.Errorf("%w: save of %d bytes exceeds MaxBatchBytes %d less the batch header",
			ErrTooLarge, size, l.opts.MaxBatchBytes)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	l.mu.Lock()
	for {
		if l.err != nil {
			err := l.err
			l.mu.Unlock()
			return nil, err
		}
		if l.closing {
			l.mu.Unlock()
			return nil, fmt.Errorf("%w: save after Close", ErrClosed)
		}
		if len(l.cur.buf)+size <= l.opts.MaxBatchBytes {
			break
		}
		// Backpressure: the batch is full; wait for the flusher to take it.
		if l.space == nil {
			l.space = make(chan struct{})
		}
		ch := l.space
		l.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		l.mu.Lock()
	}
	var err error
	switch {
	case updates != nil:
		err = l.queueUpdates(updates)
	case k == kindDrop:
		delete(l.pend, partition)
		l.cur.add(kindDrop, partition, 0, [2]uint64{}, nil, nil)
	default:
		err = l.queueCompact(partition, below)
	}
	if err != nil {
		l.mu.Unlock()
		return nil, err
	}
	res := l.cur.res
	if wake || l.gathering {
		l.wake.Signal()
	}
	l.mu.Unlock()
	return res, nil
}

// await waits for res's batch to be durable, writing it itself when nobody
// is writing and the batch is still the current one.
func (l *Log) await(ctx context.Context, res *result) error {
	l.kick(res)
	select {
	case <-res.done:
		return res.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// kick writes res's batch on the caller's goroutine if no write is under way and the flusher
// has not taken it (or hands it to the flusher when it gathers partitions).
func (l *Log) kick(res *result) {
	l.mu.Lock()
	if !l.writing && l.cur.res == res {
		if l.gather() {
			l.wake.Signal() // the flusher waits for the other partitions
		} else {
			l.writeCur()
		}
	}
	l.mu.Unlock()
}

// queueUpdates validates updates against pend and, if all are valid,
// encodes them into cur. Called with mu held.
func (l *Log) queueUpdates(updates []Update) error {
	l.undo = l.undo[:0]
	for i := range updates {
		if err := l.validate(&updates[i]); err != nil {
			for j := len(l.undo) - 1; j >= 0; j-- {
				u := l.undo[j]
				if u.existed {
					l.pend[u.p] = u.v
				} else {
					delete(l.pend, u.p)
				}
			}
			return err
		}
	}
	b := l.cur
	for i := range updates {
		u := &updates[i]
		b.notePartition(u.Partition)
		if u.CompactBelow != 0 {
			b.add(kindCompact, u.Partition, u.CompactBelow, [2]uint64{u.CompactBelow}, nil, nil)
		}
		if u.TruncateFrom != 0 {
			b.add(kindTruncate, u.Partition, u.TruncateFrom, [2]uint64{u.TruncateFrom}, nil, nil)
		}
		for j := range u.Entries {
			e := &u.Entries[j]
			b.add(kindEntry, u.Partition, e.Index, [2]uint64{e.Index, e.Ballot}, e.Head, e.Data)
		}
		if u.State != nil {
			b.add(kindState, u.Partition, 0, [2]uint64{}, nil, u.State)
		}
	}
	return nil
}

// notePartition adds p to parts if it is new and parts is not full.
func (b *batch) notePartition(p uint64) {
	if len(b.parts) < maxGatherParts && !slices.Contains(b.parts, p) {
		b.parts = append(b.parts, p)
	}
}

func (b *batch) add(k kind, partition, a uint64, fields [2]uint64, head, tail []byte) {
	off := len(b.buf)
	b.buf = appendRecord(b.buf, k, partition, fields, false, head, tail)
	b.ops = append(b.ops, op{kind: k, partition: partition, a: a, off: uint32(off), n: uint32(len(b.buf) - off)})
	b.count++
}

// validate checks one update against pend and applies it there, recording
// what it changed in undo. Called with mu held.
func (l *Log) validate(u *Update) error {
	if u.TruncateFrom == 0 && len(u.Entries) == 0 && u.State == nil && u.CompactBelow == 0 {
		return nil
	}
	p := u.Partition
	v, ok := l.pend[p]
	if !ok && len(l.pend) >= l.opts.MaxPartitions {
		return fmt.Errorf("%w: partition %d would be one more than MaxPartitions %d", ErrTooLarge, p, l.opts.MaxPartitions)
	}
	v = v.compacted(u.CompactBelow)
	if t := u.TruncateFrom; t != 0 && v.first != 0 {
		if t < v.first {
			return fmt.Errorf("%w: partition %d: TruncateFrom %d is below the first retained index %d (compacted entries are committed)",
				ErrInvalid, p, t, v.first)
		}
		v.next = min(v.next, t)
	}
	for i := range u.Entries {
		idx := u.Entries[i].Index
		switch {
		case idx == 0:
			return fmt.Errorf("%w: partition %d: entry index 0 (indexes start at 1)", ErrInvalid, p)
		case i > 0 && idx != u.Entries[i-1].Index+1:
			return fmt.Errorf("%w: partition %d: entry %d follows entry %d (entries must be contiguous and ascending)",
				ErrInvalid, p, idx, u.Entries[i-1].Index)
		case i == 0 && v.first == 0:
			v.first, v.next = idx, idx
		case i == 0 && idx != v.next:
			return fmt.Errorf("%w: partition %d: entry %d is not the next index %d", ErrInvalid, p, idx, v.next)
		}
		v.next++
	}
	l.undo = append(l.undo, pundo{p: p, v: l.pend[p], existed: ok})
	l.pend[p] = v
	return nil
}

// queueCompact validates and encodes a compaction. Called with mu held.
func (l *Log) queueCompact(p, below uint64) error {
	v, ok := l.pend[p]
	if !ok && len(l.pend) >= l.opts.MaxPartitions {
		return fmt.Errorf("%w: partition %d would be one more than MaxPartitions %d", ErrTooLarge, p, l.opts.MaxPartitions)
	}
	l.pend[p] = v.compacted(below)
	l.cur.add(kindCompact, p, below, [2]uint64{below}, nil, nil)
	return nil
}

// gather reports whether the current batch should wait for more partitions before it is
// written: the last batch held updates of several partitions and this one holds fewer, and
// GatherWait has not passed since the flusher began waiting. Called with mu held.
//
// Each replica waits for its own write before it saves again, so under load the replicas of
// one batch come back together, one by one: without waiting, the first to come back is
// written alone and the others wait for the next write, which doubles the fdatasyncs per
// write on a server with several busy partitions (measured: docs/performance.md).
func (l *Log) gather() bool {
	return l.opts.GatherWait > 0 && !l.closing && l.err == nil && !l.gatherExpired &&
		l.lastParts > 1 && len(l.cur.parts) < l.lastParts
}

// gatherUp ends the flusher's wait for more partitions (gather).
func (l *Log) gatherUp() {
	l.mu.Lock()
	l.gatherExpired = true
	l.wake.Broadcast()
	l.mu.Unlock()
}

// flush is the flusher goroutine: it takes the current batch, writes and
// syncs it, applies it to the index and tells its callers, until Close; a
// Save that finds its batch not yet taken writes it itself (await).
func (l *Log) flush() {
	defer close(l.done)
	l.mu.Lock()
	defer l.mu.Unlock()
	for {
		switch {
		case l.writing: // a Save writes its own batch (await)
			l.wake.Wait()
			l.wakes++
		case l.cur.count > 0 && l.gather():
			l.gathering = true
			if l.gatherTimer == nil {
				l.gatherTimer = time.AfterFunc(l.opts.GatherWait, l.gatherUp)
			}
			l.wake.Wait()
			l.wakes++
		case l.cur.count > 0:
			l.writeCur()
		case l.closing || l.err != nil:
			return
		default:
			l.idle = true
			l.wake.Wait()
			l.idle = false
			l.wakes++
		}
	}
}

// writeCur writes the current batch and completes its Saves; the flusher and
// await call it with mu held and nobody writing. It releases mu during the
// I/O, and wakes the flusher when done (more may have queued meanwhile).
func (l *Log) writeCur() {
	b := l.cur
	l.lastParts = len(b.parts)
	l.gathering, l.gatherExpired = false, false
	if l.gatherTimer != nil {
		l.gatherTimer.Stop()
		l.gatherTimer = nil
	}
	l.cur, l.spare = l.spare, nil
	l.writing = true
	if l.space != nil {
		close(l.space)
		l.space = nil
	}
	err := l.err
	l.mu.Unlock()

	if err == nil {
		timed := l.opts.OnSlowWrite != nil && l.opts.SlowWrite > 0
		var start time.Time
		if timed {
			start = time.Now()
		}
		if err = l.write(b); err != nil {
			err = fmt.Errorf("%w: %v (the log refuses writes from now on; reopen it)", ErrFailed, err)
		} else if took := time.Since(start); timed && took >= l.opts.SlowWrite {
			l.opts.OnSlowWrite(took, len(b.buf))
		}
	}

	l.mu.Lock()
	if err != nil && l.err == nil {
		l.err = err
	}
	b.res.err = err
	close(b.res.done)
	b.reset()
	l.spare = b
	l.writing = false
	if !l.idle || l.cur.count > 0 {
		l.wake.Broadcast()
	}
}

// write writes one batch at the end of the log, syncs it and applies it to
// the index. Only writeCur calls it (one writer at a time).
func (l *Log) write(b *batch) error {
	if l.off+int64(len(b.buf)) > l.active.size {
		if err := l.roll(); err != nil {
			return err
		}
	}
	putBatchHeader(b.buf, batchHeader{seq: l.nextSeq, length: uint32(len(b.buf) - batchHeaderSize), count: uint32(b.count)})
	s := l.active
	if _, err := s.f.WriteAt(b.buf, l.off); err != nil {
		return err
	}
	if err := s.f.Sync(); err != nil {
		return err
	}
	base := uint32(l.off)
	l.off += int64(len(b.buf))
	l.nextSeq++

	l.idxMu.Lock()
	defer l.idxMu.Unlock()
	for _, o := range b.ops {
		var err error
		switch o.kind {
		case kindEntry:
			err = l.ix.applyEntry(o.partition, o.a, loc{seg: uint32(s.id), off: base + o.off, n: o.n})
		case kindTruncate:
			err = l.ix.applyTruncate(o.partition, o.a)
		case kindCompact:
			err = l.ix.applyCompact(o.partition, o.a)
		case kindDrop:
			l.ix.applyDrop(o.partition)
		case kindState:
			r, _, derr := decodeRecord(b.buf[o.off : o.off+o.n])
			err = derr
			l.ix.applyState(o.partition, r.data)
		}
		if err != nil {
			return fmt.Errorf("internal: applying a validated batch: %v", err)
		}
	}
	return nil
}

// roll creates the next segment: header and snapshot batch written under a
// temporary name, preallocated, synced, then renamed into place. Only the
// writer (write, under writing) and Open, before the flusher starts, call it.
func (l *Log) roll() error {
	var id uint64 = 1
	if l.active != nil {
		id = l.active.id + 1
	}
	if id > 1<<32-1 {
		return fmt.Errorf("%w: segment id %d exceeds 2^32-1", ErrTooLarge, id)
	}
	path := filepath.Join(l.dir, segmentName(id))
	f, err := l.fs.OpenFile(path+".tmp", os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	buf := make([]byte, segmentHeaderSize+batchHeaderSize, segmentHeaderSize+batchHeaderSize+64<<10)
	putSegmentHeader(buf, id, l.nextSeq)
	l.idxMu.RLock()
	buf, count := l.ix.appendSnapshot(buf)
	l.idxMu.RUnlock()
	putBatchHeader(buf[segmentHeaderSize:], batchHeader{
		flags: flagSnapshot, seq: l.nextSeq,
		length: uint32(len(buf) - segmentHeaderSize - batchHeaderSize), count: uint32(count),
	})
	err = f.Preallocate(l.opts.SegmentBytes)
	if err == nil {
		_, err = f.WriteAt(buf, 0)
	}
	if err == nil {
		err = f.Sync()
	}
	if err == nil {
		err = l.fs.Rename(path+".tmp", path)
	}
	if err == nil {
		err = l.fs.SyncDir(l.dir)
	}
	if err == nil {
		err = l.writeNewest(id)
	}
	if err != nil {
		f.Close()
		return err
	}
	s := &segment{id: id, path: path, f: f, size: l.opts.SegmentBytes}
	l.idxMu.Lock()
	l.ix.segs[id] = s
	l.active = s
	l.idxMu.Unlock()
	l.off = int64(len(buf))
	l.nextSeq++
	return nil
}

// gc closes and deletes every segment but the newest that holds no retained
// entry. A deletion lost in a crash is harmless: the segment is read again
// at recovery and the next segment's snapshot supersedes it.
func (l *Log) gc() error {
	l.idxMu.Lock()
	var dead []*segment
	for id, s := range l.ix.segs {
		if s != l.active && s.live == 0 {
			dead = append(dead, s)
			delete(l.ix.segs, id)
		}
	}
	l.idxMu.Unlock()
	sort.Slice(dead, func(i, j int) bool { return dead[i].id < dead[j].id })
	var first error
	for _, s := range dead {
		s.readers.Wait()
		s.f.Close()
		if err := l.fs.Remove(s.path); err != nil && first == nil {
			first = fmt.Errorf("clog: deleting segment %s: %w", s.path, err)
		}
	}
	return first
}

// Entries returns the partition's entries [lo, hi), fewer if their Data
// exceeds maxBytes in total (0: no limit; at least one entry is returned).
// Every record is checked against its checksum; the returned Data share one
// new buffer and belong to the caller.
func (l *Log) Entries(partition, lo, hi, maxBytes uint64) ([]Entry, error) {
	if lo > hi {
		return nil, fmt.Errorf("%w: partition %d: entries [%d, %d): lo is above hi", ErrInvalid, partition, lo, hi)
	}
	if lo == hi {
		return nil, nil
	}
	runs, total, err := l.plan(partition, lo, hi, maxBytes)
	defer func() {
		for _, r := range runs {
			if r.first {
				r.s.readers.Done()
			}
		}
	}()
	if err != nil {
		return nil, err
	}
	// The index lock is not held while reading: the flusher can apply
	// batches meanwhile. The records read are those of the call's moment:
	// segment files are never overwritten, and a segment being read is not
	// closed (readers).
	buf := make([]byte, total)
	out := make([]Entry, 0, hi-lo)
	pos, want := 0, lo
	for _, r := range runs {
		if _, err := r.s.f.ReadAt(buf[pos:pos+r.n], int64(r.off)); err != nil {
			return nil, fmt.Errorf("clog: reading %s at offset %d: %w", r.s.path, r.off, err)
		}
		for end := pos + r.n; pos < end; want++ {
			rec, sz, err := decodeRecord(buf[pos:end])
			if err == nil && (rec.kind != kindEntry || rec.partition != partition || rec.a != want) {
				err = fmt.Errorf("record is kind %d partition %d index %d, want an entry of partition %d index %d",
					rec.kind, rec.partition, rec.a, partition, want)
			}
			if err != nil {
				return nil, fmt.Errorf("%w: %s offset %d: %v", ErrCorruption, r.s.path, r.off+uint32(pos+r.n-end), err)
			}
			out = append(out, Entry{Index: rec.a, Ballot: rec.b, Data: rec.data[:len(rec.data):len(rec.data)]})
			pos += sz
		}
	}
	return out, nil
}

// run is a stretch of adjacent records of one segment, read with one ReadAt.
type run struct {
	s     *segment
	off   uint32
	n     int
	first bool // the first run of s in the plan: it holds s.readers
}

// plan finds where the entries of Entries are, under the index lock, and
// registers as a reader of each segment involved (see run.first).
func (l *Log) plan(partition, lo, hi, maxBytes uint64) (runs []run, total int, err error) {
	l.idxMu.RLock()
	defer l.idxMu.RUnlock()
	if l.closed {
		return nil, 0, ErrClosed
	}
	ps := l.ix.parts[partition]
	switch {
	case ps == nil || ps.first == 0:
		return nil, 0, fmt.Errorf("%w: partition %d has no entries", ErrUnavailable, partition)
	case lo < ps.first:
		return nil, 0, fmt.Errorf("%w: partition %d: entry %d is below the first retained index %d", ErrCompacted, partition, lo, ps.first)
	case hi > ps.next():
		return nil, 0, fmt.Errorf("%w: partition %d: entries up to %d asked, the last is %d", ErrUnavailable, partition, hi-1, ps.next()-1)
	}
	data := uint64(0)
	for i, lc := range ps.locs[lo-ps.first : hi-ps.first] {
		d := uint64(lc.n) - recordHeaderSize - entryFixed
		if i > 0 && maxBytes > 0 && data+d > maxBytes {
			break
		}
		data += d
		total += int(lc.n)
		if k := len(runs) - 1; k >= 0 && runs[k].s.id == uint64(lc.seg) && runs[k].off+uint32(runs[k].n) == lc.off {
			runs[k].n += int(lc.n)
			continue
		}
		s := l.ix.segs[uint64(lc.seg)]
		if s == nil {
			return runs, 0, fmt.Errorf("%w: partition %d: the segment %d of entry %d is gone", ErrCorruption, partition, lc.seg, lo+uint64(i))
		}
		first := true
		for _, r := range runs {
			first = first && r.s != s
		}
		if first {
			s.readers.Add(1)
		}
		runs = append(runs, run{s: s, off: lc.off, n: int(lc.n), first: first})
	}
	return runs, total, nil
}

// State returns a copy of the partition's durable hard state and whether it
// has one.
func (l *Log) State(partition uint64) ([]byte, bool) {
	l.idxMu.RLock()
	defer l.idxMu.RUnlock()
	ps := l.ix.parts[partition]
	if ps == nil || !ps.hasState {
		return nil, false
	}
	return append([]byte{}, ps.state...), true
}

// Range returns the first and last durable retained entry of the partition.
// When it retains none, ok is false and first is the index the next entry
// must have (0: any; e.g. after a Compact beyond the last entry), with last
// = first-1.
func (l *Log) Range(partition uint64) (first, last uint64, ok bool) {
	l.idxMu.RLock()
	defer l.idxMu.RUnlock()
	ps := l.ix.parts[partition]
	if ps == nil || ps.first == 0 {
		return 0, 0, false
	}
	return ps.first, ps.next() - 1, len(ps.locs) > 0
}

// Partitions returns the partitions the log holds, ascending.
func (l *Log) Partitions() []uint64 {
	l.idxMu.RLock()
	defer l.idxMu.RUnlock()
	ids := make([]uint64, 0, len(l.ix.parts))
	for p := range l.ix.parts {
		ids = append(ids, p)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids
}

// Close writes what is queued, stops the flusher and closes the files.
// Saves after Close return ErrClosed. Close returns the log's failure, if it
// failed.
func (l *Log) Close() error {
	l.mu.Lock()
	if l.closing {
		l.mu.Unlock()
		return ErrClosed
	}
	l.closing = true
	if l.space != nil {
		close(l.space)
		l.space = nil
	}
	l.wake.Broadcast()
	l.mu.Unlock()
	<-l.done

	l.idxMu.Lock()
	l.closed = true
	segs := make([]*segment, 0, len(l.ix.segs))
	for _, s := range l.ix.segs {
		segs = append(segs, s)
	}
	l.idxMu.Unlock()
	var first error
	for _, s := range segs {
		s.readers.Wait()
		if err := s.f.Close(); err != nil && first == nil {
			first = fmt.Errorf("clog: closing %s: %w", s.path, err)
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return l.err
	}
	return first
}
