package memstore

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
)

func newTable(t testing.TB, cfg Config) *Table {
	t.Helper()
	if cfg.LimitBytes == 0 {
		cfg.LimitBytes = 64 << 20
	}
	tb, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return tb
}

func mustPut(t testing.TB, tb *Table, key, value string, v uint64) {
	t.Helper()
	if err := tb.Put([]byte(key), []byte(value), v); err != nil {
		t.Fatal(err)
	}
}

func mustDelete(t testing.TB, tb *Table, key string, v uint64) {
	t.Helper()
	if err := tb.Delete([]byte(key), v); err != nil {
		t.Fatal(err)
	}
}

// read renders a Get as "value", "<tombstone>" or "<absent>".
func read(tb *Table, key string, v uint64) string {
	e, ok := tb.Get([]byte(key), v)
	switch {
	case !ok:
		return "<absent>"
	case e.Tombstone:
		return "<tombstone>"
	default:
		return string(e.Value)
	}
}

func TestGetAtVersion(t *testing.T) {
	tb := newTable(t, Config{})
	mustPut(t, tb, "a", "a5", 5)
	mustPut(t, tb, "b", "b6", 6)
	mustPut(t, tb, "a", "a10", 10)
	mustDelete(t, tb, "a", 12)
	mustPut(t, tb, "a", "a15", 15)

	for _, tc := range []struct {
		key  string
		v    uint64
		want string
	}{
		{"a", 4, "<absent>"},
		{"a", 5, "a5"},
		{"a", 9, "a5"},
		{"a", 10, "a10"},
		{"a", 11, "a10"},
		{"a", 12, "<tombstone>"},
		{"a", 14, "<tombstone>"},
		{"a", 15, "a15"},
		{"a", math.MaxUint64, "a15"},
		{"b", 5, "<absent>"},
		{"b", 6, "b6"},
		{"c", 100, "<absent>"},
		{"", 100, "<absent>"},
		{"a\x00", 100, "<absent>"}, // a key just after "a" is not "a"
	} {
		if got := read(tb, tc.key, tc.v); got != tc.want {
			t.Errorf("Get(%q, %d) = %s, want %s", tc.key, tc.v, got, tc.want)
		}
	}
	e, _ := tb.Get([]byte("a"), 11)
	if e.Version != 10 || string(e.Key) != "a" {
		t.Errorf("Get(a, 11) entry = %+v, want key a version 10", e)
	}
	if got := tb.Len(); got != 5 {
		t.Errorf("Len = %d, want 5", got)
	}
	if lo, hi, ok := tb.VersionRange(); !ok || lo != 5 || hi != 15 {
		t.Errorf("VersionRange = %d, %d, %v; want 5, 15, true", lo, hi, ok)
	}
}

func TestWriteCopiesInput(t *testing.T) {
	tb := newTable(t, Config{})
	k, v := []byte("key"), []byte("value")
	if err := tb.Put(k, v, 1); err != nil {
		t.Fatal(err)
	}
	k[0], v[0] = 'X', 'X'
	if got := read(tb, "key", 1); got != "value" {
		t.Fatalf("after caller modified its slices, Get = %q, want %q", got, "value")
	}
}

