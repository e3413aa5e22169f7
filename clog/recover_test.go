package clog

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// flipBit flips one bit of a file.
func flipBit(t testing.TB, fs FS, path string, off int64, bit uint) {
	t.Helper()
	f, err := fs.OpenFile(path, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 1 << bit
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
}

func writeAt(t testing.TB, fs FS, path string, off int64, p []byte) {
	t.Helper()
	f, err := fs.OpenFile(path, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(p, off); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
}

// batchSpan is where one Save's batch landed.
type batchSpan struct {
	path     string
	off, end int64
}

// saveSpan saves u alone (nothing else is in flight) and returns its batch.
func saveSpan(t testing.TB, l *Log, u Update) batchSpan {
	t.Helper()
	if err := l.Save(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	// The flusher wrote the batch before closing its result: these reads
	// happen after it.
	return batchSpan{path: l.active.path, off: l.off - int64(len(u.Entries))*int64(recordSize(kindEntry, len(u.Entries[0].Data))) - batchHeaderSize, end: l.off}
}

// fiveBatches writes five batches of partition 1 (entries 1..50, ten each)
// into one segment and returns them.
func fiveBatches(t testing.TB, fs FS) []batchSpan {
	l := mustOpen(t, "/log", testOptions(fs))
	var spans []batchSpan
	for b := uint64(0); b < 5; b++ {
		spans = append(spans, saveSpan(t, l, Update{Partition: 1, Entries: entries(1, b*10+1, b*10+11, 1, 100)}))
	}
	mustClose(t, l)
	if spans[0].path != spans[4].path {
		t.Fatalf("batches span segments %s and %s", spans[0].path, spans[4].path)
	}
	return spans
}

func wantCorruption(t testing.TB, err error, path string, off int64) {
	t.Helper()
	if !errors.Is(err, ErrCorruption) {
		t.Fatalf("Open = %v, want ErrCorruption", err)
	}
	if want := fmt.Sprintf("%s offset %d", path, off); !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q does not name %q", err, want)
	}
}

// TestBitFlipInTailIsCut: damage to the last batch is a torn tail: it is
// cut, earlier batches survive, and appends continue.
func TestBitFlipInTailIsCut(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	for trial := range 40 {
		fs := NewMemFS()
		spans := fiveBatches(t, fs)
		last := spans[4]
		off := last.off + rng.Int64N(last.end-last.off) // header or records
		flipBit(t, fs, last.path, off, uint(rng.IntN(8)))
		l, err := Open("/log", testOptions(fs))
		if err != nil {
			t.Fatalf("trial %d: flip at %d of the last batch [%d, %d): Open: %v", trial, off, last.off, last.end, err)
		}
		checkRange(t, l, 1, 1, 41)
		checkEntries(t, l, 1, 1, 41, 1, 100)
		if err := l.Save(context.Background(), Update{Partition: 1, Entries: entries(1, 41, 43, 2, 100)}); err != nil {
			t.Fatal(err)
		}
		mustClose(t, l)
		l = mustOpen(t, "/log", testOptions(fs))
		checkRange(t, l, 1, 1, 43)
		checkEntries(t, l, 1, 41, 43, 2, 100)
		mustClose(t, l)
	}
}

// TestBitFlipInMiddleIsCorruption: damage followed by a valid batch is
// corruption of acknowledged data: Open fails and names file and offset.
func TestBitFlipInMiddleIsCorruption(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 8))
	for trial := range 40 {
		fs := NewMemFS()
		spans := fiveBatches(t, fs)
		b := spans[rng.IntN(4)]
		off := b.off + rng.Int64N(b.end-b.off)
		flipBit(t, fs, b.path, off, uint(rng.IntN(8)))
		_, err := Open("/log", testOptions(fs))
		wantCorruption(t, err, b.path, b.off)
		_ = trial
	}
}

// TestZeroedMiddleIsCorruption: a lost write in the middle (a sector of
// zeros) is not mistaken for the end of the log.
func TestZeroedMiddleIsCorruption(t *testing.T) {
	fs := NewMemFS()
	spans := fiveBatches(t, fs)
	writeAt(t, fs, spans[2].path, spans[2].off, make([]byte, 512))
	_, err := Open("/log", testOptions(fs))
	wantCorruption(t, err, spans[2].path, spans[2].off)
}

