package replica

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"obkv/clog"
	"obkv/memstore"
	"obkv/paxos"
	"obkv/sstable"
)

// Transport carries Paxos messages to the servers that host their targets. Send must not block
// for long: it queues (and may drop under overload; Paxos retries).
type Transport interface {
	Send(partition uint64, msgs []paxos.Message)
}

// SnapshotSource fetches a partition's snapshot stream (as written by ExportSnapshot) from the
// server hosting replica from.
type SnapshotSource interface {
	FetchSnapshot(ctx context.Context, partition uint64, from paxos.ID) (io.ReadCloser, error)
}

// Errors.
var (
	ErrClosed = errors.New("replica: closed")
	// ErrNotLeader: the replica cannot take writes or strong reads; Leader names who can, when
	// known.
	ErrNotLeader = errors.New("replica: not leader")
	// ErrOutcomeUnknown: the write was proposed but the caller stopped waiting before it was
	// chosen or refused (deadline, leadership change). It may or may not be applied.
	ErrOutcomeUnknown = errors.New("replica: write outcome unknown")
	// ErrNotChosen: another entry was chosen where the write was proposed: it was not applied.
	ErrNotChosen = errors.New("replica: write not chosen")
	// ErrNoData: a LOGONLY replica keeps no data.
	ErrNoData = errors.New("replica: LOGONLY replica keeps no data")
	// ErrThrottled: the write waited until its deadline for the partition's memstore dumps to
	// catch up (throttleFactor); nothing was proposed.
	ErrThrottled = errors.New("replica: writes throttled")
	// ErrFailed: the replica stopped because persisting its log failed; only Close remains.
	ErrFailed = errors.New("replica: stopped after a storage failure")
	// ErrDataLost: Open found the sstable without the data the log was compacted past (its
	// checkpoint is missing or below the snapshot point the log records): the sstable was
	// damaged, deleted or replaced, or a crash interrupted a snapshot import. Replaying the log
	// would serve a partition without its older rows. The replica was not opened; the caller
	// drops its log and data and has it rebuilt from its peers, as a replica that lost its disk.
	ErrDataLost = errors.New("replica: the sstable lacks data the log was compacted past")
)

// Config configures one replica.
type Config struct {
	Partition uint64
	Paxos     paxos.Config
	Log       *clog.Log
	// Store is nil for a LOGONLY replica.
	Store     *sstable.Store
	Transport Transport
	Snapshots SnapshotSource
	// Tick is the real duration of one Paxos tick.
	Tick time.Duration
	// MemstoreLimit is the size at which the active memstore is frozen and dumped.
	MemstoreLimit int64
	// CheckpointInterval bounds how long applied entries stay only in the memstore and log.
	CheckpointInterval time.Duration
	// ClosedInterval is how often a leader publishes a closed version.
	ClosedInterval time.Duration
	// Now is the wall clock for versions (hybrid logical clock); time.Now when nil.
	Now    func() time.Time
	Logger *slog.Logger
	// Poller drives the replica together with the server's others (it must write to Log);
	// nil: the replica gets a poller of its own.
	Poller *Poller
	// KeepLog: a checkpoint compacts the log only up to the previous checkpoint, so the
	// entries since stay for followers that lag (paxos.Node.CompactRetaining): a server
	// restarted after missing a checkpoint catches up from the log instead of fetching whole
	// partitions. The cost: up to two checkpoint intervals of entries in memory and the clog.
	KeepLog bool

	// beforeDump, when set (tests), runs on a checkpoint's goroutine before the dump; an error
	// it returns stands for the dump's.
	beforeDump func() error
}

