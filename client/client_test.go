package client

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"obkv/client/internal/fakekv"
	obtenant "obkv/tenant"
)

func TestNewTriesAddressesInOrder(t *testing.T) {
	e := newEnv(t, 1)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := lis.Addr().String()
	lis.Close() // nothing listens there now: connection refused
	ctx := context.Background()
	cl, err := New(ctx, []string{dead, e.s["s3"].Addr()}, WithClock(e.c.Now), WithTimeout(2*time.Second))
	if err != nil {
		t.Fatalf("New(dead, s3) = %v; want the second address", err)
	}
	defer cl.Close()
	if cl.seeds[0] != e.s["s3"].Addr() {
		t.Errorf("seeds = %v; want s3 first", cl.seeds)
	}
	if _, err := New(ctx, []string{dead}, WithTimeout(2*time.Second)); !errors.Is(err, ErrNoServer) || !strings.Contains(err.Error(), dead) {
		t.Errorf("New(dead) error = %v; want ErrNoServer naming %s", err, dead)
	}
	if _, err := New(ctx, nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("New(no addresses) error = %v; want ErrInvalid", err)
	}
	if _, err := New(ctx, []string{dead}, WithMaxAttempts(-1)); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "max attempts") {
		t.Errorf("New(max attempts -1) error = %v; want ErrInvalid naming the option", err)
	}
	if _, err := New(ctx, []string{dead}, WithConsistency(Consistency(7))); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "consistency 7") {
		t.Errorf("New(consistency 7) error = %v; want ErrInvalid naming the option", err)
	}
}

func TestPutGetDeleteBatch(t *testing.T) {
	e := newEnv(t, 4)
	v1 := e.put("a", "1")
	r := e.get("a")
	if !r.Found || string(r.Value) != "1" || r.Meta.Server != "s1" || r.Meta.Role != "LEADER" || r.Meta.Tried != 1 || r.Meta.ReadVersion < v1 {
		t.Errorf("get a = %+v; want 1 from the leader s1 at a version >= %d", r, v1)
	}
	if _, err := e.cl.Delete(context.Background(), tn, tb, []byte("a")); err != nil {
		t.Fatal(err)
	}
	if r := e.get("a"); r.Found {
		t.Errorf("get a after delete = %+v; want not found", r)
	}
	// A batch within one partition is atomic; one across partitions is refused before sending.
	same := keysOfPartition(4, obtenant.PartitionOf([]byte("a"), 4), 3)
	ops := []Op{PutOp([]byte(same[0]), []byte("x")), PutOp([]byte(same[1]), []byte("y")), DeleteOp([]byte(same[2]))}
	if _, err := e.cl.Batch(context.Background(), tn, tb, ops); err != nil {
		t.Fatalf("batch in one partition: %v", err)
	}
	writes := e.calls("s1", "Write")
	other := keysOfPartition(4, (obtenant.PartitionOf([]byte("a"), 4)+1)%4, 1)[0]
	_, err := e.cl.Batch(context.Background(), tn, tb, []Op{PutOp([]byte(same[0]), nil), PutOp([]byte(other), nil)})
	if !errors.Is(err, ErrCrossPartition) || !strings.Contains(err.Error(), fmt.Sprintf("%q", other)) {
		t.Errorf("cross-partition batch error = %v; want ErrCrossPartition naming %q", err, other)
	}
	if e.calls("s1", "Write") != writes {
		t.Errorf("a cross-partition batch was sent")
	}
	if _, err := e.cl.Batch(context.Background(), tn, tb, nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("empty batch error = %v; want ErrInvalid", err)
	}
	if _, err := e.cl.Get(context.Background(), tn, "nope", []byte("a")); !errors.Is(err, ErrNotFound) {
		t.Errorf("get from an unknown table error = %v; want ErrNotFound", err)
	}
}

// keysOfPartition returns n keys that hash to partition p of parts.
func keysOfPartition(parts, p, n int) []string {
	var out []string
	for i := 0; len(out) < n; i++ {
		k := fmt.Sprintf("k%03d", i)
		if obtenant.PartitionOf([]byte(k), parts) == p {
			out = append(out, k)
		}
	}
	return out
}