// TestCorruptionInOlderSegment: in a segment other than the newest even the
// last batch must be intact, and the padding must be zeros.
func TestCorruptionInOlderSegment(t *testing.T) {
	for _, where := range []string{"last batch", "padding", "segment header"} {
		t.Run(where, func(t *testing.T) {
			fs := NewMemFS()
			l := mustOpen(t, "/log", testOptions(fs))
			var spans []batchSpan
			for i := uint64(1); len(spans) == 0 || spans[len(spans)-1].path == spans[0].path; i += 10 {
				spans = append(spans, saveSpan(t, l, Update{Partition: 1, Entries: entries(1, i, i+10, 1, 300)}))
			}
			mustClose(t, l)
			lastOfFirst := spans[len(spans)-2]
			var off int64
			switch where {
			case "last batch":
				off = lastOfFirst.off + 30
				flipBit(t, fs, lastOfFirst.path, off, 3)
				off = lastOfFirst.off
			case "padding":
				off = lastOfFirst.end + 100
				flipBit(t, fs, lastOfFirst.path, off, 0)
				off = lastOfFirst.end
			case "segment header":
				flipBit(t, fs, lastOfFirst.path, 9, 0)
			}
			_, err := Open("/log", testOptions(fs))
			wantCorruption(t, err, lastOfFirst.path, off)
		})
	}
}

func TestUnsupportedVersion(t *testing.T) {
	fs := NewMemFS()
	spans := fiveBatches(t, fs)
	hdr := make([]byte, segmentHeaderSize)
	putSegmentHeader(hdr, 1, 1)
	le.PutUint32(hdr[8:], 2)
	le.PutUint32(hdr[28:], checksum(hdr[:28]))
	writeAt(t, fs, spans[0].path, 0, hdr)
	_, err := Open("/log", testOptions(fs))
	if !errors.Is(err, ErrCorruption) || !strings.Contains(err.Error(), "format version 2 is not supported") {
		t.Fatalf("Open of a version 2 segment = %v", err)
	}
}

// segments writes 600 entries of partition 1 into a log of several segments in /log.
func segments(t *testing.T) *MemFS {
	fs := NewMemFS()
	l := mustOpen(t, "/log", testOptions(fs))
	for i := uint64(1); i <= 600; i += 10 {
		if err := l.Save(context.Background(), Update{Partition: 1, Entries: entries(1, i, i+10, 1, 300)}); err != nil {
			t.Fatal(err)
		}
	}
	mustClose(t, l)
	return fs
}

// TestMissingSegment: deleting a segment that still holds retained entries
// is detected.
func TestMissingSegment(t *testing.T) {
	fs := segments(t)
	names, _ := fs.ReadDir("/log")
	if len(names) < 3 {
		t.Fatalf("only %d segments", len(names))
	}
	for _, victim := range []string{names[0], names[1]} {
		fs2 := cloneMemFS(fs)
		if err := fs2.Remove(filepath.Join("/log", victim)); err != nil {
			t.Fatal(err)
		}
		if _, err := Open("/log", testOptions(fs2)); !errors.Is(err, ErrCorruption) {
			t.Fatalf("Open without %s = %v, want ErrCorruption", victim, err)
		}
	}
}

