package replica

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"obkv/clog"
	"obkv/paxos"
	"obkv/sstable"
)

// group is three replicas of one partition in one process, each with its own clog and sstable,
// wired by an in-memory transport that can cut a replica off.
type group struct {
	t    *testing.T
	dirs map[paxos.ID]string
	logs map[paxos.ID]*clog.Log
	dbs  map[paxos.ID]*sstable.Store
	reps map[paxos.ID]*Replica
	conf paxos.Membership
	mu   sync.Mutex
	cut  map[paxos.ID]bool
	// deaf replicas send but hear nothing.
	deaf  map[paxos.ID]bool
	limit int64
	ckpt  time.Duration
	// holdFetch, when set, holds every snapshot fetch after the export until it is closed;
	// fetched is told of each export.
	holdFetch, fetched chan struct{}
	// beforeDump is each replica's Config.beforeDump.
	beforeDump func() error
	// logOpts are each replica's clog options.
	logOpts clog.Options
	// now, when set, is each replica's Config.Now.
	now func() time.Time
	// keepLog is each replica's Config.KeepLog.
	keepLog bool
	// fetches counts snapshot fetches; fetchesEnded those that returned.
	fetches, fetchesEnded atomic.Int32
	// truncFetch, when set, cuts every snapshot stream in half (a transfer that breaks).
	truncFetch bool
	// leaseTicks, when set, is each replica's LeaseTicks; logw, when set, takes their logs.
	leaseTicks uint64
	logw       io.Writer
}

type memTransport struct {
	g    *group
	from paxos.ID
}

func (m memTransport) Send(partition uint64, msgs []paxos.Message) {
	m.g.mu.Lock()
	defer m.g.mu.Unlock()
	for _, msg := range msgs {
		if m.g.cut[m.from] || m.g.cut[msg.To] || m.g.deaf[msg.To] {
			continue
		}
		if r := m.g.reps[msg.To]; r != nil {
			msg.Entries = append([]paxos.Entry(nil), msg.Entries...)
			r.Step(msg)
		}
	}
}