// TestReadPreferences checks which replica each preference picks for a client in zone z3 of
// region r2 (s3 FULL follower there; s4 READONLY in z4 of r2; leader s1 in r1).
func TestReadPreferences(t *testing.T) {
	e := newEnv(t, 1, WithZone("z3"), WithRegion("r2"))
	e.put("k", "v")
	tests := []struct {
		pref       ReadPreference
		weak       bool
		wantServer string
	}{
		{Leader, false, "s1"},
		{Leader, true, "s1"},
		{Follower, false, "s3"},
		{Follower, true, "s3"},
		{FollowerPreferred, false, "s3"},
		{PreferLeader, false, "s1"},
		{Closest, false, "s3"},
		{Closest, true, "s3"},
		{ClosestAdaptive, false, "s1"}, // a point read of unknown size is small
		{ReadonlyFirst, true, "s4"},
		{ReadonlyFirst, false, "s3"}, // strong: no READONLY; FULL followers in locality order
		{ReadonlyOnly, true, "s4"},
	}
	for _, tt := range tests {
		opts := []ReadOption{Prefer(tt.pref)}
		if tt.weak {
			opts = append(opts, Weak())
		}
		r := e.get("k", opts...)
		if r.Meta.Server != tt.wantServer || r.Meta.Tried != 1 || !r.Found {
			t.Errorf("%s weak=%v: served by %s after %d tries (found %v); want %s after 1", tt.pref, tt.weak, r.Meta.Server, r.Meta.Tried, r.Found, tt.wantServer)
		}
		if r.Meta.Type == "LOGONLY" {
			t.Errorf("%s: served by a LOGONLY replica", tt.pref)
		}
	}
	// The per-call zone overrides the client's.
	if r := e.get("k", Prefer(Closest), Zone("z2")); r.Meta.Server != "s2" {
		t.Errorf("closest from z2: served by %s; want s2", r.Meta.Server)
	}
	if e.calls("s5", "Get") != 0 {
		t.Errorf("the LOGONLY server got %d reads", e.calls("s5", "Get"))
	}
	// readonly-only refuses a strong read before sending anything.
	before := e.calls("s4", "Get")
	_, err := e.cl.Get(context.Background(), tn, tb, []byte("k"), Prefer(ReadonlyOnly))
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "readonly-only") {
		t.Errorf("strong readonly-only error = %v; want ErrInvalid naming the rule", err)
	}
	if e.calls("s4", "Get") != before {
		t.Errorf("a strong readonly-only read was sent")
	}
}

func TestReadFallbacks(t *testing.T) {
	e := newEnv(t, 1, WithZone("z3"), WithRegion("r2"))
	e.put("k", "v")
	e.get("k", Prefer(Closest)) // warm the location cache
	e.s["s3"].Stop()
	// closest: s3 is down (connection refused), the next in locality order is... the leader
	// (same-region s4 is READONLY and the read is strong).
	r := e.get("k", Prefer(Closest))
	if r.Meta.Server != "s1" || r.Meta.Tried != 2 {
		t.Errorf("closest with s3 down: %s after %d tries; want s1 after 2", r.Meta.Server, r.Meta.Tried)
	}
	// The failure is remembered: the next read skips s3 without trying it.
	if r := e.get("k", Prefer(Closest)); r.Meta.Server != "s1" || r.Meta.Tried != 1 {
		t.Errorf("closest again: %s after %d tries; want s1 after 1 (s3 demoted)", r.Meta.Server, r.Meta.Tried)
	}
	e.s["s2"].Stop()
	// follower: every follower that can serve a strong read is down: an error, not the leader.
	_, err := e.cl.Get(context.Background(), tn, tb, []byte("k"), Prefer(Follower))
	if !errors.Is(err, ErrNoReplica) || !strings.Contains(err.Error(), "read preference follower") {
		t.Errorf("follower with every follower down: %v; want ErrNoReplica naming the preference", err)
	}
	// follower-preferred falls back to the leader.
	if r := e.get("k", Prefer(FollowerPreferred)); r.Meta.Server != "s1" {
		t.Errorf("follower-preferred with followers down: served by %s; want the leader s1", r.Meta.Server)
	}
	// A weak follower read still has the READONLY replica.
	if r := e.get("k", Prefer(Follower), Weak()); r.Meta.Server != "s4" {
		t.Errorf("weak follower read: served by %s; want s4", r.Meta.Server)
	}
	e.s["s4"].Stop()
	_, err = e.cl.Get(context.Background(), tn, tb, []byte("k"), Prefer(ReadonlyOnly), Weak())
	if !errors.Is(err, ErrNoReplica) {
		t.Errorf("readonly-only with s4 down: %v; want ErrNoReplica", err)
	}
	if r := e.get("k", Prefer(ReadonlyFirst), Weak()); r.Meta.Server != "s1" {
		t.Errorf("readonly-first with s4, s3, s2 down: served by %s; want s1", r.Meta.Server)
	}
}

