package clog

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// Open opens the log in dir, creating it if needed, and recovers it (see
// the package doc): every checksum is verified, a torn tail is cut, and
// corruption anywhere else fails with an error wrapping ErrCorruption that
// names the file and offset. The returned Log runs a flusher goroutine until
// Close.
func Open(dir string, opts Options) (*Log, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	fs := opts.FS
	if err := fs.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("clog: creating %s: %w", dir, err)
	}
	names, err := fs.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("clog: listing %s: %w", dir, err)
	}
	var ids []uint64
	for _, name := range names {
		if strings.HasSuffix(name, ".clog.tmp") || name == newestFile+".tmp" {
			// A segment whose creation a crash interrupted; it was never used.
			if err := fs.Remove(filepath.Join(dir, name)); err != nil {
				return nil, fmt.Errorf("clog: removing unfinished segment %s: %w", name, err)
			}
			continue
		}
		if id, ok := parseSegmentName(name); ok {
			ids = append(ids, id) // ReadDir sorts, and the names sort as the ids
		}
	}
	newest, err := readNewest(fs, dir)
	if err != nil {
		return nil, err
	}
	if len(ids) > 0 && ids[len(ids)-1] < newest {
		return nil, fmt.Errorf("%w: %s: segment %s is missing: %s says it was created, and the newest here is %s "+
			"(a segment file was deleted or lost; starting from the older one would forget what the replicas accepted and promised since)",
			ErrCorruption, dir, segmentName(newest), newestFile, segmentName(ids[len(ids)-1]))
	}
	l := &Log{
		dir: dir, opts: opts, fs: fs, ix: newIndex(),
		pend: map[uint64]pview{}, cur: newBatch(), spare: newBatch(),
		done: make(chan struct{}), nextSeq: 1,
	}
	l.wake = sync.NewCond(&l.mu)
	r := recovery{l: l}
	for i, id := range ids {
		if err := r.segment(id, i == len(ids)-1); err != nil {
			l.closeFiles()
			return nil, err
		}
	}
	if p, idx, ok := l.ix.missing(); ok {
		l.closeFiles()
		return nil, fmt.Errorf("%w: %s: partition %d retains entry %d but no segment holds it (a segment file is missing)",
			ErrCorruption, dir, p, idx)
	}
	if len(l.ix.parts) > opts.MaxPartitions {
		l.closeFiles()
		return nil, fmt.Errorf("%w: the log in %s holds %d partitions, more than MaxPartitions %d",
			ErrOptions, dir, len(l.ix.parts), opts.MaxPartitions)
	}
	if l.active == nil {
		if err := l.roll(); err != nil {
			l.closeFiles()
			return nil, fmt.Errorf("clog: creating the first segment in %s: %w", dir, err)
		}
	}
	for p, ps := range l.ix.parts {
		l.pend[p] = pview{first: ps.first, next: ps.next()}
	}
	go l.flush()
	if err := l.gc(); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

func parseSegmentName(name string) (uint64, bool) {
	hex, ok := strings.CutSuffix(name, ".clog")
	if !ok || len(hex) != 16 {
		return 0, false
	}
	id, err := strconv.ParseUint(hex, 16, 64)
	return id, err == nil && id > 0
}

func (l *Log) closeFiles() {
	for _, s := range l.ix.segs {
		s.f.Close()
	}
}

// recovery is the state of Open while it reads the segments in order.
type recovery struct {
	l       *Log
	buf     []byte   // the segment being read
	recs    []record // the records of the batch being read
	offs    []int    // their offsets
	lastID  uint64   // the previous segment, 0 if none
	lastSeq uint64   // the seq of its last batch
	// totalBytes is the size of the segment files read so far and of the
	// one being read.
	totalBytes uint64
}

func corrupt(path string, off int, format string, args ...any) error {
	return fmt.Errorf("%w: %s offset %d: %s", ErrCorruption, path, off, fmt.Sprintf(format, args...))
}