// TestMissingNewestSegment: the newest segment deleted is refused (the segments alone read
// like a log that ended a segment earlier, and replicas started from it forgot what they had
// accepted and promised since), as is a damaged NEWEST_SEGMENT; every segment deleted reads
// as a log with nothing stored (its replicas then recover as ones that lost their data).
func TestMissingNewestSegment(t *testing.T) {
	fs := segments(t)
	var segs []string
	names, _ := fs.ReadDir("/log")
	for _, n := range names {
		if strings.HasSuffix(n, ".clog") {
			segs = append(segs, n)
		}
	}
	if len(segs) < 3 {
		t.Fatalf("only %d segments", len(segs))
	}
	newest := segs[len(segs)-1]
	fs2 := cloneMemFS(fs)
	if err := fs2.Remove(filepath.Join("/log", newest)); err != nil {
		t.Fatal(err)
	}
	if _, err := Open("/log", testOptions(fs2)); !errors.Is(err, ErrCorruption) || !strings.Contains(err.Error(), newest+" is missing") {
		t.Fatalf("Open without the newest segment %s = %v, want ErrCorruption naming it", newest, err)
	}

	fs3 := cloneMemFS(fs)
	writeAt(t, fs3, "/log/"+newestFile, 3, []byte("7"))
	if _, err := Open("/log", testOptions(fs3)); !errors.Is(err, ErrCorruption) || !strings.Contains(err.Error(), newestFile) {
		t.Fatalf("Open with a damaged %s = %v, want ErrCorruption naming it", newestFile, err)
	}

	fs4 := cloneMemFS(fs)
	for _, n := range segs {
		if err := fs4.Remove(filepath.Join("/log", n)); err != nil {
			t.Fatal(err)
		}
	}
	l := mustOpen(t, "/log", testOptions(fs4))
	if ps := l.Partitions(); len(ps) != 0 {
		t.Errorf("a log of no segments holds partitions %v", ps)
	}
	mustClose(t, l)
}

func cloneMemFS(m *MemFS) *MemFS {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := NewMemFS()
	for d := range m.dirs {
		c.dirs[d] = true
	}
	for name, n := range m.files {
		c.files[name] = &memNode{data: append([]byte{}, n.data...), durable: append([]byte{}, n.durable...)}
	}
	return c
}

// TestTornWrites: a power loss in the middle of a batch keeps a random
// subset of its sectors. Recovery must return all of the batch or none of
// it, and every earlier batch.
func TestTornWrites(t *testing.T) {
	ctx := context.Background()
	kept, cut := 0, 0
	for seed := range uint64(300) {
		rng := rand.New(rand.NewPCG(seed, 1))
		fs := NewMemFS()
		opts := testOptions(fs)
		l := mustOpen(t, "/log", opts)
		n := uint64(1 + rng.IntN(20))
		for i := uint64(1); i <= n; i++ {
			if err := l.Save(ctx, Update{Partition: 1, Entries: entries(1, i, i+1, 1, 500)}); err != nil {
				t.Fatal(err)
			}
		}
		fs.FailSyncs(errors.New("power lost"))
		// The batch being written when the power goes: several partitions.
		err := l.Save(ctx,
			Update{Partition: 1, Entries: entries(1, n+1, n+5, 2, 500), State: []byte("s")},
			Update{Partition: 2, Entries: entries(2, 1, 5, 2, 700)})
		if !errors.Is(err, ErrFailed) {
			t.Fatalf("seed %d: Save = %v, want ErrFailed", seed, err)
		}
		l.Close()
		fs.Crash(rng)
		fs.FailSyncs(nil)
		l, err = Open("/log", opts)
		if err != nil {
			t.Fatalf("seed %d: Open after a torn write: %v", seed, err)
		}
		_, last, _ := l.Range(1)
		_, hasState := l.State(1)
		switch {
		case last == n && !hasState && len(l.Partitions()) == 1:
			cut++
		case last == n+4 && hasState && len(l.Partitions()) == 2:
			kept++
			checkEntries(t, l, 1, n+1, n+5, 2, 500)
			checkEntries(t, l, 2, 1, 5, 2, 700)
		default:
			t.Fatalf("seed %d: after a torn batch partition 1 ends at %d (state %v), partitions %v: the batch is neither whole nor gone",
				seed, last, hasState, l.Partitions())
		}
		checkEntries(t, l, 1, 1, n+1, 1, 500)
		// Appending after the cut and reopening again finds no stale bytes.
		_, last, _ = l.Range(1)
		if err := l.Save(ctx, Update{Partition: 1, Entries: entries(1, last+1, last+2, 3, 10)}); err != nil {
			t.Fatalf("seed %d: Save after recovery: %v", seed, err)
		}
		// Roll to new segments so the cut one becomes an older segment,
		// which must end in zeros: the torn bytes must have been wiped.
		for i := last + 2; i < last+200; i += 10 {
			if err := l.Save(ctx, Update{Partition: 3, Entries: entries(3, i, i+10, 1, 500)}); err != nil {
				t.Fatal(err)
			}
		}
		mustClose(t, l)
		l, err = Open("/log", opts)
		if err != nil {
			t.Fatalf("seed %d: reopening after appending past a cut tail: %v", seed, err)
		}
		checkEntries(t, l, 1, last+1, last+2, 3, 10)
		mustClose(t, l)
	}
	t.Logf("torn batches: %d cut, %d kept whole", cut, kept)
	if cut == 0 {
		t.Fatalf("no torn batch was cut: the test does not tear")
	}
}