func TestPreferLeaderSkipsFailedOrSlowLeader(t *testing.T) {
	e := newEnv(t, 1, WithZone("z2"))
	e.put("k", "v")
	// Slow leader: 50ms against 1ms, learned from a few reads each.
	e.s["s1"].SetDelay(50 * time.Millisecond)
	e.s["s2"].SetDelay(time.Millisecond)
	for range minLatencySamples {
		e.get("k", Prefer(Leader))
		e.get("k", Prefer(Closest))
	}
	if r := e.get("k", Prefer(PreferLeader)); r.Meta.Server != "s2" || r.Meta.Tried != 1 {
		t.Errorf("prefer-leader with a slow leader: %s after %d tries; want the follower s2 after 1", r.Meta.Server, r.Meta.Tried)
	}
	e.s["s1"].SetDelay(time.Millisecond)
	for range 10 {
		e.get("k", Prefer(Leader))
	}
	if r := e.get("k", Prefer(PreferLeader)); r.Meta.Server != "s1" {
		t.Errorf("prefer-leader with the leader fast again: %s; want s1", r.Meta.Server)
	}
	// A leader that is down: tried once, then skipped within the cooldown.
	e.s["s1"].Stop()
	if r := e.get("k", Prefer(PreferLeader)); r.Meta.Server != "s2" || r.Meta.Tried != 2 {
		t.Errorf("prefer-leader with the leader down: %s after %d tries; want s2 after 2", r.Meta.Server, r.Meta.Tried)
	}
	if r := e.get("k", Prefer(PreferLeader)); r.Meta.Server != "s2" || r.Meta.Tried != 1 {
		t.Errorf("prefer-leader again: %s after %d tries; want s2 after 1 (leader skipped)", r.Meta.Server, r.Meta.Tried)
	}
}

func TestLeaderAndFollowerSpreadsEvenly(t *testing.T) {
	e := newEnv(t, 1)
	e.put("k", "v")
	const reads = 600
	for _, weak := range []bool{false, true} {
		counts := map[string]int{}
		for range reads {
			opts := []ReadOption{Prefer(LeaderAndFollower)}
			if weak {
				opts = append(opts, Weak())
			}
			counts[e.get("k", opts...).Meta.Server]++
		}
		for _, s := range []string{"s1", "s2", "s3"} {
			if n := counts[s]; n < reads/3*8/10 || n > reads/3*12/10 {
				t.Errorf("weak=%v: %s served %d of %d reads; want %d within 20%% (all: %v)", weak, s, n, reads, reads/3, counts)
			}
		}
		if counts["s4"]+counts["s5"] != 0 {
			t.Errorf("weak=%v: READONLY/LOGONLY served reads while FULL replicas were healthy: %v", weak, counts)
		}
	}
}

func TestClosestAdaptive(t *testing.T) {
	e := newEnv(t, 1, WithZone("z3"), WithAdaptiveThreshold(4096))
	e.put("small", "v")
	if r := e.get("small", Prefer(ClosestAdaptive)); r.Meta.Server != "s1" {
		t.Errorf("small get: served by %s; want the leader", r.Meta.Server)
	}
	// A scan of up to 1000 rows is estimated large: the closest replica serves it.
	res, err := e.cl.Scan(context.Background(), tn, tb, nil, nil, 1000, Prefer(ClosestAdaptive))
	if err != nil || res.Partitions[0].Server != "s3" {
		t.Errorf("large scan: %+v, %v; want served by s3", res.Partitions, err)
	}
	// Learned value sizes make later gets large too.
	e.put("big", strings.Repeat("x", 8192))
	for range 4 { // the row-size EWMA needs a few big rows to cross the threshold
		e.get("big", Prefer(Leader))
	}
	if r := e.get("big", Prefer(ClosestAdaptive)); r.Meta.Server != "s3" {
		t.Errorf("get after learning 8KiB values: served by %s; want s3", r.Meta.Server)
	}
}

