package paxos

// progress is what a leader (or a replica feeding cascaded listeners) knows about one peer.
type progress struct {
	// Invariant: match < next.
	match, next uint64
	// probing: the peer's log position is unknown; send one message at a time until it answers.
	probing bool
	// inflight is the sliding window: the last index and bytes of each unacknowledged MsgAccept.
	// Invariant: len(inflight) <= MaxInflightMsgs; inflightBytes is their sum.
	inflight      []inflightMsg
	inflightBytes uint64
	// ackTick is the newest send tick the peer echoed under the current ballot (lease accounting).
	ackTick uint64
	// lastResp and lastAcceptResp are local ticks of the newest response of any kind and of the
	// newest MsgAcceptResp.
	lastResp, lastAcceptResp uint64
	prio                     Priority
	// floor is the highest closed-version floor the peer acknowledged as persisted.
	floor uint64
	// snapSentAt is the tick a snapshot was last offered; 0 when none is outstanding.
	snapSentAt uint64
	// refusingSince is the tick since which the peer has refused the leader for a higher
	// promise without answering it once in between; 0 when it is not refusing
	// (see noteStalePromise).
	refusingSince uint64
	// directUntil: a leader feeds this READONLY peer itself, not through its upstream, until
	// then (it asked for a lease: it has not learned it is a listener; see onLease).
	directUntil uint64
}

type inflightMsg struct {
	first, last uint64 // the indexes it carried: (first-1 is its prev); last = first-1 for a probe
	bytes       uint64
}

func (p *progress) full(cfg *Config) bool {
	return uint64(len(p.inflight)) >= cfg.MaxInflightMsgs || p.inflightBytes >= cfg.MaxInflightBytes
}

func (p *progress) sent(first, last, bytes uint64) {
	p.inflight = append(p.inflight, inflightMsg{first: first, last: last, bytes: bytes})
	p.inflightBytes += bytes
	p.next = last + 1
}

// acked frees the window through index.
func (p *progress) acked(index uint64) {
	k := 0
	for k < len(p.inflight) && p.inflight[k].last <= index {
		p.inflightBytes -= p.inflight[k].bytes
		k++
	}
	if k > 0 {
		p.inflight = append(p.inflight[:0], p.inflight[k:]...)
	}
}

// reset forgets the window and probes from next.
func (p *progress) reset(next uint64) {
	p.inflight = p.inflight[:0]
	p.inflightBytes = 0
	p.next = max(next, p.match+1)
	p.probing = true
}