// TestReadVerifiesChecksum: a record damaged after Open is caught when read.
func TestReadVerifiesChecksum(t *testing.T) {
	fs := NewMemFS()
	l := mustOpen(t, "/log", testOptions(fs))
	defer mustClose(t, l)
	sp := saveSpan(t, l, Update{Partition: 1, Entries: entries(1, 1, 4, 1, 100)})
	flipBit(t, fs, sp.path, sp.off+batchHeaderSize+int64(recordSize(kindEntry, 100))+50, 1) // inside entry 2
	if _, err := l.Entries(1, 1, 2, 0); err != nil {
		t.Fatalf("entry 1 is intact: %v", err)
	}
	_, err := l.Entries(1, 1, 4, 0)
	if !errors.Is(err, ErrCorruption) || !strings.Contains(err.Error(), sp.path) {
		t.Fatalf("Entries over a flipped bit = %v, want ErrCorruption naming %s", err, sp.path)
	}
}

// TestTmpSegmentRemoved: a segment whose creation was interrupted is removed.
func TestTmpSegmentRemoved(t *testing.T) {
	fs := NewMemFS()
	fiveBatches(t, fs)
	if err := fs.MkdirAll("/log", 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := fs.OpenFile("/log/0000000000000002.clog.tmp", os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte("garbage"), 0)
	f.Close()
	l := mustOpen(t, "/log", testOptions(fs))
	defer mustClose(t, l)
	checkRange(t, l, 1, 1, 51)
	names, _ := fs.ReadDir("/log")
	if len(names) != 2 || names[1] != newestFile {
		t.Fatalf("files after Open: %v, want only the segment and %s", names, newestFile)
	}
}

// TestTornTailZeroed: the bytes of a cut tail are overwritten with zeros,
// so that they cannot be mistaken for data once the segment is not the
// newest any more.
func TestTornTailZeroed(t *testing.T) {
	fs := NewMemFS()
	spans := fiveBatches(t, fs)
	garbage := make([]byte, 3000)
	for i := range garbage {
		garbage[i] = byte(i*7 + 1)
	}
	writeAt(t, fs, spans[4].path, spans[4].end, garbage)
	l := mustOpen(t, "/log", testOptions(fs))
	checkRange(t, l, 1, 1, 51)
	if cut, ok := l.Cut(); !ok || cut.File != spans[4].path || cut.Offset != spans[4].end || cut.Bytes != int64(len(garbage)) {
		t.Errorf("Cut() = %+v, %v; want %s offset %d, %d bytes", cut, ok, spans[4].path, spans[4].end, len(garbage))
	}
	mustClose(t, l)
	l = mustOpen(t, "/log", testOptions(fs))
	if cut, ok := l.Cut(); ok {
		t.Errorf("Cut() after a clean reopen = %+v; want nothing cut", cut)
	}
	mustClose(t, l)
	f, err := fs.OpenFile(spans[4].path, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tail := make([]byte, len(garbage))
	if _, err := f.ReadAt(tail, spans[4].end); err != nil {
		t.Fatal(err)
	}
	if i := lastNonZero(tail); i >= 0 {
		t.Fatalf("byte %d of the cut tail is %#x, want zeros", spans[4].end+int64(i), tail[i])
	}
}
