package replica

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"obkv/clog"
	"obkv/paxos"
	"obkv/sstable"
)

// pcluster is three servers in one process, each with one clog (on a MemFS, to count its
// fdatasyncs), one sstable and one Poller driving its replicas of several partitions: the shape
// of a real server.
type pcluster struct {
	t       *testing.T
	fs      map[paxos.ID]*clog.MemFS
	logs    map[paxos.ID]*clog.Log
	pollers map[paxos.ID]*Poller
	conf    paxos.Membership

	mu   sync.Mutex
	reps map[paxos.ID]map[uint64]*Replica
	// deaf: messages to this server are dropped.
	deaf map[paxos.ID]bool
}

type pTransport struct {
	c *pcluster
}

func (tr pTransport) Send(partition uint64, msgs []paxos.Message) {
	tr.c.mu.Lock()
	defer tr.c.mu.Unlock()
	for _, m := range msgs {
		if r := tr.c.reps[m.To][partition]; r != nil && !tr.c.deaf[m.To] {
			m.Entries = append([]paxos.Entry(nil), m.Entries...)
			r.Step(m)
		}
	}
}

func newPCluster(t *testing.T, partitions int) *pcluster { return newPClusterLease(t, partitions, 100) }

// newPClusterLease is newPCluster with leases of leaseTicks ticks of 10 ms.
func newPClusterLease(t *testing.T, partitions int, leaseTicks uint64) *pcluster {
	c := &pcluster{t: t, fs: map[paxos.ID]*clog.MemFS{}, logs: map[paxos.ID]*clog.Log{}, pollers: map[paxos.ID]*Poller{},
		reps: map[paxos.ID]map[uint64]*Replica{}, deaf: map[paxos.ID]bool{}}
	for id := paxos.ID(1); id <= 3; id++ {
		c.conf.Members = append(c.conf.Members, paxos.Member{ID: id, Type: paxos.Full})
	}
	const tick = 10 * time.Millisecond
	for id := paxos.ID(1); id <= 3; id++ {
		c.fs[id] = clog.NewMemFS()
		o := clog.DefaultOptions()
		o.FS, o.SegmentBytes, o.GatherWait = c.fs[id], 16<<20, 0
		l, err := clog.Open("clog", o)
		if err != nil {
			t.Fatal(err)
		}
		so := sstable.DefaultOptions(t.TempDir())
		so.Logger = nil
		db, err := sstable.Open(context.Background(), so)
		if err != nil {
			t.Fatal(err)
		}
		p, err := NewPoller(l, tick)
		if err != nil {
			t.Fatal(err)
		}
		c.mu.Lock()
		c.logs[id], c.pollers[id], c.reps[id] = l, p, map[uint64]*Replica{}
		c.mu.Unlock()
		for part := uint64(1); part <= uint64(partitions); part++ {
			pc := paxos.DefaultConfig(id)
			pc.LeaseTicks, pc.HeartbeatTicks, pc.MaxDriftTicks = leaseTicks, 5, 5
			r, err := Open(context.Background(), Config{
				Partition: part, Paxos: pc, Log: l, Store: db, Transport: pTransport{c}, Poller: p,
				Tick: tick, MemstoreLimit: 64 << 20, CheckpointInterval: time.Hour, ClosedInterval: time.Hour,
				Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
			}, c.conf, paxos.Full)
			if err != nil {
				t.Fatal(err)
			}
			// Server 1 is the preferred leader of every partition.
			_ = r.SetPriority(context.Background(), paxos.Priority{Healthy: true, ZoneRank: uint32(id - 1)})
			c.mu.Lock()
			c.reps[id][part] = r
			c.mu.Unlock()
		}
		t.Cleanup(func() {
			c.mu.Lock()
			rs := c.reps[id]
			c.mu.Unlock()
			for _, r := range rs {
				r.Close()
			}
			p.Close()
			_ = l.Close()
			_ = db.Close()
		})
	}
	return c
}

func (c *pcluster) replica(id paxos.ID, part uint64) *Replica {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reps[id][part]
}