func TestLocationRefreshOnNotLeaderAndMove(t *testing.T) {
	e := newEnv(t, 1, WithZone("z3"))
	e.put("k", "v1")
	locates := e.calls("s1", "Locate") + e.calls("s2", "Locate")
	// The leader moves to s2; the client still routes to s1, which says "not leader: leader is
	// s2" (nothing proposed): the client follows the hint and refreshes.
	e.c.SetLeader(tn, tb, -1, "s2")
	if _, err := e.cl.Put(context.Background(), tn, tb, []byte("k"), []byte("v2")); err != nil {
		t.Fatalf("put after the leader moved: %v", err)
	}
	if e.calls("s1", "Write") != 2 || e.calls("s2", "Write") != 1 {
		t.Errorf("writes: s1 %d, s2 %d; want s1 2 (first put and the refused one), s2 1", e.calls("s1", "Write"), e.calls("s2", "Write"))
	}
	if n := e.calls("s1", "Locate") + e.calls("s2", "Locate"); n != locates+1 {
		t.Errorf("locates after not leader: %d; want one refresh", n-locates)
	}
	if r := e.get("k"); r.Meta.Server != "s2" || string(r.Value) != "v2" {
		t.Errorf("leader read after refresh: %s = %q; want s2 = v2", r.Meta.Server, r.Value)
	}
	// s3's replica moves to s6 (same zone): s3 answers NotFound, the client refreshes and
	// reads from s6.
	e.get("k", Prefer(Closest))
	moved := append([]fakekv.Replica(nil), layout...)
	moved[0].Leader, moved[1].Leader, moved[2].Server = false, true, "s6"
	e.c.SetReplicas(tn, tb, 0, moved)
	r := e.get("k", Prefer(Closest))
	if r.Meta.Server != "s6" || r.Meta.Tried != 2 {
		t.Errorf("closest after the move: %s after %d tries; want s6 after 2", r.Meta.Server, r.Meta.Tried)
	}
	// The cache expires after its TTL.
	locates = e.calls("s1", "Locate") + e.calls("s2", "Locate")
	e.c.Advance(DefaultLocationTTL + time.Second)
	e.get("k")
	if n := e.calls("s1", "Locate") + e.calls("s2", "Locate"); n != locates+1 {
		t.Errorf("locates after the TTL: %d; want 1", n-locates)
	}
}

func TestStalenessPreference(t *testing.T) {
	e := newEnv(t, 1, WithZone("z2"), WithReadPreference(Closest))
	e.put("k", "v")
	// s2 (the client's zone) lags 10s; Locate (refreshed after the TTL) says so.
	e.c.Advance(DefaultLocationTTL + time.Second)
	e.c.SetReadable(tn, tb, 0, "s2", e.c.Version()-uint64((10*time.Second).Microseconds()))
	r := e.get("k", MaxStaleness(5*time.Second))
	if r.Meta.Server == "s2" || r.Meta.Tried != 1 || e.calls("s2", "Get") != 0 {
		t.Errorf("bounded read with s2 10s behind: %s after %d tries (s2 got %d); want another replica after 1", r.Meta.Server, r.Meta.Tried, e.calls("s2", "Get"))
	}
	if r.Meta.Staleness > 5*time.Second {
		t.Errorf("staleness %v above the bound", r.Meta.Staleness)
	}
	// Unbounded weak reads still go to s2 and report its staleness.
	if r := e.get("k", Weak()); r.Meta.Server != "s2" || r.Meta.Staleness != 10*time.Second {
		t.Errorf("unbounded weak read: %s, staleness %v; want s2, 10s", r.Meta.Server, r.Meta.Staleness)
	}
	// s2 catches up; the client learns it from the read's meta and uses s2 again.
	e.c.SetReadable(tn, tb, 0, "s2", 0)
	e.get("k", Weak())
	if r := e.get("k", MaxStaleness(5*time.Second)); r.Meta.Server != "s2" || r.Meta.Tried != 1 {
		t.Errorf("after s2 caught up: %s after %d tries; want s2 after 1", r.Meta.Server, r.Meta.Tried)
	}
	// s2 falls behind without the client knowing: it refuses, the next replica serves, and the
	// client remembers the refusal.
	e.c.SetReadable(tn, tb, 0, "s2", e.c.Version()-uint64((10*time.Second).Microseconds()))
	if r := e.get("k", MaxStaleness(5*time.Second)); r.Meta.Server == "s2" || r.Meta.Tried != 2 {
		t.Errorf("s2 stale unknown to the client: %s after %d tries; want another after 2", r.Meta.Server, r.Meta.Tried)
	}
	if r := e.get("k", MaxStaleness(5*time.Second)); r.Meta.Tried != 1 {
		t.Errorf("after s2 refused: %d tries; want 1", r.Meta.Tried)
	}
	// Nothing fresh enough anywhere the preference allows: ErrNotReadable.
	e.c.SetReadable(tn, tb, 0, "s1", e.c.Version()-uint64((10*time.Second).Microseconds()))
	_, err := e.cl.Get(context.Background(), tn, tb, []byte("k"), MaxStaleness(5*time.Second), Prefer(Leader))
	if !errors.Is(err, ErrNotReadable) || !errors.Is(err, ErrNoReplica) || !strings.Contains(err.Error(), "max_staleness 5s") {
		t.Errorf("every replica stale: %v; want ErrNotReadable naming max_staleness", err)
	}
}

