package sstable

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	badger "github.com/dgraph-io/badger/v4"

	"obkv/memstore"
)

// testOptions: the smallest sizes Validate accepts; badger is silent.
func testOptions(dir string) Options {
	o := DefaultOptions(dir)
	o.MemTableSizeBytes = 32 << 20
	o.NumMemtables = 2
	o.BlockCacheSizeBytes = 4 << 20
	o.IndexCacheSizeBytes = 4 << 20
	o.ValueLogFileSizeBytes = 1 << 20
	o.NumCompactors = 2
	return o
}

func openStore(t testing.TB, dir string) *Store {
	t.Helper()
	s, err := Open(context.Background(), testOptions(dir))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func newStore(t testing.TB) *Store {
	t.Helper()
	s := openStore(t, t.TempDir())
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// op is one write: a put, or a delete when del.
type op struct {
	key, value string
	version    uint64
	del        bool
}

func table(t testing.TB, floor uint64, ops ...op) *memstore.Table {
	t.Helper()
	tb, err := memstore.New(memstore.Config{LimitBytes: 1 << 30, FloorVersion: floor})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range ops {
		if o.del {
			err = tb.Delete([]byte(o.key), o.version)
		} else {
			err = tb.Put([]byte(o.key), []byte(o.value), o.version)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return tb
}

func frozen(t testing.TB, floor uint64, ops ...op) *memstore.Table {
	tb := table(t, floor, ops...)
	tb.Freeze()
	return tb
}

func dump(t testing.TB, s *Store, p uint64, tb *memstore.Table, index, version uint64) {
	t.Helper()
	if err := s.Dump(context.Background(), p, tb, Checkpoint{Index: index, Version: version}); err != nil {
		t.Fatal(err)
	}
}

// versionModel is every version of every key, oldest first: what reads must return.
type versionModel map[string][]modelVersion

type modelVersion struct {
	v   uint64
	val string
	del bool
}

// get renders the model's value of key at version at as readView does.
func (m versionModel) get(key string, at uint64) string {
	vs := m[key]
	for i := len(vs) - 1; i >= 0; i-- {
		if vs[i].v <= at {
			if vs[i].del {
				return "<absent>"
			}
			return vs[i].val
		}
	}
	return "<absent>"
}

// readView renders a View.Get as the value or "<absent>".
func readView(t testing.TB, v *View, key string, version uint64) string {
	t.Helper()
	val, ok, err := v.Get([]byte(key), version)
	if err != nil {
		t.Fatalf("Get(%s, %d): %v", key, version, err)
	}
	if !ok {
		return "<absent>"
	}
	return string(val)
}

func scanView(t testing.TB, v *View, start, end string, version uint64) []string {
	t.Helper()
	var s, e []byte
	if start != "" {
		s = []byte(start)
	}
	if end != "" {
		e = []byte(end)
	}
	var out []string
	if err := v.Scan(context.Background(), s, e, version, func(k, val []byte) bool {
		out = append(out, string(k)+"="+string(val))
		return true
	}); err != nil {
		t.Fatalf("Scan at %d: %v", version, err)
	}
	return out
}

func checkpointOf(t testing.TB, s *Store, p uint64) string {
	t.Helper()
	i, v, ok, err := s.Checkpoint(p)
	if err != nil {
		t.Fatal(err)
	}
	if !ok {
		return "none"
	}
	return fmt.Sprintf("index %d version %d", i, v)
}

func TestDumpAndReadAtVersion(t *testing.T) {
	s := newStore(t)
	dump(t, s, 1, frozen(t, 0,
		op{key: "a", value: "a5", version: 5},
		op{key: "b", value: "b6", version: 6},
		op{key: "a", value: "a10", version: 10},
		op{key: "b", version: 11, del: true},
	), 100, 11)
	// Another partition with the same user keys must not leak into partition 1.
	dump(t, s, 2, frozen(t, 0, op{key: "a", value: "p2", version: 3}, op{key: "c", value: "p2c", version: 3}), 7, 3)

	v := s.View(1) // no memstore: the sstable alone
	for _, tc := range []struct {
		key     string
		version uint64
		want    string
	}{
		{"a", 4, "<absent>"}, {"a", 5, "a5"}, {"a", 9, "a5"}, {"a", 10, "a10"}, {"a", math.MaxUint64, "a10"},
		{"b", 6, "b6"}, {"b", 10, "b6"}, {"b", 11, "<absent>"}, {"b", 50, "<absent>"},
		{"c", 50, "<absent>"},
	} {
		if got := readView(t, v, tc.key, tc.version); got != tc.want {
			t.Errorf("partition 1 Get(%s, %d) = %s, want %s", tc.key, tc.version, got, tc.want)
		}
	}
	if got := fmt.Sprint(scanView(t, v, "", "", 10)); got != "[a=a10 b=b6]" {
		t.Errorf("partition 1 scan at 10 = %s, want [a=a10 b=b6]", got)
	}
	if got := fmt.Sprint(scanView(t, s.View(2), "", "", 10)); got != "[a=p2 c=p2c]" {
		t.Errorf("partition 2 scan = %s, want [a=p2 c=p2c]", got)
	}
	if got := checkpointOf(t, s, 1); got != "index 100 version 11" {
		t.Errorf("checkpoint of 1 = %s", got)
	}
	if got := checkpointOf(t, s, 3); got != "none" {
		t.Errorf("checkpoint of 3 = %s, want none", got)
	}
	val, ok, err := s.Get(1, []byte("a"), 7)
	if err != nil || !ok || string(val) != "a5" {
		t.Errorf("Store.Get(1, a, 7) = %q %v %v, want a5", val, ok, err)
	}
}

// TestViewShadowing: memstore entries shadow sstable ones, tombstones hide
// older versions across memstore and sstable, and frozen tables sit between.
func TestViewShadowing(t *testing.T) {
	s := newStore(t)
	dump(t, s, 1, frozen(t, 0,
		op{key: "k", value: "disk5", version: 5},
		op{key: "only-disk", value: "d", version: 5},
		op{key: "gone", value: "g", version: 5},
	), 10, 5)
	dump(t, s, 1, frozen(t, 5, op{key: "gone", version: 6, del: true}, op{key: "x", value: "x6", version: 6}), 20, 6)
	frz := frozen(t, 6, op{key: "k", value: "frozen8", version: 8}, op{key: "x", version: 8, del: true})
	act := table(t, 8, op{key: "k", version: 10, del: true}, op{key: "k", value: "active12", version: 12},
		op{key: "x", value: "x13", version: 13})
	v := s.View(1, act, frz)

	for _, tc := range []struct {
		key     string
		version uint64
		want    string
	}{
		{"k", 4, "<absent>"},
		{"k", 5, "disk5"},
		{"k", 7, "disk5"},
		{"k", 8, "frozen8"},   // frozen shadows disk
		{"k", 10, "<absent>"}, // memstore tombstone hides frozen and disk
		{"k", 11, "<absent>"},
		{"k", 12, "active12"},
		{"only-disk", 100, "d"},
		{"gone", 5, "g"},
		{"gone", 6, "<absent>"}, // sstable tombstone hides the older sstable version
		{"x", 7, "x6"},
		{"x", 8, "<absent>"}, // frozen tombstone hides disk
		{"x", 13, "x13"},
	} {
		if got := readView(t, v, tc.key, tc.version); got != tc.want {
			t.Errorf("Get(%s, %d) = %s, want %s", tc.key, tc.version, got, tc.want)
		}
	}
	for _, tc := range []struct {
		version uint64
		want    string
	}{
		{5, "[gone=g k=disk5 only-disk=d]"},
		{7, "[k=disk5 only-disk=d x=x6]"},
		{8, "[k=frozen8 only-disk=d]"},
		{11, "[only-disk=d]"},
		{13, "[k=active12 only-disk=d x=x13]"},
	} {
		if got := fmt.Sprint(scanView(t, v, "", "", tc.version)); got != tc.want {
			t.Errorf("scan at %d = %s, want %s", tc.version, got, tc.want)
		}
	}
	if got := fmt.Sprint(scanView(t, v, "k", "x", 13)); got != "[k=active12 only-disk=d]" {
		t.Errorf("scan [k, x) at 13 = %s", got)
	}
	// A scan stops when fn says so.
	n := 0
	_ = v.Scan(context.Background(), nil, nil, 13, func(k, val []byte) bool { n++; return false })
	if n != 1 {
		t.Errorf("scan with fn returning false called fn %d times, want 1", n)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := v.Scan(ctx, nil, nil, 13, func(k, val []byte) bool { return true }); !errors.Is(err, context.Canceled) {
		t.Errorf("scan with a cancelled context: %v, want context.Canceled", err)
	}
}

// TestMergedAgainstModel dumps several tables of a seeded random history,
// keeps two more in memory, and checks every read and scan against a model.
func TestMergedAgainstModel(t *testing.T) {
	const seed = 7
	rng := rand.New(rand.NewPCG(seed, seed))
	s := newStore(t)
	model := versionModel{}
	var tables []*memstore.Table // oldest first
	var v, index uint64
	for tn := 0; tn < 5; tn++ {
		tb := table(t, v)
		for i := 0; i < 300; i++ {
			v++
			key := fmt.Sprintf("k%03d", rng.IntN(150))
			if rng.IntN(4) == 0 {
				if err := tb.Delete([]byte(key), v); err != nil {
					t.Fatal(err)
				}
				model[key] = append(model[key], modelVersion{v: v, del: true})
			} else {
				val := fmt.Sprintf("t%d-%d", tn, i)
				if err := tb.Put([]byte(key), []byte(val), v); err != nil {
					t.Fatal(err)
				}
				model[key] = append(model[key], modelVersion{v: v, val: val})
			}
		}
		tables = append(tables, tb)
	}
	for _, tb := range tables[:3] {
		tb.Freeze()
		index += 50
		_, hi, _ := tb.VersionRange()
		dump(t, s, 9, tb, index, hi)
	}
	tables[3].Freeze()
	view := s.View(9, tables[4], tables[3])

	for i := 0; i < 500; i++ {
		key, at := fmt.Sprintf("k%03d", rng.IntN(160)), uint64(rng.IntN(int(v)+2))
		if got, want := readView(t, view, key, at), model.get(key, at); got != want {
			t.Fatalf("seed %d: Get(%s, %d) = %s, want %s", seed, key, at, got, want)
		}
	}
	keys := make([]string, 0, len(model))
	for k := range model {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for i := 0; i < 30; i++ {
		at := uint64(rng.IntN(int(v) + 2))
		var want []string
		for _, k := range keys {
			if val := model.get(k, at); val != "<absent>" {
				want = append(want, k+"="+val)
			}
		}
		if got := scanView(t, view, "", "", at); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("seed %d: scan at %d:\n got %v\nwant %v", seed, at, got, want)
		}
	}
}

func TestDumpRefusesBadInput(t *testing.T) {
	s := newStore(t)
	dump(t, s, 1, frozen(t, 0, op{key: "a", value: "1", version: 5}), 10, 5)
	for _, tc := range []struct {
		name string
		p    uint64
		tb   *memstore.Table
		cp   Checkpoint
		want error
	}{
		{"not frozen", 1, table(t, 5, op{key: "b", value: "2", version: 6}), Checkpoint{11, 6}, memstore.ErrNotFrozen},
		{"version above checkpoint", 1, frozen(t, 5, op{key: "b", value: "2", version: 9}), Checkpoint{11, 8}, ErrInvalidArgument},
		{"index goes back", 1, frozen(t, 5), Checkpoint{9, 6}, ErrCheckpointRegress},
		{"version goes back", 1, frozen(t, 5), Checkpoint{11, 4}, ErrCheckpointRegress},
		{"reserved partition", math.MaxUint64, frozen(t, 5), Checkpoint{11, 6}, ErrInvalidArgument},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := s.Dump(context.Background(), tc.p, tc.tb, tc.cp); !errors.Is(err, tc.want) {
				t.Fatalf("Dump: %v, want %v", err, tc.want)
			}
		})
	}
	if got := checkpointOf(t, s, 1); got != "index 10 version 5" {
		t.Fatalf("checkpoint after refused dumps = %s, want index 10 version 5", got)
	}
	if got := readView(t, s.View(1), "b", 100); got != "<absent>" {
		t.Fatalf("a refused dump wrote b = %s", got)
	}
	// Re-dumping the same checkpoint (a replay after a crash) is allowed.
	dump(t, s, 1, frozen(t, 0, op{key: "a", value: "1", version: 5}), 10, 5)
}

func TestRestartKeepsDataAndCheckpoints(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	dump(t, s, 1, frozen(t, 0, op{key: "a", value: "1", version: 5}), 10, 5)
	dump(t, s, 1, frozen(t, 5, op{key: "a", value: "2", version: 7}), 12, 8)
	dump(t, s, 4, frozen(t, 0, op{key: "z", value: "9", version: 3}), 2, 3)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, dir)
	defer s.Close()
	cps, err := s.Checkpoints()
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(cps); got != "map[1:{12 8} 4:{2 3}]" {
		t.Fatalf("Checkpoints after restart = %s", got)
	}
	if got := readView(t, s.View(1), "a", 6); got != "1" {
		t.Fatalf("Get(a, 6) after restart = %s, want 1", got)
	}
	if got := readView(t, s.View(1), "a", 8); got != "2" {
		t.Fatalf("Get(a, 8) after restart = %s, want 2", got)
	}
}

// TestCrashBetweenDataAndCheckpoint: a crash after the data is durable and
// before the checkpoint leaves the old checkpoint and the new data; replaying
// the same dump is idempotent.
func TestCrashBetweenDataAndCheckpoint(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	dump(t, s, 1, frozen(t, 0, op{key: "a", value: "1", version: 5}), 10, 5)
	crash := errors.New("crash")
	s.hookAfterDataSync = func() error { return crash }
	second := frozen(t, 5, op{key: "a", value: "2", version: 7}, op{key: "b", value: "3", version: 8})
	if err := s.Dump(context.Background(), 1, second, Checkpoint{Index: 12, Version: 8}); !errors.Is(err, crash) {
		t.Fatalf("Dump with a crash after the data sync: %v, want the crash", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, dir)
	defer s.Close()
	if got := checkpointOf(t, s, 1); got != "index 10 version 5" {
		t.Fatalf("checkpoint after the crash = %s, want the old one", got)
	}
	if got := readView(t, s.View(1), "b", 8); got != "3" {
		t.Fatalf("data synced before the crash: Get(b) = %s, want 3", got)
	}
	// The caller replays its log from index 10 and dumps the same entries again.
	dump(t, s, 1, frozen(t, 5, op{key: "a", value: "2", version: 7}, op{key: "b", value: "3", version: 8}), 12, 8)
	if got := checkpointOf(t, s, 1); got != "index 12 version 8" {
		t.Fatalf("checkpoint after the replay = %s", got)
	}
	if got := readView(t, s.View(1), "a", 6); got != "1" {
		t.Fatalf("Get(a, 6) after the replay = %s, want 1", got)
	}
}

// TestDumpsRunOneAtATime: while one partition's dump writes, another's waits for it (and gives
// up when its context ends, having written nothing), then runs once the first is done.
func TestDumpsRunOneAtATime(t *testing.T) {
	s := newStore(t)
	// The first dump to get here waits for release; any other goes on (a dump that got in
	// beside the first would succeed, and the test fail).
	inside, release := make(chan struct{}, 2), make(chan struct{})
	var held atomic.Bool
	s.hookAfterDataSync = func() error {
		inside <- struct{}{}
		if held.CompareAndSwap(false, true) {
			<-release
		}
		return nil
	}
	first := make(chan error, 1)
	go func() {
		first <- s.Dump(context.Background(), 1, frozen(t, 0, op{key: "a", value: "1", version: 5}), Checkpoint{Index: 10, Version: 5})
	}()
	<-inside // partition 1's dump holds the store's dump slot until release
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := s.Dump(ctx, 2, frozen(t, 0, op{key: "b", value: "2", version: 6}), Checkpoint{Index: 3, Version: 6})
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "waiting for another dump") {
		t.Fatalf("a second dump while the first writes: %v, want it to wait until its deadline", err)
	}
	if _, _, ok, err := s.Checkpoint(2); err != nil || ok {
		t.Fatalf("partition 2 after its dump gave up: checkpoint ok=%v err=%v, want none", ok, err)
	}
	if got := readView(t, s.View(2), "b", 6); got != "<absent>" {
		t.Fatalf("partition 2 after its dump gave up: Get(b) = %q, want nothing written", got)
	}
	second := make(chan error, 1)
	go func() {
		second <- s.Dump(context.Background(), 2, frozen(t, 0, op{key: "b", value: "2", version: 6}), Checkpoint{Index: 3, Version: 6})
	}()
	close(release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	<-inside // the second dump runs now that the first is done
	if err := <-second; err != nil {
		t.Fatal(err)
	}
	if got := checkpointOf(t, s, 2); got != "index 3 version 6" {
		t.Fatalf("partition 2's checkpoint = %s", got)
	}
}

// TestReopenWithoutClose opens a copy of the directory taken while the store
// is open, after a Dump returned: what a process crash leaves (badger's WAL
// replay, no flush at Close). The checkpoint must come with its data.
func TestReopenWithoutClose(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	defer s.Close()
	dump(t, s, 3, frozen(t, 0, op{key: "a", value: "1", version: 5}, op{key: "b", version: 6, del: true}), 10, 6)
	dump(t, s, 3, frozen(t, 6, op{key: "c", value: "2", version: 9}), 11, 9)

	copyDir := t.TempDir()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() == "LOCK" {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(copyDir, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c := openStore(t, copyDir)
	defer c.Close()
	if got := checkpointOf(t, c, 3); got != "index 11 version 9" {
		t.Fatalf("checkpoint in the crash copy = %s", got)
	}
	if got := fmt.Sprint(scanView(t, c.View(3), "", "", 9)); got != "[a=1 c=2]" {
		t.Fatalf("scan of the crash copy = %s, want [a=1 c=2]", got)
	}
}

func TestSafePoint(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	for i := uint64(1); i <= 5; i++ {
		dump(t, s, 1, frozen(t, (i-1)*10,
			op{key: "k", value: fmt.Sprintf("v%d", i*10), version: i * 10},
			op{key: fmt.Sprintf("del%d", i), value: "x", version: i*10 + 1},
			op{key: fmt.Sprintf("del%d", i), version: i*10 + 2, del: true},
		), i, i*10+2)
	}
	// A filler partition whose drop will force a compaction of L0.
	dump(t, s, 99, frozen(t, 0, op{key: "filler", value: "f", version: 1}), 1, 1)
	ctx := context.Background()
	if err := s.SetSafePoint(ctx, 35); err != nil {
		t.Fatal(err)
	}
	if err := s.SetSafePoint(ctx, 34); !errors.Is(err, ErrSafePointRegress) {
		t.Fatalf("SetSafePoint(34) after 35: %v, want ErrSafePointRegress", err)
	}
	if _, _, err := s.View(1).Get([]byte("k"), 34); !errors.Is(err, ErrVersionTooOld) {
		t.Fatalf("Get below the safe point: %v, want ErrVersionTooOld", err)
	}
	if err := s.View(1).Scan(ctx, nil, nil, 20, func(k, v []byte) bool { return true }); !errors.Is(err, ErrVersionTooOld) {
		t.Fatalf("Scan below the safe point: %v, want ErrVersionTooOld", err)
	}
	if got := readView(t, s.View(1), "k", 35); got != "v30" {
		t.Fatalf("Get(k, 35) at the safe point = %s, want v30", got)
	}

	// Force badger to compact (Close flushes the memtables to L0; DropPrefix
	// compacts L0 into the base level, applying the discard ts; Flatten does
	// nothing while only L0 holds tables) and check the versions below the
	// safe point are gone.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, dir)
	defer s.Close()
	if got := s.SafePoint(); got != 35 {
		t.Fatalf("safe point after restart = %d, want 35", got)
	}
	if before := allVersions(t, s, 1); fmt.Sprint(before["k"]) != "[50 40 30 20 10]" {
		t.Fatalf("versions of k before compaction = %v, want all five", before["k"])
	}
	if err := s.DropPartition(ctx, 99); err != nil {
		t.Fatal(err)
	}
	versions := allVersions(t, s, 1)
	if got, want := fmt.Sprint(versions["k"]), "[50 40 30]"; got != want {
		t.Errorf("versions of k after GC at 35 = %s, want %s (10 and 20 discarded)", got, want)
	}
	for i := 1; i <= 3; i++ {
		if vs, ok := versions[fmt.Sprintf("del%d", i)]; ok {
			t.Errorf("del%d deleted below the safe point still has versions %v", i, vs)
		}
	}
	if got := fmt.Sprint(scanView(t, s.View(1), "", "", 100)); got != "[k=v50]" {
		t.Errorf("scan at 100 after GC = %s, want [k=v50]", got)
	}
	if got := readView(t, s.View(1), "k", 39); got != "v30" {
		t.Errorf("Get(k, 39) after GC = %s, want v30", got)
	}
}

// allVersions lists every version badger holds per user key of a partition,
// tombstones included, newest first.
func allVersions(t testing.TB, s *Store, p uint64) map[string][]uint64 {
	t.Helper()
	txn := s.db.NewTransactionAt(math.MaxUint64, false)
	defer txn.Discard()
	opts := badger.DefaultIteratorOptions
	opts.AllVersions = true
	opts.Prefix = partitionPrefix(p)
	it := txn.NewIterator(opts)
	defer it.Close()
	out := map[string][]uint64{}
	for it.Rewind(); it.Valid(); it.Next() {
		k := string(it.Item().Key()[8:])
		out[k] = append(out[k], it.Item().Version())
	}
	return out
}

func TestDropPartition(t *testing.T) {
	s := newStore(t)
	dump(t, s, 1, frozen(t, 0, op{key: "a", value: "1", version: 5}), 10, 5)
	dump(t, s, 2, frozen(t, 0, op{key: "a", value: "2", version: 5}), 10, 5)
	if err := s.DropPartition(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	if got := checkpointOf(t, s, 1); got != "none" {
		t.Fatalf("checkpoint of a dropped partition = %s", got)
	}
	if got := readView(t, s.View(1), "a", 10); got != "<absent>" {
		t.Fatalf("dropped partition still reads a = %s", got)
	}
	if got := readView(t, s.View(2), "a", 10); got != "2" {
		t.Fatalf("neighbour partition reads a = %s, want 2", got)
	}
	if got := checkpointOf(t, s, 2); got != "index 10 version 5" {
		t.Fatalf("neighbour checkpoint = %s", got)
	}
	// The partition can be used again from scratch.
	dump(t, s, 1, frozen(t, 0, op{key: "b", value: "3", version: 2}), 1, 2)
	if got := checkpointOf(t, s, 1); got != "index 1 version 2" {
		t.Fatalf("checkpoint of the re-created partition = %s", got)
	}
}

func TestOptionsValidate(t *testing.T) {
	if err := DefaultOptions("/x").Validate(); err != nil {
		t.Fatalf("DefaultOptions: %v", err)
	}
	for name, mutate := range map[string]func(*Options){
		"no dir":             func(o *Options) { o.Dir = "" },
		"small memtable":     func(o *Options) { o.MemTableSizeBytes = 1 << 20 },
		"no memtables":       func(o *Options) { o.NumMemtables = 0 },
		"stall below L0":     func(o *Options) { o.NumLevelZeroTablesStall = o.NumLevelZeroTables },
		"no block cache":     func(o *Options) { o.BlockCacheSizeBytes = 0 },
		"negative index":     func(o *Options) { o.IndexCacheSizeBytes = -1 },
		"vlog file too big":  func(o *Options) { o.ValueLogFileSizeBytes = 2 << 30 },
		"one compactor":      func(o *Options) { o.NumCompactors = 1 },
		"vlog file too tiny": func(o *Options) { o.ValueLogFileSizeBytes = 1 },
	} {
		o := DefaultOptions("/x")
		mutate(&o)
		if err := o.Validate(); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("%s: Validate = %v, want ErrInvalidArgument", name, err)
		}
	}
	if got := DefaultOptions("/x").MemoryBudgetBytes(); got != 3*64<<20+192<<20+64<<20+64<<20 {
		t.Errorf("MemoryBudgetBytes = %d", got)
	}
}

// A crash between badger creating a memtable file and writing it leaves an empty .mem file, on
// which badger's Open fails (badger issue #2207, seen here after a SIGKILL); the store opens
// anyway, with its data.
func TestOpenAfterCrashLeftEmptyMemtable(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	dump(t, s, 1, frozen(t, 0, op{key: "a", value: "1", version: 5}), 10, 5)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "00009.mem"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, dir)
	defer s.Close()
	if got := readView(t, s.View(1), "a", 6); got != "1" {
		t.Fatalf("Get(a, 6) after the reopen = %s, want 1", got)
	}
}

// TestReadDuringDropFails: a scan during which its partition's data is dropped (as an import
// or a replica's removal drops it) fails instead of returning what was left; neighbours and
// later reads are unaffected.
func TestReadDuringDropFails(t *testing.T) {
	s := newStore(t)
	dump(t, s, 1, frozen(t, 0, op{key: "a", value: "1", version: 5}, op{key: "b", value: "2", version: 5}), 10, 5)
	dump(t, s, 2, frozen(t, 0, op{key: "a", value: "3", version: 5}), 10, 5)
	dropped := false
	err := s.View(1).Scan(context.Background(), nil, nil, 10, func(k, v []byte) bool {
		if !dropped {
			dropped = true
			if err := s.DropPartition(context.Background(), 1); err != nil {
				t.Fatal(err)
			}
		}
		return true
	})
	if !errors.Is(err, ErrImporting) {
		t.Fatalf("scan across a drop: %v, want ErrImporting", err)
	}
	if err := s.View(2).Scan(context.Background(), nil, nil, 10, func(k, v []byte) bool { return true }); err != nil {
		t.Fatalf("neighbour scan: %v", err)
	}
	if got := readView(t, s.View(1), "a", 10); got != "<absent>" {
		t.Fatalf("read after the drop = %s, want <absent>", got)
	}
}

// TestOpenRefusesTablesWithoutManifest: badger given a directory of tables without their
// MANIFEST starts an empty one and deletes every table; Open refuses it instead, naming the
// directory, and the tables stay.
func TestOpenRefusesTablesWithoutManifest(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	dump(t, s, 3, frozen(t, 0, op{key: "a", value: "1", version: 5}), 10, 5)
	if err := s.Close(); err != nil { // badger writes its memtables to tables on close
		t.Fatal(err)
	}
	tables, _ := filepath.Glob(filepath.Join(dir, "*.sst"))
	if len(tables) == 0 {
		t.Fatal("no table file after close: the test needs one")
	}
	if err := os.Remove(filepath.Join(dir, "MANIFEST")); err != nil {
		t.Fatal(err)
	}
	opts := DefaultOptions(dir)
	opts.Logger = nil
	_, err := Open(context.Background(), opts)
	if !errors.Is(err, ErrCorruption) || !strings.Contains(err.Error(), "no MANIFEST") || !strings.Contains(err.Error(), dir) {
		t.Fatalf("open without MANIFEST: %v; want ErrCorruption naming the directory and the MANIFEST", err)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "*.sst")); len(left) != len(tables) {
		t.Fatalf("%d of %d table files left after the refused open", len(left), len(tables))
	}
}

// TestOpenRefusesATruncatedTable: a table cut anywhere is refused by name before badger opens
// it (badger panicked on one cut in half, in a goroutine of its own).
func TestOpenRefusesATruncatedTable(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	dump(t, s, 3, frozen(t, 0, op{key: "a", value: "1", version: 5}), 10, 5)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	tables, _ := filepath.Glob(filepath.Join(dir, "*.sst"))
	if len(tables) == 0 {
		t.Fatal("no table file after close: the test needs one")
	}
	whole, err := os.ReadFile(tables[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{0, 3, len(whole) / 2, len(whole) - 1} {
		if err := os.WriteFile(tables[0], whole[:n], 0o644); err != nil {
			t.Fatal(err)
		}
		opts := DefaultOptions(dir)
		opts.Logger = nil
		_, err := Open(context.Background(), opts)
		if !errors.Is(err, ErrCorruption) || !strings.Contains(err.Error(), tables[0]) {
			t.Fatalf("open with the table cut to %d of %d bytes: %v; want ErrCorruption naming it", n, len(whole), err)
		}
	}
	if err := os.WriteFile(tables[0], whole, 0o644); err != nil {
		t.Fatal(err)
	}
	c := openStore(t, dir)
	defer c.Close()
	if got := checkpointOf(t, c, 3); got != "index 10 version 5" {
		t.Fatalf("checkpoint after the table was restored = %s", got)
	}
}

// TestScrubFindsADamagedBlock: a flipped byte inside a table's data block is found by Scrub,
// naming the table, though a point read of its keys answers "not found" without an error
// (badger drops the block's checksum error on that path).
func TestScrubFindsADamagedBlock(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	var ops []op
	for i := range 2000 {
		ops = append(ops, op{key: fmt.Sprintf("k%05d", i), value: strings.Repeat("v", 100), version: 5})
	}
	dump(t, s, 3, frozen(t, 0, ops...), 10, 5)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	tables, _ := filepath.Glob(filepath.Join(dir, "*.sst"))
	if len(tables) == 0 {
		t.Fatal("no table file after close: the test needs one")
	}
	c := openStore(t, dir)
	if n, err := c.Scrub(context.Background()); err != nil || n == 0 {
		t.Fatalf("scrub of an intact store: %d tables, %v", n, err)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "*.sst")); len(left) != len(tables) {
		t.Fatalf("%d of %d table files left after a scrub", len(left), len(tables))
	}
	if got := checkpointOf(t, c, 3); got != "index 10 version 5" {
		t.Fatalf("checkpoint after a scrub = %s", got)
	}
	_ = c.Close()
	b, err := os.ReadFile(tables[0])
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/3] ^= 0x40
	if err := os.WriteFile(tables[0], b, 0o644); err != nil {
		t.Fatal(err)
	}
	c = openStore(t, dir)
	defer c.Close()
	if _, err := c.Scrub(context.Background()); !errors.Is(err, ErrCorruption) || !strings.Contains(err.Error(), filepath.Base(tables[0])) {
		t.Fatalf("scrub after a flipped byte in %s: %v; want ErrCorruption naming the table", tables[0], err)
	}
}
