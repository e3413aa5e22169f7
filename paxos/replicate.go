package paxos

// Phase 2 on the accepting side: voters accept under the highest ballot they promised;
// READONLY listeners take chosen entries from whoever feeds them.

func (n *Node) onAccept(m Message) {
	voter := n.isVoter() || n.role == Leader
	respType := MsgAcceptResp
	if m.Type == MsgHeartbeat {
		respType = MsgHeartbeatResp
	}
	// A ballot names its leader: a message from another replica is a cascade feed (a replica
	// feeding its READONLY listeners), which speaks for no leader. A voter gets one when its
	// feeder has not learned yet that it became a voter (READONLY to FULL). It takes nothing
	// from it: following, promising or granting for it would make it refuse the real
	// candidates (sim seed 899), and writing the fed entries could truncate entries after them
	// that it already acknowledged to the leader (a reconfirm may have re-accepted the chosen
	// ones under another ballot). The leader feeds every voter itself.
	if voter && m.From != m.Ballot.Node {
		n.send(Message{Type: respType, To: m.From, Ballot: m.Ballot, Index: min(n.log.commit, n.log.last()), Hint: n.log.last()})
		return
	}
	var echo uint64
	if voter {
		if m.Ballot.Less(n.hs.Promised) {
			// A deposed leader: tell it which ballot it is behind.
			n.send(Message{Type: respType, To: m.From, Ballot: m.Ballot, Reject: true, Promised: n.hs.Promised, Index: m.Index})
			return
		}
		if n.role != Follower || n.ballot != m.Ballot || n.leader != m.From {
			n.becomeFollower(m.Ballot, m.From)
		}
		// Renew the lease unless another replica holds a valid grant from us (then the
		// sender's ballot is higher but its lease is not ours to extend yet).
		if n.grant.holder == m.From || n.now >= n.grant.until {
			n.renewGrant(m.From, m.Ballot)
			n.scheduleCampaign(n.now)
			echo = m.Tick
		}
		if m.ClosedFloor > n.hs.ClosedFloor {
			n.hs.ClosedFloor = m.ClosedFloor
		}
	} else {
		if n.ballot.Less(m.Ballot) {
			// A listener (or a replica that does not know yet it was added) takes entries from
			// whoever feeds it; what it is sent below its commit point is chosen.
			n.ballot, n.leader = m.Ballot, m.From
		}
		if m.Ballot.Less(n.hs.Promised) {
			// It promised a higher ballot (it granted a lease, see onLease): from a lower one
			// it takes only what the sender says is chosen, so an acknowledgement never
			// breaks the promise.
			for len(m.Entries) > 0 && m.Entries[len(m.Entries)-1].Index > m.Commit {
				m.Entries = m.Entries[:len(m.Entries)-1]
			}
		}
	}
	// Accepting under a ballot implies promising it (Paxos: promised >= accepted).
	n.promise(m.Ballot)
	n.learnClosed(m.Closed)
	reply := Message{Type: respType, To: m.From, Ballot: m.Ballot, Tick: echo, Priority: n.advertised(), ClosedFloor: n.hs.ClosedFloor}
	if m.Type == MsgHeartbeat {
		n.setCommit(min(m.Commit, n.log.last()))
		reply.Index = n.log.last()
		// The answer renews the leader's lease and confirms its leadership; it acknowledges
		// no entry. When the promise of this ballot and the floor it reports are already
		// durable, nothing in it waits for this Ready's write (a commit point is a hint), so
		// it may leave first: a follower whose disk stalls still answers within one write,
		// not two, and the lease outlives the stall.
		reply.early = voter && n.persistedHS.Promised == m.Ballot && reply.ClosedFloor == n.persistedHS.ClosedFloor
		n.send(reply)
		n.feedAll()
		return
	}
	if m.Index < n.log.offset {
		// Already compacted here: those entries are chosen and applied. Skip to what is new.
		skip := n.log.offset - m.Index
		if skip >= uint64(len(m.Entries)) {
			reply.Index = n.log.offset
			n.send(reply)
			return
		}
		m.LogBallot = m.Entries[skip-1].Ballot
		m.Entries = m.Entries[skip:]
		m.Index = n.log.offset
	}
	if len(n.log.conf.base.Members) == 0 && n.log.offset == 0 {
		// A new replica: it cannot interpret the log without the membership it starts from.
		reply.Reject, reply.Index, reply.WantSnapshot = true, m.Index, true
		n.send(reply)
		return
	}
	if m.Index > n.log.last() || !n.log.matches(m.Index, m.LogBallot) {
		reply.Reject, reply.Index, reply.Hint = true, m.Index, min(m.Index-1, n.log.last())
		n.send(reply)
		return
	}
	n.log.appendAt(m.Entries)
	lastNew := m.Index + uint64(len(m.Entries))
	n.setCommit(min(m.Commit, lastNew))
	reply.Index, reply.Hint = lastNew, n.log.last()
	if n.rec != nil {
		// A recovering replica acknowledges only what is chosen already: the leader, which
		// counts it as a voter, keeps feeding it, and it counts toward no commit (recovery.go).
		reply.Index = min(lastNew, n.log.commit)
	}
	n.send(reply)
	n.feedAll()
}

