package replica

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"obkv/clog"
	"obkv/paxos"
)

// Poller drives replicas that share one clog on one goroutine, in rounds: each round takes the
// replicas with new input (every replica on a tick), steps their messages and runs their
// requests, then carries out all their Readies together: one clog write and fdatasync for every
// replica's entries and hard state, the applying of every replica's chosen entries while that
// write is under way, then the messages that had to wait for it. A server hosts many partitions;
// driven each by its own goroutine, every partition paid its own wake-ups, log hand-off and
// sends per Paxos round, and a server with eight busy partitions spent nearly twice the CPU per
// write of one with a single partition (docs/performance.md). TiKV's batch system and
// OceanBase's shared clog writer batch the same way.
//
// Every call into a replica's paxos Node happens on its poller's goroutine.
type Poller struct {
	log  *clog.Log
	tick time.Duration

	mu      sync.Mutex
	queue   []*Replica // replicas with new input, each at most once (Replica.queued)
	spare   []*Replica // the other queue buffer: the poller works on one while the other fills
	members map[*Replica]struct{}
	closed  bool

	wake chan struct{} // capacity 1: a round is due
	stop chan struct{}
	done chan struct{}

	// beforeRound, when set (tests), runs before each round takes its replicas.
	beforeRound atomic.Pointer[func()]
	// stall, when set (OnStall), hears of long gaps between tick rounds.
	stall atomic.Pointer[stallHook]
	// tolerance bounds how long into a log write the replicas keep their leases
	// (SetWriteTolerance), in nanoseconds.
	tolerance atomic.Int64

	// The poller goroutine's own: its ticker, when the replicas last ticked, and buffers
	// reused by rounds.
	ticker   *time.Ticker
	lastTick time.Time
	// slowUntil: a log write took a tick or more; until then writes go to the flusher (save).
	slowUntil    time.Time
	batch, live  []*Replica
	interimBatch []*Replica
	work         []readyWork
	updates      []clog.Update
}

// largeWrite is the size from which a round's log write goes to the log's flusher rather than
// being written on the poller's goroutine: the poller keeps its replicas' leases meanwhile
// (wait). Below it a write is short, and writing it here saves a goroutine hand-off.
const largeWrite = 256 << 10

// slowDiskMemory is how long after a write that took a tick or more every write goes to the
// log's flusher, as a large one does (save): a disk that stalls once stalls again, and a small
// write made on the poller's goroutine stalls its replicas' heartbeats as long.
const slowDiskMemory = 10 * time.Second

// readyWork is one replica's Ready within a round.
type readyWork struct {
	r        *Replica
	rd       paxos.Ready
	fromNode bool   // rd is the Node's (else the replica only has state to save)
	compact  uint64 // the log compaction to start once the update is durable
	update   clog.Update
	save     bool         // update holds something to persist
	pend     clog.Pending // its write
	failed   bool
}

// NewPoller starts a poller for replicas whose log is log, ticking them every tick (their
// Config.Tick).
func NewPoller(log *clog.Log, tick time.Duration) (*Poller, error) {
	if log == nil {
		return nil, errors.New("replica: poller: no log")
	}
	if tick <= 0 {
		return nil, fmt.Errorf("replica: poller: tick %v must be positive", tick)
	}
	p := &Poller{log: log, tick: tick, members: map[*Replica]struct{}{},
		wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	p.tolerance.Store(int64(50 * tick)) // the default lease (config.DefaultSettings): 50 ticks
	go p.run()
	return p, nil
}

// Close stops the poller. Replicas it still drives are closed: their callers get ErrClosed.
func (p *Poller) Close() {
	p.mu.Lock()
	if !p.closed {
		p.closed = true
		close(p.stop)
	}
	p.mu.Unlock()
	<-p.done
}

func (p *Poller) add(r *Replica) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrClosed
	}
	p.members[r] = struct{}{}
	return nil
}

// stallHook is what OnStall set.
type stallHook struct {
	min time.Duration
	f   func(gap time.Duration)
}

// OnStall has f called, from the poller's goroutine, whenever its replicas went at least min
// without a tick (from the start of one tick round to the start of the next; normally about one
// tick): a write that did not return, a round of heavy work, or a process that got no CPU. Leaders
// send no heartbeats meanwhile and followers answer none, so gaps of a good part of the lease
// move leaders even where no single log write was slow.
func (p *Poller) OnStall(min time.Duration, f func(gap time.Duration)) {
	p.stall.Store(&stallHook{min: min, f: f})
}

