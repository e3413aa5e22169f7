package sstable

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"runtime/metrics"
	"testing"
	"time"

	"obkv/memstore"
)

const benchKeys = 100_000

func benchKey(i int) []byte { return []byte(fmt.Sprintf("user%012d", i)) }

// benchSetup: partition 1 holds benchKeys keys with 100-byte values at
// versions 1..benchKeys in the sstable, flushed to L0 tables by a restart; an
// active memstore table holds every 10th key again at a newer version.
func benchSetup(b *testing.B) (*Store, *memstore.Table) {
	b.Helper()
	dir := b.TempDir()
	o := DefaultOptions(dir)
	s, err := Open(context.Background(), o)
	if err != nil {
		b.Fatal(err)
	}
	tb, _ := memstore.New(memstore.Config{LimitBytes: 1 << 30})
	val := make([]byte, 100)
	for i := 0; i < benchKeys; i++ {
		if err := tb.Put(benchKey(i), val, uint64(i+1)); err != nil {
			b.Fatal(err)
		}
	}
	tb.Freeze()
	if err := s.Dump(context.Background(), 1, tb, Checkpoint{Index: 1, Version: benchKeys}); err != nil {
		b.Fatal(err)
	}
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	if s, err = Open(context.Background(), o); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	active, _ := memstore.New(memstore.Config{LimitBytes: 1 << 30, FloorVersion: benchKeys})
	for i := 0; i < benchKeys; i += 10 {
		if err := active.Put(benchKey(i), val, uint64(benchKeys+i+1)); err != nil {
			b.Fatal(err)
		}
	}
	return s, active
}

// BenchmarkViewGet: point reads at a version through View (memstore over
// sstable): a key the active memstore holds, and a key only the sstable holds
// (the memstore is probed and misses first).
func BenchmarkViewGet(b *testing.B) {
	s, active := benchSetup(b)
	keys := make([][]byte, benchKeys)
	for i := range keys {
		keys[i] = benchKey(i)
	}
	v := s.View(1, active)
	read := uint64(3 * benchKeys)
	b.Run("memstore", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			k := keys[(i*7919%(benchKeys/10))*10] // every 10th key: in the memstore
			if _, ok, err := v.Get(k, read); err != nil || !ok {
				b.Fatalf("Get(%s) = %v %v", k, ok, err)
			}
		}
	})
	b.Run("sstable", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			k := keys[(i*7919%(benchKeys/10))*10+3] // never in the memstore
			if _, ok, err := v.Get(k, read); err != nil || !ok {
				b.Fatalf("Get(%s) = %v %v", k, ok, err)
			}
		}
	})
	b.Run("sstable-parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				i++
				k := keys[(i*7919%(benchKeys/10))*10+3]
				if _, ok, err := v.Get(k, read); err != nil || !ok {
					b.Errorf("Get(%s) = %v %v", k, ok, err)
					return
				}
			}
		})
	})
}

// BenchmarkViewScan: a 100-key scan merging the memstore over the sstable.
func BenchmarkViewScan(b *testing.B) {
	s, active := benchSetup(b)
	v := s.View(1, active)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		n := 0
		err := v.Scan(ctx, benchKey(i*7919%(benchKeys-200)), nil, 3*benchKeys, func(k, val []byte) bool {
			n++
			return n < 100
		})
		if err != nil || n != 100 {
			b.Fatalf("scan: %d keys, %v", n, err)
		}
	}
}

// BenchmarkDump: dump throughput of a frozen 10,000-entry table (16-byte
// keys, 100-byte values), including the two fsyncs (data, checkpoint).
func BenchmarkDump(b *testing.B) {
	const entries = 10_000
	s, err := Open(context.Background(), DefaultOptions(b.TempDir()))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	tb, _ := memstore.New(memstore.Config{LimitBytes: 1 << 30})
	val := make([]byte, 100)
	for i := 0; i < entries; i++ {
		if err := tb.Put(benchKey(i), val, uint64(i+1)); err != nil {
			b.Fatal(err)
		}
	}
	tb.Freeze()
	b.SetBytes(int64(entries * (16 + 100)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// A new partition each time: the same table, a fresh checkpoint.
		if err := s.Dump(context.Background(), uint64(i), tb, Checkpoint{Index: 1, Version: entries}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(entries)*float64(b.N)/b.Elapsed().Seconds(), "entries/s")
}

// BenchmarkExportLargeValues: export of a partition of 128 values of 1 MiB to
// a writer that takes 1 ms per MiB (a network faster than this machine's
// disk). peak-heap-MiB is how far the heap's objects grew above where they
// were before the export, sampled every millisecond: what a leader holds
// while it streams a snapshot to a follower.
func BenchmarkExportLargeValues(b *testing.B) {
	const values, size = 128, 1 << 20
	s, err := Open(context.Background(), DefaultOptions(b.TempDir()))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	tb, _ := memstore.New(memstore.Config{LimitBytes: 1 << 30})
	for i := 0; i < values; i++ {
		val := bytes.Repeat([]byte{byte(i)}, size)
		if err := tb.Put(benchKey(i), val, uint64(i+1)); err != nil {
			b.Fatal(err)
		}
	}
	tb.Freeze()
	if err := s.Dump(context.Background(), 1, tb, Checkpoint{Index: 1, Version: values}); err != nil {
		b.Fatal(err)
	}
	tb = nil
	b.SetBytes(values * size)
	b.ResetTimer()
	var peak uint64
	for i := 0; i < b.N; i++ {
		runtime.GC()
		base := heapObjects()
		stop := make(chan struct{})
		sampled := make(chan uint64)
		go func() {
			var top uint64
			t := time.NewTicker(time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-stop:
					sampled <- top
					return
				case <-t.C:
					if h := heapObjects(); h > base {
						top = max(top, h-base)
					}
				}
			}
		}()
		info, err := s.ExportSnapshot(context.Background(), 1, &slowWriter{perMiB: time.Millisecond})
		close(stop)
		peak = max(peak, <-sampled)
		if err != nil || info.Entries != values {
			b.Fatalf("export: %+v, %v", info, err)
		}
	}
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
}

func heapObjects() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// slowWriter discards what it is given, taking perMiB for each MiB.
type slowWriter struct {
	perMiB  time.Duration
	pending int
}

func (w *slowWriter) Write(p []byte) (int, error) {
	w.pending += len(p)
	if w.pending >= 1<<20 {
		time.Sleep(time.Duration(w.pending>>20) * w.perMiB)
		w.pending &= 1<<20 - 1
	}
	return len(p), nil
}