func (c *Config) validate() error {
	switch {
	case c.Partition == 0:
		return errors.New("replica: partition 0 is not valid")
	case c.Log == nil:
		return errors.New("replica: no log")
	case c.Transport == nil:
		return errors.New("replica: no transport")
	case c.Tick <= 0:
		return fmt.Errorf("replica: tick %v must be positive", c.Tick)
	case c.MemstoreLimit <= 0:
		return fmt.Errorf("replica: memstore limit %d must be positive", c.MemstoreLimit)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.CheckpointInterval <= 0 {
		c.CheckpointInterval = time.Minute
	}
	if c.ClosedInterval <= 0 {
		c.ClosedInterval = 50 * time.Millisecond
	}
	return c.Paxos.Validate()
}

// Status is a replica's state for tools and the root service.
type Status struct {
	Partition uint64
	paxos.Status
	// ReadableVersion is the version weak reads can be served at here (0: none yet).
	ReadableVersion uint64
	// MaxApplied is the highest version applied here.
	MaxApplied uint64
}

// waiter is a proposal waiting to be applied.
type waiter struct {
	index uint64
	// The proposed entry: the one chosen at index is this one only if all three match (a
	// barrier or another leader's conf change has version 0 too; two leaders' clocks can
	// stamp one version).
	typ     paxos.EntryType
	version uint64
	data    []byte
	done    chan error
}

// readWaiter is a ReadIndex request waiting for its index, then for applied to reach it.
type readWaiter struct {
	index uint64 // 0 until the ReadState arrives
	done  chan error
}

// Replica drives one partition: the paxos Node, its log in the server's clog, its data in
// memstores and the server's sstable, checkpoints and snapshot rebuilds. Its Poller carries
// out its messages, requests and Readies: every Node call, and every field below not guarded
// by a lock, belongs to the poller's goroutine.
type Replica struct {
	cfg  Config
	typ  paxos.ReplicaType
	node *paxos.Node
	log  *slog.Logger

	poller *Poller
	own    bool        // poller is the replica's own (Config.Poller was nil)
	queued atomic.Bool // in the poller's queue (Poller.schedule)
	gone   bool        // the poller stopped driving it (closed or broken)
	// proposed counts the bytes proposed in the current round (drain).
	proposed int
	// throttle is set while writes wait for dumps (settle): closed when they may go on.
	throttle atomic.Pointer[chan struct{}]

	inbox chan paxos.Message
	reqs  chan func()
	stop  chan struct{}
	done  chan struct{} // closed when the poller stops driving the replica
	// broken is closed when the replica stops on a storage failure, after failure is set.
	broken  chan struct{}
	failure error
	// lost is closed when a snapshot import failed after dropping the partition's data: the
	// replica holds no data (DataLost).
	lost     chan struct{}
	lostOnce sync.Once

	start      time.Time
	ticks      uint64
	lastCkpt   time.Time
	lastClosed int64 // the ClosedInterval slot of wall time last closed
	hlc        uint64
	// bootClosed is the closed version the replica booted with (its snapshot's). Weak reads
	// wait for a newer one, learned from a leader since: before the restart this replica may
	// have served versions up to the newest closed version it had heard of, which is at most
	// what any leader publishes from now on, but can be above bootClosed (DESIGN.md invariant 5:
	// a replica's readable version never goes back, across restarts too).
	bootClosed uint64
	state      persistedState // last persisted
	// saveState: state changed (a checkpoint's snapshot meta) and goes into the next write,
	// after which the log is compacted below compactBelow (when not 0). The poller writes it
	// with the round's other updates: saved on the poller's goroutine, it stalled every
	// partition of the server for a write, and a checkpoint of all of them for one each.
	saveState    bool
	compactBelow uint64
	// prevCkpt is the index of the checkpoint before the last (or of the snapshot the replica
	// booted from or installed): with KeepLog, the next checkpoint keeps the log after it.
	prevCkpt uint64
	// restartLog: the next write moves the partition's clog start to this index in the same
	// atomic write (clog.Update.CompactBelow): an installed snapshot, after which the Node
	// appends at restartLog.
	restartLog uint64

	waiters []waiter
	// early and late are reused buffers splitting a Ready's messages (see prepare).
	early, late []paxos.Message
	// interimMsgs: what interim sends (TakeEarly's buffer).
	interimMsgs []paxos.Message
	reads       map[uint64]*readWaiter
	nextRead    uint64

	// mu guards what readers use from other goroutines.
	mu       sync.RWMutex
	active   *memstore.Table
	frozen   []*memstore.Table // newest first, not yet dumped
	status   Status
	snapMeta paxos.SnapshotMeta // matches the sstable checkpoint; guarded by snapMu
	// snapMu is held for writing across a checkpoint (dump, compact) and for reading across an
	// export, so an exported stream and its meta always describe the same point.
	snapMu     sync.RWMutex
	installing bool
	// dumping: a checkpoint's dump runs on its own goroutine (see startCheckpoint). A snapshot
	// the Node asks for meanwhile waits in deferredSnap: its import would drop the partition's
	// data under the dump.
	dumping      bool
	deferredSnap *paxos.SnapshotFetch
	// failed is a frozen memstore whose dump failed, with its checkpoint: it stays readable in
	// frozen, and the next checkpoint dumps it again before freezing another (a later table's
	// checkpoint would otherwise compact the log past entries only it holds).
	failed    *pendingDump
	wasLeader bool
	// wasServing: the leader served at the last Ready that changed its soft state; lapsed is
	// when its lease ran out while it kept leading (zero: it did not), for the log.
	wasServing bool
	lastBallot paxos.Ballot
	lapsed     time.Time
	// recovering is when the replica started without durable state, until it recovered.
	recovering time.Time
	closeOnce  sync.Once
	// bg counts the checkpoint goroutines, which Close waits for (they write to the store).
	bg sync.WaitGroup
}

// Open recovers the replica of cfg.Partition from the clog and sstable, or creates it with the
// initial membership when the clog has no state for it. typ says what this replica is (a LOGONLY
// replica keeps no memstore or sstable data).
func Open(ctx context.Context, cfg Config, initial paxos.Membership, typ paxos.ReplicaType) (*Replica, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if typ != paxos.LogOnly && cfg.Store == nil {
		return nil, fmt.Errorf("replica %d: a %s replica needs an sstable store", cfg.Partition, typ)
	}
	r := &Replica{cfg: cfg, typ: typ, log: cfg.Logger.With("partition", cfg.Partition),
		inbox: make(chan paxos.Message, 4096), reqs: make(chan func(), 4096),
		stop: make(chan struct{}), done: make(chan struct{}), broken: make(chan struct{}), lost: make(chan struct{}),
		reads: map[uint64]*readWaiter{}}
	boot := paxos.Boot{Snapshot: paxos.SnapshotMeta{Membership: initial}}
	raw, stored := cfg.Log.State(cfg.Partition)
	if stored {
		st, err := decodeState(raw)
		if err != nil {
			return nil, fmt.Errorf("replica %d: %w", cfg.Partition, err)
		}
		r.state = st
		boot.HardState, boot.Snapshot = st.Hard, st.Snap
		if st.Type != 0 {
			r.typ = st.Type
		}
	}
	if r.typ == paxos.LogOnly {
		r.cfg.Store = nil
	}
	boot.Applied = boot.Snapshot.Index
	var floor uint64
	if r.cfg.Store != nil {
		idx, ver, ok, err := r.cfg.Store.Checkpoint(cfg.Partition)
		if err != nil {
			return nil, fmt.Errorf("replica %d: checkpoint: %w", cfg.Partition, err)
		}
		if stored && boot.Snapshot.Index > 0 && (!ok || idx < boot.Snapshot.Index) {
			held := "no checkpoint"
			if ok {
				held = fmt.Sprintf("a checkpoint at entry %d", idx)
			}
			return nil, fmt.Errorf("replica %d: the log was compacted through entry %d, but the sstable holds %s: %w",
				cfg.Partition, boot.Snapshot.Index, held, ErrDataLost)
		}
		if ok {
			boot.Applied = max(boot.Applied, idx)
			floor = ver
		}
	}
	if first, last, ok := cfg.Log.Range(cfg.Partition); ok && last >= first {
		if first != boot.Snapshot.Index+1 {
			// The state record and the log disagree on the compacted point: trust the log's
			// retained range only from just after the snapshot.
			if first > boot.Snapshot.Index+1 {
				return nil, fmt.Errorf("replica %d: log starts at %d but the snapshot is at %d", cfg.Partition, first, boot.Snapshot.Index)
			}
			first = boot.Snapshot.Index + 1
		}
		for lo := first; lo <= last; {
			es, err := cfg.Log.Entries(cfg.Partition, lo, last+1, 64<<20)
			if err != nil {
				return nil, fmt.Errorf("replica %d: read log [%d,%d]: %w", cfg.Partition, lo, last, err)
			}
			if len(es) == 0 {
				break
			}
			for _, e := range es {
				pe, err := paxosEntry(e)
				if err != nil {
					return nil, fmt.Errorf("replica %d: %w", cfg.Partition, err)
				}
				boot.Entries = append(boot.Entries, pe)
			}
			lo = es[len(es)-1].Index + 1
		}
	}
	if boot.Applied > boot.Snapshot.Index+uint64(len(boot.Entries)) {
		boot.Applied = boot.Snapshot.Index + uint64(len(boot.Entries))
	}
	// Nothing stored: a new replica, or one whose data was lost; it cannot tell which, so it
	// recovers before it votes (paxos/recovery.go).
	boot.Fresh = !stored && len(boot.Entries) == 0
	if boot.Fresh || boot.HardState.Recovering {
		r.recovering = time.Now()
	}
	// Replay what the sstable does not hold yet: from the checkpoint on (Applied is what the
	// data already reflects).
	node, err := paxos.New(cfg.Paxos, boot)
	if err != nil {
		return nil, fmt.Errorf("replica %d: %w", cfg.Partition, err)
	}
	r.node = node
	r.snapMeta = boot.Snapshot
	r.prevCkpt = boot.Snapshot.Index
	if r.state.Type == 0 {
		r.state.Type = r.typ
	}
	if r.cfg.Store != nil {
		t, err := memstore.New(memstore.Config{LimitBytes: cfg.MemstoreLimit, FloorVersion: floor})
		if err != nil {
			return nil, err
		}
		r.active = t
	}
	r.hlc = floor
	r.start = time.Now()
	r.lastCkpt = lastCheckpoint(r.start, floor, boot.Entries).Add(-checkpointPhase(r.cfg.Partition, r.cfg.Paxos.ID, r.cfg.CheckpointInterval))
	r.status = Status{Partition: cfg.Partition, Status: node.Status()}
	r.bootClosed = r.status.Closed.Version
	p := cfg.Poller
	if p == nil {
		if p, err = NewPoller(cfg.Log, cfg.Tick); err != nil {
			return nil, err
		}
		r.own = true
	} else if p.log != cfg.Log {
		return nil, fmt.Errorf("replica %d: its poller drives the replicas of another log", cfg.Partition)
	}
	r.poller = p
	if err := p.add(r); err != nil {
		return nil, fmt.Errorf("replica %d: %w", cfg.Partition, err)
	}
	return r, nil
}

// lastCheckpoint estimates when the replica last checkpointed, so that the checkpoint interval
// counts from there and not from this start: a server restarted more often than the interval
// never checkpointed, and replayed an ever longer log at every start (a server killed every few
// seconds took 2 s to start at first, 7-13 s two minutes later). Versions are hybrid-clock
// microseconds: the checkpoint's (floor) is about when it was taken; without one, the first
// replayed entry's is about when the log began. A version ahead of this clock counts as now.
func lastCheckpoint(now time.Time, floor uint64, replay []paxos.Entry) time.Time {
	v := floor
	if v == 0 {
		for _, e := range replay {
			if e.Version > 0 {
				v = e.Version
				break
			}
		}
	}
	if v == 0 || v > uint64(now.UnixMicro()) {
		return now
	}
	return time.UnixMicro(int64(v))
}

// checkpointPhase is how much earlier than a full interval after Open the replica id of a
// partition takes its first timed checkpoint: up to half the interval, by the partition and the
// replica. Partitions created together (a table's) would otherwise all dump at the same moment
// on every server, once per interval: under a steady write load on eight partitions that wave
// starved every server's poller for hundreds of milliseconds at once, and leaderships moved back
// and forth for seconds after each (docs/performance.md, seventeenth session). The phase is the
// fractional part of partition x the golden ratio (Fibonacci hashing) plus id x (sqrt 2 - 1), of
// half the interval: a server's n consecutive partitions land at least about 1/(4n) of the
// interval apart (the three-gap theorem), and a partition's replicas (ids are servers) at
// different moments. None checkpoints sooner than half an interval after it opened.
func checkpointPhase(partition uint64, id paxos.ID, interval time.Duration) time.Duration {
	x := partition*0x9e3779b97f4a7c15 + uint64(id)*0x6a09e667f3bcc909
	frac := float64(x>>11) / (1 << 53)
	return time.Duration(frac * float64(interval/2))
}

func paxosEntry(e clog.Entry) (paxos.Entry, error) {
	var pe paxos.Entry
	if err := decodeEntry(e.Data, &pe); err != nil {
		// The clog checksums every record: bytes that do not decode were written by a bug (or
		// damaged beyond what a checksum catches). Refused, not guessed at.
		return pe, fmt.Errorf("entry %d of the log does not decode: %v: %w", e.Index, err, clog.ErrCorruption)
	}
	pe.Index = e.Index
	return pe, nil
}

// DataLost is closed when the replica lost its data while running (a snapshot import failed
// after dropping it): its owner must close it, drop its log and data, and create it again, as
// a replica that lost its disk (ErrDataLost is the same found at Open).
func (r *Replica) DataLost() <-chan struct{} { return r.lost }

// Type returns the replica's type.
func (r *Replica) Type() paxos.ReplicaType { return r.typ }

// Partition returns the partition id.
func (r *Replica) Partition() uint64 { return r.cfg.Partition }

// Step queues a message from a peer. It never blocks: when the inbox is full the message is
// dropped (Paxos tolerates loss).
func (r *Replica) Step(m paxos.Message) {
	select {
	case r.inbox <- m:
		r.poller.schedule(r)
	default:
	}
}

// Close stops driving the replica and fails what is waiting on it.
func (r *Replica) Close() {
	r.closeOnce.Do(func() {
		close(r.stop)
		r.poller.schedule(r)
	})
	<-r.done
	r.bg.Wait()
	if r.own {
		r.poller.Close()
	}
}

// do runs fn on the poller's goroutine, with the Node's clock caught up (see step), and waits
// for it. When ctx ends after fn was queued, do returns ErrOutcomeUnknown and fn may still run
// later: callers read what fn sets only after a nil error.
func (r *Replica) do(ctx context.Context, fn func()) error {
	done := make(chan struct{})
	select {
	case r.reqs <- func() { r.catchUp(); fn(); close(done) }:
		r.poller.schedule(r)
	case <-r.stop:
		return ErrClosed
	case <-r.broken:
		return r.brokenErr()
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-done:
		return nil
	case <-r.stop:
		return ErrClosed
	case <-r.broken:
		// The loop ran fn before it broke, or never will.
		select {
		case <-done:
			return nil
		default:
			return r.brokenErr()
		}
	case <-ctx.Done():
		// A stalled poller (a disk that stopped answering) must not hold callers
		// past their deadline.
		return fmt.Errorf("%w: %v", ErrOutcomeUnknown, ctx.Err())
	}
}

// brokenErr is the error of calls to a replica stopped by a storage failure.
func (r *Replica) brokenErr() error { return fmt.Errorf("%w: %v", ErrFailed, r.failure) }

// Leading reports whether the replica serves as leader and its ballot, as of its latest status.
func (r *Replica) Leading() (paxos.Ballot, bool) {
	st := r.Status()
	return st.Ballot, st.Serving
}

// Status returns the replica's latest status (refreshed on every loop iteration).
func (r *Replica) Status() Status {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.status
}

// SetPriority sets the election priority the root service computed for this replica.
func (r *Replica) SetPriority(ctx context.Context, p paxos.Priority) error {
	return r.do(ctx, func() { r.node.SetPriority(p) })
}

// TransferLeader asks the (leader) replica to hand leadership to replica to.
func (r *Replica) TransferLeader(ctx context.Context, to paxos.ID) error {
	var err error
	if e := r.do(ctx, func() { err = r.node.TransferLeader(to) }); e != nil {
		return e
	}
	return err
}

// ForceEndRecovery forces a recovering replica out of recovery (paxos.Node.ForceEndRecovery):
// the operator's way out of a group a majority of whose voters lost their data. Unsafe: the
// writes only they held are gone. It leaves recovery at a later tick; Status tells when.
func (r *Replica) ForceEndRecovery(ctx context.Context) error {
	var err error
	if e := r.do(ctx, func() { err = r.node.ForceEndRecovery() }); e != nil {
		return e
	}
	return err
}

// ProposeConfChange proposes a membership change and waits until it is applied here.
func (r *Replica) ProposeConfChange(ctx context.Context, cc paxos.ConfChange) error {
	ch := make(chan error, 1)
	if err := r.do(ctx, func() {
		idx, err := r.node.ProposeConfChange(cc)
		if err != nil {
			ch <- wrapNotLeader(err)
			return
		}
		r.waiters = append(r.waiters, waiter{index: idx, typ: paxos.EntryConfChange, data: paxos.EncodeConfChange(cc), done: ch})
	}); err != nil {
		return err
	}
	return r.wait(ctx, ch)
}

// Write proposes a batch and waits until it is applied on this replica. It returns the version
// the batch was applied at. On ErrOutcomeUnknown the batch may or may not be applied.
func (r *Replica) Write(ctx context.Context, b Batch) (uint64, error) {
	if err := b.Validate(); err != nil {
		return 0, err
	}
	if err := r.waitThrottle(ctx); err != nil {
		return 0, err
	}
	data := b.Encode()
	ch := make(chan error, 1)
	var version uint64
	if err := r.do(ctx, func() {
		version = r.nextVersion()
		idx, err := r.node.Propose(paxos.Proposal{Version: version, Data: data})
		if err != nil {
			ch <- wrapNotLeader(err)
			return
		}
		r.proposed += len(data)
		r.waiters = append(r.waiters, waiter{index: idx, typ: paxos.EntryNormal, version: version, data: data, done: ch})
	}); err != nil {
		return 0, err
	}
	return version, r.wait(ctx, ch)
}

func (r *Replica) wait(ctx context.Context, ch chan error) error {
	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
		return fmt.Errorf("%w: %v", ErrOutcomeUnknown, ctx.Err())
	case <-r.stop:
		return fmt.Errorf("%w: %v", ErrOutcomeUnknown, ErrClosed)
	case <-r.broken:
		// failAll answered ch unless the loop broke first; either way ch has the answer now.
		select {
		case err := <-ch:
			return err
		default:
			return fmt.Errorf("%w: %v", ErrOutcomeUnknown, r.brokenErr())
		}
	}
}

