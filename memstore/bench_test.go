package memstore

import (
	"fmt"
	"math/rand/v2"
	"sync"
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
// loop writes new versions as fast as it can. writes/op is how many writes the
// writer made per read: a faster writer takes the lock more often.
func BenchmarkGetParallelWithWriter(b *testing.B) {
	tb, keys := benchTable(b)
	stop := make(chan struct{})
	writerDone := make(chan struct{})
	var writes atomic.Int64
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
			writes.Add(1)
		}
	}()
	var seed atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	writes.Store(0)
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
	b.ReportMetric(float64(writes.Load())/float64(b.N), "writes/op")
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

// The cluster workload of the write profiles: 10,000 keys written with a
// zipfian skew, 256-byte values, nearly every write a new version of a key the
// table already holds.
const (
	zipfKeyCount   = 10_000
	zipfValueBytes = 256
	// zipfTableWrites is how many versions a zipf table holds: about a minute
	// of the workload at 11,000 writes/s would be 660,000.
	zipfTableWrites = 600_000
)

// zipfOrder returns n key indexes in [0, zipfKeyCount), seeded: a zipfian
// draw (s = 1.1) spread over the key space by a multiplicative step, so the
// hot keys are not neighbours.
func zipfOrder(n int) []int {
	rng := rand.New(rand.NewPCG(1, 2))
	z := rand.NewZipf(rng, 1.1, 1, zipfKeyCount-1)
	out := make([]int, n)
	for i := range out {
		out[i] = int(z.Uint64()*7919) % zipfKeyCount
	}
	return out
}

func zipfKeys() [][]byte {
	keys := make([][]byte, zipfKeyCount)
	for i := range keys {
		keys[i] = []byte(fmt.Sprintf("user%012d", i))
	}
	return keys
}

// BenchmarkPutUpdate: the apply loop's write path in the steady state of the
// cluster workload. Every key is written once before the timer starts; the
// table is replaced by a fresh one (not timed) every zipfTableWrites writes,
// as a freeze would, so it holds 300,000 versions on average.
func BenchmarkPutUpdate(b *testing.B) {
	keys := zipfKeys()
	order := zipfOrder(1 << 20)
	val := make([]byte, zipfValueBytes)
	var v uint64
	fresh := func() *Table {
		tb := newTable(b, Config{LimitBytes: 1 << 40, FloorVersion: v})
		for _, k := range keys {
			v++
			if err := tb.Put(k, val, v); err != nil {
				b.Fatal(err)
			}
		}
		return tb
	}
	tb := fresh()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if tb.Len() >= zipfTableWrites {
			b.StopTimer()
			tb = fresh()
			b.StartTimer()
		}
		v++
		if err := tb.Put(keys[order[i&(len(order)-1)]], val, v); err != nil {
			b.Fatal(err)
		}
	}
}

var zipfTable struct {
	once sync.Once
	tb   *Table
	keys [][]byte
}

// zipfFrozen is a frozen table of zipfTableWrites writes of the cluster
// workload (versions 1..zipfTableWrites), built once for the read benchmarks.
func zipfFrozen(b *testing.B) (*Table, [][]byte) {
	zipfTable.once.Do(func() {
		keys := zipfKeys()
		tb := newTable(b, Config{LimitBytes: 1 << 40})
		val := make([]byte, zipfValueBytes)
		for i, k := range zipfOrder(zipfTableWrites) {
			if err := tb.Put(keys[k], val, uint64(i+1)); err != nil {
				b.Fatal(err)
			}
		}
		tb.Freeze()
		zipfTable.tb, zipfTable.keys = tb, keys
	})
	return zipfTable.tb, zipfTable.keys
}

// BenchmarkGetOldZipf: point reads at a random old version (a lagging
// follower read, a snapshot) of keys drawn from the workload's skew, so that
// hot keys with thousands of versions are read most.
func BenchmarkGetOldZipf(b *testing.B) {
	tb, keys := zipfFrozen(b)
	order := zipfOrder(1 << 16)
	rng := rand.New(rand.NewPCG(3, 4))
	versions := make([]uint64, 1<<16)
	for i := range versions {
		versions[i] = 1 + rng.Uint64N(zipfTableWrites)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		j := i & (1<<16 - 1)
		tb.Get(keys[order[j]], versions[j])
	}
}

// BenchmarkIterateOldZipf: a scan of 100 keys at the version halfway through
// the zipf table's writes.
func BenchmarkIterateOldZipf(b *testing.B) {
	tb, keys := zipfFrozen(b)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		n := 0
		start := keys[(i*7919)%(zipfKeyCount-200)]
		for it := tb.NewIterator(start, nil, zipfTableWrites/2); it.Valid() && n < 100; it.Next() {
			n++
		}
	}
}

// BenchmarkGetOlder: point reads at a version between a key's two versions.
func BenchmarkGetOlder(b *testing.B) {
	tb, keys := benchTable(b)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, ok := tb.Get(keys[(i*7919)%benchKeys], benchKeys*2); !ok {
			b.Fatal("key not found")
		}
	}
}