func TestWeakScanReadsOneSnapshot(t *testing.T) {
	const parts = 4
	e := newEnv(t, parts, WithReadPreference(Follower))
	e.c.ScanPageMax = 3 // force paging
	var versions []uint64
	var keys []string
	for i := range 20 {
		e.c.Advance(time.Millisecond)
		k := fmt.Sprintf("key%02d", i)
		keys = append(keys, k)
		versions = append(versions, e.put(k, fmt.Sprint(i)))
	}
	// Each partition's followers lag differently; s2 and s3 are the followers of a strong
	// read, s4 (READONLY) of a weak one too. Pin every follower of partition p at versions[5+3p].
	for p := range parts {
		for _, s := range []string{"s2", "s3", "s4"} {
			e.c.SetReadable(tn, tb, p, s, versions[5+3*p])
		}
	}
	// The client picks from the readable versions it knows; let the cache expire so Locate
	// tells it the pinned ones.
	e.c.Advance(DefaultLocationTTL + time.Second)
	res, err := e.cl.Scan(context.Background(), tn, tb, nil, nil, 0, Weak())
	if err != nil {
		t.Fatal(err)
	}
	want := versions[5] // the minimum over the partitions
	if res.SnapshotVersion != want {
		t.Errorf("snapshot version %d; want %d, the newest version readable on every partition", res.SnapshotVersion, want)
	}
	var got []string
	for _, kv := range res.Rows {
		got = append(got, string(kv.Key))
	}
	if strings.Join(got, ",") != strings.Join(keys[:6], ",") || res.More {
		t.Errorf("rows = %v (more %v); want exactly the writes at or below the snapshot: %v", got, res.More, keys[:6])
	}
	for _, m := range res.Partitions {
		if m.ReadVersion != want || m.Role != "FOLLOWER" {
			t.Errorf("partition %d read at %d by %s %s; want %d by a follower", m.Partition, m.ReadVersion, m.Server, m.Role, want)
		}
	}
	// A bound the slowest partition cannot meet is refused before reading.
	e.c.Advance(time.Minute)
	_, err = e.cl.Scan(context.Background(), tn, tb, nil, nil, 0, MaxStaleness(time.Second))
	if !errors.Is(err, ErrNotReadable) || !strings.Contains(err.Error(), "max_staleness 1s") {
		t.Errorf("scan with an unmeetable bound: %v; want ErrNotReadable naming max_staleness", err)
	}
}

func TestStrongScanMergesWithLimit(t *testing.T) {
	e := newEnv(t, 4)
	e.c.ScanPageMax = 3
	for i := range 20 {
		e.put(fmt.Sprintf("key%02d", i), "v")
	}
	res, err := e.cl.Scan(context.Background(), tn, tb, []byte("key03"), []byte("key15"), 7)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, kv := range res.Rows {
		got = append(got, string(kv.Key))
	}
	if strings.Join(got, ",") != "key03,key04,key05,key06,key07,key08,key09" || !res.More || res.SnapshotVersion != 0 {
		t.Errorf("scan [key03,key15) limit 7 = %v more=%v snap=%d; want key03..key09, more, no snapshot", got, res.More, res.SnapshotVersion)
	}
	all, err := e.cl.Scan(context.Background(), tn, tb, nil, nil, 0)
	if err != nil || len(all.Rows) != 20 || all.More {
		t.Errorf("full scan: %d rows, more %v, %v; want 20", len(all.Rows), all.More, err)
	}
	if _, err := e.cl.Scan(context.Background(), tn, tb, []byte("b"), []byte("a"), 0); !errors.Is(err, ErrInvalid) {
		t.Errorf("scan with start above end: %v; want ErrInvalid", err)
	}
}