// TestPutSharedKeepsTheValue: PutShared stores the caller's value itself (no copy, no
// allocation for it), still copies the key, and an empty or nil value is a value, not a
// tombstone; the value is charged as Put charges it.
func TestPutSharedKeepsTheValue(t *testing.T) {
	tb := newTable(t, Config{})
	k, v := []byte("key"), []byte("value")
	if err := tb.PutShared(k, v, 1); err != nil {
		t.Fatal(err)
	}
	k[0] = 'X'
	e, ok := tb.Get([]byte("key"), 1)
	if !ok || string(e.Value) != "value" || &e.Value[0] != &v[0] {
		t.Fatalf("Get(key, 1) = %+v %v, want the caller's own slice %q under the copied key", e, ok, v)
	}
	if got, want := tb.Bytes(), int64(3+5+EntryOverheadBytes+KeyOverheadBytes); got != want {
		t.Fatalf("Bytes = %d, want %d (as Put charges)", got, want)
	}
	for i, empty := range [][]byte{{}, nil} {
		if err := tb.PutShared([]byte("key"), empty, uint64(i+2)); err != nil {
			t.Fatal(err)
		}
		if e, ok := tb.Get([]byte("key"), uint64(i+2)); !ok || e.Tombstone || e.Value == nil || len(e.Value) != 0 {
			t.Fatalf("Get after PutShared(%#v) = %+v %v, want an empty, non-nil value", empty, e, ok)
		}
	}
	key, big := []byte("key"), make([]byte, 1<<20)
	if n := testing.AllocsPerRun(10, func() {
		if err := tb.PutShared(key, big, tb.maxVersion+1); err != nil {
			t.Fatal(err)
		}
	}); n >= 1 {
		t.Fatalf("PutShared of an existing key allocated %v times per write, want under 1 (only the shared node slab; Put allocates the value)", n)
	}
}

func TestRejectedWritesChangeNothing(t *testing.T) {
	tb := newTable(t, Config{FloorVersion: 3})
	mustPut(t, tb, "a", "a10", 10)
	mustPut(t, tb, "b", "b20", 20)
	before := tb.Bytes()

	for _, tc := range []struct {
		name  string
		write func() error
		want  error
	}{
		{"same version same key", func() error { return tb.Put([]byte("b"), []byte("x"), 20) }, ErrVersionOrder},
		{"delete at same version", func() error { return tb.Delete([]byte("b"), 20) }, ErrVersionOrder},
		{"older version same key", func() error { return tb.Put([]byte("a"), []byte("x"), 9) }, ErrVersionOrder},
		{"below table max", func() error { return tb.Put([]byte("c"), []byte("x"), 15) }, ErrVersionOrder},
		{"at floor", func() error { return tb.Put([]byte("c"), []byte("x"), 3) }, ErrVersionOrder},
		{"empty key", func() error { return tb.Put(nil, []byte("x"), 30) }, ErrInvalidArgument},
		{"reserved version", func() error { return tb.Put([]byte("c"), nil, math.MaxUint64) }, ErrInvalidArgument},
		{"key too long", func() error { return tb.Put(make([]byte, MaxKeyBytes+1), nil, 30) }, ErrInvalidArgument},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.write()
			if !errors.Is(err, tc.want) {
				t.Fatalf("error = %v, want %v", err, tc.want)
			}
		})
	}
	if tb.Len() != 2 || tb.Bytes() != before {
		t.Fatalf("after rejected writes Len = %d Bytes = %d, want 2 and %d", tb.Len(), tb.Bytes(), before)
	}
	if got := read(tb, "b", 100); got != "b20" {
		t.Fatalf("Get(b) = %q after rejected writes, want b20", got)
	}
	// Equal versions across different keys are fine (one log entry, many writes).
	mustPut(t, tb, "c", "c20", 20)
	mustPut(t, tb, "d", "d20", 20)
}

func TestErrorMessageNamesSubjectAndRule(t *testing.T) {
	tb := newTable(t, Config{})
	mustPut(t, tb, "k", "v", 7)
	err := tb.Put([]byte("k"), []byte("v"), 7)
	want := `memstore put key "k" at version 7: not above the key's newest version 7: memstore: version out of order`
	if err == nil || err.Error() != want {
		t.Fatalf("error = %v\nwant    %s", err, want)
	}
}

