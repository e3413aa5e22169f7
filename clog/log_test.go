package clog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// testOptions are small limits so segments roll often.
func testOptions(fs FS) Options {
	return Options{
		FS:             fs,
		SegmentBytes:   64 << 10,
		MaxBatchBytes:  16 << 10,
		MaxRecordBytes: 4 << 10,
		MaxStateBytes:  64,
		MaxPartitions:  64,
	}
}

func mustOpen(t testing.TB, dir string, opts Options) *Log {
	t.Helper()
	l, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return l
}

func mustClose(t testing.TB, l *Log) {
	t.Helper()
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// payload is the deterministic data of (partition, index, ballot).
func payload(p, i, b uint64, n int) []byte {
	d := make([]byte, n)
	s := p*1_000_003 + i*7919 + b*104729
	for k := range d {
		s = s*6364136223846793005 + 1442695040888963407
		d[k] = byte(s >> 56)
	}
	return d
}

func entries(p, lo, hi, ballot uint64, n int) []Entry {
	var es []Entry
	for i := lo; i < hi; i++ {
		es = append(es, Entry{Index: i, Ballot: ballot, Data: payload(p, i, ballot, n)})
	}
	return es
}

// checkRange asserts that the partition retains exactly [lo, hi).
func checkRange(t testing.TB, l *Log, p, lo, hi uint64) {
	t.Helper()
	first, last, ok := l.Range(p)
	if !ok || first != lo || last != hi-1 {
		t.Fatalf("partition %d: Range = %d, %d, %v; want %d, %d, true", p, first, last, ok, lo, hi-1)
	}
}

// checkEntries asserts that the partition's entries [lo, hi) are there
// with the payloads of ballot.
func checkEntries(t testing.TB, l *Log, p, lo, hi, ballot uint64, n int) {
	t.Helper()
	es, err := l.Entries(p, lo, hi, 0)
	if err != nil {
		t.Fatalf("partition %d: Entries(%d, %d): %v", p, lo, hi, err)
	}
	if len(es) != int(hi-lo) {
		t.Fatalf("partition %d: %d entries, want %d", p, len(es), hi-lo)
	}
	for k, e := range es {
		i := lo + uint64(k)
		if e.Index != i || e.Ballot != ballot || !bytes.Equal(e.Data, payload(p, i, ballot, n)) {
			t.Fatalf("partition %d: entry %d = {%d %d %x...}, want index %d ballot %d", p, k, e.Index, e.Ballot, e.Data[:min(4, len(e.Data))], i, ballot)
		}
	}
}

func TestSaveReadReopen(t *testing.T) {
	for _, name := range []string{"mem", "os"} {
		t.Run(name, func(t *testing.T) {
			var fs FS = NewMemFS()
			dir := "/log"
			if name == "os" {
				fs, dir = OSFS{}, t.TempDir()
			}
			opts := testOptions(fs)
			l := mustOpen(t, dir, opts)
			ctx := context.Background()
			// Enough entries to roll several segments.
			for i := uint64(1); i <= 600; i += 10 {
				err := l.Save(ctx,
					Update{Partition: 1, Entries: entries(1, i, i+10, 1, 100), State: []byte(fmt.Sprintf("s1-%d", i))},
					Update{Partition: 2, Entries: entries(2, i+5, i+15, 3, 200)})
				if err != nil {
					t.Fatalf("Save: %v", err)
				}
			}
			checkEntries(t, l, 1, 1, 601, 1, 100)
			checkRange(t, l, 1, 1, 601)
			checkEntries(t, l, 2, 6, 606, 3, 200)
			checkRange(t, l, 2, 6, 606)
			if st, ok := l.State(1); !ok || string(st) != "s1-591" {
				t.Fatalf("State(1) = %q, %v; want s1-591", st, ok)
			}
			if _, ok := l.State(2); ok {
				t.Fatalf("State(2) exists, want none")
			}
			if got := l.Partitions(); len(got) != 2 || got[0] != 1 || got[1] != 2 {
				t.Fatalf("Partitions = %v, want [1 2]", got)
			}
			segs, _ := fs.ReadDir(dir)
			if len(segs) < 4 {
				t.Fatalf("%d segment files, want several: %v", len(segs), segs)
			}
			mustClose(t, l)

			l = mustOpen(t, dir, opts)
			defer mustClose(t, l)
			checkEntries(t, l, 1, 1, 601, 1, 100)
			checkRange(t, l, 1, 1, 601)
			checkEntries(t, l, 2, 6, 606, 3, 200)
			checkRange(t, l, 2, 6, 606)
			if st, ok := l.State(1); !ok || string(st) != "s1-591" {
				t.Fatalf("after reopen State(1) = %q, %v; want s1-591", st, ok)
			}
			// Appends continue after recovery.
			if err := l.Save(ctx, Update{Partition: 1, Entries: entries(1, 601, 602, 1, 100)}); err != nil {
				t.Fatalf("Save after reopen: %v", err)
			}
			checkEntries(t, l, 1, 1, 602, 1, 100)
			checkRange(t, l, 1, 1, 602)
		})
	}
}

// TestEntryHead: an entry's Head is stored before its Data and read back as one Data, also
// after a reopen (recovery reads the records again); the limits count both.
func TestEntryHead(t *testing.T) {
	opts := testOptions(NewMemFS())
	l := mustOpen(t, "/log", opts)
	ctx := context.Background()
	// split makes the first head(i) bytes of entry i its Head.
	split := func(es []Entry, head func(i uint64) int) []Entry {
		for i := range es {
			n := head(es[i].Index)
			es[i].Head, es[i].Data = es[i].Data[:n:n], es[i].Data[n:]
		}
		return es
	}
	small := func(i uint64) int { return int(i % 5) }
	if err := l.Save(ctx, Update{Partition: 1, Entries: split(entries(1, 1, 40, 1, 300), small)}); err != nil {
		t.Fatal(err)
	}
	checkEntries(t, l, 1, 1, 40, 1, 300)
	over := Update{Partition: 2, Entries: []Entry{{Index: 1, Head: make([]byte, opts.MaxRecordBytes/2), Data: make([]byte, opts.MaxRecordBytes/2)}}}
	if err := l.Save(ctx, over); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Save of an entry whose Head and Data together pass MaxRecordBytes = %v, want ErrTooLarge", err)
	}
	big := Update{Partition: 3, Entries: split(entries(3, 1, 21, 1, 3000), func(uint64) int { return 2000 })}
	parts := l.Split(big)
	for i, p := range parts {
		if err := l.Save(ctx, p); err != nil {
			t.Fatalf("Save of part %d of %d (Split counts heads): %v", i, len(parts), err)
		}
	}
	checkEntries(t, l, 3, 1, 21, 1, 3000)
	mustClose(t, l)
	l = mustOpen(t, "/log", testOptions(l.opts.FS))
	defer mustClose(t, l)
	checkEntries(t, l, 1, 1, 40, 1, 300)
	checkEntries(t, l, 3, 1, 21, 1, 3000)
}