// segment reads one segment file, applies its valid batches to the index
// and, if it is the newest (last), cuts its torn tail.
func (r *recovery) segment(id uint64, last bool) error {
	l := r.l
	path := filepath.Join(l.dir, segmentName(id))
	if id > 1<<32-1 {
		return fmt.Errorf("%w: segment %s: id exceeds 2^32-1", ErrCorruption, path)
	}
	f, err := l.fs.OpenFile(path, 0, 0)
	if err != nil {
		return fmt.Errorf("clog: opening %s: %w", path, err)
	}
	s := &segment{id: id, path: path, f: f}
	l.ix.segs[id] = s
	if s.size, err = f.Size(); err != nil {
		return fmt.Errorf("clog: %s: %w", path, err)
	}
	if s.size > maxSegmentBytes {
		return corrupt(path, 0, "file of %d bytes exceeds the format's limit %d", s.size, int64(maxSegmentBytes))
	}
	r.totalBytes += uint64(s.size)
	if int64(cap(r.buf)) < s.size {
		r.buf = make([]byte, s.size)
	}
	data := r.buf[:s.size]
	if n, err := f.ReadAt(data, 0); n < len(data) {
		if err == nil || errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return fmt.Errorf("clog: reading %s: %w", path, err)
	}
	firstSeq, err := parseSegmentHeader(data, id)
	if err != nil {
		return corrupt(path, 0, "%v", err)
	}
	if r.lastID != 0 {
		if id == r.lastID+1 && firstSeq != r.lastSeq+1 {
			return corrupt(path, 0, "first batch seq %d does not follow the last batch %d of the previous segment", firstSeq, r.lastSeq)
		}
		if firstSeq <= r.lastSeq {
			return corrupt(path, 0, "first batch seq %d is not above the last batch %d of an older segment", firstSeq, r.lastSeq)
		}
	}

	off, seq, nb := segmentHeaderSize, firstSeq, 0
	var bad string   // why the batch at off is not valid ("" at the end)
	searchFrom := -1 // where to look for valid batches after a bad one
	for off+batchHeaderSize <= len(data) {
		h, ok := parseBatchHeader(data[off:])
		if !ok {
			bad, searchFrom = "batch header checksum or magic mismatch", off+1
			break
		}
		// A header with a valid checksum was written whole: if it is wrong,
		// that is not a torn write.
		if h.seq != seq {
			return corrupt(path, off, "batch seq %d, want %d", h.seq, seq)
		}
		end := off + batchHeaderSize + int(h.length)
		if end > len(data) || end < off {
			return corrupt(path, off, "batch of %d bytes extends past the end of the file (%d bytes)", h.length, len(data))
		}
		if (h.flags&flagSnapshot != 0) != (nb == 0) || h.flags&^flagSnapshot != 0 {
			return corrupt(path, off, "batch flags %#x: the first batch of a segment, and only it, is a snapshot", h.flags)
		}
		if err := r.decodeBatch(data[off+batchHeaderSize:end], off+batchHeaderSize, h.count); err != nil {
			bad, searchFrom = err.Error(), end
			break
		}
		if err := r.applyBatch(s, h.flags&flagSnapshot != 0); err != nil {
			return corrupt(path, off, "%v", err)
		}
		off, seq, nb = end, seq+1, nb+1
	}
	if nb == 0 {
		return corrupt(path, off, "the segment has no valid snapshot batch: %s", bad)
	}
	r.lastID, r.lastSeq = id, seq-1
	if last {
		l.active, l.off, l.nextSeq = s, int64(off), seq
	}
	tail := data[off:]
	lastNonZero := lastNonZero(tail)
	if lastNonZero < 0 {
		return nil
	}
	if bad == "" {
		bad = "trailing bytes too short for a batch header"
		searchFrom = off + 1
	}
	if !last {
		return corrupt(path, off, "%s; a segment other than the newest must end with zeros after its last batch", bad)
	}
	if q := findBatchHeader(data, max(searchFrom, off+1)); q >= 0 {
		return corrupt(path, off, "%s, and a valid batch header follows at offset %d, so this is not a torn tail", bad, q)
	}
	// A torn tail: a write that never completed its fdatasync, so never
	// acknowledged. Zero it so that it cannot be mistaken for anything later.
	if err := zeroRange(f, int64(off), int64(off+lastNonZero+1)); err != nil {
		return fmt.Errorf("clog: cutting the torn tail of %s at offset %d: %w", path, off, err)
	}
	l.cut = &TornTail{File: path, Offset: int64(off), Bytes: int64(lastNonZero + 1), Why: bad}
	return nil
}