func TestFreeze(t *testing.T) {
	tb := newTable(t, Config{LimitBytes: 3 * (EntryOverheadBytes + 2)})
	mustPut(t, tb, "a", "1", 1)
	if tb.Full() {
		t.Fatal("Full after one entry of three")
	}
	if err := tb.ForEach(func(Entry) error { return nil }); !errors.Is(err, ErrNotFrozen) {
		t.Fatalf("ForEach on active table: error = %v, want ErrNotFrozen", err)
	}
	mustPut(t, tb, "b", "2", 2)
	mustPut(t, tb, "c", "3", 3)
	if !tb.Full() {
		t.Fatalf("not Full at %d bytes with a limit of %d", tb.Bytes(), 3*(EntryOverheadBytes+2))
	}
	// Full is advice: the table still takes writes until frozen.
	mustPut(t, tb, "d", "4", 4)
	tb.Freeze()
	tb.Freeze() // idempotent
	if !tb.Frozen() {
		t.Fatal("Frozen = false after Freeze")
	}
	if err := tb.Put([]byte("e"), []byte("5"), 5); !errors.Is(err, ErrFrozen) {
		t.Fatalf("Put after Freeze: error = %v, want ErrFrozen", err)
	}
	if err := tb.Delete([]byte("a"), 5); !errors.Is(err, ErrFrozen) {
		t.Fatalf("Delete after Freeze: error = %v, want ErrFrozen", err)
	}
	if got := read(tb, "d", 10); got != "4" {
		t.Fatalf("frozen table Get(d) = %q, want 4", got)
	}
	var keys []string
	if err := tb.ForEach(func(e Entry) error { keys = append(keys, string(e.Key)); return nil }); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(keys) != "[a b c d]" {
		t.Fatalf("ForEach keys = %v, want [a b c d]", keys)
	}
	stop := errors.New("stop")
	n := 0
	if err := tb.ForEach(func(Entry) error { n++; return stop }); err != stop || n != 1 {
		t.Fatalf("ForEach with failing fn: error %v after %d calls, want stop after 1", err, n)
	}
}

func TestForEachOrderNewestFirstPerKey(t *testing.T) {
	tb := newTable(t, Config{})
	mustPut(t, tb, "b", "b1", 1)
	mustPut(t, tb, "a", "a2", 2)
	mustDelete(t, tb, "b", 3)
	mustPut(t, tb, "a", "a4", 4)
	tb.Freeze()
	var got []string
	_ = tb.ForEach(func(e Entry) error {
		s := fmt.Sprintf("%s@%d=%s", e.Key, e.Version, e.Value)
		if e.Tombstone {
			s = fmt.Sprintf("%s@%d<del>", e.Key, e.Version)
		}
		got = append(got, s)
		return nil
	})
	if want := "[a@4=a4 a@2=a2 b@3<del> b@1=b1]"; fmt.Sprint(got) != want {
		t.Fatalf("ForEach = %v, want %s", got, want)
	}
}

func TestInvalidConfig(t *testing.T) {
	if _, err := New(Config{}); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("New with LimitBytes 0: error = %v, want ErrInvalidArgument", err)
	}
}

// model is the obvious reference: every version of every key in a map.
type model map[string][]Entry // per key, ascending versions

func (m model) get(key string, v uint64) (Entry, bool) {
	vs := m[key]
	for i := len(vs) - 1; i >= 0; i-- {
		if vs[i].Version <= v {
			return vs[i], true
		}
	}
	return Entry{}, false
}