func wrapNotLeader(err error) error {
	if errors.Is(err, paxos.ErrNotLeader) || errors.Is(err, paxos.ErrNotReady) || errors.Is(err, paxos.ErrTransferring) {
		return fmt.Errorf("%w: %v", ErrNotLeader, err)
	}
	return err
}

// ReadIndex waits until this replica has applied everything chosen before the call
// (linearizable): on the leader under its lease, on a follower by asking the leader.
func (r *Replica) ReadIndex(ctx context.Context) error {
	ch := make(chan error, 1)
	if err := r.do(ctx, func() {
		r.nextRead++
		id := r.nextRead
		if err := r.node.ReadIndex(id); err != nil {
			ch <- wrapNotLeader(err)
			return
		}
		r.reads[id] = &readWaiter{done: ch}
	}); err != nil {
		return err
	}
	return r.wait(ctx, ch)
}

// Get reads key at version from this replica's data (memstores over the sstable). The caller
// decides whether the replica may serve it (ReadIndex for strong reads, ReadableVersion for
// weak ones).
func (r *Replica) Get(key []byte, version uint64) ([]byte, bool, error) {
	v, err := r.view()
	if err != nil {
		return nil, false, err
	}
	return v.Get(key, version)
}

// Scan reads [start, end) at version, calling fn in key order until it returns false.
func (r *Replica) Scan(ctx context.Context, start, end []byte, version uint64, fn func(k, v []byte) bool) error {
	v, err := r.view()
	if err != nil {
		return err
	}
	return v.Scan(ctx, start, end, version, fn)
}