func (n *Node) onSnapshot(m Message) {
	if n.isVoter() && m.From == m.Ballot.Node { // not a cascade feed (see onAccept)
		if m.Ballot.Less(n.hs.Promised) {
			// Refuse out loud, as onAccept does: a leader that is refused for long enough
			// re-runs its election above an orphaned promise (noteStalePromise).
			n.send(Message{Type: MsgAcceptResp, To: m.From, Ballot: m.Ballot, Reject: true, Promised: n.hs.Promised, Index: n.log.commit, Hint: n.log.last()})
			return
		}
		if n.role != Follower || n.ballot != m.Ballot {
			n.becomeFollower(m.Ballot, m.From)
		}
		n.leader = m.From
		n.promise(m.Ballot)
	}
	meta := *m.Snapshot
	if meta.Index <= n.log.commit && !(len(n.log.conf.base.Members) == 0 && n.log.offset == 0) {
		// Nothing to install: tell the sender where we are.
		n.send(Message{Type: MsgAcceptResp, To: m.From, Ballot: m.Ballot, Index: n.log.commit, Hint: n.log.last(), Priority: n.advertised()})
		return
	}
	if n.pendingSnap > meta.Index {
		return
	}
	n.pendingSnap, n.snapFrom = meta.Index+1, m.From
	n.snapFetch = &SnapshotFetch{From: m.From, Meta: meta}
}

// feedAll pushes chosen entries to the cascaded listeners this replica feeds.
func (n *Node) feedAll() {
	if n.role == Leader {
		return
	}
	n.syncFeeds()
	for _, id := range sortedIDs(n.feeds) {
		n.sendAppend(id, n.feeds[id], n.log.commit)
	}
}

// tickFeeds sends a heartbeat (an empty MsgAccept) to each fed listener that has nothing in
// flight, and resets a window that stopped moving.
func (n *Node) tickFeeds() {
	n.syncFeeds()
	for _, id := range sortedIDs(n.feeds) {
		pr := n.feeds[id]
		n.unstall(pr)
		if len(pr.inflight) == 0 && pr.next > n.log.commit {
			n.sendEmptyAccept(id, pr)
		}
		n.sendAppend(id, pr, n.log.commit)
	}
}

// syncFeeds makes feeds match the READONLY members whose upstream is this replica.
func (n *Node) syncFeeds() {
	conf := n.log.conf.current()
	for id := range n.feeds {
		if m, ok := conf.Member(id); !ok || m.Type != ReadOnly || m.Upstream != n.id {
			delete(n.feeds, id)
		}
	}
	for _, m := range conf.Members {
		if m.Type == ReadOnly && m.Upstream == n.id && m.ID != n.id {
			if n.feeds == nil {
				n.feeds = map[ID]*progress{}
			}
			if n.feeds[m.ID] == nil {
				n.feeds[m.ID] = &progress{next: n.log.commit + 1, probing: true}
			}
		}
	}
}

// onFeedResp handles a fed listener's answer while this replica is not the leader.
func (n *Node) onFeedResp(m Message) {
	pr := n.feeds[m.From]
	if pr == nil {
		return
	}
	n.noteResp(pr, m)
}
