package clog

import (
	"context"
	"errors"
	"os"
	"testing"
)

// FuzzOpen: whatever bytes a segment holds, Open does not panic: it
// recovers the log or fails with ErrCorruption, and what it recovered reads
// back. The seeds are real segments, whole and cut.
func FuzzOpen(f *testing.F) {
	fs := NewMemFS()
	opts := testOptions(fs)
	l := mustOpen(f, "/log", opts)
	ctx := context.Background()
	if err := l.Save(ctx, Update{Partition: 1, Entries: entries(1, 1, 4, 1, 20), State: []byte("s")},
		Update{Partition: 2, Entries: entries(2, 7, 9, 2, 30)}); err != nil {
		f.Fatal(err)
	}
	if err := l.Save(ctx, Update{Partition: 1, TruncateFrom: 2, Entries: entries(1, 2, 3, 2, 20)}); err != nil {
		f.Fatal(err)
	}
	if err := l.Compact(ctx, 2, 8); err != nil {
		f.Fatal(err)
	}
	end := int(l.off)
	path := l.active.path
	mustClose(f, l)
	seg := make([]byte, end)
	rf, err := fs.OpenFile(path, 0, 0)
	if err != nil {
		f.Fatal(err)
	}
	if _, err := rf.ReadAt(seg, 0); err != nil {
		f.Fatal(err)
	}
	rf.Close()
	f.Add(seg)
	f.Add(seg[:end-7])
	f.Add(seg[:segmentHeaderSize+batchHeaderSize+3])
	f.Fuzz(func(t *testing.T, data []byte) {
		fs := NewMemFS()
		fs.MkdirAll("/log", 0o755)
		w, err := fs.OpenFile("/log/0000000000000001.clog", os.O_CREATE, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		w.WriteAt(data, 0)
		w.Close()
		l, err := Open("/log", testOptions(fs))
		if err != nil {
			if !errors.Is(err, ErrCorruption) && !errors.Is(err, ErrOptions) {
				t.Fatalf("Open = %v, want ErrCorruption", err)
			}
			return
		}
		defer l.Close()
		for _, p := range l.Partitions() {
			if first, last, ok := l.Range(p); ok {
				if _, err := l.Entries(p, first, last+1, 0); err != nil {
					t.Fatalf("partition %d: Entries of recovered [%d, %d]: %v", p, first, last, err)
				}
			}
		}
	})
}