func (r *Replica) view() (*sstable.View, error) {
	if r.cfg.Store == nil {
		return nil, ErrNoData
	}
	r.mu.RLock()
	tables := make([]*memstore.Table, 0, 1+len(r.frozen))
	tables = append(tables, r.active)
	tables = append(tables, r.frozen...)
	r.mu.RUnlock()
	return r.cfg.Store.View(r.cfg.Partition, tables...), nil
}

// MaxVersion is the highest version this replica has applied.
func (r *Replica) MaxVersion() uint64 {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.status.MaxApplied
}

// nextVersion is the hybrid logical clock: wall-clock microseconds, pushed above every version
// this replica has seen and above the leader's floor.
func (r *Replica) nextVersion() uint64 {
	v := uint64(r.cfg.Now().UnixMicro())
	v = max(v, r.hlc+1, r.node.MinVersion()+1)
	r.hlc = v
	return v
}

// catchUp ticks the Node up to the real elapsed time, so its lease view is never stale when it
// decides whether it may serve (a stalled loop must not lengthen a lease).
func (r *Replica) catchUp() {
	want := uint64(time.Since(r.start) / r.cfg.Tick)
	for r.ticks < want {
		r.ticks++
		r.node.Tick()
	}
}

// roundProposalBytes bounds the data a replica proposes in one round of its poller: the round
// takes no more requests once its proposals reach it (so it may pass it by one proposal), and
// the rest wait for the next round. A round's log write, which its leases wait on, then stays
// short on a disk shared by several servers: sixteen writers of 1 MiB values made rounds of up
// to 16 MiB, whose writes took up to 690 ms, past the lease, and leaders moved
// (docs/performance.md, fourteenth session).
const roundProposalBytes = 4 << 20