func TestWriteRetriesOnlyWhenSafe(t *testing.T) {
	ctx := context.Background()
	t.Run("connection refused before sending", func(t *testing.T) {
		e := newEnv(t, 1)
		// A client that never connected to s1, with s1 cached as the leader. (A connection
		// that was up when the server died fails with "error reading from server: EOF",
		// which is rightly ambiguous; a refused dial is not.)
		ctx2, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		cl, err := New(ctx2, []string{e.s["s2"].Addr()}, WithClock(e.c.Now))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		if _, err := cl.Get(ctx, tn, tb, []byte("k"), Prefer(Follower)); err != nil {
			t.Fatal(err)
		}
		e.s["s1"].Stop()
		e.c.SetLeader(tn, tb, -1, "s2")
		if _, err := cl.Put(ctx, tn, tb, []byte("k"), []byte("v2")); err != nil {
			t.Fatalf("put with the old leader down: %v", err)
		}
		if e.calls("s2", "Write") != 1 {
			t.Errorf("s2 writes = %d; want 1", e.calls("s2", "Write"))
		}
	})
	t.Run("outcome unknown from the server", func(t *testing.T) {
		e := newEnv(t, 1)
		e.put("k", "v1")
		e.s["s1"].FailAfterApply(status.Error(codes.Unknown, "write outcome unknown: lost leadership after proposing"))
		_, err := e.cl.Put(ctx, tn, tb, []byte("k"), []byte("v2"))
		if !errors.Is(err, ErrOutcomeUnknown) || !IsOutcomeUnknown(err) || !strings.Contains(err.Error(), "s1") {
			t.Errorf("put = %v; want ErrOutcomeUnknown naming s1", err)
		}
		if e.calls("s1", "Write") != 2 || e.calls("s2", "Write")+e.calls("s3", "Write") != 0 {
			t.Errorf("an ambiguous write was retried")
		}
		if r := e.get("k"); string(r.Value) != "v2" {
			t.Errorf("the fake applied it: got %q", r.Value) // the ambiguity is real
		}
	})
	for _, tc := range []struct {
		name string
		err  error
		want error
	}{
		{"unavailable after delivery", status.Error(codes.Unavailable, "transport is closing"), ErrOutcomeUnknown},
		{"deadline", status.Error(codes.DeadlineExceeded, "write outcome unknown: timed out waiting for commit"), ErrOutcomeUnknown},
		{"invalid", status.Error(codes.InvalidArgument, "key too long"), ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, 1)
			e.put("k", "v1")
			e.s["s1"].Fail("Write", tc.err)
			_, err := e.cl.Put(ctx, tn, tb, []byte("k"), []byte("v2"))
			if !errors.Is(err, tc.want) {
				t.Errorf("put = %v; want %v", err, tc.want)
			}
			if e.calls("s1", "Write") != 2 {
				t.Errorf("s1 writes = %d; want 2 (no retry)", e.calls("s1", "Write"))
			}
		})
	}
	t.Run("not found refreshes", func(t *testing.T) {
		e := newEnv(t, 1)
		e.put("k", "v1")
		e.s["s1"].Fail("Write", status.Error(codes.NotFound, "partition 0 of t/kv has no replica on server s1"))
		if _, err := e.cl.Put(ctx, tn, tb, []byte("k"), []byte("v2")); err != nil {
			t.Errorf("put after NotFound: %v", err)
		}
	})
}

func TestReadRetriesAnyReplicaError(t *testing.T) {
	e := newEnv(t, 1, WithZone("z3"))
	e.put("k", "v")
	e.s["s3"].Fail("Get", status.Error(codes.Unknown, "disk hiccup"))
	if r := e.get("k", Prefer(Closest)); r.Meta.Server != "s1" || r.Meta.Tried != 2 {
		t.Errorf("read after an error: %s after %d; want the next candidate s1 after 2", r.Meta.Server, r.Meta.Tried)
	}
	e.s["s3"].Fail("Get", status.Error(codes.InvalidArgument, "bad key"))
	if _, err := e.cl.Get(context.Background(), tn, tb, []byte("k"), Prefer(Closest)); !errors.Is(err, ErrInvalid) {
		t.Errorf("invalid read: %v; want ErrInvalid, not retried", err)
	}
	// The attempt bound holds.
	cl := e.client(WithMaxAttempts(1), WithZone("z3"))
	e.s["s3"].Fail("Get", status.Error(codes.Unknown, "disk hiccup"))
	if _, err := cl.Get(context.Background(), tn, tb, []byte("k"), Prefer(Closest)); !errors.Is(err, ErrNoReplica) {
		t.Errorf("read with one attempt: %v; want ErrNoReplica", err)
	}
	_ = cl.Close()
	if _, err := cl.Get(context.Background(), tn, tb, []byte("k")); !errors.Is(err, ErrClosed) {
		t.Errorf("get after close: %v; want ErrClosed", err)
	}
}

