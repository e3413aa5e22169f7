package sstable

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
)

// cached reports whether the row cache holds key of partition p as its newest version at or
// below version, valid now. Sets are asynchronous in ristretto: Wait makes earlier ones visible.
func cached(t *testing.T, s *Store, p uint64, key string, version uint64) (string, bool) {
	t.Helper()
	s.rows.c.Wait()
	gen, err := s.readable("get", p, version)
	if err != nil {
		t.Fatal(err)
	}
	v, ok := s.rows.lookup(dataKey(p, []byte(key)), gen.rows, version)
	return string(v), ok
}

// TestRowCache: reads that miss the memstores fill the row cache with the newest dumped
// version; a later dump, a drop and an import each make what it holds of the partition stale,
// and reads never return it; a read below the newest version goes to badger.
func TestRowCache(t *testing.T) {
	s := newStore(t)
	const p = 4
	dump(t, s, p, frozen(t, 0, op{key: "k", value: "a", version: 10}, op{key: "gone", value: "x", version: 11}), 5, 11)
	v := s.View(p)
	if got := readView(t, v, "k", 100); got != "a" {
		t.Fatalf("Get(k, 100) = %s, want a", got)
	}
	// ristretto admits a key only once it has been seen: read until it is cached.
	waitCached := func(key string, at uint64) string {
		t.Helper()
		for i := 0; i < 1000; i++ {
			if val, ok := cached(t, s, p, key, at); ok {
				return val
			}
			readView(t, v, key, at)
		}
		t.Fatalf("%s never cached", key)
		return ""
	}
	if got := waitCached("k", 100); got != "a" {
		t.Fatalf("cached k = %s, want a", got)
	}
	// A newer version dumped: the cached one is stale for reads at or above it.
	dump(t, s, p, frozen(t, 11, op{key: "k", value: "b", version: 20}, op{key: "gone", version: 21, del: true}), 10, 21)
	if _, ok := cached(t, s, p, "k", 100); ok {
		t.Fatal("the row cache still serves k after a dump wrote a newer version")
	}
	for _, tc := range []struct {
		key  string
		at   uint64
		want string
	}{{"k", 100, "b"}, {"k", 15, "a"}, {"k", 20, "b"}, {"gone", 100, "<absent>"}, {"gone", 15, "x"}} {
		if got := readView(t, v, tc.key, tc.at); got != tc.want {
			t.Fatalf("after the second dump Get(%s, %d) = %s, want %s", tc.key, tc.at, got, tc.want)
		}
	}
	if got := waitCached("k", 100); got != "b" {
		t.Fatalf("cached k = %s, want b", got)
	}
	if got := readView(t, v, "k", 15); got != "a" {
		t.Fatalf("Get(k, 15) with b cached = %s, want a (from badger)", got)
	}
	// A reader that took the generation before the dump ended stores what no lookup accepts.
	before, err := s.readable("get", p, 100)
	if err != nil {
		t.Fatal(err)
	}
	dump(t, s, p, frozen(t, 21, op{key: "k", value: "c", version: 30}), 15, 30)
	s.rows.store(dataKey(p, []byte("k")), before.rows, 20, []byte("b"))
	if got := readView(t, v, "k", 100); got != "c" {
		t.Fatalf("Get(k, 100) after a stale store = %s, want c", got)
	}
	// Dropped: nothing cached survives.
	waitCached("k", 100)
	if err := s.DropPartition(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	if _, ok := cached(t, s, p, "k", 100); ok {
		t.Fatal("the row cache still serves k after DropPartition")
	}
	if got := readView(t, v, "k", 100); got != "<absent>" {
		t.Fatalf("Get(k, 100) after DropPartition = %s, want <absent>", got)
	}
}

// TestRowCacheAgainstModel: reads at random versions interleaved with dumps of random writes
// agree with a model of every version, through the row cache.
func TestRowCacheAgainstModel(t *testing.T) {
	const seed = 11
	rng := rand.New(rand.NewPCG(seed, seed))
	s := newStore(t)
	const p = 2
	model := versionModel{}
	var v uint64
	view := s.View(p)
	for round := 0; round < 20; round++ {
		var ops []op
		floor := v
		for i := 0; i < 40; i++ {
			v++
			o := op{key: fmt.Sprintf("k%02d", rng.IntN(20)), version: v}
			if rng.IntN(5) == 0 {
				o.del = true
			} else {
				o.value = fmt.Sprintf("r%d-%d", round, i)
			}
			ops = append(ops, o)
			model[o.key] = append(model[o.key], modelVersion{v: v, val: o.value, del: o.del})
		}
		dump(t, s, p, frozen(t, floor, ops...), uint64(round+1), v)
		for i := 0; i < 200; i++ {
			key := fmt.Sprintf("k%02d", rng.IntN(22))
			at := v // mostly the newest, as most reads are
			if rng.IntN(3) == 0 {
				at = uint64(rng.IntN(int(v) + 2))
			}
			if got, want := readView(t, view, key, at), model.get(key, at); got != want {
				t.Fatalf("seed %d round %d: Get(%s, %d) = %s, want %s", seed, round, key, at, got, want)
			}
		}
		s.rows.c.Wait()
	}
}