// drain steps the queued messages and runs the queued requests, at most 1024 in all and
// proposals of at most roundProposalBytes: all of them before the Ready is carried out, so the
// proposals of concurrent writers share one log write and fdatasync.
func (r *Replica) drain() {
	r.proposed = 0
	for i := 0; i < 1024 && r.proposed < roundProposalBytes; i++ {
		select {
		case fn := <-r.reqs:
			fn()
		case m := <-r.inbox:
			r.step(m)
		default:
			return
		}
	}
}

// interim keeps the replica's leases while its poller waits for a log write (Poller.wait):
// it ticks the Node up to now (tick), steps the queued messages and sends what the Node lets
// leave before anything more is durable (paxos.Node.TakeEarly): heartbeats, their answers,
// accepts. It reports whether the replica has work for a round: requests, or a Ready.
func (r *Replica) interim(tick bool) bool {
	select {
	case <-r.stop:
		return true // the round removes it
	default:
	}
	if tick {
		r.catchUp()
	}
	for range 1024 {
		m, ok := r.next()
		if !ok {
			break
		}
		r.step(m)
	}
	if msgs := r.node.TakeEarly(r.interimMsgs[:0]); len(msgs) > 0 {
		r.cfg.Transport.Send(r.cfg.Partition, msgs)
		clear(msgs)
		r.interimMsgs = msgs[:0]
	}
	return len(r.reqs) > 0 || r.node.HasReady()
}

// next takes a queued message, if there is one.
func (r *Replica) next() (paxos.Message, bool) {
	select {
	case m := <-r.inbox:
		return m, true
	default:
		return paxos.Message{}, false
	}
}

// step hands m to the Node at the current time: a message's handling can decide whether this
// replica still serves (a follower's ReadIndex), so the Node's clock must not lag the wall
// clock, as it would after the process was paused inside a batch of messages.
func (r *Replica) step(m paxos.Message) {
	r.catchUp()
	if err := r.node.Step(m); err != nil {
		r.log.Debug("dropped message", "err", err)
	}
}

// abandonWaiters answers the proposals at or below index, which will not apply here, with
// ErrOutcomeUnknown.
func (r *Replica) abandonWaiters(index uint64) {
	k := 0
	for _, w := range r.waiters {
		if w.index > index {
			r.waiters[k] = w
			k++
			continue
		}
		w.done <- fmt.Errorf("%w: this replica caught up by a snapshot through index %d, past the write's entry %d", ErrOutcomeUnknown, index, w.index)
	}
	clear(r.waiters[k:])
	r.waiters = r.waiters[:k]
}

func (r *Replica) failAll(err error) {
	for _, w := range r.waiters {
		w.done <- fmt.Errorf("%w: %v", ErrOutcomeUnknown, err)
	}
	r.waiters = nil
	for id, rw := range r.reads {
		rw.done <- err
		delete(r.reads, id)
	}
}

// periodic runs timed duties: closed versions on the leader, checkpoints.
func (r *Replica) periodic() {
	now := time.Now()
	// Close once per ClosedInterval slot of wall time: the leaders of every partition on every
	// server close in the same tick (ticks are aligned, see run), so the floors they persist
	// share fsyncs by group commit instead of costing one each. (Serving, not Status: this runs
	// on every tick of every replica, and Status copies the membership.)
	if slot := now.UnixNano() / int64(r.cfg.ClosedInterval); slot != r.lastClosed && r.node.Serving() {
		r.lastClosed = slot
		// Close the current time: later proposals get versions above it by construction.
		v := max(uint64(r.cfg.Now().UnixMicro()), r.hlc)
		r.hlc = v
		_ = r.node.CloseVersion(v)
	}
	if r.cfg.Store != nil && !r.installing && !r.dumping {
		full := r.active.Full()
		if full || (now.Sub(r.lastCkpt) >= r.cfg.CheckpointInterval && (r.active.Len() > 0 || r.failed != nil)) {
			r.startCheckpoint()
			r.lastCkpt = now
		}
	}
}

// startCheckpoint freezes the active memstore and starts a goroutine that dumps it to the
// sstable with the applied index; back on the poller's goroutine, finishCheckpoint then compacts
// the log through that index. The dump writes every entry of the memstore (hundreds of
// megabytes after a minute of writes) and takes seconds: run on the replica's own loop, it
// stopped the partition for as long, leases lapsed and leaders changed at every checkpoint.
func (r *Replica) startCheckpoint() {
	if f := r.failed; f != nil {
		r.failed = nil
		r.dumping = true
		r.bg.Add(1)
		go r.dump(f.table, f.cp)
		return
	}
	applied := r.node.Status().Applied
	if applied <= r.snapMeta.Index {
		return
	}
	floor := r.active.FloorVersion()
	if _, maxV, ok := r.active.VersionRange(); ok {
		floor = max(floor, maxV)
	}
	if _, cv, ok, err := r.cfg.Store.Checkpoint(r.cfg.Partition); err == nil && ok {
		// A snapshot that arrived after the log had caught up (fetchSnapshot) leaves the
		// sstable's checkpoint above this replica's own; checkpoints must not go back.
		floor = max(floor, cv)
	}
	next, err := memstore.New(memstore.Config{LimitBytes: r.cfg.MemstoreLimit, FloorVersion: floor})
	if err != nil {
		r.log.Warn("checkpoint not started", "err", err)
		return
	}
	r.mu.Lock()
	frozen := r.active
	frozen.Freeze()
	r.active = next
	r.frozen = append([]*memstore.Table{frozen}, r.frozen...)
	r.mu.Unlock()
	r.dumping = true
	r.bg.Add(1)
	go r.dump(frozen, sstable.Checkpoint{Index: applied, Version: floor})
}

// dump writes a frozen memstore to the sstable, then has the poller's goroutine finish the
// checkpoint. It holds snapMu for writing throughout, so an export (which holds it for reading)
// sees the sstable and snapMeta of one checkpoint, never the data of a new one with the meta of
// the old.
func (r *Replica) dump(frozen *memstore.Table, cp sstable.Checkpoint) {
	defer r.bg.Done()
	r.snapMu.Lock()
	defer r.snapMu.Unlock()
	var err error
	if r.cfg.beforeDump != nil {
		err = r.cfg.beforeDump()
	}
	ctx, cancel := r.untilClose(context.Background())
	defer cancel()
	began := time.Now()
	if err == nil {
		err = r.cfg.Store.Dump(ctx, r.cfg.Partition, frozen, cp)
	}
	took := time.Since(began)
	if err == nil {
		// The frozen table's entries are in the sstable now: reads stop merging it.
		r.dropFrozen(frozen)
	}
	_ = r.do(ctx, func() { r.finishCheckpoint(pendingDump{frozen, cp}, took, err) })
}