func (m model) scan(start, end string, v uint64) []string {
	var keys []string
	for k := range m {
		if k >= start && (end == "" || k < end) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var out []string
	for _, k := range keys {
		if e, ok := m.get(k, v); ok {
			out = append(out, render(e))
		}
	}
	return out
}

func render(e Entry) string {
	if e.Tombstone {
		return fmt.Sprintf("%s@%d<del>", e.Key, e.Version)
	}
	return fmt.Sprintf("%s@%d=%s", e.Key, e.Version, e.Value)
}

// TestRandomAgainstModel checks Get and the chunked Iterator against the model
// over a seeded random history with more keys than one iterator chunk.
func TestRandomAgainstModel(t *testing.T) {
	const seed = 42
	rng := rand.New(rand.NewPCG(seed, seed))
	tb := newTable(t, Config{})
	m := model{}
	var v uint64
	for i := 0; i < 3000; i++ {
		v += uint64(rng.IntN(3)) // equal versions across keys are allowed
		key := fmt.Sprintf("k%04d", rng.IntN(400))
		vs := m[key]
		if len(vs) > 0 && vs[len(vs)-1].Version >= v {
			v = vs[len(vs)-1].Version + 1
		}
		if v == 0 {
			v = 1
		}
		e := Entry{Key: []byte(key), Version: v}
		if rng.IntN(4) == 0 {
			e.Tombstone = true
			mustDelete(t, tb, key, v)
		} else {
			e.Value = []byte(fmt.Sprintf("v%d", i))
			mustPut(t, tb, key, string(e.Value), v)
		}
		m[key] = append(vs, e)
	}
	for i := 0; i < 2000; i++ {
		key := fmt.Sprintf("k%04d", rng.IntN(420))
		rv := uint64(rng.IntN(int(v) + 2))
		want, wok := m.get(key, rv)
		got, gok := tb.Get([]byte(key), rv)
		if wok != gok || (wok && render(want) != render(got)) {
			t.Fatalf("seed %d: Get(%s, %d) = %v %v, want %v %v", seed, key, rv, render(got), gok, render(want), wok)
		}
	}
	for i := 0; i < 50; i++ {
		a, b := fmt.Sprintf("k%04d", rng.IntN(400)), fmt.Sprintf("k%04d", rng.IntN(400))
		if a > b {
			a, b = b, a
		}
		if i%5 == 0 {
			a, b = "", "" // full range
		}
		rv := uint64(rng.IntN(int(v) + 2))
		var got []string
		var endKey []byte
		if b != "" {
			endKey = []byte(b)
		}
		for it := tb.NewIterator([]byte(a), endKey, rv); it.Valid(); it.Next() {
			got = append(got, render(it.Entry()))
		}
		want := m.scan(a, b, rv)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("seed %d: iterate [%q, %q) at %d:\n got %v\nwant %v", seed, a, b, rv, got, want)
		}
	}
}

func TestScanSkipsTombstonesAndStops(t *testing.T) {
	tb := newTable(t, Config{})
	mustPut(t, tb, "a", "1", 1)
	mustPut(t, tb, "b", "2", 2)
	mustDelete(t, tb, "b", 3)
	mustPut(t, tb, "c", "3", 4)
	mustPut(t, tb, "d", "4", 5)
	var got []string
	tb.Scan(nil, nil, 10, func(k, v []byte) bool {
		got = append(got, string(k)+"="+string(v))
		return len(got) < 2
	})
	if fmt.Sprint(got) != "[a=1 c=3]" {
		t.Fatalf("Scan = %v, want [a=1 c=3]", got)
	}
	got = nil
	tb.Scan([]byte("b"), []byte("d"), 2, func(k, v []byte) bool {
		got = append(got, string(k)+"="+string(v))
		return true
	})
	if fmt.Sprint(got) != "[b=2]" {
		t.Fatalf("Scan [b,d) at 2 = %v, want [b=2]", got)
	}
}

// TestConcurrentReadersOneWriter runs readers against the apply loop; under
// -race it checks the locking, and each reader checks that a read at a fixed
// version never changes while the writer adds newer versions.
func TestConcurrentReadersOneWriter(t *testing.T) {
	tb := newTable(t, Config{})
	const keys = 200
	for i := 0; i < keys; i++ {
		mustPut(t, tb, fmt.Sprintf("k%03d", i), "base", 1)
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for r := 0; r < 4; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ; n++ {
				select {
				case <-done:
					return
				default:
				}
				key := fmt.Sprintf("k%03d", n%keys)
				if got := read(tb, key, 1); got != "base" {
					errs <- fmt.Errorf("Get(%s, 1) = %q during writes, want base", key, got)
					return
				}
				if n%50 == 0 {
					count := 0
					for it := tb.NewIterator(nil, nil, 1); it.Valid(); it.Next() {
						count++
					}
					if count != keys {
						errs <- fmt.Errorf("iterate at 1 saw %d keys during writes, want %d", count, keys)
						return
					}
				}
			}
		}()
	}
	for v := uint64(2); v < 3000; v++ {
		key := fmt.Sprintf("k%03d", v%keys)
		if v%7 == 0 {
			mustDelete(t, tb, key, v)
		} else {
			mustPut(t, tb, key, fmt.Sprint(v), v)
		}
	}
	tb.Freeze()
	close(done)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestFreezeDuringWrites freezes the table while the writer adds versions of
