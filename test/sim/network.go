package sim

import (
	"container/heap"
	"fmt"
	"math/rand/v2"
	"slices"

	"obkv/paxos"
)

// envelope is a message in flight: it is delivered at step at; seq breaks ties in send order.
type envelope struct {
	at, seq uint64
	m       paxos.Message
}

type envelopes []envelope

func (q envelopes) Len() int { return len(q) }
func (q envelopes) Less(i, j int) bool {
	if q[i].at != q[j].at {
		return q[i].at < q[j].at
	}
	return q[i].seq < q[j].seq
}
func (q envelopes) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *envelopes) Push(x any)   { *q = append(*q, x.(envelope)) }
func (q *envelopes) Pop() any {
	old := *q
	e := old[len(old)-1]
	*q = old[:len(old)-1]
	return e
}

// partition is the current cut of the network by zone. Every replica is in its own zone, so a
// zone set is a replica set; cut holds the directed (from, to) pairs whose messages are dropped.
type partition struct {
	cut  map[[2]paxos.ID]bool
	desc string
}

func (p partition) cuts(from, to paxos.ID) bool { return p.cut[[2]paxos.ID{from, to}] }

// cutOneWay drops every message from a zone of a to a zone of b.
func (p *partition) cutOneWay(a, b []paxos.ID) {
	if p.cut == nil {
		p.cut = map[[2]paxos.ID]bool{}
	}
	for _, x := range a {
		for _, y := range b {
			if x != y {
				p.cut[[2]paxos.ID{x, y}] = true
			}
		}
	}
}

// netFaults are the network fault rates of one seed (chosen from it).
type netFaults struct {
	dropP, dupP, delayP float64
	// baseDelay and jitter: a message takes baseDelay + [0, jitter] steps; with delayP it is
	// delayed by up to maxExtraDelay more (reordering it behind later messages).
	baseDelay, jitter, maxExtraDelay uint64
}

func (f netFaults) String() string {
	return fmt.Sprintf("drop=%.3f dup=%.3f delay=%.3f base=%d jitter=%d extra<=%d", f.dropP, f.dupP, f.delayP, f.baseDelay, f.jitter, f.maxExtraDelay)
}

// network carries messages between replicas with the seed's faults.
type network struct {
	q      envelopes
	seq    uint64
	faults netFaults
	part   partition
	stats  struct{ sent, dropped, duplicated, delayed, cut uint64 }
}

// send puts a copy of m in flight (or drops it). The entries are copied: the Node owns the
// slices of a Ready only until Advance.
func (n *network) send(r *rand.Rand, now uint64, m paxos.Message) {
	n.stats.sent++
	if r.Float64() < n.faults.dropP {
		n.stats.dropped++
		return
	}
	m.Entries = slices.Clone(m.Entries)
	if m.Snapshot != nil {
		s := *m.Snapshot
		s.Membership = cloneConf(s.Membership)
		m.Snapshot = &s
	}
	copies := 1
	if r.Float64() < n.faults.dupP {
		copies = 2
		n.stats.duplicated++
	}
	for range copies {
		d := n.faults.baseDelay + r.Uint64N(n.faults.jitter+1)
		if r.Float64() < n.faults.delayP {
			d += 1 + r.Uint64N(n.faults.maxExtraDelay)
			n.stats.delayed++
		}
		n.seq++
		heap.Push(&n.q, envelope{at: now + max(d, 1), seq: n.seq, m: m})
	}
}

// due pops the next message due at or before now; ok is false when none is. A message across
// the current partition is dropped at delivery (messages in flight when a cut starts are lost).
func (n *network) due(now uint64) (paxos.Message, bool) {
	for len(n.q) > 0 && n.q[0].at <= now {
		e := heap.Pop(&n.q).(envelope)
		if n.part.cuts(e.m.From, e.m.To) {
			n.stats.cut++
			continue
		}
		return e.m, true
	}
	return paxos.Message{}, false
}