// dropFrozen removes t from the frozen memstores reads merge.
func (r *Replica) dropFrozen(t *memstore.Table) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, f := range r.frozen {
		if f == t {
			r.frozen = append(r.frozen[:i:i], r.frozen[i+1:]...)
			return
		}
	}
}

// pendingDump is a frozen memstore and the checkpoint its dump records.
type pendingDump struct {
	table *memstore.Table
	cp    sstable.Checkpoint
}

// finishCheckpoint runs on the poller's goroutine once a dump ended: it compacts the Node
// through the checkpoint and has the next write record it (the log is compacted after that,
// finishReady), and starts a snapshot fetch that waited for the dump.
func (r *Replica) finishCheckpoint(d pendingDump, took time.Duration, err error) {
	r.dumping = false
	cp := d.cp
	defer func() {
		if f := r.deferredSnap; f != nil && !r.installing {
			r.deferredSnap = nil
			r.startFetch(*f)
		}
	}()
	if err != nil {
		r.failed = &d
		r.log.Warn("checkpoint failed; it is retried at the next one", "index", cp.Index, "entries", d.table.Len(), "err", err)
		return
	}
	r.log.Debug("checkpoint", "index", cp.Index, "version", cp.Version, "entries", d.table.Len(), "took", took)
	keep := cp.Index
	if r.cfg.KeepLog {
		keep = min(r.prevCkpt, cp.Index)
	}
	first := r.node.Status().First
	if err := r.node.CompactRetaining(cp.Index, keep); err != nil {
		r.log.Warn("checkpoint: compact", "index", cp.Index, "err", err)
		return
	}
	r.prevCkpt = max(r.prevCkpt, cp.Index)
	r.snapMeta = r.node.SnapshotMeta()
	// The state recording the new snapshot meta must be durable before the log loses the
	// entries below it (recovery starts from that meta): see prepare and finishReady.
	r.saveState = true
	if keep+1 > first {
		r.compactBelow = keep + 1
	}
}

// ExportSnapshot writes the partition's snapshot stream: the snapshot meta, then the sstable
// data at the checkpoint it describes.
func (r *Replica) ExportSnapshot(ctx context.Context, w io.Writer) error {
	if r.cfg.Store == nil {
		return ErrNoData
	}
	r.snapMu.RLock()
	defer r.snapMu.RUnlock()
	if err := writeMeta(w, r.snapMeta); err != nil {
		return err
	}
	_, err := r.cfg.Store.ExportSnapshot(ctx, r.cfg.Partition, w)
	return err
}

// The Poller carries out each Ready in the documented order: prepare, the write (shared with
// the other replicas of the round), applyCommitted while it is under way, then finishReady once
// it is durable; settle after the replica's last Ready of the round.

// prepare sends the messages of rd that may leave before this replica's write, in parallel with
// it (see paxos.MaySendBeforePersist), and returns the update that persists rd, if any. An
// update too large for one log write (a replica catching up) is saved here in parts, all but
// the last, which it returns.
func (r *Replica) prepare(rd paxos.Ready) (u clog.Update, save bool, err error) {
	early, late := r.early[:0], r.late[:0]
	for _, m := range rd.Messages {
		if paxos.MaySendBeforePersist(m) {
			early = append(early, m)
		} else {
			late = append(late, m)
		}
	}
	if len(early) > 0 {
		r.cfg.Transport.Send(r.cfg.Partition, early)
	}
	r.early, r.late = early, late
	if rd.HardState.IsZero() && len(rd.Entries) == 0 && !r.saveState && r.restartLog == 0 {
		return clog.Update{}, false, nil
	}
	u = clog.Update{Partition: r.cfg.Partition}
	if !rd.HardState.IsZero() || r.saveState {
		if !rd.HardState.IsZero() {
			r.state.Hard = rd.HardState
		}
		r.state.Snap = r.snapMeta
		u.State = r.state.encode()
		r.saveState = false
	}
	u.CompactBelow, r.restartLog = r.restartLog, 0
	if len(rd.Entries) > 0 {
		if _, last, ok := r.cfg.Log.Range(r.cfg.Partition); ok && rd.Entries[0].Index <= last {
			u.TruncateFrom = rd.Entries[0].Index
		}
		u.Entries = make([]clog.Entry, len(rd.Entries))
		for i, e := range rd.Entries {
			u.Entries[i] = clog.Entry{Index: e.Index, Ballot: e.Ballot.Round, Head: entryHead(e), Data: e.Data}
		}
	}
	parts := r.cfg.Log.Split(u)
	for _, p := range parts[:len(parts)-1] {
		// Started, not awaited: the log writes its batches in order and refuses every write
		// after a failed one, so the last part's write, which the poller waits for, ends after
		// these and fails if any of them did. Waiting here stalled the server's replicas for
		// the whole write.
		if _, err := r.cfg.Log.StartSave(context.Background(), p); err != nil {
			return clog.Update{}, false, err
		}
	}
	return parts[len(parts)-1], true, nil
}

// applyCommitted applies rd's chosen entries and answers their writers.
func (r *Replica) applyCommitted(rd paxos.Ready) {
	for _, e := range rd.Committed {
		r.apply(e)
	}
}

// finishReady carries out the rest of rd once its update is durable: the messages that waited
// for it, read states, snapshot fetches, and Advance (when rd came from the Node: fromNode);
// then the log compaction a checkpoint waited for, below compact (0: none), on its own
// goroutine.
func (r *Replica) finishReady(rd paxos.Ready, fromNode bool, compact uint64) {
	if compact != 0 {
		r.bg.Add(1)
		go func() {
			defer r.bg.Done()
			if err := r.cfg.Log.Compact(context.Background(), r.cfg.Partition, compact); err != nil {
				r.log.Warn("checkpoint: compact log", "below", compact, "err", err)
			}
		}()
	}
	if len(r.late) > 0 {
		r.cfg.Transport.Send(r.cfg.Partition, r.late)
	}
	for _, rs := range rd.ReadStates {
		if rw := r.reads[rs.RequestID]; rw != nil {
			if rs.Rejected {
				rw.done <- fmt.Errorf("%w: the leader refused the read index: not serving", ErrNotLeader)
				delete(r.reads, rs.RequestID)
			} else {
				rw.index = max(rs.Index, 1)
			}
		}
	}
	if rd.Soft != nil {
		r.noteSoft(*rd.Soft)
	}
	switch {
	case rd.Snapshot == nil || r.installing:
	case r.dumping:
		r.deferredSnap = rd.Snapshot
	default:
		r.startFetch(*rd.Snapshot)
	}
	if fromNode {
		r.node.Advance(rd)
	}
}