// known keys and new keys: every write either lands before the freeze, and
// ForEach sees it, or fails with ErrFrozen.
func TestFreezeDuringWrites(t *testing.T) {
	tb := newTable(t, Config{})
	type result struct {
		applied int
		err     error
	}
	done := make(chan result, 1)
	go func() {
		for v := uint64(1); ; v++ {
			key := fmt.Sprintf("k%03d", v%300) // new keys first, then new versions
			if err := tb.Put([]byte(key), []byte("x"), v); err != nil {
				done <- result{int(v - 1), err}
				return
			}
		}
	}()
	for tb.Len() < 1000 {
		runtime.Gosched()
	}
	tb.Freeze()
	res := <-done
	if !errors.Is(res.err, ErrFrozen) {
		t.Fatalf("writer stopped with %v, want ErrFrozen", res.err)
	}
	seen := 0
	if err := tb.ForEach(func(Entry) error { seen++; return nil }); err != nil {
		t.Fatal(err)
	}
	if seen != res.applied || tb.Len() != res.applied {
		t.Fatalf("%d writes succeeded before the freeze; ForEach saw %d, Len = %d", res.applied, seen, tb.Len())
	}
}

// TestAllocs: a write of a key the table holds allocates only its value
// buffer (nodes come from slabs), and a point read allocates nothing.
func TestAllocs(t *testing.T) {
	tb := newTable(t, Config{})
	key, val := []byte("key"), []byte("value")
	v := uint64(1)
	mustPut(t, tb, "key", "value", v)
	if n := testing.AllocsPerRun(1000, func() {
		v++
		if err := tb.Put(key, val, v); err != nil {
			t.Fatal(err)
		}
	}); n > 1 {
		t.Errorf("Put of a known key: %v allocations, want at most 1", n)
	}
	if n := testing.AllocsPerRun(1000, func() {
		if _, ok := tb.Get(key, v/2); !ok {
			t.Fatal("key not found")
		}
	}); n != 0 {
		t.Errorf("Get: %v allocations, want 0", n)
	}
}

// TestBytesTracksHeap checks that Bytes is a fair estimate of the heap the
// table holds, within a factor of two either way, both when every entry is a
// new key (KeyOverheadBytes dominates) and when keys hold many versions
// (EntryOverheadBytes dominates).
func TestBytesTracksHeap(t *testing.T) {
	for _, tc := range []struct {
		name           string
		keys, versions int
	}{
		{"distinct keys", 20000, 1},
		{"many versions per key", 500, 40},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			tb := newTable(t, Config{})
			val := bytes.Repeat([]byte("x"), 50)
			v := uint64(0)
			for r := 0; r < tc.versions; r++ {
				for i := 0; i < tc.keys; i++ {
					v++
					if err := tb.Put([]byte(fmt.Sprintf("key-%08d", i)), val, v); err != nil {
						t.Fatal(err)
					}
				}
			}
			runtime.GC()
			runtime.ReadMemStats(&after)
			heap := int64(after.HeapAlloc) - int64(before.HeapAlloc)
			runtime.KeepAlive(tb)
			if est := tb.Bytes(); est < heap/2 || est > heap*2 {
				t.Fatalf("Bytes = %d, heap grew by %d: not within a factor of 2", est, heap)
			}
			t.Logf("Bytes = %d, heap growth = %d", tb.Bytes(), heap)
		})
	}
}