func TestEntriesMaxBytes(t *testing.T) {
	l := mustOpen(t, "/log", testOptions(NewMemFS()))
	defer mustClose(t, l)
	if err := l.Save(context.Background(), Update{Partition: 7, Entries: entries(7, 1, 11, 1, 100)}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		max  uint64
		want int
	}{{0, 10}, {1, 1}, {100, 1}, {199, 1}, {200, 2}, {350, 3}, {1000, 10}, {5000, 10}} {
		es, err := l.Entries(7, 1, 11, tc.max)
		if err != nil || len(es) != tc.want {
			t.Errorf("Entries(maxBytes %d) = %d entries, %v; want %d", tc.max, len(es), err, tc.want)
		}
	}
	if _, err := l.Entries(7, 0, 5, 0); !errors.Is(err, ErrCompacted) {
		t.Errorf("Entries below first: %v, want ErrCompacted", err)
	}
	if _, err := l.Entries(7, 5, 12, 0); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Entries beyond last: %v, want ErrUnavailable", err)
	}
	if _, err := l.Entries(8, 1, 2, 0); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Entries of an unknown partition: %v, want ErrUnavailable", err)
	}
	if _, err := l.Entries(7, 5, 4, 0); !errors.Is(err, ErrInvalid) {
		t.Errorf("Entries lo > hi: %v, want ErrInvalid", err)
	}
}

func TestValidation(t *testing.T) {
	ctx := context.Background()
	l := mustOpen(t, "/log", testOptions(NewMemFS()))
	defer mustClose(t, l)
	if err := l.Save(ctx, Update{Partition: 1, Entries: entries(1, 5, 10, 1, 10)}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		u    []Update
		want error
	}{
		{"gap", []Update{{Partition: 1, Entries: entries(1, 11, 12, 1, 10)}}, ErrInvalid},
		{"overlap without truncate", []Update{{Partition: 1, Entries: entries(1, 9, 10, 1, 10)}}, ErrInvalid},
		{"index 0", []Update{{Partition: 2, Entries: []Entry{{Index: 0}}}}, ErrInvalid},
		{"not contiguous", []Update{{Partition: 2, Entries: []Entry{{Index: 1}, {Index: 3}}}}, ErrInvalid},
		{"truncate below first", []Update{{Partition: 1, TruncateFrom: 4}}, ErrInvalid},
		{"record too large", []Update{{Partition: 2, Entries: entries(2, 1, 2, 1, 5000)}}, ErrTooLarge},
		{"state too large", []Update{{Partition: 2, State: make([]byte, 65)}}, ErrTooLarge},
		{"batch too large", []Update{{Partition: 2, Entries: entries(2, 1, 10, 1, 3000)}}, ErrTooLarge},
		// All or nothing: the valid first update is not applied either.
		{"second update invalid", []Update{{Partition: 1, Entries: entries(1, 10, 11, 1, 10)}, {Partition: 1, Entries: entries(1, 20, 21, 1, 10)}}, ErrInvalid},
	} {
		if err := l.Save(ctx, tc.u...); !errors.Is(err, tc.want) {
			t.Errorf("%s: Save = %v, want %v", tc.name, err, tc.want)
		}
	}
	if err := l.Compact(ctx, 1, 0); !errors.Is(err, ErrInvalid) {
		t.Errorf("Compact below 0 = %v, want ErrInvalid", err)
	}
	// Nothing of the rejected saves is there, and the log still works.
	checkEntries(t, l, 1, 5, 10, 1, 10)
	checkRange(t, l, 1, 5, 10)
	if err := l.Save(ctx, Update{Partition: 1, Entries: entries(1, 10, 11, 1, 10)}); err != nil {
		t.Fatalf("valid Save after rejected ones: %v", err)
	}
	checkEntries(t, l, 1, 5, 11, 1, 10)
	checkRange(t, l, 1, 5, 11)
}