// noteSoft logs leadership gained and lost, and a leader's lease lapsing and coming back
// under the same ballot (paxos.Node keeps leading for a while after a lapse).
func (r *Replica) noteSoft(soft paxos.SoftState) {
	leader := soft.Role == paxos.Leader
	switch {
	case leader != r.wasLeader:
		r.log.Info("leadership", "leader", leader, "ballot", soft.Ballot.String(), "term_leader", soft.Leader)
		if !leader && !r.lapsed.IsZero() {
			r.log.Info("lease did not come back: stepped down", "ballot", soft.Ballot.String(), "lapsed_for", time.Since(r.lapsed).Round(time.Millisecond))
		}
		r.lapsed = time.Time{}
	case leader && r.wasServing && !soft.Serving && soft.Ballot == r.lastBallot:
		r.lapsed = time.Now()
		r.log.Info("lease lapsed: not serving, still leading", "ballot", soft.Ballot.String())
	case leader && soft.Serving && !r.lapsed.IsZero():
		r.log.Info("lease back: serving under the same ballot", "ballot", soft.Ballot.String(), "lapsed_for", time.Since(r.lapsed).Round(time.Millisecond))
		r.lapsed = time.Time{}
	}
	r.wasLeader, r.wasServing, r.lastBallot = leader, soft.Serving, soft.Ballot
}

// throttleFactor: a leader holds its writers back while the partition's memstores (the active
// one and those frozen, waiting for their dumps) hold throttleFactor x MemstoreLimit or more, and
// lets them go once under throttleFactor-1 x. Without it, writers faster than the disk could
// dump (large values on a shared disk) grew the memstores, and the Paxos log that is compacted
// only at checkpoints, until the server ran out of memory (docs/performance.md, fifteenth
// session). OceanBase throttles writes as a tenant's memstore fills in the same way
// (writing_throttling_trigger_percentage).
const throttleFactor = 4

// waitThrottle returns once writes may be proposed: at once unless settle throttles them.
func (r *Replica) waitThrottle(ctx context.Context) error {
	g := r.throttle.Load()
	if g == nil {
		return nil
	}
	select {
	case <-*g:
		return nil
	case <-r.stop:
		return ErrClosed
	case <-ctx.Done():
		return fmt.Errorf("%w: partition %d's memstores hold %d KiB, over %d x memstore_limit (%d KiB), until dumps to the sstable catch up; nothing was proposed: %v",
			ErrThrottled, r.cfg.Partition, r.memstoreBytes()>>10, throttleFactor, r.cfg.MemstoreLimit>>10, ctx.Err())
	}
}

// memstoreBytes is the size of the partition's memstores, the active one and the frozen ones.
func (r *Replica) memstoreBytes() int64 {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var n int64
	if r.active != nil {
		n = r.active.Bytes()
	}
	for _, t := range r.frozen {
		n += t.Bytes()
	}
	return n
}

// updateThrottle holds writes back, or lets them go, by the memstores' size (throttleFactor),
// on a leader only: a write sent to a follower is refused at once as "not leader", for its
// client to find the leader.
func (r *Replica) updateThrottle(leader bool) {
	if r.cfg.Store == nil {
		return
	}
	held := r.memstoreBytes()
	g := r.throttle.Load()
	switch {
	case g == nil && leader && held >= throttleFactor*r.cfg.MemstoreLimit:
		ch := make(chan struct{})
		r.throttle.Store(&ch)
		r.log.Warn("writes throttled: the memstores wait for their dumps", "memstore_bytes", held, "memstore_limit", r.cfg.MemstoreLimit)
	case g != nil && (!leader || held < (throttleFactor-1)*r.cfg.MemstoreLimit):
		r.throttle.Store(nil)
		close(*g)
		r.log.Info("writes no longer throttled", "memstore_bytes", held, "leader", leader)
	}
}

// settle answers the reads whose index is applied and publishes the replica's status.
func (r *Replica) settle() {
	st := r.node.Status()
	r.updateThrottle(st.Role == paxos.Leader)
	if !r.recovering.IsZero() && !st.Recovering {
		// A new group's replicas end recovery at once; a slow one caught up on a group that
		// ran without it, perhaps one whose data was lost.
		took := time.Since(r.recovering)
		lvl := slog.LevelDebug
		if took >= time.Second {
			lvl = slog.LevelInfo
		}
		r.log.Log(context.Background(), lvl, "replica out of recovery", "took", took.Round(time.Millisecond), "commit", st.Commit)
		r.recovering = time.Time{}
	}
	for id, rw := range r.reads {
		if rw.index != 0 && st.Applied >= rw.index {
			rw.done <- nil
			delete(r.reads, id)
		}
	}
	r.mu.Lock()
	// The readable version only moves forward: a newer closed version whose index is not
	// applied yet leaves the previous one readable (DESIGN.md invariant 5).
	readable := r.status.ReadableVersion
	if st.Closed.Version > readable && st.Closed.Version > r.bootClosed && st.Applied >= st.Closed.Index {
		readable = st.Closed.Version
	}
	r.status = Status{Partition: r.cfg.Partition, Status: st, MaxApplied: r.status.MaxApplied, ReadableVersion: readable}
	r.mu.Unlock()
}

// apply applies one chosen entry to the data and resolves the proposal waiting for it.
func (r *Replica) apply(e paxos.Entry) {
	if e.Type == paxos.EntryNormal && r.active != nil {
		b, err := DecodeBatch(e.Data)
		if err != nil {
			r.log.Error("chosen entry is not a write batch; skipped", "index", e.Index, "err", err)
		} else {
			r.applyBatch(b, e.Version)
		}
	}
	if e.Version > 0 {
		r.mu.Lock()
		r.status.MaxApplied = max(r.status.MaxApplied, e.Version)
		r.mu.Unlock()
		r.hlc = max(r.hlc, e.Version)
	}
	k := 0
	for _, w := range r.waiters {
		switch {
		case w.index > e.Index:
			r.waiters[k] = w
			k++
		case w.index == e.Index && w.typ == e.Type && w.version == e.Version && bytes.Equal(w.data, e.Data):
			w.done <- nil
		case w.index == e.Index:
			w.done <- fmt.Errorf("%w: another entry was chosen at index %d", ErrNotChosen, w.index)
		default:
			// The entry at w.index never applied here (a snapshot took the replica past it):
			// whether it was the write, nobody here knows.
			w.done <- fmt.Errorf("%w: the write's entry %d was not applied here (applying %d)", ErrOutcomeUnknown, w.index, e.Index)
		}
	}
	r.waiters = r.waiters[:k]
}