// TestNoLeaderInCacheRefreshes: a location cached while a partition had no leader (an election
// under way) does not fail leader reads for the rest of its TTL: a read that finds no leader in
// the cache looks the table up again. (A real cluster showed 28 s of "no leader is known" after a
// leader change, until the cached location expired.) And a leader read during the election waits
// for it, looking again, as a write does: it failed at once before (a `get` right after `obctl
// cluster up`); one whose deadline ends first says so.
func TestNoLeaderInCacheRefreshes(t *testing.T) {
	e := newEnv(t, 1)
	e.put("k", "v")
	e.c.SetLeader(tn, tb, 0, "") // an election: nobody leads
	ctx := context.Background()
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	_, err := e.cl.Get(short, tn, tb, []byte("k"))
	if !errors.Is(err, ErrNoReplica) || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "waiting") {
		t.Fatalf("leader read with no leader until its deadline: %v; want ErrNoReplica after waiting", err)
	}
	locates := func() (n int) {
		for _, s := range e.s {
			n += s.Calls("Locate")
		}
		return n
	}
	before := locates()
	type result struct {
		r   Result
		err error
	}
	done := make(chan result, 1)
	go func() {
		r, err := e.cl.Get(ctx, tn, tb, []byte("k"))
		done <- result{r, err}
	}()
	for locates() < before+2 { // the read is waiting, looking again
		select {
		case res := <-done:
			t.Fatalf("leader read with no leader returned before one was elected: %+v, %v", res.r.Meta, res.err)
		case <-time.After(time.Millisecond):
		}
	}
	e.c.SetLeader(tn, tb, 0, "s2") // elected
	res := <-done
	if res.err != nil {
		t.Fatalf("leader read across the election: %v", res.err)
	}
	if res.r.Meta.Server != "s2" || string(res.r.Value) != "v" {
		t.Errorf("leader read: %s = %q; want s2 = v", res.r.Meta.Server, res.r.Value)
	}
}