func (m memTransport) FetchSnapshot(ctx context.Context, partition uint64, from paxos.ID) (io.ReadCloser, error) {
	m.g.fetches.Add(1)
	defer m.g.fetchesEnded.Add(1)
	m.g.mu.Lock()
	r := m.g.reps[from]
	hold, fetched, trunc := m.g.holdFetch, m.g.fetched, m.g.truncFetch
	m.g.mu.Unlock()
	if r == nil {
		return nil, fmt.Errorf("replica %d is down", from)
	}
	var buf bytes.Buffer
	if err := r.ExportSnapshot(ctx, &buf); err != nil {
		return nil, err
	}
	if hold != nil {
		fetched <- struct{}{}
		select {
		case <-hold:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if trunc {
		buf.Truncate(buf.Len() / 2)
	}
	return io.NopCloser(&buf), nil
}

func newGroup(t *testing.T) *group {
	g := &group{t: t, dirs: map[paxos.ID]string{}, logs: map[paxos.ID]*clog.Log{}, dbs: map[paxos.ID]*sstable.Store{},
		reps: map[paxos.ID]*Replica{}, cut: map[paxos.ID]bool{}, deaf: map[paxos.ID]bool{}, limit: 64 << 20, ckpt: time.Hour,
		logOpts: clog.DefaultOptions()}
	for id := paxos.ID(1); id <= 3; id++ {
		g.conf.Members = append(g.conf.Members, paxos.Member{ID: id, Type: paxos.Full})
		g.dirs[id] = t.TempDir()
	}
	t.Cleanup(func() {
		for id := range g.reps {
			g.stop(id)
		}
	})
	return g
}

func (g *group) start(id paxos.ID) {
	g.t.Helper()
	if err := g.open(id); err != nil {
		g.t.Fatal(err)
	}
}

// open opens replica id from its directory; on an error it closes what it opened.
func (g *group) open(id paxos.ID) error {
	l, err := clog.Open(g.dirs[id]+"/clog", g.logOpts)
	if err != nil {
		return err
	}
	opts := sstable.DefaultOptions(g.dirs[id] + "/sstable")
	opts.Logger = nil
	db, err := sstable.Open(context.Background(), opts)
	if err != nil {
		return errors.Join(err, l.Close())
	}
	pc := paxos.DefaultConfig(id)
	pc.LeaseTicks, pc.HeartbeatTicks, pc.MaxDriftTicks = 20, 2, 2
	if g.leaseTicks != 0 {
		pc.LeaseTicks = g.leaseTicks
	}
	logw := io.Discard
	if g.logw != nil {
		logw = g.logw
	}
	r, err := Open(context.Background(), Config{
		Partition: 7, Paxos: pc, Log: l, Store: db, Transport: memTransport{g, id}, Snapshots: memTransport{g, id},
		Tick: 5 * time.Millisecond, MemstoreLimit: g.limit, CheckpointInterval: g.ckpt,
		Logger:     slog.New(slog.NewTextHandler(logw, nil)),
		beforeDump: g.beforeDump, Now: g.now, KeepLog: g.keepLog,
	}, g.conf, paxos.Full)
	if err != nil {
		return errors.Join(err, db.Close(), l.Close())
	}
	_ = r.SetPriority(context.Background(), paxos.Priority{Healthy: true, ZoneRank: uint32(id - 1)})
	g.mu.Lock()
	g.logs[id], g.dbs[id], g.reps[id] = l, db, r
	g.mu.Unlock()
	return nil
}

// startLed starts the three replicas and returns replica 1 once it serves (a lower ID is a
// higher priority).
func (g *group) startLed() *Replica {
	g.t.Helper()
	for id := paxos.ID(1); id <= 3; id++ {
		g.start(id)
	}
	g.mu.Lock()
	r1 := g.reps[1]
	g.mu.Unlock()
	waitFor(g.t, "replica 1 to lead", func() bool { return r1.Status().Serving })
	return r1
}

func (g *group) stop(id paxos.ID) {
	g.mu.Lock()
	r := g.reps[id]
	delete(g.reps, id)
	g.mu.Unlock()
	if r == nil {
		return
	}
	r.Close()
	_ = g.dbs[id].Close()
	_ = g.logs[id].Close()
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// statuses describes every running replica, for a failure message.
func (g *group) statuses() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	var b strings.Builder
	for id := paxos.ID(1); id <= 3; id++ {
		if r := g.reps[id]; r != nil {
			var dumping, installing bool
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			err := r.do(ctx, func() { dumping, installing = r.dumping, r.installing })
			cancel()
			fmt.Fprintf(&b, "replica %d (cut %v, dumping %v, installing %v, loop %v): %+v\n", id, g.cut[id], dumping, installing, err, r.Status().Status)
		}
	}
	return b.String()
}

// leader is the serving replica among ids (among all, when none are given), or nil.
func (g *group) leader(ids ...paxos.ID) *Replica {
	g.mu.Lock()
	defer g.mu.Unlock()
	for id, r := range g.reps {
		if (len(ids) == 0 || slices.Contains(ids, id)) && r.Status().Serving {
			return r
		}
	}
	return nil
}

func (g *group) put(key, value string) uint64 {
	g.t.Helper()
	return g.write(Batch{Ops: []Op{{Kind: OpPut, Key: []byte(key), Value: []byte(value)}}})
}

// write writes b through the current leader.
func (g *group) write(b Batch) uint64 {
	g.t.Helper()
	return g.writeVia(b)
}

// writeVia writes b through the current leader, if it is one of ids (any, when none are given).
func (g *group) writeVia(b Batch, ids ...paxos.ID) uint64 {
	g.t.Helper()
	// A leader refuses writes while it hands leadership over (to the preferred replica after
	// a restart), which lasts until the target caught up: retry for as long as waitFor waits.
	deadline := time.Now().Add(20 * time.Second)
	for {
		var l *Replica
		waitFor(g.t, fmt.Sprintf("a leader among %v", ids), func() bool { l = g.leader(ids...); return l != nil })
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		v, err := l.Write(ctx, b)
		cancel()
		if err == nil {
			return v
		}
		if time.Now().After(deadline) || !errors.Is(err, ErrNotLeader) {
			g.t.Fatalf("write %s: %v\n%s", b.Ops[0].Key, err, g.statuses())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (g *group) get(id paxos.ID, key string) string {
	g.t.Helper()
	g.mu.Lock()
	r := g.reps[id]
	g.mu.Unlock()
	// A leadership hand-over (replica 1 taking leadership back after a restart) briefly
	// refuses read indexes; a client retries those, so the helper does too.
	var err error
	waitFor(g.t, fmt.Sprintf("a read index on %d", id), func() bool {
		err = r.ReadIndex(context.Background())
		return err == nil || !errors.Is(err, ErrNotLeader)
	})
	if err != nil {
		g.t.Fatalf("read index on %d: %v", id, err)
	}
	v, ok, err := r.Get([]byte(key), ^uint64(0))
	if err != nil {
		g.t.Fatal(err)
	}
	if !ok {
		return "<none>"
	}
	return string(v)
}

func TestWriteReadRestart(t *testing.T) {
	g := newGroup(t)
	for id := paxos.ID(1); id <= 3; id++ {
		g.start(id)
	}
	for i := 0; i < 50; i++ {
		g.put(fmt.Sprintf("k%02d", i), fmt.Sprintf("v%d", i))
	}
	for id := paxos.ID(1); id <= 3; id++ {
		if got := g.get(id, "k42"); got != "v42" {
			t.Fatalf("replica %d read k42 = %q", id, got)
		}
	}
	// Restart everything: the log and the (empty) sstable bring every write back.
	for id := paxos.ID(1); id <= 3; id++ {
		g.stop(id)
	}
	for id := paxos.ID(1); id <= 3; id++ {
		g.start(id)
	}
	g.put("after", "restart")
	for id := paxos.ID(1); id <= 3; id++ {
		if got := g.get(id, "k07"); got != "v7" {
			t.Fatalf("after restart replica %d read k07 = %q", id, got)
		}
	}
}

// compactPast3 stops replica 3 and has the others write k00..k29, checkpoint and compact their
// logs past it (g.ckpt must be short): replica 3 can then only catch up by a snapshot.
func (g *group) compactPast3(t *testing.T) {
	g.stop(3)
	for i := 0; i < 30; i++ {
		g.put(fmt.Sprintf("k%02d", i), "x")
	}
	waitFor(t, "replicas 1 and 2 to compact", func() bool {
		g.mu.Lock()
		defer g.mu.Unlock()
		return g.reps[1].Status().First >= 10 && g.reps[2].Status().First >= 10
	})
}

func TestCheckpointCompactAndSnapshotRebuild(t *testing.T) {
	g := newGroup(t)
	g.ckpt = 50 * time.Millisecond
	for id := paxos.ID(1); id <= 3; id++ {
		g.start(id)
	}
	g.put("a", "1")
	g.compactPast3(t)
	// Restart 1 from its checkpoint + log.
	g.stop(1)
	g.start(1)
	// Replica 3 comes back behind the compacted prefix: it is rebuilt from a snapshot.
	g.start(3)
	g.put("b", "2")
	// The leader no longer has the entries replica 3 lacks, so it can only catch up by
	// installing a snapshot: its log then starts after the snapshot point.
	waitFor(t, "replica 3 to install a snapshot and read b", func() bool {
		g.mu.Lock()
		r := g.reps[3]
		g.mu.Unlock()
		v, ok, err := r.Get([]byte("b"), ^uint64(0))
		return err == nil && ok && string(v) == "2" && r.Status().First >= 10
	})
	for _, k := range []string{"a", "k00", "k29"} {
		if got := g.get(3, k); got == "<none>" {
			t.Fatalf("rebuilt replica 3 lacks %s", k)
		}
		if got := g.get(1, k); got == "<none>" {
			t.Fatalf("restarted replica 1 lacks %s", k)
		}
	}
	// The rebuilt replica restarts from what the install recorded: the snapshot point and the
	// log's new start, written together.
	first := g.reps[3].Status().First
	g.stop(3)
	g.start(3)
	if got := g.reps[3].Status().First; got < first {
		t.Fatalf("replica 3 restarted with its log from %d, before %d (its snapshot's)", got, first)
	}
	g.put("c", "3")
	for _, k := range []string{"a", "k29", "b", "c"} {
		if got := g.get(3, k); got == "<none>" {
			t.Fatalf("replica 3 restarted after its rebuild lacks %s", k)
		}
	}
}

// TestOpenRefusesAnSstableWithoutTheCompactedData: a replica whose log was compacted past a
// checkpoint does not open over an sstable that lost that checkpoint's data (deleted, damaged,
// or emptied by a snapshot import a crash interrupted): replaying the log alone served its
// older rows as "not found", even as leader. Open says ErrDataLost; the server then has the
// replica rebuilt from its peers.
func TestOpenRefusesAnSstableWithoutTheCompactedData(t *testing.T) {
	g := newGroup(t)
	g.ckpt = 50 * time.Millisecond
	for id := paxos.ID(1); id <= 3; id++ {
		g.start(id)
	}
	for i := 0; i < 30; i++ {
		g.put(fmt.Sprintf("k%02d", i), "x")
	}
	waitFor(t, "replica 3 to checkpoint and compact", func() bool {
		g.mu.Lock()
		defer g.mu.Unlock()
		return g.reps[3].Status().First > 1
	})
	g.stop(3)
	// Its sstable loses the partition (as an interrupted import leaves it).
	opts := sstable.DefaultOptions(g.dirs[3] + "/sstable")
	opts.Logger = nil
	db, err := sstable.Open(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.DropPartition(context.Background(), 7); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	err = g.open(3)
	if !errors.Is(err, ErrDataLost) || !strings.Contains(err.Error(), "no checkpoint") {
		t.Fatalf("open over an sstable without the partition's checkpoint: %v; want ErrDataLost saying so", err)
	}
	// Replicas whose sstable is whole still open.
	g.stop(2)
	g.start(2)
	if got := g.get(2, "k07"); got != "x" {
		t.Fatalf("replica 2 restarted: k07 = %q", got)
	}
}

// TestFailedImportLosesTheReplicasData: a snapshot transfer that breaks after the import
// dropped the partition's data leaves the replica without data: it refuses reads (it used to
// answer "not found" for every older row) and says so on DataLost, for its server to rebuild
// it; the leader need not offer a snapshot again (a new one may feed it from its log).
func TestFailedImportLosesTheReplicasData(t *testing.T) {
	g := newGroup(t)
	g.ckpt = 50 * time.Millisecond
	for id := paxos.ID(1); id <= 3; id++ {
		g.start(id)
	}
	g.put("a", "1")
	g.compactPast3(t)
	g.mu.Lock()
	g.truncFetch = true
	g.mu.Unlock()
	g.start(3)
	g.mu.Lock()
	r3 := g.reps[3]
	g.mu.Unlock()
	select {
	case <-r3.DataLost():
	case <-time.After(20 * time.Second):
		t.Fatalf("replica 3 did not report its data lost after a broken snapshot transfer (%d fetches)", g.fetches.Load())
	}
	if v, ok, err := r3.Get([]byte("a"), ^uint64(0)); err == nil {
		t.Fatalf("replica 3 without data read a = %q, %v; want an error", v, ok)
	}
}

// A replica restarted more often than the checkpoint interval still checkpoints on schedule:
// the interval counts from its last checkpoint (here: from its oldest entry, written two hours
// ago by the clock of Config.Now), not from the restart.
func TestCheckpointIntervalCountsAcrossRestarts(t *testing.T) {
	g := newGroup(t)
	g.ckpt = time.Hour
	g.now = func() time.Time { return time.Now().Add(-2 * time.Hour) }
	for id := paxos.ID(1); id <= 3; id++ {
		g.start(id)
	}
	for i := 0; i < 10; i++ {
		g.put(fmt.Sprintf("k%02d", i), "x")
	}
	g.now = nil
	for id := paxos.ID(1); id <= 3; id++ {
		g.stop(id)
		g.start(id)
	}
	waitFor(t, "every replica to checkpoint and compact its log", func() bool {
		g.mu.Lock()
		defer g.mu.Unlock()
		for _, r := range g.reps {
			if r.Status().First <= 1 {
				return false
			}
		}
		return true
	})
	if got := g.get(2, "k09"); got != "x" {
		t.Fatalf("k09 = %q after the checkpoint", got)
	}
}

// With KeepLog, a checkpoint keeps the log from the previous checkpoint on: a replica down across
// one checkpoint finds the entries it lacks still there, and catches up. Without it, the log goes
// to the checkpoint and the replica can only fetch a snapshot.
//
// It once fetched a snapshot in about one run in twenty: when leadership had moved while it was
// down, the new leader reset its lost probes to index 1 (paxos
// TestNewLeaderCatchesUpAReturningReplicaFromItsLog).
func TestKeepLogKeepsWhatALaggingReplicaLacks(t *testing.T) {
	for _, keep := range []bool{true, false} {
		t.Run(fmt.Sprintf("keep=%v", keep), func(t *testing.T) {
			g := newGroup(t)
			// Every write fills the memstore: each is checkpointed at the next tick, and
			// nothing else is.
			g.limit, g.ckpt, g.keepLog = 1, time.Hour, keep
			for id := paxos.ID(1); id <= 3; id++ {
				g.start(id)
			}
			g.put("a", "1")
			waitFor(t, "replica 3 to apply a", func() bool { return g.get(3, "a") == "1" })
			// The checkpoint of a on 1 and 2: the one before the next.
			var before [3]uint64
			waitFor(t, "replicas 1 and 2 to checkpoint a", func() bool {
				g.mu.Lock()
				defer g.mu.Unlock()
				for _, id := range []paxos.ID{1, 2} {
					if before[id] = g.reps[id].Status().Snapshot; before[id] == 0 {
						return false
					}
				}
				return true
			})
			g.stop(3)
			// One entry after replica 3 left, then a checkpoint through it on 1 and 2.
			b := Batch{}
			for i := 0; i < 10; i++ {
				b.Ops = append(b.Ops, Op{Kind: OpPut, Key: []byte(fmt.Sprintf("k%d", i)), Value: []byte("x")})
			}
			g.write(b)
			waitFor(t, "replicas 1 and 2 to checkpoint the write", func() bool {
				g.mu.Lock()
				defer g.mu.Unlock()
				for _, id := range []paxos.ID{1, 2} {
					if g.reps[id].Status().Snapshot <= before[id] {
						return false
					}
				}
				return true
			})
			g.mu.Lock()
			for _, id := range []paxos.ID{1, 2} {
				st := g.reps[id].Status()
				switch {
				case keep && st.First > before[id]+1:
					t.Errorf("replica %d keeps its log from %d, after its previous checkpoint %d", id, st.First, before[id])
				case !keep && st.First != st.Snapshot+1:
					t.Errorf("replica %d keeps its log from %d without KeepLog (checkpoint %d)", id, st.First, st.Snapshot)
				}
			}
			g.mu.Unlock()
			g.start(3)
			waitFor(t, "replica 3 to catch up", func() bool { return g.get(3, "k9") == "x" })
			if keep && g.fetches.Load() != 0 {
				t.Fatal("replica 3 fetched a snapshot though the leaders kept the entries it lacked")
			}
			if !keep && g.fetches.Load() == 0 {
				t.Fatal("replica 3 caught up without a snapshot though the log was compacted past it")
			}
		})
	}
}

func TestBatchCodec(t *testing.T) {
	b := Batch{Ops: []Op{{Kind: OpPut, Key: []byte("k"), Value: []byte("v")}, {Kind: OpDelete, Key: []byte("d")}}}
	got, err := DecodeBatch(b.Encode())
	if err != nil || len(got.Ops) != 2 || string(got.Ops[0].Value) != "v" || got.Ops[1].Kind != OpDelete {
		t.Fatalf("round trip: %+v %v", got, err)
	}
	for _, bad := range [][]byte{nil, {0}, {batchMagic}, {batchMagic, 1}, {batchMagic, 1, 1, 5, 'a'}, append(b.Encode(), 0)} {
		if _, err := DecodeBatch(bad); !errors.Is(err, ErrBadBatch) {
			t.Errorf("DecodeBatch(%v) = %v, want ErrBadBatch", bad, err)
		}
	}
	if err := (Batch{}).Validate(); !errors.Is(err, ErrBadBatch) {
		t.Errorf("empty batch validated: %v", err)
	}
	if err := (Batch{Ops: []Op{{Kind: OpPut}}}).Validate(); !errors.Is(err, ErrBadBatch) {
		t.Errorf("empty key validated: %v", err)
	}
}

func FuzzDecodeBatch(f *testing.F) {
	f.Add(Batch{Ops: []Op{{Kind: OpPut, Key: []byte("k"), Value: []byte("v")}}}.Encode())
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := DecodeBatch(data)
		if err == nil {
			if _, err := DecodeBatch(b.Encode()); err != nil {
				t.Fatalf("re-encoding a decoded batch: %v", err)
			}
		}
	})
}

// TestReadableVersionSurvivesRestart: a replica restarted while cut off does not serve weak
// reads at the closed version of its snapshot, which is older than what it served before the
// restart; once it hears from the leader it serves at least that again (DESIGN.md invariant 5).
func TestReadableVersionSurvivesRestart(t *testing.T) {
	g := newGroup(t)
	g.ckpt = 20 * time.Millisecond
	for id := paxos.ID(1); id <= 3; id++ {
		g.start(id)
	}
	var last uint64
	for i := 0; i < 20; i++ {
		last = g.put(fmt.Sprintf("k%02d", i), "v")
	}
	g.mu.Lock()
	r3 := g.reps[3]
	g.mu.Unlock()
	waitFor(t, "replica 3 to checkpoint (compact its log) and make the last write readable", func() bool {
		st := r3.Status()
		return st.First > 1 && st.ReadableVersion >= last
	})
	// The checkpoint it has may predate the closed version it reads at: write on until it takes
	// the next one, whose snapshot records a closed version (it compacts the log past this one).
	ckpt := r3.Status().Snapshot
	waitFor(t, "replica 3 to checkpoint again", func() bool {
		g.put("more", "v")
		return r3.Status().First > ckpt+1
	})
	before := r3.Status().ReadableVersion
	g.mu.Lock()
	g.cut[3] = true
	g.mu.Unlock()
	g.stop(3)
	g.start(3)
	g.mu.Lock()
	r3 = g.reps[3]
	g.mu.Unlock()
	booted := r3.Status()
	if booted.Closed.Version == 0 {
		t.Fatal("replica 3 booted without a closed version: the test needs one from its snapshot")
	}
	// It replays what it knows chosen; entries after that (accepted, their commit not yet
	// heard before the stop) wait for the leader.
	waitFor(t, "replica 3 to replay its log", func() bool { return r3.Status().Applied >= booted.Commit })
	if got := r3.Status().ReadableVersion; got != 0 && got < before {
		t.Fatalf("restarted replica 3, cut off, serves weak reads at %d, below the %d it served before (boot closed version %d)",
			got, before, booted.Closed.Version)
	}
	g.mu.Lock()
	g.cut[3] = false
	g.mu.Unlock()
	waitFor(t, "replica 3 to serve weak reads again, at no older version", func() bool { return r3.Status().ReadableVersion >= before })
}

// TestSnapshotArrivingAfterCatchUp: a replica fetching a snapshot from a leader that then dies
// catches up from the new leader's log meanwhile; when the snapshot finally arrives the Node
// ignores it, and the replica keeps every write it applied from the log (they were dropped
// with the memstores, so reads missed acknowledged writes).
func TestSnapshotArrivingAfterCatchUp(t *testing.T) {
	g := newGroup(t)
	for id := paxos.ID(1); id <= 3; id++ {
		g.ckpt = time.Hour
		if id == 1 {
			g.ckpt = 20 * time.Millisecond // only the first leader compacts its log
		}
		g.start(id)
	}
	// Replica 1, the preferred one, must lead before 3 is cut: a write sent to 3 while it still
	// led would wait, cut off, for its deadline.
	g.mu.Lock()
	r1 := g.reps[1]
	g.mu.Unlock()
	waitFor(t, "replica 1 to lead", func() bool { return r1.Status().Serving })
	g.put("a", "1")
	// Replica 3 must vote when 1 dies below: started last, it may still be recovering (its
	// group elected without it), and a recovering replica counts toward no quorum.
	g.mu.Lock()
	r3 := g.reps[3]
	g.mu.Unlock()
	waitFor(t, "replica 3 to leave recovery", func() bool { return !r3.Status().Recovering })
	// Only replica 1 compacts: a fixed "first index past 10" was not enough once elections had
	// taken replica 3's log past it.
	g.leaveBehind(3, 1)
	g.reconnectHeld(3)
	// The leader that offered the snapshot dies; replica 2, whose log is whole, leads and
	// feeds replica 3 from its log while the snapshot is still on its way.
	g.stop(1)
	for i := 0; i < 10; i++ {
		g.put(fmt.Sprintf("m%02d", i), "y")
	}
	waitFor(t, "replica 3 to apply m09 from the log", func() bool {
		v, ok, err := r3.Get([]byte("m09"), ^uint64(0))
		return err == nil && ok && string(v) == "y"
	})
	g.mu.Lock()
	close(g.holdFetch)
	g.holdFetch = nil
	g.mu.Unlock()
	waitFor(t, "replica 3 to finish with the snapshot", func() bool {
		var installing bool
		_ = r3.do(context.Background(), func() { installing = r3.installing })
		return !installing
	})
	for _, k := range []string{"a", "k00", "k29", "m00", "m09"} {
		if got := g.get(3, k); got == "<none>" {
			t.Errorf("replica 3 lost %s when the snapshot it no longer needed arrived", k)
		}
	}
}

// A leader that hears nothing more once its followers accepted a write (so it is chosen), then
// comes back behind its successor's compacted log, catches up by a snapshot past the write's
// entry. The writer must learn that the outcome is unknown: the snapshot does not tell what was
// chosen there. Before, the next entry applied after the snapshot answered it "not chosen" (it
// was): the server said "write not applied" of an applied write (our client, which takes that
// status for an unknown outcome, was not misled; another caller could be).
func TestWriteBehindAnInstalledSnapshotIsUnknown(t *testing.T) {
	g := newGroup(t)
	g.ckpt = 20 * time.Millisecond
	r1 := g.startLed()
	g.put("a", "1")
	// Replicas 2 and 3 must elect without 1: a recovering replica counts toward no quorum.
	for _, id := range []paxos.ID{2, 3} {
		g.mu.Lock()
		r := g.reps[id]
		g.mu.Unlock()
		waitFor(t, "replicas 2 and 3 to leave recovery", func() bool { return !r.Status().Recovering })
	}
	g.mu.Lock()
	g.deaf[1] = true
	g.mu.Unlock()
	res := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_, err := r1.Write(ctx, Batch{Ops: []Op{{Kind: OpPut, Key: []byte("chosen"), Value: []byte("yes")}}})
		res <- err
	}()
	waitFor(t, "replica 1 to stop serving", func() bool { return !r1.Status().Serving })
	g.mu.Lock()
	g.cut[1] = true // its campaigns would disturb the others' election
	g.mu.Unlock()
	for i := 0; i < 30; i++ {
		g.put(fmt.Sprintf("k%02d", i), "x")
	}
	if got := g.get(2, "chosen"); got != "yes" {
		t.Fatalf("the write replica 1 sent before it went deaf was not chosen: %q", got)
	}
	var last uint64
	if err := r1.do(context.Background(), func() { last = r1.node.Status().Last }); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the new leader to compact past replica 1's log", func() bool {
		for _, id := range []paxos.ID{2, 3} {
			g.mu.Lock()
			r := g.reps[id]
			g.mu.Unlock()
			if st := r.Status(); st.Serving && st.First > last+1 {
				return true
			}
		}
		return false
	})
	g.mu.Lock()
	g.cut[1], g.deaf[1] = false, false
	g.mu.Unlock()
	select {
	case err := <-res:
		if !errors.Is(err, ErrOutcomeUnknown) {
			t.Fatalf("the chosen write of the deposed leader: %v, want outcome unknown", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("the write was not answered 20 s after its replica came back (status %+v)", r1.Status())
	}
	// The status is published once the round that installed the snapshot ends.
	waitFor(t, "replica 1 to have a snapshot past its write", func() bool { return r1.Status().Snapshot > last })
}

// A leader that stops hearing its followers for a little longer than its lease stops serving but
// keeps its ballot; when their answers reach it again it serves under the same ballot, with no
// election, and says so in its log (paxos.Node's lapse, docs/paxos.md).
func TestLapsedLeaseComesBackUnderTheSameBallot(t *testing.T) {
	g := newGroup(t)
	g.leaseTicks = 200 // 1 s at 5 ms a tick: the lapse lasts 500 ms, room for a loaded machine
	var logs lockedBuffer
	g.logw = &logs
	r1 := g.startLed()
	g.put("a", "1")
	ballot := r1.Status().Ballot
	before := len(logs.String()) // the start may have elected twice (another replica first)
	g.mu.Lock()
	g.deaf[1] = true
	g.mu.Unlock()
	waitFor(t, "replica 1's lease to lapse", func() bool { return !r1.Status().Serving })
	g.mu.Lock()
	g.deaf[1] = false
	g.mu.Unlock()
	waitFor(t, "replica 1 to serve again", func() bool { return r1.Status().Serving })
	if st := r1.Status(); st.Ballot != ballot {
		t.Fatalf("replica 1 serves under ballot %s, want %s kept through the lapse\n%s", st.Ballot, ballot, logs.String())
	}
	g.put("b", "2")
	if got := g.get(2, "b"); got != "2" {
		t.Fatalf("b on replica 2 = %q after the lapse", got)
	}
	out := logs.String()[before:]
	for _, want := range []string{"lease lapsed: not serving, still leading", "lease back: serving under the same ballot"} {
		if !strings.Contains(out, want) {
			t.Errorf("the log since the lapse lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "msg=leadership") {
		t.Errorf("leadership changed hands during the lapse:\n%s", out)
	}
}

// lockedBuffer is a bytes.Buffer several replicas' loggers may write at once.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// A proposal's waiter is answered "applied" only by its own entry: not by a barrier or another
// leader's conf change at its index (version 0 like a conf change), nor by another write that
// happens to carry its version; an entry past its index (a snapshot skipped it) leaves the
// outcome unknown.
func TestWaiterMatchesItsOwnEntry(t *testing.T) {
	g := newGroup(t)
	g.start(1)
	g.mu.Lock()
	r := g.reps[1]
	g.mu.Unlock()
	cc := paxos.ConfChange{Type: paxos.ConfAdd, ID: 4, Replica: paxos.ReadOnly, Upstream: 1}
	other := paxos.ConfChange{Type: paxos.ConfAdd, ID: 5, Replica: paxos.ReadOnly, Upstream: 1}
	write := Batch{Ops: []Op{{Kind: OpPut, Key: []byte("k"), Value: []byte("mine")}}}.Encode()
	theirs := Batch{Ops: []Op{{Kind: OpPut, Key: []byte("k"), Value: []byte("theirs")}}}.Encode()
	const at = 1 << 40 // far above the log: apply is called directly
	for _, c := range []struct {
		name string
		w    waiter
		e    paxos.Entry
		want error // nil: applied
	}{
		{"own conf change", waiter{typ: paxos.EntryConfChange, data: paxos.EncodeConfChange(cc)},
			paxos.Entry{Type: paxos.EntryConfChange, Data: paxos.EncodeConfChange(cc)}, nil},
		{"barrier at a conf change's index", waiter{typ: paxos.EntryConfChange, data: paxos.EncodeConfChange(cc)},
			paxos.Entry{Type: paxos.EntryBarrier}, ErrNotChosen},
		{"another conf change", waiter{typ: paxos.EntryConfChange, data: paxos.EncodeConfChange(cc)},
			paxos.Entry{Type: paxos.EntryConfChange, Data: paxos.EncodeConfChange(other)}, ErrNotChosen},
		{"own write", waiter{typ: paxos.EntryNormal, version: 7, data: write},
			paxos.Entry{Type: paxos.EntryNormal, Version: 7, Data: write}, nil},
		{"another write of the same version", waiter{typ: paxos.EntryNormal, version: 7, data: write},
			paxos.Entry{Type: paxos.EntryNormal, Version: 7, Data: theirs}, ErrNotChosen},
		{"an entry past the write's", waiter{typ: paxos.EntryNormal, version: 7, data: write, index: at - 1},
			paxos.Entry{Type: paxos.EntryNormal, Version: 8, Data: theirs}, ErrOutcomeUnknown},
	} {
		c.e.Index = at
		if c.w.index == 0 {
			c.w.index = at
		}
		c.w.done = make(chan error, 1)
		if err := r.do(context.Background(), func() {
			saved := r.active
			r.active = nil // the entries are not applied to the data: only the waiters
			r.waiters = append(r.waiters, c.w)
			r.apply(c.e)
			r.active = saved
		}); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-c.w.done:
			if (c.want == nil) != (err == nil) || (c.want != nil && !errors.Is(err, c.want)) {
				t.Errorf("%s: %v, want %v", c.name, err, c.want)
			}
		default:
			t.Errorf("%s: not answered", c.name)
		}
	}
}

// A leader whose memstores hold throttleFactor x MemstoreLimit, their dumps behind, holds its
// writers back: a write that waits until its deadline fails with ErrThrottled and was not
// proposed; once the dumps go on, writes go on.
func TestWritesThrottledWhileDumpsLag(t *testing.T) {
	g := newGroup(t)
	g.limit = 64 << 10
	hook, entered, release := holdDumps(t)
	g.beforeDump = hook
	for id := paxos.ID(1); id <= 3; id++ {
		g.start(id)
	}
	value := strings.Repeat("v", 16<<10)
	var throttled error
	var key string
	for i := 0; i < 200 && throttled == nil; i++ {
		l := g.leader()
		if l == nil {
			waitFor(t, "a leader", func() bool { return g.leader() != nil })
			continue
		}
		key = fmt.Sprintf("k%03d", i)
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		_, err := l.Write(ctx, Batch{Ops: []Op{{Kind: OpPut, Key: []byte(key), Value: []byte(value)}}})
		cancel()
		switch {
		case errors.Is(err, ErrThrottled):
			throttled = err
		case err != nil && !errors.Is(err, ErrNotLeader):
			t.Fatalf("write %s: %v", key, err)
		}
	}
	select {
	case <-entered:
	default:
		t.Fatal("no dump started")
	}
	if throttled == nil {
		t.Fatalf("200 writes of 16 KiB with every dump held (memstore limit 64 KiB): none throttled")
	}
	t.Logf("throttled: %v", throttled)
	release()
	g.put("after", "1") // waits for the dumps to catch up, then goes through
	if got := g.get(1, key); got != "<none>" {
		t.Fatalf("the throttled write of %s was applied: %q", key, got)
	}
}

// holdDumps returns a Config.beforeDump hook that holds every dump until release is called
// (at the latest when the test ends, before the group stops), and a channel told, without
// blocking, that a dump started.
func holdDumps(t *testing.T) (hook func() error, entered chan struct{}, release func()) {
	hold := make(chan struct{})
	entered = make(chan struct{}, 1)
	var once sync.Once
	release = func() { once.Do(func() { close(hold) }) }
	t.Cleanup(release)
	hook = func() error {
		select {
		case entered <- struct{}{}:
		default:
		}
		<-hold
		return nil
	}
	return hook, entered, release
}

// A checkpoint's dump (seconds for a large memstore) must not stop the partition: while every
// replica's dump is held, writes and strong reads go on under the same leader, and once the
// dumps finish the logs are compacted and a restarted replica has every write.
func TestCheckpointDoesNotStopThePartition(t *testing.T) {
	g := newGroup(t)
	g.ckpt = 20 * time.Millisecond
	hook, entered, release := holdDumps(t)
	g.beforeDump = hook
	for id := paxos.ID(1); id <= 3; id++ {
		g.start(id)
	}
	g.mu.Lock()
	l := g.reps[1]
	g.mu.Unlock()
	waitFor(t, "replica 1, the preferred one, to lead", func() bool { return l.Status().Serving })
	ballot, _ := l.Leading()
	g.put("a", "1")
	select {
	case <-entered:
	case <-time.After(20 * time.Second):
		t.Fatal("no checkpoint started")
	}
	for i := 0; i < 20; i++ {
		g.put(fmt.Sprintf("k%02d", i), "x")
	}
	for id := paxos.ID(1); id <= 3; id++ {
		if got := g.get(id, "k19"); got != "x" {
			t.Fatalf("replica %d reads k19 = %s during the dumps, want x", id, got)
		}
	}
	if b, ok := l.Leading(); !ok || b != ballot {
		t.Fatalf("leadership changed while the dumps were held: ballot %v serving %v, was %v", b, ok, ballot)
	}
	release()
	waitFor(t, "every replica to compact its log", func() bool {
		g.mu.Lock()
		defer g.mu.Unlock()
		for _, r := range g.reps {
			if r.Status().First < 3 {
				return false
			}
		}
		return true
	})
	g.stop(2)
	g.start(2)
	for _, k := range []string{"a", "k00", "k19"} {
		if got := g.get(2, k); got == "<none>" {
			t.Fatalf("restarted replica 2 lacks %s", k)
		}
	}
}

// A dump that fails leaves its table readable and the log uncompacted; the next checkpoint
// dumps that table again before any other, and only then is the log compacted: a restart then
// finds every write, in the sstable or the log.
func TestFailedDumpIsRetried(t *testing.T) {
	g := newGroup(t)
	g.ckpt = 20 * time.Millisecond
	var mu sync.Mutex
	failing, failures := true, 0
	g.beforeDump = func() error {
		mu.Lock()
		defer mu.Unlock()
		if failing {
			failures++
			return errors.New("disk full (test)")
		}
		return nil
	}
	for id := paxos.ID(1); id <= 3; id++ {
		g.start(id)
	}
	for i := 0; i < 10; i++ {
		g.put(fmt.Sprintf("k%02d", i), "x")
	}
	// Checkpoints fail before and after more writes (they freeze no further table).
	failed := func(n int) func() bool {
		return func() bool { mu.Lock(); defer mu.Unlock(); return failures >= n }
	}
	waitFor(t, "a dump to fail", failed(3))
	for i := 10; i < 20; i++ {
		g.put(fmt.Sprintf("k%02d", i), "x")
	}
	waitFor(t, "another dump to fail", failed(6))
	g.mu.Lock()
	for id, r := range g.reps {
		if first := r.Status().First; first > 1 {
			t.Errorf("replica %d compacted its log to %d though every dump failed", id, first)
		}
	}
	g.mu.Unlock()
	if got := g.get(1, "k05"); got != "x" {
		t.Fatalf("k05 = %s while its dump failed, want x", got)
	}
	mu.Lock()
	failing = false
	mu.Unlock()
	waitFor(t, "every replica to compact its log past k19", func() bool {
		g.mu.Lock()
		defer g.mu.Unlock()
		for _, r := range g.reps {
			if st := r.Status(); st.First <= 20 {
				return false
			}
		}
		return true
	})
	g.stop(2)
	g.start(2)
	for i := 0; i < 20; i++ {
		if got := g.get(2, fmt.Sprintf("k%02d", i)); got != "x" {
			t.Fatalf("restarted replica 2: k%02d = %s, want x", i, got)
		}
	}
}

// A snapshot the Node asks for while a dump runs waits for the dump (an import would drop the
// partition's data under it), then is fetched and installed.
// leaveBehind cuts replica lag off, writes k00..k29 and waits until a serving leader among
// others (which compact their logs) has compacted past lag's log end, so lag needs a snapshot.
func (g *group) leaveBehind(lag paxos.ID, others ...paxos.ID) {
	g.t.Helper()
	g.mu.Lock()
	g.cut[lag] = true
	r := g.reps[lag]
	var rs []*Replica
	for _, id := range others {
		rs = append(rs, g.reps[id])
	}
	g.mu.Unlock()
	var last uint64
	if err := r.do(context.Background(), func() { last = r.node.Status().Last }); err != nil {
		g.t.Fatal(err)
	}
	for i := 0; i < 30; i++ {
		g.put(fmt.Sprintf("k%02d", i), "x")
	}
	waitFor(g.t, fmt.Sprintf("the leader to compact its log past replica %d's", lag), func() bool {
		for _, r := range rs {
			if st := r.Status(); st.Serving && st.First > last+1 {
				return true
			}
		}
		return false
	})
}

// reconnectHeld holds every snapshot fetch after its export until g.holdFetch is closed,
// reconnects replica lag and waits until it fetches one.
func (g *group) reconnectHeld(lag paxos.ID) {
	g.t.Helper()
	g.mu.Lock()
	g.holdFetch, g.fetched = make(chan struct{}), make(chan struct{}, 8)
	g.cut[lag] = false
	g.mu.Unlock()
	select {
	case <-g.fetched:
	case <-time.After(20 * time.Second):
		g.t.Fatalf("replica %d fetched no snapshot: %s", lag, g.statuses())
	}
}

// TestCloseEndsSnapshotFetch: closing a replica cancels its snapshot fetch and waits for it,
// so its owner may close the sstable next. The fetch went on after Close returned and wrote to
// the closed store (badger panicked, "DB Closed", in a group's cleanup).
func TestCloseEndsSnapshotFetch(t *testing.T) {
	g := newGroup(t)
	for id := paxos.ID(1); id <= 3; id++ {
		g.ckpt = 20 * time.Millisecond // whichever of 1 and 2 leads compacts past replica 3
		if id == 3 {
			g.ckpt = time.Hour
		}
		g.start(id)
	}
	g.mu.Lock()
	r1 := g.reps[1]
	g.mu.Unlock()
	waitFor(t, "replica 1 to lead", func() bool { return r1.Status().Serving })
	g.put("a", "1")
	g.leaveBehind(3, 1, 2)
	// Held for good: a fetch that outlived Close would import into the closed store.
	g.reconnectHeld(3)
	g.stop(3)
	if started, ended := g.fetches.Load(), g.fetchesEnded.Load(); started != ended {
		t.Fatalf("after replica 3 closed, %d of its %d snapshot fetches were still running", started-ended, started)
	}
}

func TestSnapshotWaitsForDump(t *testing.T) {
	g := newGroup(t)
	hook, entered, release := holdDumps(t)
	for id := paxos.ID(1); id <= 3; id++ {
		g.ckpt, g.beforeDump = time.Hour, nil
		switch id {
		case 1, 2:
			// The leader compacts past replica 3, whichever of them leads: a loaded machine
			// (the race detector, other packages' tests) can move leadership to replica 2,
			// whose log, never compacted, would feed replica 3 without a snapshot.
			g.ckpt = 20 * time.Millisecond
		case 3:
			g.ckpt = 20 * time.Millisecond
			g.beforeDump = hook
		}
		g.start(id)
	}
	g.mu.Lock()
	r1, r3 := g.reps[1], g.reps[3]
	g.mu.Unlock()
	waitFor(t, "replica 1 to lead", func() bool { return r1.Status().Serving })
	// Replica 3 may get the first writes by a snapshot (replica 1 compacts at once): write until
	// it applies one from the log and starts dumping it.
	dumping := false
	for i := 0; i < 100 && !dumping; i++ {
		// Not through replica 3 when it leads for a moment: its dump, held below, can hold it
		// behind a compacted log with the write unanswered (a test failure seen under load).
		g.writeVia(Batch{Ops: []Op{{Kind: OpPut, Key: []byte("a"), Value: []byte("1")}}}, 1, 2)
		select {
		case <-entered:
			dumping = true
		case <-time.After(100 * time.Millisecond):
		}
	}
	if !dumping {
		t.Fatalf("replica 3 started no dump: %+v", r3.Status())
	}
	// Replica 3's log may have grown well past its dump's entry (elections append entries).
	g.leaveBehind(3, 1, 2)
	g.mu.Lock()
	g.holdFetch, g.fetched = make(chan struct{}), make(chan struct{}, 8)
	close(g.holdFetch) // fetches are not held, only told of
	g.cut[3] = false
	g.mu.Unlock()
	waitFor(t, "replica 3 to defer the snapshot it was offered", func() bool {
		deferred := false
		_ = r3.do(context.Background(), func() { deferred = r3.deferredSnap != nil })
		return deferred
	})
	select {
	case <-g.fetched:
		t.Fatal("replica 3 fetched a snapshot while its dump ran")
	default:
	}
	release()
	select {
	case <-g.fetched:
	case <-time.After(20 * time.Second):
		t.Fatal("replica 3 fetched no snapshot after its dump")
	}
	for _, k := range []string{"a", "k00", "k29"} {
		k := k
		waitFor(t, "replica 3 to read "+k, func() bool {
			v, ok, err := r3.Get([]byte(k), ^uint64(0))
			return err == nil && ok && string(v) != ""
		})
	}
}

// TestCatchUpLargerThanABatch: a replica that comes back behind more entries than one clog
// write holds saves them in parts and catches up (it stopped with "update exceeds
// MaxBatchBytes" before, and stayed behind for good).
func TestCatchUpLargerThanABatch(t *testing.T) {
	g := newGroup(t)
	g.logOpts.MaxRecordBytes = 64 << 10
	g.logOpts.MaxBatchBytes = 128 << 10
	for id := paxos.ID(1); id <= 3; id++ {
		g.start(id)
	}
	g.put("a", "1")
	g.stop(3)
	value := string(bytes.Repeat([]byte("v"), 20<<10))
	for i := 0; i < 40; i++ { // 800 KiB of entries, in MsgAccepts of up to 1 MiB
		g.put(fmt.Sprintf("k%02d", i), value)
	}
	g.start(3)
	g.put("b", "2")
	waitFor(t, "replica 3 to catch up", func() bool {
		g.mu.Lock()
		r := g.reps[3]
		g.mu.Unlock()
		v, ok, err := r.Get([]byte("b"), ^uint64(0))
		return err == nil && ok && string(v) == "2"
	})
	if got := g.get(3, "k17"); got != value {
		t.Fatalf("replica 3 read k17: %d bytes, want the %d written", len(got), len(value))
	}
}

// TestMaxEntryBytes: the largest batches Validate lets through (the most bytes of values, the
// most operations) encode to log entries within MaxEntryBytes, which the server sizes its clog
// records by.
func TestMaxEntryBytes(t *testing.T) {
	value := bytes.Repeat([]byte("v"), MaxValueBytes-1)
	bigValues := Batch{Ops: []Op{
		{Kind: OpPut, Key: []byte("a"), Value: value}, {Kind: OpPut, Key: []byte("b"), Value: value},
		{Kind: OpPut, Key: []byte("c"), Value: value}, {Kind: OpPut, Key: []byte("d"), Value: value},
	}}
	manyOps := Batch{}
	key := bytes.Repeat([]byte("k"), MaxBatchBytes/MaxOpsPerBatch)
	for range MaxOpsPerBatch {
		manyOps.Ops = append(manyOps.Ops, Op{Kind: OpPut, Key: key})
	}
	for name, b := range map[string]Batch{"4 values of 4 MiB": bigValues, "10000 operations": manyOps} {
		if err := b.Validate(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if n := entryHeaderBytes + len(b.Encode()); n > MaxEntryBytes {
			t.Fatalf("%s: entry of %d bytes, MaxEntryBytes %d", name, n, MaxEntryBytes)
		}
	}
}

// TestStorageFailureFailsCalls: once persisting fails and the replica stops, calls to it fail
// with ErrFailed instead of waiting forever (a SIGTERMed observer hung in its drain on such a
// replica's SetPriority).
func TestStorageFailureFailsCalls(t *testing.T) {
	g := newGroup(t)
	g.logOpts.MaxRecordBytes = 4 << 10 // a clog that refuses the write below: a storage failure
	g.logOpts.MaxBatchBytes = 8 << 10
	for id := paxos.ID(1); id <= 3; id++ {
		g.start(id)
	}
	g.put("a", "1")
	// The preferred replica (1) leads once any transfer to it is over: a write to a leader
	// handing over is refused before it reaches the log.
	g.mu.Lock()
	l := g.reps[1]
	g.mu.Unlock()
	waitFor(t, "replica 1 to lead", func() bool { return l.Status().Serving })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := l.Write(ctx, Batch{Ops: []Op{{Kind: OpPut, Key: []byte("big"), Value: make([]byte, 6<<10)}}}); !errors.Is(err, ErrOutcomeUnknown) {
		t.Fatalf("a write the log refuses = %v, want ErrOutcomeUnknown", err)
	}
	done := make(chan error, 1)
	go func() { done <- l.SetPriority(context.Background(), paxos.Priority{Healthy: false}) }()
	select {
	case err := <-done:
		if !errors.Is(err, ErrFailed) {
			t.Fatalf("SetPriority on a stopped replica = %v, want ErrFailed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("SetPriority on a replica stopped by a storage failure still waits after 10s")
	}
	if _, err := l.Write(ctx, Batch{Ops: []Op{{Kind: OpPut, Key: []byte("b"), Value: []byte("2")}}}); !errors.Is(err, ErrFailed) {
		t.Fatalf("a write to a stopped replica = %v, want ErrFailed", err)
	}
}

// The partitions of a table (consecutive ids) take their first timed checkpoints spread over
// half the interval, at least about 1/(4n) of it apart, never at one moment; so do the replicas of
// one partition on different servers.
func TestCheckpointPhasesSpreadATablesPartitions(t *testing.T) {
	const interval = time.Minute
	spread := func(what string, phases []time.Duration) {
		t.Helper()
		for _, ph := range phases {
			if ph < 0 || ph >= interval/2 {
				t.Fatalf("%s: phase %v, want within [0, %v)", what, ph, interval/2)
			}
		}
		phases = slices.Sorted(slices.Values(phases))
		gap := interval / 2
		for i := 1; i < len(phases); i++ {
			gap = min(gap, phases[i]-phases[i-1])
		}
		if want := interval / time.Duration(6*len(phases)); gap < want {
			t.Fatalf("%s: phases %v, closest %v apart, want at least %v", what, phases, gap, want)
		}
	}
	for _, base := range []uint64{1, 3<<16 | 1, 1 << 40} {
		for _, n := range []int{2, 8, 64} {
			for id := paxos.ID(1); id <= 3; id++ {
				var phases []time.Duration
				for p := base; p < base+uint64(n); p++ {
					phases = append(phases, checkpointPhase(p, id, interval))
				}
				spread(fmt.Sprintf("%d partitions from %d on replica %d", n, base, id), phases)
			}
		}
		for _, n := range []int{3, 5, 7} {
			var phases []time.Duration
			for id := paxos.ID(1); id <= paxos.ID(n); id++ {
				phases = append(phases, checkpointPhase(base, id, interval))
			}
			spread(fmt.Sprintf("partition %d on replicas 1..%d", base, n), phases)
		}
	}
}