// TestEmptyValueIsNotTombstone: an empty value is a value, in every read.
func TestEmptyValueIsNotTombstone(t *testing.T) {
	tb := newTable(t, Config{})
	mustPut(t, tb, "k", "", 1)
	mustPut(t, tb, "k", "v2", 2)
	if e, ok := tb.Get([]byte("k"), 1); !ok || e.Tombstone || e.Value == nil || len(e.Value) != 0 {
		t.Fatalf("Get(k, 1) after an empty put = %+v %v, want an empty, non-nil value", e, ok)
	}
	it := tb.NewIterator(nil, nil, 1)
	if !it.Valid() || it.Entry().Tombstone {
		t.Fatalf("iterate at 1 after an empty put: valid %v, entry %+v", it.Valid(), it.Entry())
	}
}

// TestBytesCharges pins what one write charges: the value and
// EntryOverheadBytes always, the key and KeyOverheadBytes only for the first
// write of the key.
func TestBytesCharges(t *testing.T) {
	tb := newTable(t, Config{})
	mustPut(t, tb, "key", "value", 1)
	if got, want := tb.Bytes(), int64(3+5+EntryOverheadBytes+KeyOverheadBytes); got != want {
		t.Fatalf("Bytes after the first write = %d, want %d", got, want)
	}
	before := tb.Bytes()
	mustPut(t, tb, "key", "v2", 2)
	mustDelete(t, tb, "key", 3)
	if got, want := tb.Bytes()-before, int64(2+EntryOverheadBytes+EntryOverheadBytes); got != want {
		t.Fatalf("two more versions of the key charged %d bytes, want %d", got, want)
	}
}

// TestLongChainReads reads one key with thousands of versions, tombstones
// among them, at every version from below the first to above the last, and
// checks that a read follows O(log n) links of the chain, not n.
func TestLongChainReads(t *testing.T) {
	const n = 5000
	tb := newTable(t, Config{})
	m := model{}
	for i := 1; i <= n; i++ {
		v := uint64(2 * i) // odd versions fall between two versions of the key
		e := Entry{Key: []byte("k"), Version: v}
		if i%11 == 0 {
			e.Tombstone = true
			mustDelete(t, tb, "k", v)
		} else {
			e.Value = []byte(fmt.Sprint("v", v))
			mustPut(t, tb, "k", string(e.Value), v)
		}
		m["k"] = append(m["k"], e)
	}
	maxSteps := 3 * bits.Len(n)
	head := tb.latest["k"].newest.Load()
	for v := uint64(0); v <= 2*n+1; v++ {
		want, wok := m.get("k", v)
		got, gok := tb.Get([]byte("k"), v)
		if wok != gok || (wok && render(want) != render(got)) {
			t.Fatalf("Get(k, %d) = %v %v, want %v %v", v, render(got), gok, render(want), wok)
		}
		if _, steps := head.seek(v); steps > maxSteps {
			t.Fatalf("read at %d followed %d links of a %d-version chain, want at most %d", v, steps, n, maxSteps)
		}
	}
}

// TestIteratorSkipsChunksOfInvisibleKeys: more than one chunk of keys in a
// row with no version visible at the read version must not end the scan.
func TestIteratorSkipsChunksOfInvisibleKeys(t *testing.T) {
	tb := newTable(t, Config{})
	mustPut(t, tb, "a", "a1", 1)
	mustPut(t, tb, "z", "z1", 1)
	for i := 0; i < 3*iteratorChunk+5; i++ {
		mustPut(t, tb, fmt.Sprintf("m%04d", i), "new", uint64(10+i))
	}
	var got []string
	for it := tb.NewIterator(nil, nil, 5); it.Valid(); it.Next() {
		got = append(got, render(it.Entry()))
	}
	if want := "[a@1=a1 z@1=z1]"; fmt.Sprint(got) != want {
		t.Fatalf("iterate at 5 = %v, want %s", got, want)
	}
	got = nil
	for it := tb.NewIterator([]byte("m0001"), nil, 5); it.Valid(); it.Next() {
		got = append(got, render(it.Entry()))
	}
	if want := "[z@1=z1]"; fmt.Sprint(got) != want {
		t.Fatalf("iterate from m0001 at 5 = %v, want %s", got, want)
	}
}