func (r *Replica) applyBatch(b Batch, version uint64) {
	// The last operation on a key within one batch wins (one version per key per entry).
	last := make(map[string]int, len(b.Ops))
	for i, op := range b.Ops {
		last[string(op.Key)] = i
	}
	for i, op := range b.Ops {
		if last[string(op.Key)] != i {
			continue
		}
		var err error
		if op.Kind == OpDelete {
			err = r.active.Delete(op.Key, version)
		} else {
			err = r.active.PutShared(op.Key, op.Value, version)
		}
		if err != nil {
			// A chosen write that does not apply is lost for this replica's readers: versions
			// are ascending along the log (DESIGN.md), so this is a bug, never expected.
			r.log.Error("apply failed", "version", version, "err", err)
		}
	}
}

// startFetch starts fetching f's snapshot on a goroutine of its own. Close waits for it.
func (r *Replica) startFetch(f paxos.SnapshotFetch) {
	r.installing = true
	r.bg.Add(1)
	go r.fetchSnapshot(f)
}

// untilClose returns a context of parent that also ends when the replica closes.
func (r *Replica) untilClose(parent context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(parent)
	go func() {
		select {
		case <-r.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

// fetchSnapshot rebuilds the partition's data from a peer's snapshot, off the replica
// goroutine, then hands the result back to it. Closing the replica cancels it, and Close
// waits for it: a fetch left running went on writing to the sstable after its owner closed it
// (badger panics on a closed DB: "DB Closed", seen when a server stopped during an import).
func (r *Replica) fetchSnapshot(f paxos.SnapshotFetch) {
	defer r.bg.Done()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	ctx, stop := r.untilClose(ctx)
	defer stop()
	began := time.Now()
	meta, err := r.importSnapshot(ctx, f)
	took := time.Since(began)
	_ = r.do(ctx, func() {
		r.installing = false
		if err != nil {
			r.node.SnapshotFailed()
			if r.cfg.Store != nil && r.cfg.Store.Emptied(r.cfg.Partition) {
				// The import dropped the partition's data before it failed. The leader may
				// never offer a snapshot again (a new one may hold the entries this replica
				// lacks), so this replica would go on without its older rows, refusing reads
				// and checkpoints: its owner drops it and has it rebuilt (DataLost).
				r.log.Error("snapshot install failed after dropping the partition's data: the replica holds none and is to be rebuilt from its peers", "from", f.From, "err", err)
				r.lostOnce.Do(func() { close(r.lost) })
				return
			}
			r.log.Warn("snapshot install failed; the leader will offer it again", "from", f.From, "err", err)
			return
		}
		r.node.InstallSnapshot(meta)
		if f := r.failed; f != nil && f.cp.Index <= meta.Index {
			// The imported snapshot holds what the failed dump was to write.
			r.failed = nil
			r.dropFrozen(f.table)
		}
		if r.node.SnapshotMeta().Index != meta.Index {
			// The Node ignored the snapshot: while it was fetched, this replica caught up from
			// the log (a new leader had the entries) and applied past it. The sstable now holds
			// the snapshot's data, the state at meta.Index, which is at or after this replica's
			// own checkpoint (no checkpoint runs while installing, and the snapshot offered was
			// beyond the applied index); the memstores hold every entry applied since that
			// checkpoint. Together they are the state at the applied index: keep them. Emptying
			// the memstores here lost every write applied between the snapshot and the catch-up.
			if meta.Index < r.snapMeta.Index {
				r.log.Error("apply failed: a stale snapshot replaced data newer than it", "snapshot_index", meta.Index, "checkpoint_index", r.snapMeta.Index)
			}
			r.log.Info("snapshot not needed any more: caught up from the log meanwhile", "snapshot_index", meta.Index, "applied", r.node.Status().Applied)
			return
		}
		r.mu.Lock()
		t, terr := memstore.New(memstore.Config{LimitBytes: r.cfg.MemstoreLimit, FloorVersion: meta.Version})
		if terr == nil {
			r.active, r.frozen = t, nil
		}
		r.mu.Unlock()
		r.snapMeta = r.node.SnapshotMeta()
		// Proposals at or below the snapshot point never apply here: whether they or other
		// entries were chosen there, the snapshot does not tell. Their writers learn it now,
		// not when their deadline passes (a leader deposed with writes in flight that then
		// fell behind its successor's compacted log).
		r.abandonWaiters(meta.Index)
		// The snapshot's versions count as applied: a version this replica hands out as leader
		// must be above them even when its clock is behind the leader's that wrote them.
		r.hlc = max(r.hlc, meta.Version)
		r.mu.Lock()
		r.status.MaxApplied = max(r.status.MaxApplied, meta.Version)
		r.mu.Unlock()
		// The new snapshot point and the log's new start go in the poller's next write, together
		// (written here, they stalled every partition of the server for two writes).
		r.saveState = true
		r.restartLog = r.snapMeta.Index + 1
		r.prevCkpt = r.snapMeta.Index
		r.log.Info("snapshot installed", "from", f.From, "index", meta.Index, "took", took.Round(time.Millisecond))
	})
}

func (r *Replica) importSnapshot(ctx context.Context, f paxos.SnapshotFetch) (paxos.SnapshotMeta, error) {
	if r.cfg.Snapshots == nil {
		return paxos.SnapshotMeta{}, errors.New("replica: no snapshot source")
	}
	if f.Meta.Index == 0 {
		// The initial membership: there is no data to fetch.
		return f.Meta, nil
	}
	if r.cfg.Store == nil {
		// A LOGONLY replica needs only the log position and membership.
		return f.Meta, nil
	}
	rc, err := r.cfg.Snapshots.FetchSnapshot(ctx, r.cfg.Partition, f.From)
	if err != nil {
		return paxos.SnapshotMeta{}, err
	}
	defer rc.Close()
	meta, err := readMeta(rc)
	if err != nil {
		return paxos.SnapshotMeta{}, err
	}
	if _, err := r.cfg.Store.ImportSnapshot(ctx, r.cfg.Partition, rc); err != nil {
		return paxos.SnapshotMeta{}, err
	}
	return meta, nil
}