// TornTail describes a torn tail Open cut from the newest segment: a write a crash
// interrupted, never acknowledged (or, indistinguishably, a damaged last batch).
type TornTail struct {
	File          string
	Offset, Bytes int64
	Why           string // what made the first cut byte invalid
}

// Cut returns the torn tail Open cut, if it cut one: servers log it, so that repeated cuts
// (a disk losing writes) leave a trace.
func (l *Log) Cut() (TornTail, bool) {
	if l.cut == nil {
		return TornTail{}, false
	}
	return *l.cut, true
}

// decodeBatch decodes and checks the records of a batch body into r.recs.
func (r *recovery) decodeBatch(body []byte, base int, count uint32) error {
	r.recs, r.offs = r.recs[:0], r.offs[:0]
	for pos := 0; pos < len(body); {
		rec, n, err := decodeRecord(body[pos:])
		if err != nil {
			return fmt.Errorf("record at offset %d: %v", base+pos, err)
		}
		r.recs = append(r.recs, rec)
		r.offs = append(r.offs, base+pos)
		pos += n
	}
	if len(r.recs) != int(count) {
		return fmt.Errorf("batch holds %d records, its header says %d", len(r.recs), count)
	}
	return nil
}

// applyBatch applies the decoded records of a valid batch to the index.
func (r *recovery) applyBatch(s *segment, snapshot bool) error {
	ix := &r.l.ix
	if snapshot {
		for i, rec := range r.recs {
			if rec.kind != kindMeta {
				return fmt.Errorf("record at offset %d: kind %d in a snapshot batch", r.offs[i], rec.kind)
			}
		}
		return ix.applySnapshot(r.recs, r.totalBytes/(recordHeaderSize+entryFixed))
	}
	for i, rec := range r.recs {
		var err error
		switch rec.kind {
		case kindEntry:
			err = ix.applyEntry(rec.partition, rec.a, loc{seg: uint32(s.id), off: uint32(r.offs[i]), n: uint32(recordHeaderSize + entryFixed + len(rec.data))})
		case kindState:
			if len(rec.data) > r.l.opts.MaxStateBytes {
				err = fmt.Errorf("partition %d: hard state of %d bytes exceeds MaxStateBytes %d", rec.partition, len(rec.data), r.l.opts.MaxStateBytes)
			} else {
				ix.applyState(rec.partition, rec.data)
			}
		case kindTruncate:
			err = ix.applyTruncate(rec.partition, rec.a)
		case kindCompact:
			err = ix.applyCompact(rec.partition, rec.a)
		case kindDrop:
			ix.applyDrop(rec.partition)
		default:
			err = fmt.Errorf("kind %d outside a snapshot batch", rec.kind)
		}
		if err != nil {
			return fmt.Errorf("record at offset %d: %v", r.offs[i], err)
		}
	}
	return nil
}

// findBatchHeader returns the offset of the first valid batch header at or
// after from, or -1.
func findBatchHeader(data []byte, from int) int {
	magic := []byte{batchMagic & 0xff, batchMagic >> 8}
	for pos := from + 4; pos+2 <= len(data); {
		i := bytes.Index(data[pos:], magic)
		if i < 0 {
			return -1
		}
		q := pos + i - 4
		if _, ok := parseBatchHeader(data[q:]); ok {
			return q
		}
		pos += i + 1
	}
	return -1
}

var zeros [64 << 10]byte

// lastNonZero returns the index of the last byte of b that is not zero, or -1.
func lastNonZero(b []byte) int {
	for end := len(b); end > 0; {
		start := max(0, end-len(zeros))
		if !bytes.Equal(b[start:end], zeros[:end-start]) {
			for i := end - 1; ; i-- {
				if b[i] != 0 {
					return i
				}
			}
		}
		end = start
	}
	return -1
}

func zeroRange(f File, from, to int64) error {
	for off := from; off < to; {
		n := min(int64(len(zeros)), to-off)
		if _, err := f.WriteAt(zeros[:n], off); err != nil {
			return err
		}
		off += n
	}
	return f.Sync()
}