// TestConcurrentOldVersionReads runs readers at versions between the writer's
// versions of each key while the writer keeps adding versions: under -race it
// checks that chains are published safely, and each read is checked against
// the one value the history allows at its version.
func TestConcurrentOldVersionReads(t *testing.T) {
	const keys = 50
	const last = 20000
	tb := newTable(t, Config{})
	// Version v writes key v%keys: value "v<v>", or a tombstone when v%7 == 0.
	want := func(key int, r uint64) string {
		if r < keys || uint64(key) > r {
			return "<absent>"
		}
		v := r - (r-uint64(key))%keys
		if v < keys {
			return "<absent>"
		}
		if v%7 == 0 {
			return "<tombstone>"
		}
		return fmt.Sprint("v", v)
	}
	write := func(v uint64) {
		key := fmt.Sprintf("k%02d", v%keys)
		if v%7 == 0 {
			mustDelete(t, tb, key, v)
		} else {
			mustPut(t, tb, key, fmt.Sprint("v", v), v)
		}
	}
	for v := uint64(keys); v < 2*keys; v++ {
		write(v)
	}
	var applied atomic.Uint64 // the newest version written
	applied.Store(2*keys - 1)

	done := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for r := 0; r < 4; r++ {
		wg.Add(1)
		go func(seed uint64) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, seed))
			for n := 0; ; n++ {
				select {
				case <-done:
					return
				default:
				}
				rv := rng.Uint64N(applied.Load() + 1)
				key := rng.IntN(keys)
				if got, w := read(tb, fmt.Sprintf("k%02d", key), rv), want(key, rv); got != w {
					errs <- fmt.Errorf("Get(k%02d, %d) = %s during writes, want %s", key, rv, got, w)
					return
				}
				if n%20 != 0 {
					continue
				}
				i := 0
				for it := tb.NewIterator(nil, nil, rv); it.Valid(); it.Next() {
					for ; i < keys && want(i, rv) == "<absent>"; i++ {
					}
					e := it.Entry()
					got := string(e.Value)
					if e.Tombstone {
						got = "<tombstone>"
					}
					if w := want(i, rv); i == keys || string(e.Key) != fmt.Sprintf("k%02d", i) || got != w {
						errs <- fmt.Errorf("iterate at %d: entry %s, want key k%02d = %s", rv, render(e), i, w)
						return
					}
					i++
				}
				for ; i < keys; i++ {
					if w := want(i, rv); w != "<absent>" {
						errs <- fmt.Errorf("iterate at %d: missed key k%02d = %s", rv, i, w)
						return
					}
				}
			}
		}(uint64(r))
	}
	for v := uint64(2 * keys); v <= last; v++ {
		write(v)
		applied.Store(v)
	}
	close(done)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func ExampleTable() {
	tb, _ := New(Config{LimitBytes: 1 << 20})
	_ = tb.Put([]byte("k"), []byte("v1"), 10)
	_ = tb.Put([]byte("k"), []byte("v2"), 20)
	_ = tb.Delete([]byte("k"), 30)
	for _, v := range []uint64{5, 15, 25, 35} {
		e, ok := tb.Get([]byte("k"), v)
		fmt.Printf("at %d: found=%v tombstone=%v value=%q\n", v, ok, e.Tombstone, e.Value)
	}
	tb.Freeze()
	fmt.Println(tb.Put([]byte("k"), []byte("v3"), 40))
	// Output:
	// at 5: found=false tombstone=false value=""
	// at 15: found=true tombstone=false value="v1"
	// at 25: found=true tombstone=false value="v2"
	// at 35: found=true tombstone=true value=""
	// memstore put key "k" at version 40: memstore: table is frozen
}
