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

	// Reused by rounds; the poller goroutine's own.
	batch, live []*Replica
	work        []readyWork
	updates     []clog.Update
}

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
	ticker := time.NewTicker(p.tick)
	defer ticker.Stop()
	lastTick := time.Now()
	for {
		tick := false
		select {
		case <-p.stop:
			p.closeAll()
			return
		case <-ticker.C:
			tick = true
		case <-p.wake:
		}
		if tick {
			now := time.Now()
			if h := p.stall.Load(); h != nil && now.Sub(lastTick) >= h.min {
				h.f(now.Sub(lastTick))
			}
			lastTick = now
		}
		p.round(tick)
	}
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
		p.save(work)
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
			if err := w.pend.Wait(context.Background()); err != nil {
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
// apply, the log's flusher writes it while the poller applies; without, Wait writes it on this
// goroutine (no hand-off).
func (p *Poller) save(work []readyWork) {
	updates := p.updates[:0]
	apply := false
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
		}
		apply = apply || len(w.rd.Committed) > 0
	}
	defer func() {
		clear(updates)
		p.updates = updates[:0]
	}()
	if len(updates) == 0 {
		return
	}
	start := p.log.Queue
	if apply {
		start = p.log.StartSave
	}
	pend, err := start(context.Background(), updates...)
	if err == nil {
		for i := range work {
			if w := &work[i]; w.save && !w.failed {
				w.pend = pend
			}
		}
		return
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