// SetWriteTolerance sets how long into a log write that has not returned the poller goes on
// ticking its replicas, stepping their messages and sending what may leave before the write is
// durable (paxos.Node.TakeEarly): leaders renew their leases and followers answer them, so a
// slow write (a large batch, a disk shared with other writers) does not move leaders. Past d the
// replicas go quiet until the write returns: their leases lapse and leaders move away from a
// disk that hangs. 0 keeps them quiet from the start of every write. The server sets its lease.
func (p *Poller) SetWriteTolerance(d time.Duration) { p.tolerance.Store(int64(max(d, 0))) }

// schedule queues r for the next round. It never blocks.
func (p *Poller) schedule(r *Replica) {
	if r.queued.Swap(true) {
		return
	}
	p.mu.Lock()
	p.queue = append(p.queue, r)
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

func (p *Poller) run() {
	defer close(p.done)
	// Tick on the wall clock's multiples of the tick, as every poller does: the replicas'
	// periodic work (closing versions above all) then happens at the same moments on every
	// server and shares writes.
	select {
	case <-time.After(time.Until(time.Now().Truncate(p.tick).Add(p.tick))):
	case <-p.stop:
		p.closeAll()
		return
	}
	p.ticker = time.NewTicker(p.tick)
	defer p.ticker.Stop()
	p.lastTick = time.Now()
	for {
		tick := false
		select {
		case <-p.stop:
			p.closeAll()
			return
		case <-p.ticker.C:
			tick = true
		case <-p.wake:
		}
		if tick {
			p.ticked()
		}
		p.round(tick)
	}
}

// ticked notes a tick of the replicas, for the stall hook.
func (p *Poller) ticked() {
	now := time.Now()
	if h := p.stall.Load(); h != nil && now.Sub(p.lastTick) >= h.min {
		h.f(now.Sub(p.lastTick))
	}
	p.lastTick = now
}

// round runs one round over the queued replicas, or over every replica on a tick.
func (p *Poller) round(tick bool) {
	if f := p.beforeRound.Load(); f != nil {
		(*f)()
	}
	p.mu.Lock()
	queued := p.queue
	p.queue, p.spare = p.spare, nil
	// Input that arrives from here on queues its replica again, for the next round.
	for _, r := range queued {
		r.queued.Store(false)
	}
	batch := queued
	if tick {
		batch = p.batch[:0]
		for r := range p.members {
			batch = append(batch, r)
		}
	}
	p.mu.Unlock()
	live := p.live[:0]
	for _, r := range batch {
		if r.gone {
			continue
		}
		select {
		case <-r.stop:
			p.remove(r, ErrClosed)
			continue
		default:
		}
		if tick {
			r.catchUp()
			r.periodic()
		}
		r.drain()
		live = append(live, r)
	}
	p.ready(live)
	for _, r := range live {
		if !r.gone && (len(r.inbox) > 0 || len(r.reqs) > 0) {
			p.schedule(r)
		}
	}
	clear(queued)
	clear(live)
	p.live = live[:0]
	p.mu.Lock()
	p.spare = queued[:0]
	p.mu.Unlock()
	if tick {
		clear(batch)
		p.batch = batch[:0]
	}
}

// ready carries out the Readies of rs, round after round while any has one.
func (p *Poller) ready(rs []*Replica) {
	for {
		work := p.work[:0]
		for _, r := range rs {
			switch {
			case r.gone:
			case r.node.HasReady():
				work = append(work, readyWork{r: r, rd: r.node.Ready(), fromNode: true})
			case r.saveState:
				work = append(work, readyWork{r: r})
			}
		}
		if len(work) == 0 {
			break
		}
		flusher := p.save(work)
		// Committed entries are chosen (a majority persisted them): they are applied, and
		// their writers answered, while this server's own write is in flight.
		for i := range work {
			if w := &work[i]; !w.failed {
				w.r.applyCommitted(w.rd)
			}
		}
		for i := range work {
			w := &work[i]
			if w.failed {
				continue
			}
			if err := p.wait(w.pend, flusher); err != nil {
				p.fail(w, err)
				continue
			}
			w.r.finishReady(w.rd, w.fromNode, w.compact)
		}
		clear(work)
		p.work = work[:0]
	}
	for _, r := range rs {
		if !r.gone {
			r.settle()
		}
	}
}

// save starts the write of every replica's update in one clog write. With chosen entries to
// apply, a large write, or a disk that took a tick or more for a write lately, the log's flusher
// writes it while the poller applies and waits (wait); otherwise wait writes it on this
// goroutine (no hand-off: on a fast disk the hand-off costs as much as the write). It reports
// whether the flusher must write it (the poller then keeps its replicas' leases meanwhile).
func (p *Poller) save(work []readyWork) (flusher bool) {
	updates := p.updates[:0]
	apply := false
	size := 0
	for i := range work {
		w := &work[i]
		w.compact = w.r.compactBelow
		w.r.compactBelow = 0
		u, save, err := w.r.prepare(w.rd)
		if err != nil {
			p.fail(w, err)
			continue
		}
		w.update, w.save = u, save
		if save {
			updates = append(updates, u)
			for _, e := range u.Entries {
				size += len(e.Head) + len(e.Data)
			}
		}
		apply = apply || len(w.rd.Committed) > 0
	}
	defer func() {
		clear(updates)
		p.updates = updates[:0]
	}()
	if len(updates) == 0 {
		return false
	}
	flusher = size >= largeWrite || time.Now().Before(p.slowUntil)
	start := p.log.Queue
	if apply || flusher {
		start = p.log.StartSave
	}
	pend, err := start(context.Background(), updates...)
	if err == nil {
		for i := range work {
			if w := &work[i]; w.save && !w.failed {
				w.pend = pend
			}
		}
		return flusher
	}
	// The log refused the whole write (one update broke a rule, or the log has failed):
	// write each alone, so that only the replicas whose updates fail stop.
	for i := range work {
		w := &work[i]
		if !w.save || w.failed {
			continue
		}
		if w.pend, err = start(context.Background(), w.update); err != nil {
			p.fail(w, err)
		}
	}
	return flusher
}

// wait returns once pend's write is durable, with its result. A write nobody took yet it writes
// on this goroutine, unless it is the flusher's (save). While another goroutine writes, for up
// to the write tolerance, it ticks the replicas and steps their messages (interim): a slow write
// costs its replicas no lease.
func (p *Poller) wait(pend clog.Pending, flusher bool) error {
	start := time.Now()
	defer func() {
		if now := time.Now(); now.Sub(start) >= p.tick {
			// A disk this slow stalls now and then (one shared with other writers): keep
			// the leases safe for a while rather than save a hand-off.
			p.slowUntil = now.Add(slowDiskMemory)
		}
	}()
	if !flusher {
		pend.Start()
	}
	select {
	case <-pend.Done():
		return pend.Wait(context.Background())
	default:
	}
	limit := time.Duration(p.tolerance.Load())
	woken := false
	for time.Since(start) < limit {
		select {
		case <-pend.Done():
			limit = 0
		case <-p.ticker.C:
			p.ticked()
			p.interim(true)
		case <-p.wake:
			woken = true
			p.interim(false)
		}
	}
	err := pend.Wait(context.Background())
	if woken {
		// The wake-ups went to interim: replicas still queued need the next round.
		p.mu.Lock()
		queued := len(p.queue) > 0
		p.mu.Unlock()
		if queued {
			select {
			case p.wake <- struct{}{}:
			default:
			}
		}
	}
	return err
}

// interim runs while a log write is under way: it ticks every replica (tick) or steps the
// messages of the queued ones, and sends what may leave before any write (Replica.interim).
// Requests, Readies and periodic duties wait for the next round; a replica with any of them
// pending is queued for it.
func (p *Poller) interim(tick bool) {
	p.mu.Lock()
	rs := p.interimBatch[:0]
	if tick {
		for r := range p.members {
			rs = append(rs, r)
		}
	} else {
		rs = append(rs, p.queue...)
	}
	p.mu.Unlock()
	for _, r := range rs {
		if !r.gone && r.interim(tick) {
			p.schedule(r)
		}
	}
	clear(rs)
	p.interimBatch = rs[:0]
}

// fail stops w's replica after persisting its Ready failed.
func (p *Poller) fail(w *readyWork, err error) {
	w.failed = true
	r := w.r
	r.log.Error("replica stopped: persisting failed", "err", err)
	r.failure = err
	close(r.broken)
	p.remove(r, err)
}

// remove stops driving r: its waiting callers get err, and Close returns.
func (p *Poller) remove(r *Replica, err error) {
	r.failAll(err)
	r.gone = true
	p.mu.Lock()
	delete(p.members, r)
	p.mu.Unlock()
	close(r.done)
}

// closeAll closes the replicas still driven when the poller stops.
func (p *Poller) closeAll() {
	p.mu.Lock()
	rs := make([]*Replica, 0, len(p.members))
	for r := range p.members {
		rs = append(rs, r)
	}
	p.mu.Unlock()
	for _, r := range rs {
		r.closeOnce.Do(func() { close(r.stop) })
		p.remove(r, ErrClosed)
	}
}
