package memstore

import (
	"fmt"
	"sync/atomic"
	"testing"
)

const benchKeys = 100_000

// benchTable holds benchKeys keys of 16 bytes with 100-byte values, each at
// two versions, frozen or not.
func benchTable(b *testing.B) (*Table, [][]byte) {
	b.Helper()
	tb := newTable(b, Config{LimitBytes: 1 << 30})
	keys := make([][]byte, benchKeys)
	val := make([]byte, 100)
	for i := range keys {
		keys[i] = []byte(fmt.Sprintf("user%012d", i))
	}
	for v := uint64(1); v <= 2; v++ {
		for i, k := range keys {
			if err := tb.Put(k, val, uint64(i)*2+v+uint64(benchKeys)*2*(v-1)); err != nil {
				b.Fatal(err)
			}
		}
	}
	return tb, keys
}

// BenchmarkGet: point reads at the newest version from one goroutine.
func BenchmarkGet(b *testing.B) {
	tb, keys := benchTable(b)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// A multiplicative step spreads consecutive reads over the tree.
		if _, ok := tb.Get(keys[(i*7919)%benchKeys], ^uint64(0)>>1); !ok {
			b.Fatal("key not found")
		}
	}
}

// BenchmarkGetParallel: point reads from GOMAXPROCS goroutines; ns/op is wall
// time per read over all cores.
func BenchmarkGetParallel(b *testing.B) {
	tb, keys := benchTable(b)
	var seed atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := int(seed.Add(1)) * 104729
		for pb.Next() {
			i += 7919
			if _, ok := tb.Get(keys[i%benchKeys], ^uint64(0)>>1); !ok {
				b.Fatal("key not found")
			}
		}
	})
}

// BenchmarkGetParallelWithWriter: as BenchmarkGetParallel while the apply
// loop writes new versions as fast as it can.
func BenchmarkGetParallelWithWriter(b *testing.B) {
	tb, keys := benchTable(b)
	stop := make(chan struct{})
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		_, v, _ := tb.VersionRange()
		val := make([]byte, 100)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			v++
			if err := tb.Put(keys[(i*31)%benchKeys], val, v); err != nil {
				panic(err)
			}
		}
	}()
	var seed atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := int(seed.Add(1)) * 104729
		for pb.Next() {
			i += 7919
			if _, ok := tb.Get(keys[i%benchKeys], 1<<40); !ok {
				b.Fatal("key not found")
			}
		}
	})
	b.StopTimer()
	close(stop)
	<-writerDone
}

// BenchmarkPut: the apply loop's write path.
func BenchmarkPut(b *testing.B) {
	keys := make([][]byte, benchKeys)
	for i := range keys {
		keys[i] = []byte(fmt.Sprintf("user%012d", i))
	}
	val := make([]byte, 100)
	tb := newTable(b, Config{LimitBytes: 1 << 40})
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := tb.Put(keys[(i*7919)%benchKeys], val, uint64(i+1)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkIterate: a scan of 100 keys.
func BenchmarkIterate(b *testing.B) {
	tb, keys := benchTable(b)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		n := 0
		for it := tb.NewIterator(keys[(i*7919)%(benchKeys-200)], nil, ^uint64(0)>>1); it.Valid() && n < 100; it.Next() {
			n++
		}
	}
}