func TestMaxPartitions(t *testing.T) {
	opts := testOptions(NewMemFS())
	opts.MaxPartitions = 3
	l := mustOpen(t, "/log", opts)
	defer mustClose(t, l)
	ctx := context.Background()
	for p := uint64(1); p <= 3; p++ {
		if err := l.Save(ctx, Update{Partition: p, State: []byte{1}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Save(ctx, Update{Partition: 4, State: []byte{1}}); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Save of a 4th partition = %v, want ErrTooLarge", err)
	}
	if err := l.Compact(ctx, 5, 10); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Compact of a 5th partition = %v, want ErrTooLarge", err)
	}
}

func TestTruncateSuffix(t *testing.T) {
	fs := NewMemFS()
	opts := testOptions(fs)
	ctx := context.Background()
	l := mustOpen(t, "/log", opts)
	if err := l.Save(ctx, Update{Partition: 1, Entries: entries(1, 1, 11, 1, 50)}); err != nil {
		t.Fatal(err)
	}
	// Conflict at 6: entries 6..10 of ballot 1 are replaced by 6..7 of ballot 2.
	if err := l.Save(ctx, Update{Partition: 1, TruncateFrom: 6, Entries: entries(1, 6, 8, 2, 50)}); err != nil {
		t.Fatal(err)
	}
	check := func() {
		t.Helper()
		checkEntries(t, l, 1, 1, 6, 1, 50)
		checkEntries(t, l, 1, 6, 8, 2, 50)
		if f, la, _ := l.Range(1); f != 1 || la != 7 {
			t.Fatalf("Range = %d, %d; want 1, 7", f, la)
		}
	}
	check()
	mustClose(t, l)
	l = mustOpen(t, "/log", opts)
	check()
	// A truncation to nothing, then the partition restarts at the same index.
	if err := l.Save(ctx, Update{Partition: 1, TruncateFrom: 1}); err != nil {
		t.Fatal(err)
	}
	if f, la, ok := l.Range(1); ok || f != 1 || la != 0 {
		t.Fatalf("Range after truncating all = %d, %d, %v; want 1, 0, false", f, la, ok)
	}
	if err := l.Save(ctx, Update{Partition: 1, Entries: entries(1, 1, 3, 3, 50)}); err != nil {
		t.Fatal(err)
	}
	mustClose(t, l)
	l = mustOpen(t, "/log", opts)
	defer mustClose(t, l)
	checkEntries(t, l, 1, 1, 3, 3, 50)
	checkRange(t, l, 1, 1, 3)
}

func TestCompactDeletesSegments(t *testing.T) {
	fs := NewMemFS()
	opts := testOptions(fs)
	ctx := context.Background()
	l := mustOpen(t, "/log", opts)
	// Two partitions interleaved over many segments; partition 2 also has a
	// hard state that only an old segment holds.
	if err := l.Save(ctx, Update{Partition: 2, State: []byte("promise-9")}); err != nil {
		t.Fatal(err)
	}
	for i := uint64(1); i <= 400; i += 4 {
		if err := l.Save(ctx,
			Update{Partition: 1, Entries: entries(1, i, i+4, 1, 300)},
			Update{Partition: 2, Entries: entries(2, i, i+4, 1, 300)}); err != nil {
			t.Fatal(err)
		}
	}
	before, _ := fs.ReadDir("/log")
	if err := l.Compact(ctx, 1, 390); err != nil {
		t.Fatal(err)
	}
	if after, _ := fs.ReadDir("/log"); len(after) != len(before) {
		t.Fatalf("compacting only partition 1 deleted segments (%d -> %d); partition 2 still needs them", len(before), len(after))
	}
	if err := l.Compact(ctx, 2, 395); err != nil {
		t.Fatal(err)
	}
	after, _ := fs.ReadDir("/log")
	if len(after) >= 3 || len(after) >= len(before) {
		t.Fatalf("after compacting both partitions %d segments remain (of %d): %v", len(after), len(before), after)
	}
	check := func() {
		t.Helper()
		checkEntries(t, l, 1, 390, 401, 1, 300)
		checkRange(t, l, 1, 390, 401)
		checkEntries(t, l, 2, 395, 401, 1, 300)
		checkRange(t, l, 2, 395, 401)
		if st, ok := l.State(2); !ok || string(st) != "promise-9" {
			t.Fatalf("State(2) = %q, %v; want promise-9 (restated by the snapshot)", st, ok)
		}
		if _, err := l.Entries(1, 389, 391, 0); !errors.Is(err, ErrCompacted) {
			t.Fatalf("Entries below the compaction point: %v, want ErrCompacted", err)
		}
	}
	check()
	mustClose(t, l)
	l = mustOpen(t, "/log", opts)
	check()
	// Compacting past the end installs a snapshot: the next index is below.
	if err := l.Compact(ctx, 1, 1000); err != nil {
		t.Fatal(err)
	}
	if f, la, ok := l.Range(1); ok || f != 1000 || la != 999 {
		t.Fatalf("Range after compacting past the end = %d, %d, %v; want 1000, 999, false", f, la, ok)
	}
	if err := l.Save(ctx, Update{Partition: 1, Entries: entries(1, 999, 1000, 1, 10)}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("append below the snapshot = %v, want ErrInvalid", err)
	}
	if err := l.Save(ctx, Update{Partition: 1, Entries: entries(1, 1000, 1002, 2, 10)}); err != nil {
		t.Fatal(err)
	}
	mustClose(t, l)
	l = mustOpen(t, "/log", opts)
	defer mustClose(t, l)
	checkEntries(t, l, 1, 1000, 1002, 2, 10)
	checkRange(t, l, 1, 1000, 1002)
	// A partition that only ever had a compaction point.
	if err := l.Compact(ctx, 9, 50); err != nil {
		t.Fatal(err)
	}
	if f, _, ok := l.Range(9); ok || f != 50 {
		t.Fatalf("Range(9) = %d, %v; want 50, false", f, ok)
	}
}

// gateFS blocks the first Sync after arm until release is closed.
type gateFS struct {
	FS
	armed     atomic.Bool // gate the next Sync
	readArmed atomic.Bool // gate the next ReadAt
	entered   chan struct{}
	release   chan struct{}
}

func (g *gateFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	f, err := g.FS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return gateFile{File: f, g: g}, nil
}

type gateFile struct {
	File
	g *gateFS
}

func (f gateFile) ReadAt(p []byte, off int64) (int, error) {
	if f.g.readArmed.CompareAndSwap(true, false) {
		close(f.g.entered)
		<-f.g.release
	}
	return f.File.ReadAt(p, off)
}

func (f gateFile) Sync() error {
	if f.g.armed.CompareAndSwap(true, false) {
		close(f.g.entered)
		<-f.g.release
	}
	return f.File.Sync()
}

// waitFor waits until cond holds, failing the test after a deadline.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		runtime.Gosched()
	}
}

// TestGroupCommit: Saves that arrive while a sync is in flight share the
// next write and sync, and none returns before its batch is synced.
func TestGroupCommit(t *testing.T) {
	mem := NewMemFS()
	g := &gateFS{FS: mem, entered: make(chan struct{}), release: make(chan struct{})}
	opts := testOptions(g)
	opts.SegmentBytes = 1 << 20
	l := mustOpen(t, "/log", opts)
	ctx := context.Background()
	syncs0 := mem.Syncs()
	g.armed.Store(true)
	const writers = 16
	var returned atomic.Int32
	var wg sync.WaitGroup
	errs := make([]error, writers)
	save := func(w int) {
		errs[w] = l.Save(ctx, Update{Partition: uint64(w), Entries: entries(uint64(w), 1, 2, 1, 64)})
		returned.Add(1)
	}
	wg.Go(func() { save(0) })
	<-g.entered // the first batch is in its sync
	for w := 1; w < writers; w++ {
		wg.Go(func() { save(w) })
	}
	waitFor(t, "15 queued saves", func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		return l.cur.count == writers-1
	})
	if n := returned.Load(); n != 0 {
		t.Fatalf("%d Saves returned before their sync completed", n)
	}
	close(g.release)
	wg.Wait()
	for w, err := range errs {
		if err != nil {
			t.Fatalf("writer %d: %v", w, err)
		}
	}
	if syncs := mem.Syncs() - syncs0; syncs != 2 {
		t.Fatalf("%d syncs for %d saves, want 2 (one for the first, one shared by the rest)", syncs, writers)
	}
	for w := range uint64(writers) {
		checkEntries(t, l, w, 1, 2, 1, 64)
	}
	mustClose(t, l)
}