// A new client's first call while the root service fails over (every server answers
// Unavailable "the root service is not available yet") waits for it, within rootWait, and
// succeeds; it failed at once before. Servers that are down, or a root service that stays
// away past the caller's deadline, still fail the call.
func TestFirstLocateWaitsForRootService(t *testing.T) {
	e := newEnv(t, 1)
	unavailable := status.Error(codes.Unavailable, "the root service is not available yet (no meta partition leader)")
	for _, s := range e.s {
		s.Fail("Locate", unavailable)
		s.Fail("Locate", unavailable)
	}
	cl := e.client()
	if _, err := cl.Put(context.Background(), tn, tb, []byte("k"), []byte("v")); err != nil {
		t.Fatalf("put while the root service failed over for two rounds: %v", err)
	}
	most := 0
	for _, s := range e.s {
		most = max(most, s.Calls("Locate"))
	}
	if most != 3 {
		t.Fatalf("a server answered Locate %d times, want 3 (refused twice, then the location)", most)
	}

	for _, s := range e.s {
		for range 1000 {
			s.Fail("Locate", unavailable)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := e.client().Put(ctx, tn, tb, []byte("k"), []byte("v2"))
	if !errors.Is(err, ErrNoReplica) || !strings.Contains(err.Error(), "root service is not available") {
		t.Fatalf("put while the root service stays away: %v, want ErrNoReplica naming the root service", err)
	}
	if took := time.Since(start); took > rootWait {
		t.Fatalf("the put gave up after %v, past its 300 ms deadline and rootWait", took)
	}
}

// TestStrongReadWaitsForServingLeader: a strong read that the cached leader refuses because no
// serving leader confirmed its read index (servers just restarted, an election, a lapsed
// lease: the root service still names the old leader) waits for the election as a write does,
// and these refusals do not use up the attempt bound; it failed at once before (64 errors, one
// per client, from `obctl bench` right after `obctl cluster up`). A refusal that names the
// leader goes there without waiting; a deadline still ends the wait.
func TestStrongReadWaitsForServingLeader(t *testing.T) {
	ctx := context.Background()
	noLeader := status.Error(codes.FailedPrecondition, "not leader: no serving leader confirmed a read index for server s1 (replica: not leader: paxos: not leader: replica 1 knows no leader)")
	e := newEnv(t, 1, WithMaxAttempts(2))
	e.put("k", "v")
	e.get("k") // the location is cached: s1 leads
	for range 5 {
		e.s["s1"].Fail("Get", noLeader)
	}
	before := e.calls("s1", "Get")
	r := e.get("k")
	if r.Meta.Server != "s1" || string(r.Value) != "v" || e.calls("s1", "Get")-before != 6 || r.Meta.Tried != 6 {
		t.Errorf("strong read across 5 leaderless refusals: %s = %q after %d tries, s1 asked %d times; want s1 = v after 6",
			r.Meta.Server, r.Value, r.Meta.Tried, e.calls("s1", "Get")-before)
	}

	// s2 is elected; the cache still names s1, which answers "leader is s2": straight to s2
	// (a wait would have asked s1 again first).
	e.c.SetLeader(tn, tb, -1, "s2")
	e.s["s1"].Fail("Get", status.Error(codes.FailedPrecondition, "not leader: no serving leader confirmed a read index for server s1 (replica: not leader: the leader refused the read index: not serving) (leader is s2)"))
	if r := e.get("k"); r.Meta.Server != "s2" || r.Meta.Tried != 2 {
		t.Errorf("strong read refused with a hint: %s after %d tries; want s2 after 2", r.Meta.Server, r.Meta.Tried)
	}

	// A hint naming no FULL replica of the partition is not followed: the read waits.
	e2 := newEnv(t, 1)
	e2.put("k", "v")
	e2.get("k")
	e2.s["s1"].Fail("Get", status.Error(codes.FailedPrecondition, "not leader: no serving leader confirmed a read index (leader is s4)"))
	if r := e2.get("k"); r.Meta.Server != "s1" || e2.calls("s4", "Get") != 0 {
		t.Errorf("read after a hint naming the READONLY s4: %s, s4 asked %d times; want s1, s4 never", r.Meta.Server, e2.calls("s4", "Get"))
	}

	// No leader until the deadline: the error says it waited, and wraps both causes.
	for range 200 {
		e2.s["s1"].Fail("Get", noLeader)
	}
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	_, err := e2.cl.Get(short, tn, tb, []byte("k"))
	if !errors.Is(err, ErrNoReplica) || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "waiting") {
		t.Errorf("strong read with no serving leader until its deadline: %v; want ErrNoReplica after waiting", err)
	}
}

// TestWriteWaitsOutHintsAtADeadLeader: after the leader's server dies, its followers go on
// naming it ("not leader: leader is s1") until their leases from it run out. A write that found
// s1 unreachable does not follow those hints back to it, using up its attempts in milliseconds
// (hundreds of failed writes per kill in obctl bench failover); it waits for the election.
func TestWriteWaitsOutHintsAtADeadLeader(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, 1)
	// A client that never connected to s1 (so the dial is refused: provably not delivered),
	// with s1 cached as the leader.
	ctx2, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	cl, err := New(ctx2, []string{e.s["s2"].Addr()}, WithClock(e.c.Now), WithMaxAttempts(4))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := cl.Get(ctx, tn, tb, []byte("k"), Prefer(Follower)); err != nil {
		t.Fatal(err)
	}
	e.s["s1"].Stop() // s2 and s3 still name s1 as leader
	done := make(chan error, 1)
	go func() {
		_, err := cl.Put(ctx, tn, tb, []byte("k"), []byte("v2"))
		done <- err
	}()
	for e.calls("s2", "Write")+e.calls("s3", "Write") < 6 { // more than the attempt bound
		select {
		case err := <-done:
			t.Fatalf("put returned before a new leader was elected: %v", err)
		case <-time.After(time.Millisecond):
		}
	}
	e.c.SetLeader(tn, tb, -1, "s3")
	if err := <-done; err != nil {
		t.Fatalf("put across the election: %v", err)
	}
}