// leaders waits until server 1 serves every partition.
func (c *pcluster) leaders(partitions int) {
	c.t.Helper()
	waitFor(c.t, "server 1 to lead every partition", func() bool {
		for part := uint64(1); part <= uint64(partitions); part++ {
			if !c.replica(1, part).Status().Serving {
				return false
			}
		}
		return true
	})
}

func put(ctx context.Context, r *Replica, key, value string) error {
	_, err := r.Write(ctx, Batch{Ops: []Op{{Kind: OpPut, Key: []byte(key), Value: []byte(value)}}})
	return err
}

// The writes that reach the replicas of a server between two rounds go to the log in one write
// and one fdatasync, however many partitions they belong to.
func TestPollerWritesARoundOnce(t *testing.T) {
	const partitions = 8
	c := newPCluster(t, partitions)
	c.leaders(partitions)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// Hold server 1's poller before a round, queue one write on every partition meanwhile, and
	// keep the followers' answers away (only the writes make server 1 write).
	release := make(chan struct{})
	held := make(chan struct{})
	var once sync.Once
	hold := func() { once.Do(func() { close(held); <-release }) }
	c.pollers[1].beforeRound.Store(&hold)
	<-held
	c.mu.Lock()
	c.deaf[1] = true
	c.mu.Unlock()
	var lasts [partitions + 1]uint64
	for part := uint64(1); part <= partitions; part++ {
		_, lasts[part], _ = c.logs[1].Range(part)
	}
	errs := make(chan error, partitions)
	for part := uint64(1); part <= partitions; part++ {
		r := c.replica(1, part)
		go func() { errs <- put(ctx, r, fmt.Sprintf("k%d", part), "v") }()
		waitFor(t, "the write to queue", func() bool { return len(r.reqs) == 1 })
	}
	syncs := c.fs[1].Syncs()
	close(release)
	waitFor(t, "every partition's write to be durable on server 1", func() bool {
		for part := uint64(1); part <= partitions; part++ {
			if _, last, _ := c.logs[1].Range(part); last <= lasts[part] {
				return false
			}
		}
		return true
	})
	if n := c.fs[1].Syncs() - syncs; n != 1 {
		t.Fatalf("the writes of %d partitions took %d fdatasyncs, want 1", partitions, n)
	}
	c.mu.Lock()
	c.deaf[1] = false
	c.mu.Unlock()
	for range partitions {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// A round proposes at most roundProposalBytes of a replica's writes: large writes queued at once
// go to the log over several rounds, so that no round's log write keeps its leases waiting long.
func TestRoundProposalsAreBounded(t *testing.T) {
	const value, writes = 256 << 10, 32 // 8 MiB in all: two rounds' worth
	c := newPClusterLease(t, 1, 200)    // 2 s leases: the leader must not change under -race

	c.leaders(1)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r := c.replica(1, 1)
	// The leader's own entries (its election's) are in the log first.
	if err := put(ctx, r, "first", "x"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the leader's log to be durable", func() bool {
		_, last, _ := c.logs[1].Range(1)
		return last == r.Status().Last
	})
	// Hold server 1's poller before a round while every write queues; then note the log's end
	// at the start of each round.
	release := make(chan struct{})
	held := make(chan struct{})
	var once sync.Once
	var mu sync.Mutex
	var lasts []uint64
	hold := func() {
		once.Do(func() { close(held); <-release })
		_, last, _ := c.logs[1].Range(1)
		mu.Lock()
		lasts = append(lasts, last)
		mu.Unlock()
	}
	c.pollers[1].beforeRound.Store(&hold)
	<-held
	v := strings.Repeat("v", value)
	errs := make(chan error, writes)
	for i := range writes {
		go func() { errs <- put(ctx, r, fmt.Sprintf("k%d", i), v) }()
	}
	waitFor(t, "the writes to queue", func() bool { return len(r.reqs) == writes })
	close(release)
	for range writes {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	c.pollers[1].beforeRound.Store(nil)
	mu.Lock()
	_, last, _ := c.logs[1].Range(1)
	ends := append(slices.Clone(lasts), last)
	mu.Unlock()
	// Count the writes each round logged (a round also logs barriers, which followers still
	// recovering ask for).
	large := make([]bool, last+1)
	if err := r.do(ctx, func() {
		for i := range last + 1 {
			e, ok := r.node.Entry(i)
			large[i] = ok && e.Type == paxos.EntryNormal && len(e.Data) >= value
		}
	}); err != nil {
		t.Fatal(err)
	}
	most := 0
	for k := 1; k < len(ends); k++ {
		n := 0
		for i := ends[k-1] + 1; i <= ends[k]; i++ {
			if large[i] {
				n++
			}
		}
		most = max(most, n)
	}
	if want := roundProposalBytes/value + 1; most > want {
		t.Fatalf("a round logged %d writes of %d bytes, want at most %d (log ends at round starts: %v)", most, value, want, ends)
	}
}

// Many writers on many partitions of shared pollers: every write is applied on every server,
// and no replica stops (the poller's queue keeps each replica once per round: a replica carried
// out twice in one round saves its entries twice, which the log refuses).
func TestPollerManyPartitionsUnderLoad(t *testing.T) {
	const partitions, writers, writes = 8, 4, 25
	c := newPCluster(t, partitions)
	c.leaders(partitions)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, partitions*writers)
	// The version of each partition's last acknowledged write: a replica that applied it holds
	// every key checked below. (Not the leader's published Status().Applied: the writers are
	// answered as their entries apply, before the round publishes the status.)
	var lastVersion [partitions + 1][writers]uint64 // each writer sets its own
	for part := uint64(1); part <= partitions; part++ {
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range writes {
					key := fmt.Sprintf("p%d-w%d-%d", part, w, i)
					for {
						v, err := c.replica(1, part).Write(ctx, Batch{Ops: []Op{{Kind: OpPut, Key: []byte(key), Value: []byte(key)}}})
						if err == nil {
							lastVersion[part][w] = v
							break
						}
						if !errors.Is(err, ErrNotLeader) || ctx.Err() != nil {
							errs <- fmt.Errorf("write %s: %w", key, err)
							return
						}
						time.Sleep(time.Millisecond)
					}
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for id := paxos.ID(1); id <= 3; id++ {
		for part := uint64(1); part <= partitions; part++ {
			r := c.replica(id, part)
			want := slices.Max(lastVersion[part][:])
			waitFor(t, "every replica to apply every write", func() bool { return r.MaxVersion() >= want })
			for w := range writers {
				key := fmt.Sprintf("p%d-w%d-%d", part, w, writes-1)
				if v, ok, err := r.Get([]byte(key), ^uint64(0)); err != nil || !ok || string(v) != key {
					t.Fatalf("server %d partition %d: %s = %q, %v, %v", id, part, key, v, ok, err)
				}
			}
		}
	}
}

// A poller held up inside a round (here: 80 ms, as a write that does not return or a process
// without CPU would) reports the gap between its ticks to OnStall.
func TestPollerReportsStalls(t *testing.T) {
	o := clog.DefaultOptions()
	o.FS, o.SegmentBytes = clog.NewMemFS(), 16<<20
	l, err := clog.Open("clog", o)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	p, err := NewPoller(l, 10*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	const stall, min = 80 * time.Millisecond, 50 * time.Millisecond
	gaps := make(chan time.Duration, 100)
	p.OnStall(min, func(gap time.Duration) {
		select {
		case gaps <- gap:
		default:
		}
	})
	var once sync.Once
	hold := func() { once.Do(func() { time.Sleep(stall) }) } // the stall itself, not a wait
	p.beforeRound.Store(&hold)
	timeout := time.After(10 * time.Second)
	for {
		select {
		case gap := <-gaps:
			if gap < min {
				t.Fatalf("OnStall(%v) heard of a gap of only %v", min, gap)
			}
			if gap >= stall {
				return
			}
			// A stall of the test machine's own before the hold: wait for the hold's.
		case <-timeout:
			t.Fatalf("a poller held %v reported no stall to OnStall(%v)", stall, min)
		}
	}
}

// A leader whose log write stalls for longer than a lease keeps its leadership while the stall
// is within the poller's write tolerance: its poller goes on ticking, sends heartbeats and
// steps the answers (Poller.wait), so no follower stands. Past the tolerance the replicas go
// quiet and leadership moves away from the stalled disk. The write is large, so it goes to the
// log's flusher (a small one is written on the poller's goroutine: see largeWrite).
func TestStalledWriteKeepsLeaseWithinTolerance(t *testing.T) {
	for _, tc := range []struct {
		name      string
		tolerance time.Duration
		moves     bool
	}{
		{"within tolerance", 10 * time.Second, false},
		{"past tolerance", 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Leases of 2 s: a machine loaded enough to stall a poller for a second (the
			// race detector, other tests) does not move leaders by itself.
			const lease = 2 * time.Second
			c := newPClusterLease(t, 1, uint64(lease/(10*time.Millisecond)))
			for _, p := range c.pollers {
				p.SetWriteTolerance(tc.tolerance)
			}
			c.leaders(1)
			// Settled: a replica still recovering stands once its recovery outlasts a lease
			// (its acknowledgements do not count, so the stalled leader commits nothing for it).
			waitFor(t, "every replica out of recovery", func() bool {
				for id := paxos.ID(1); id <= 3; id++ {
					if c.replica(id, 1).Status().Recovering {
						return false
					}
				}
				return true
			})
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			leader := c.replica(1, 1)
			if err := put(ctx, leader, "a", "1"); err != nil {
				t.Fatal(err)
			}
			before, _ := leader.Leading()
			release := c.fs[1].HoldSyncs()
			defer release()
			done := make(chan error, 1)
			go func() { done <- put(ctx, leader, "big", string(make([]byte, largeWrite+1))) }()
			if tc.moves {
				// Past the tolerance the leader goes quiet: hold its disk until a follower
				// takes a new ballot (a loaded machine may take more than a lease to elect).
				waitFor(t, "a follower to take a new ballot while the leader's disk is held", func() bool {
					for id := paxos.ID(2); id <= 3; id++ {
						if c.replica(id, 1).Status().Ballot != before {
							return true
						}
					}
					return false
				})
			} else {
				// Within the tolerance: hold the leader's disk for 1.5 leases, the fault
				// itself; the leader must keep its lease throughout.
				time.Sleep(lease * 3 / 2)
			}
			select {
			case err := <-done:
				t.Fatalf("the write returned (%v) while the leader's disk held its fdatasync", err)
			default:
			}
			release()
			err := <-done
			var ballots []paxos.Ballot
			for id := paxos.ID(1); id <= 3; id++ {
				ballots = append(ballots, c.replica(id, 1).Status().Ballot)
			}
			moved := false
			for _, b := range ballots {
				moved = moved || b != before
			}
			if moved != tc.moves {
				t.Fatalf("ballots %v after the stall (leader's was %v; write: %v); want moved=%v", ballots, before, err, tc.moves)
			}
			if !tc.moves && err != nil {
				t.Fatalf("write through the stall: %v", err)
			}
		})
	}
}

// After a log write that took a tick or more, the poller hands even small writes to the log's
// flusher for a while (slowDiskMemory) and keeps its replicas ticking through them: a disk that
// stalled once does not silence the server's replicas on its next stall. Without that memory a
// small write is made on the poller's goroutine and its stall stops every tick.
func TestSmallWritesAfterASlowOneKeepTicking(t *testing.T) {
	c := newPCluster(t, 1)
	c.leaders(1)
	var mu sync.Mutex
	var stalls []time.Duration
	c.pollers[1].OnStall(200*time.Millisecond, func(gap time.Duration) {
		mu.Lock()
		stalls = append(stalls, gap)
		mu.Unlock()
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	leader := c.replica(1, 1)
	stalled := func(key string, hold time.Duration) {
		t.Helper()
		release := c.fs[1].HoldSyncs()
		done := make(chan error, 1)
		go func() { done <- put(ctx, leader, key, "v") }()
		time.Sleep(hold)
		release()
		if err := <-done; err != nil {
			t.Fatalf("put %s through a stall of %v: %v", key, hold, err)
		}
	}
	// A short stall (below the stall hook's 200 ms): the disk is now known to be slow.
	stalled("a", 50*time.Millisecond)
	mu.Lock()
	stalls = nil
	mu.Unlock()
	// A long stall of a small write: the replicas must go on ticking.
	stalled("b", 600*time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	if len(stalls) > 0 {
		t.Fatalf("the poller went %v without ticks during a small write after a slow one", stalls)
	}
}