func TestConcurrentSaves(t *testing.T) {
	fs := NewMemFS()
	opts := testOptions(fs)
	opts.SegmentBytes = 1 << 20
	l := mustOpen(t, "/log", opts)
	const writers, per = 16, 100
	var wg, rwg sync.WaitGroup
	errs := make(chan error, writers+4)
	// Readers run alongside, also while writers compact their prefixes.
	stop := make(chan struct{})
	for r := range uint64(4) {
		rwg.Go(func() {
			for n := uint64(0); ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				p := (r + n) % writers
				first, last, ok := l.Range(p)
				if !ok {
					continue
				}
				es, err := l.Entries(p, first, last+1, 0)
				if errors.Is(err, ErrCompacted) {
					continue // compacted between Range and Entries
				}
				if err != nil {
					errs <- err
					return
				}
				for _, e := range es {
					if !bytes.Equal(e.Data, payload(p, e.Index, 1, 64)) {
						errs <- fmt.Errorf("partition %d: entry %d read back wrong", p, e.Index)
						return
					}
				}
			}
		})
	}
	for w := range uint64(writers) {
		wg.Go(func() {
			for i := uint64(1); i <= per; i++ {
				if err := l.Save(context.Background(), Update{Partition: w, Entries: entries(w, i, i+1, 1, 64)}); err != nil {
					errs <- err
					return
				}
				if i%25 == 0 {
					if err := l.Compact(context.Background(), w, 2); err != nil {
						errs <- err
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	rwg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for w := range uint64(writers) {
		checkEntries(t, l, w, 2, per+1, 1, 64)
		checkRange(t, l, w, 2, per+1)
	}
	mustClose(t, l)
	l = mustOpen(t, "/log", opts)
	defer mustClose(t, l)
	for w := range uint64(writers) {
		checkEntries(t, l, w, 2, per+1, 1, 64)
		checkRange(t, l, w, 2, per+1)
	}
}

// TestFailedSync: a failed fdatasync fails the batch and every later write,
// and is never retried as if it had succeeded.
func TestFailedSync(t *testing.T) {
	fs := NewMemFS()
	opts := testOptions(fs)
	ctx := context.Background()
	l := mustOpen(t, "/log", opts)
	if err := l.Save(ctx, Update{Partition: 1, Entries: entries(1, 1, 3, 1, 10)}); err != nil {
		t.Fatal(err)
	}
	eio := errors.New("input/output error")
	fs.FailSyncs(eio)
	err := l.Save(ctx, Update{Partition: 1, Entries: entries(1, 3, 4, 1, 10)})
	if !errors.Is(err, ErrFailed) {
		t.Fatalf("Save with a failing sync = %v, want ErrFailed", err)
	}
	fs.FailSyncs(nil) // the disk "recovers": the log must still refuse
	if err := l.Save(ctx, Update{Partition: 1, Entries: entries(1, 3, 4, 1, 10)}); !errors.Is(err, ErrFailed) {
		t.Fatalf("Save after a failed sync = %v, want ErrFailed", err)
	}
	if err := l.Compact(ctx, 1, 2); !errors.Is(err, ErrFailed) {
		t.Fatalf("Compact after a failed sync = %v, want ErrFailed", err)
	}
	// Reads serve what was durable; the failed batch is not visible.
	checkEntries(t, l, 1, 1, 3, 1, 10)
	checkRange(t, l, 1, 1, 3)
	if err := l.Close(); !errors.Is(err, ErrFailed) {
		t.Fatalf("Close of a failed log = %v, want ErrFailed", err)
	}
	// A power loss now tears the unsynced batch; recovery cuts it.
	fs.Crash(rand.New(rand.NewPCG(1, 2)))
	l = mustOpen(t, "/log", opts)
	defer mustClose(t, l)
	checkEntries(t, l, 1, 1, 3, 1, 10)
	checkRange(t, l, 1, 1, 3)
	if err := l.Save(ctx, Update{Partition: 1, Entries: entries(1, 3, 4, 2, 10)}); err != nil {
		t.Fatalf("Save after reopening: %v", err)
	}
	checkEntries(t, l, 1, 3, 4, 2, 10)
	checkRange(t, l, 1, 1, 4)
}

// TestFailedWrite: a short, failed write fails the log like a failed sync;
// what it left behind is a torn tail at the next Open.
func TestFailedWrite(t *testing.T) {
	fs := NewMemFS()
	opts := testOptions(fs)
	ctx := context.Background()
	l := mustOpen(t, "/log", opts)
	if err := l.Save(ctx, Update{Partition: 1, Entries: entries(1, 1, 3, 1, 100)}); err != nil {
		t.Fatal(err)
	}
	fs.FailWrites(errors.New("no space left on device"))
	if err := l.Save(ctx, Update{Partition: 1, Entries: entries(1, 3, 9, 1, 100)}); !errors.Is(err, ErrFailed) {
		t.Fatalf("Save with a failing write = %v, want ErrFailed", err)
	}
	fs.FailWrites(nil)
	if err := l.Save(ctx, Update{Partition: 1, Entries: entries(1, 3, 4, 1, 100)}); !errors.Is(err, ErrFailed) {
		t.Fatalf("Save after a failed write = %v, want ErrFailed", err)
	}
	l.Close()
	l = mustOpen(t, "/log", opts)
	defer mustClose(t, l)
	checkRange(t, l, 1, 1, 3)
	checkEntries(t, l, 1, 1, 3, 1, 100)
}

// TestFailedRoll: a failure while creating the next segment fails the log
// and leaves only a temporary file, which Open removes.
func TestFailedRoll(t *testing.T) {
	fs := NewMemFS()
	opts := testOptions(fs)
	ctx := context.Background()
	l := mustOpen(t, "/log", opts)
	i := uint64(1)
	for ; l.off < opts.SegmentBytes-12<<10; i += 4 {
		if err := l.Save(ctx, Update{Partition: 1, Entries: entries(1, i, i+4, 1, 1000)}); err != nil {
			t.Fatal(err)
		}
	}
	fs.FailWrites(errors.New("injected"))
	if err := l.Save(ctx, Update{Partition: 1, Entries: entries(1, i, i+12, 1, 1000)}); !errors.Is(err, ErrFailed) {
		t.Fatalf("Save that rolls into a failing write = %v, want ErrFailed", err)
	}
	l.Close()
	names, _ := fs.ReadDir("/log")
	if len(names) != 3 || !strings.HasSuffix(names[1], ".tmp") || names[2] != newestFile {
		t.Fatalf("files after the failed roll: %v, want a segment, a .tmp and %s", names, newestFile)
	}
	fs.FailWrites(nil)
	l = mustOpen(t, "/log", opts)
	defer mustClose(t, l)
	checkRange(t, l, 1, 1, i)
	if names, _ := fs.ReadDir("/log"); len(names) != 2 || names[1] != newestFile {
		t.Fatalf("files after Open: %v, want the segment and %s only", names, newestFile)
	}
	if err := l.Save(ctx, Update{Partition: 1, Entries: entries(1, i, i+12, 1, 1000)}); err != nil {
		t.Fatalf("Save that rolls after reopening: %v", err)
	}
	checkRange(t, l, 1, 1, i+12)
}

// TestFailedSyncFailsQueued: callers queued behind a failed batch fail too.
func TestFailedSyncFailsQueued(t *testing.T) {
	fs := NewMemFS()
	l := mustOpen(t, "/log", testOptions(fs))
	fs.FailSyncs(errors.New("injected"))
	var wg sync.WaitGroup
	errs := make([]error, 32)
	for w := range errs {
		wg.Go(func() {
			errs[w] = l.Save(context.Background(), Update{Partition: uint64(w), Entries: entries(uint64(w), 1, 2, 1, 10)})
		})
	}
	wg.Wait()
	for w, err := range errs {
		if !errors.Is(err, ErrFailed) {
			t.Errorf("writer %d: %v, want ErrFailed", w, err)
		}
	}
	if ps := l.Partitions(); len(ps) != 0 {
		t.Errorf("partitions %v visible after failed syncs", ps)
	}
	l.Close()
}

func TestCancelAndClose(t *testing.T) {
	l := mustOpen(t, "/log", testOptions(NewMemFS()))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := l.Save(ctx, Update{Partition: 1, State: []byte{1}}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Save with a cancelled context = %v", err)
	}
	mustClose(t, l)
	if err := l.Save(context.Background(), Update{Partition: 1, State: []byte{1}}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Save after Close = %v, want ErrClosed", err)
	}
	if _, err := l.Entries(1, 1, 2, 0); !errors.Is(err, ErrClosed) {
		t.Fatalf("Entries after Close = %v, want ErrClosed", err)
	}
	if err := l.Close(); !errors.Is(err, ErrClosed) {
		t.Fatalf("second Close = %v, want ErrClosed", err)
	}
}

func TestOptionsValidate(t *testing.T) {
	if err := DefaultOptions().Validate(); err != nil {
		t.Fatalf("DefaultOptions: %v", err)
	}
	for name, mut := range map[string]func(*Options){
		"nil FS":             func(o *Options) { o.FS = nil },
		"zero segment":       func(o *Options) { o.SegmentBytes = 0 },
		"segment too small":  func(o *Options) { o.SegmentBytes = int64(o.MaxBatchBytes) },
		"zero batch":         func(o *Options) { o.MaxBatchBytes = 0 },
		"record over batch":  func(o *Options) { o.MaxRecordBytes = o.MaxBatchBytes },
		"zero record":        func(o *Options) { o.MaxRecordBytes = 0 },
		"zero state":         func(o *Options) { o.MaxStateBytes = 0 },
		"state over record":  func(o *Options) { o.MaxStateBytes = o.MaxRecordBytes },
		"zero partitions":    func(o *Options) { o.MaxPartitions = 0 },
		"segment over limit": func(o *Options) { o.SegmentBytes = 1 << 40 },
	} {
		o := DefaultOptions()
		mut(&o)
		if err := o.Validate(); !errors.Is(err, ErrOptions) {
			t.Errorf("%s: Validate = %v, want ErrOptions", name, err)
		}
		if _, err := Open(filepath.Join(t.TempDir(), "x"), o); !errors.Is(err, ErrOptions) {
			t.Errorf("%s: Open = %v, want ErrOptions", name, err)
		}
	}
}

// TestSaveAllocations: encoding does not allocate per entry; a Save costs
// the batch's completion (a result and its channel) and nothing else.
func TestSaveAllocations(t *testing.T) {
	fs := NewMemFS()
	opts := testOptions(fs)
	opts.SegmentBytes = 16 << 20
	l := mustOpen(t, "/log", opts)
	defer mustClose(t, l)
	ctx := context.Background()
	u := [1]Update{{Partition: 1, Entries: entries(1, 1, 11, 1, 100)}}
	next := uint64(1)
	allocs := testing.AllocsPerRun(200, func() {
		for i := range u[0].Entries {
			u[0].Entries[i].Index = next + uint64(i)
		}
		next += uint64(len(u[0].Entries))
		if err := l.Save(ctx, u[:]...); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 2 {
		t.Fatalf("Save of 10 entries: %.1f allocations, want at most 2 (the batch's result and channel)", allocs)
	}
}

// TestCloseStopsFlusher: Close of a log that has written leaves no flusher
// goroutine behind. It counts flusher goroutines by their stacks, not all
// goroutines: another test's goroutine still exiting made a count of all of
// them fail (3 goroutines after Open where 4 ran before).
func TestCloseStopsFlusher(t *testing.T) {
	// No clog test runs in parallel: an earlier test's flusher, closed, exits soon.
	waitFor(t, "earlier tests' flushers to exit", func() bool { return flushers() == 0 })
	l := mustOpen(t, "/log", testOptions(NewMemFS()))
	defer l.Close() // for a failed test; ErrClosed after mustClose below
	waitFor(t, "one flusher after Open", func() bool { return flushers() == 1 })
	var wg sync.WaitGroup
	for w := range uint64(8) {
		wg.Go(func() {
			if err := l.Save(context.Background(), Update{Partition: w, Entries: entries(w, 1, 2, 1, 10)}); err != nil {
				t.Errorf("save of partition %d: %v", w, err)
			}
		})
	}
	wg.Wait()
	mustClose(t, l)
	waitFor(t, "the flusher to exit", func() bool { return flushers() == 0 })
}

// flushers counts the goroutines running a Log's flusher.
func flushers() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return strings.Count(string(buf[:n]), "clog.(*Log).flush(")
		}
		buf = make([]byte, 2*len(buf))
	}
}

// TestBackpressure: when the queued batch is full a Save waits for the
// flusher to take it, and gives up with its context.
func TestBackpressure(t *testing.T) {
	mem := NewMemFS()
	g := &gateFS{FS: mem, entered: make(chan struct{}), release: make(chan struct{})}
	opts := testOptions(g)
	opts.MaxRecordBytes = 6000
	l := mustOpen(t, "/log", opts)
	defer mustClose(t, l)
	var releaseOnce sync.Once
	release := func() { releaseOnce.Do(func() { close(g.release) }) }
	defer release() // before Close, if the test fails early
	ctx := context.Background()
	g.armed.Store(true)
	var wg sync.WaitGroup
	wg.Go(func() { l.Save(ctx, Update{Partition: 100, State: []byte{1}}) })
	<-g.entered // the flusher is stuck in the first sync
	// Fill the next batch: 5 KB records in a 16 KiB batch: 3 fit.
	for w := range uint64(3) {
		wg.Go(func() {
			if err := l.Save(ctx, Update{Partition: w, Entries: entries(w, 1, 2, 1, 5000)}); err != nil {
				t.Error(err)
			}
		})
	}
	waitFor(t, "a full batch", func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		return l.cur.count == 3
	})
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan error)
	go func() { done <- l.Save(cctx, Update{Partition: 9, Entries: entries(9, 1, 2, 1, 5000)}) }()
	waitFor(t, "the fourth Save to wait for space", func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		return l.space != nil
	})
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Save waiting for space = %v, want context.Canceled", err)
	}
	release()
	wg.Wait()
	for w := range uint64(3) {
		checkEntries(t, l, w, 1, 2, 1, 5000)
	}
	if _, _, ok := l.Range(9); ok {
		t.Fatalf("the cancelled Save, which never queued, is in the log")
	}
	// A Save that waits for space gets it once the flusher takes the batch.
	if err := l.Save(ctx, Update{Partition: 9, Entries: entries(9, 1, 2, 1, 5000)}); err != nil {
		t.Fatal(err)
	}
}

// TestReadDoesNotBlockWrites: a slow read holds up neither Saves nor a
// Compact that deletes the segment being read; the read still returns the
// entries as of its call.
func TestReadDoesNotBlockWrites(t *testing.T) {
	mem := NewMemFS()
	g := &gateFS{FS: mem, entered: make(chan struct{}), release: make(chan struct{})}
	opts := testOptions(g)
	l := mustOpen(t, "/log", opts)
	defer mustClose(t, l)
	var releaseOnce sync.Once
	release := func() { releaseOnce.Do(func() { close(g.release) }) }
	defer release()
	// A write blocked behind the reader fails the test instead of hanging it.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i := uint64(1); i <= 200; i += 10 {
		if err := l.Save(ctx, Update{Partition: 1, Entries: entries(1, i, i+10, 1, 1000)}); err != nil {
			t.Fatal(err)
		}
	}
	g.readArmed.Store(true)
	type result struct {
		es  []Entry
		err error
	}
	read := make(chan result)
	go func() {
		es, err := l.Entries(1, 1, 11, 0)
		read <- result{es, err}
	}()
	<-g.entered // the reader is inside ReadAt of segment 1
	for i := uint64(201); i <= 300; i += 10 {
		if err := l.Save(ctx, Update{Partition: 1, Entries: entries(1, i, i+10, 1, 1000)}); err != nil {
			t.Fatal(err)
		}
	}
	compacted := make(chan error)
	go func() { compacted <- l.Compact(ctx, 1, 290) }()
	// The compaction point is durable and applied at once; deleting the
	// segment under the reader waits for it.
	waitFor(t, "the compaction to apply", func() bool {
		first, _, _ := l.Range(1)
		return first == 290
	})
	select {
	case err := <-compacted:
		t.Fatalf("Compact returned (%v) while a reader was inside a segment it deletes", err)
	default:
	}
	release()
	r := <-read
	if r.err != nil || len(r.es) != 10 {
		t.Fatalf("the slow read: %d entries, %v; want 10", len(r.es), r.err)
	}
	for k, e := range r.es {
		if e.Index != uint64(k+1) || !bytes.Equal(e.Data, payload(1, e.Index, 1, 1000)) {
			t.Fatalf("the slow read: entry %d is wrong", k)
		}
	}
	if err := <-compacted; err != nil {
		t.Fatal(err)
	}
	if names, _ := mem.ReadDir("/log"); len(names) > 2 {
		t.Fatalf("segments after compaction: %v", names)
	}
}

// StartSave returns before the write, which the flusher starts without anyone waiting; a
// second StartSave queues behind it; Wait returns each one's result once durable; a
// validation error returns from StartSave with nothing queued.
func TestStartSave(t *testing.T) {
	mem := NewMemFS()
	g := &gateFS{FS: mem, entered: make(chan struct{}), release: make(chan struct{})}
	opts := testOptions(g)
	opts.SegmentBytes = 1 << 20
	l := mustOpen(t, "/log", opts)
	ctx := context.Background()
	g.armed.Store(true)
	a, err := l.StartSave(ctx, Update{Partition: 1, Entries: entries(1, 1, 3, 1, 64)})
	if err != nil {
		t.Fatal(err)
	}
	<-g.entered // the flusher is in the sync of a's batch: nobody waited for it
	b, err := l.StartSave(ctx, Update{Partition: 2, Entries: entries(2, 1, 2, 1, 64)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.StartSave(ctx, Update{Partition: 1, Entries: entries(1, 5, 6, 1, 64)}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("StartSave of a gap = %v; want ErrInvalid", err)
	}
	select {
	case <-a.res.done:
		t.Fatal("a completed before its sync")
	default:
	}
	close(g.release)
	if err := b.Wait(ctx); err != nil { // b's batch: written by the flusher or by this Wait
		t.Fatal(err)
	}
	if err := a.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	var none Pending
	if err := none.Wait(ctx); err != nil {
		t.Fatalf("Wait of an empty save = %v", err)
	}
	mustClose(t, l)
	l = mustOpen(t, "/log", testOptions(mem))
	checkEntries(t, l, 1, 1, 3, 1, 64)
	checkEntries(t, l, 2, 1, 2, 1, 64)
	checkRange(t, l, 1, 1, 3)
	mustClose(t, l)
}

// Queue leaves its batch to Wait (or to a write already under way: the flusher may take it);
// Wait makes both partitions' updates durable in one write; a validation error returns with
// nothing queued.
func TestQueueWritesOnWait(t *testing.T) {
	mem := NewMemFS()
	opts := testOptions(mem)
	opts.GatherWait = 0
	l := mustOpen(t, "/log", opts)
	ctx := context.Background()
	syncs := mem.Syncs()
	p, err := l.Queue(ctx, Update{Partition: 1, Entries: entries(1, 1, 3, 1, 64)}, Update{Partition: 2, Entries: entries(2, 1, 2, 1, 64)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Queue(ctx, Update{Partition: 1, Entries: entries(1, 7, 8, 1, 64)}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Queue of a gap = %v; want ErrInvalid", err)
	}
	if err := p.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if n := mem.Syncs() - syncs; n != 1 {
		t.Fatalf("%d syncs for one queued batch; want 1", n)
	}
	checkRange(t, l, 1, 1, 3)
	checkRange(t, l, 2, 1, 2)
	mustClose(t, l)
}

// flusherState is whether l's flusher sleeps with nothing to do, and how often it was woken.
func flusherState(l *Log) (idle bool, wakes uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.idle, l.wakes
}

// waitFlusherIdle waits until l's flusher sleeps with nothing to do (it starts awake) and
// returns how often it was woken by then.
func waitFlusherIdle(t *testing.T, l *Log) (wakes uint64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for idle, wakes := flusherState(l); ; idle, wakes = flusherState(l) {
		if idle {
			return wakes
		}
		if time.Now().After(deadline) {
			t.Fatal("the flusher never went idle")
		}
		runtime.Gosched()
	}
}

// A queued batch is written by nobody until Start (or Wait): Done stays open, then Start writes
// it on the caller's goroutine and Done closes; a Pending with nothing to write is done.
func TestStartWritesQueued(t *testing.T) {
	mem := NewMemFS()
	opts := testOptions(mem)
	opts.GatherWait = 0
	l := mustOpen(t, "/log", opts)
	ctx := context.Background()
	// A flusher still awake from Open would take the batch itself (Start then rightly returns
	// at once): wait until it sleeps.
	waitFlusherIdle(t, l)
	p, err := l.Queue(ctx, Update{Partition: 1, Entries: entries(1, 1, 3, 1, 64)})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.Done():
		t.Fatal("a queued batch is done before anyone wrote it")
	default:
	}
	syncs := mem.Syncs()
	p.Start()
	select {
	case <-p.Done():
	default:
		t.Fatal("Start returned before writing the batch nobody had taken")
	}
	if n := mem.Syncs() - syncs; n != 1 {
		t.Fatalf("%d syncs for the started batch; want 1", n)
	}
	if err := p.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	checkRange(t, l, 1, 1, 3)
	<-Pending{}.Done()
	mustClose(t, l)
}

// A Save that writes its own batch while the flusher has nothing to do leaves the flusher
// asleep: a wake-up per write cost a futex call and a goroutine switch (about 14 µs of CPU per
// append on this package's writers=1 benchmark; docs/clog.md).
func TestSaveLeavesIdleFlusherAsleep(t *testing.T) {
	opts := testOptions(NewMemFS())
	opts.GatherWait = 0
	l := mustOpen(t, "/log", opts)
	ctx := context.Background()
	before := waitFlusherIdle(t, l)
	const saves = 50
	for i := uint64(1); i <= saves; i++ {
		if err := l.Save(ctx, Update{Partition: 1, Entries: entries(1, i, i+1, 1, 64)}); err != nil {
			t.Fatal(err)
		}
		runtime.Gosched() // a flusher woken by the Save runs now (MemFS's Sync never blocks)
	}
	if _, after := flusherState(l); after != before {
		t.Fatalf("%d Saves woke the idle flusher %d times; want 0", saves, after-before)
	}
	checkRange(t, l, 1, 1, saves+1)
	mustClose(t, l)
}

// An update's CompactBelow moves the partition's start in the same write as its state and
// entries: beyond the next index (a snapshot past the log) the entries after it follow it, at or
// below it the retained entries stay; both survive a reopen. A gap after it is still refused.
func TestUpdateCompactBelow(t *testing.T) {
	mem := NewMemFS()
	l := mustOpen(t, "/log", testOptions(mem))
	ctx := context.Background()
	if err := l.Save(ctx, Update{Partition: 1, Entries: entries(1, 1, 5, 1, 64)}, Update{Partition: 2, Entries: entries(2, 1, 5, 1, 64)}); err != nil {
		t.Fatal(err)
	}
	// Partition 1 installs a snapshot at 9: the log restarts at 10.
	if err := l.Save(ctx, Update{Partition: 1, CompactBelow: 10, State: []byte("snap@9"), Entries: entries(1, 10, 12, 2, 64)}); err != nil {
		t.Fatal(err)
	}
	// Partition 2's snapshot at 2 is within its log: entries 3 and 4 stay, 5 follows.
	if err := l.Save(ctx, Update{Partition: 2, CompactBelow: 3, Entries: entries(2, 5, 6, 1, 64)}); err != nil {
		t.Fatal(err)
	}
	if err := l.Save(ctx, Update{Partition: 1, CompactBelow: 12, Entries: entries(1, 14, 15, 2, 64)}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("entries after a gap = %v; want ErrInvalid", err)
	}
	for round := 0; round < 2; round++ {
		checkRange(t, l, 1, 10, 12)
		checkEntries(t, l, 1, 10, 12, 2, 64)
		checkRange(t, l, 2, 3, 6)
		checkEntries(t, l, 2, 3, 5, 1, 64)
		if st, ok := l.State(1); !ok || string(st) != "snap@9" {
			t.Fatalf("State(1) = %q, %v; want snap@9", st, ok)
		}
		mustClose(t, l)
		l = mustOpen(t, "/log", testOptions(mem))
	}
	mustClose(t, l)
}

// Drop forgets a partition (entries, range, hard state), durably; the partition can then
// start again from index 1, as a replica created again on the same server does.
func TestDropForgetsPartition(t *testing.T) {
	mem := NewMemFS()
	l := mustOpen(t, "/log", testOptions(mem))
	ctx := context.Background()
	if err := l.Save(ctx, Update{Partition: 1, Entries: entries(1, 1, 11, 1, 64), State: []byte("old")},
		Update{Partition: 2, Entries: entries(2, 1, 4, 1, 64)}); err != nil {
		t.Fatal(err)
	}
	if err := l.Compact(ctx, 1, 1<<40); err != nil { // what dropping a replica used to do
		t.Fatal(err)
	}
	if err := l.Drop(ctx, 1); err != nil {
		t.Fatal(err)
	}
	check := func(l *Log, stage string) {
		t.Helper()
		if _, _, ok := l.Range(1); ok {
			t.Fatalf("%s: partition 1 still has a range", stage)
		}
		if st, ok := l.State(1); ok {
			t.Fatalf("%s: partition 1 still has state %q", stage, st)
		}
		checkEntries(t, l, 2, 1, 4, 1, 64)
	}
	check(l, "after Drop")
	mustClose(t, l)
	l = mustOpen(t, "/log", testOptions(mem))
	check(l, "after reopen")
	if err := l.Save(ctx, Update{Partition: 1, Entries: entries(1, 1, 3, 7, 64), State: []byte("new")}); err != nil {
		t.Fatalf("save from index 1 after Drop: %v", err)
	}
	mustClose(t, l)
	l = mustOpen(t, "/log", testOptions(mem))
	checkEntries(t, l, 1, 1, 3, 7, 64)
	checkRange(t, l, 1, 1, 3)
	if st, _ := l.State(1); string(st) != "new" {
		t.Fatalf("state after re-creating = %q, want new", st)
	}
	mustClose(t, l)
}

// TestSplit: an update larger than a batch is cut into parts that each fit, the first with
// the truncation and the hard state, which saved one after another leave the whole update in
// the log; an update that fits stays whole.
func TestSplit(t *testing.T) {
	l := mustOpen(t, "/log", testOptions(NewMemFS()))
	defer mustClose(t, l)
	ctx := context.Background()
	if err := l.Save(ctx, Update{Partition: 3, Entries: entries(3, 1, 5, 1, 100)}); err != nil {
		t.Fatal(err)
	}
	big := Update{Partition: 3, State: []byte("promise"), TruncateFrom: 4, Entries: entries(3, 4, 24, 2, 3000)}
	if err := l.Save(ctx, big); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Save of %d entries of 3000 bytes in a 16 KiB batch = %v, want ErrTooLarge", len(big.Entries), err)
	}
	parts := l.Split(big)
	if len(parts) < 4 {
		t.Fatalf("Split made %d parts of 60 KB of entries, want at least 4 for 16 KiB batches", len(parts))
	}
	next := uint64(4)
	for i, p := range parts {
		if (i == 0) != (p.State != nil) || (i == 0) != (p.TruncateFrom == 4) {
			t.Fatalf("part %d: state %q, truncate from %d: only the first part carries them", i, p.State, p.TruncateFrom)
		}
		if len(p.Entries) == 0 || p.Entries[0].Index != next {
			t.Fatalf("part %d starts at entry %v, want %d", i, p.Entries, next)
		}
		next += uint64(len(p.Entries))
		if err := l.Save(ctx, p); err != nil {
			t.Fatalf("Save of part %d: %v", i, err)
		}
	}
	checkRange(t, l, 3, 1, 24)
	checkEntries(t, l, 3, 1, 4, 1, 100)
	checkEntries(t, l, 3, 4, 24, 2, 3000)
	if st, ok := l.State(3); !ok || string(st) != "promise" {
		t.Fatalf("State = %q, %v; want the split update's", st, ok)
	}
	small := Update{Partition: 4, State: []byte("s"), Entries: entries(4, 1, 3, 1, 100)}
	if parts := l.Split(small); len(parts) != 1 || len(parts[0].Entries) != 2 || string(parts[0].State) != "s" {
		t.Fatalf("Split of an update that fits = %+v, want it whole", parts)
	}
	if parts := l.Split(Update{Partition: 4, State: []byte("t")}); len(parts) != 1 || parts[0].Entries != nil {
		t.Fatalf("Split of a state-only update = %+v, want it whole", parts)
	}
}

// TestGather: after a batch of several partitions, the next write waits (up to GatherWait)
// until as many partitions have saved again, so replicas that come back one by one share one
// fdatasync; it does not wait after a batch of one partition, nor past GatherWait, nor when
// the log closes.
func TestGather(t *testing.T) {
	mem := NewMemFS()
	opts := testOptions(mem)
	opts.GatherWait = time.Hour
	l := mustOpen(t, "/log", opts)
	ctx := context.Background()
	update := func(p, i uint64) Update { return Update{Partition: p, Entries: entries(p, i, i+1, 1, 64)} }
	start := func(u Update) Pending {
		t.Helper()
		pd, err := l.StartSave(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		return pd
	}
	gathering := func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		return l.gathering
	}
	// One batch of three partitions.
	if err := l.Save(ctx, update(1, 1), update(2, 1), update(3, 1)); err != nil {
		t.Fatal(err)
	}
	syncs0 := mem.Syncs()
	p1 := start(update(1, 2))
	waitFor(t, "the flusher to wait for partitions 2 and 3", gathering)
	p2 := start(update(2, 2))
	p3 := start(update(3, 2))
	for _, p := range []Pending{p1, p2, p3} {
		if err := p.Wait(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if n := mem.Syncs() - syncs0; n != 1 {
		t.Fatalf("three partitions saving one after another took %d syncs, want 1", n)
	}
	// A Save (which writes its own batch when it can) gathers too.
	p1 = start(update(1, 3))
	waitFor(t, "the flusher to wait for partitions 2 and 3", gathering)
	saved := make(chan error)
	go func() { saved <- l.Save(ctx, update(2, 3), update(3, 3)) }()
	if err := <-saved; err != nil {
		t.Fatal(err)
	}
	if err := p1.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if n := mem.Syncs() - syncs0; n != 2 {
		t.Fatalf("%d syncs after the second round, want 2", n)
	}
	for p := uint64(1); p <= 3; p++ {
		checkEntries(t, l, p, 1, 4, 1, 64)
	}
	// Close writes what waits for partitions that never come.
	p1 = start(update(1, 4))
	waitFor(t, "the flusher to wait for partitions 2 and 3", gathering)
	mustClose(t, l)
	if err := p1.Wait(ctx); err != nil {
		t.Fatalf("a save waiting for other partitions when the log closed: %v", err)
	}

	opts.GatherWait = 5 * time.Millisecond
	l = mustOpen(t, "/log", opts)
	defer mustClose(t, l)
	checkEntries(t, l, 1, 1, 5, 1, 64)
	// GatherWait bounds the wait.
	if err := l.Save(ctx, update(1, 5), update(2, 4)); err != nil {
		t.Fatal(err)
	}
	if err := l.Save(ctx, update(1, 6)); err != nil {
		t.Fatalf("a save whose partners never come: %v", err)
	}
	// After a batch of one partition the next write does not wait: with an hour's GatherWait
	// these saves would not return.
	l.mu.Lock()
	l.opts.GatherWait = time.Hour
	l.mu.Unlock()
	for i := uint64(7); i < 10; i++ {
		if err := l.Save(ctx, update(1, i)); err != nil {
			t.Fatal(err)
		}
	}
}

// A write and fdatasync taking at least SlowWrite is reported with its batch's bytes; faster
// ones are not. (SlowWrite of 1 ns makes every write slow, an hour none: no clock is raced.)
func TestSlowWriteReported(t *testing.T) {
	for _, tc := range []struct {
		slow time.Duration
		want bool
	}{{time.Nanosecond, true}, {time.Hour, false}} {
		var mu sync.Mutex
		var reports []int
		opts := testOptions(NewMemFS())
		opts.SlowWrite = tc.slow
		opts.OnSlowWrite = func(took time.Duration, bytes int) {
			mu.Lock()
			defer mu.Unlock()
			if took < tc.slow {
				t.Errorf("reported %v, below SlowWrite %v", took, tc.slow)
			}
			reports = append(reports, bytes)
		}
		l := mustOpen(t, "/log", opts)
		if err := l.Save(context.Background(), Update{Partition: 1, Entries: entries(1, 1, 3, 1, 100)}); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		got := reports
		mu.Unlock()
		if !tc.want {
			if len(got) != 0 {
				t.Errorf("SlowWrite %v: reported %v", tc.slow, got)
			}
			continue
		}
		if len(got) != 1 || got[0] < 200 {
			t.Errorf("SlowWrite %v: reports %v, want one of the batch's bytes (two 100-byte entries and headers)", tc.slow, got)
		}
	}
}
