package paxos

// Election is lease-based and priority-ordered, after OceanBase's election: a voter grants one
// lease at a time, and the grant is also the Paxos phase-1 promise on the candidate's ballot, so
// a candidate that gathers a majority of grants both leads and has run phase 1 (its reconfirm
// then re-proposes the log suffix the majority reported). Priority decides who asks first
// (RankStaggerTicks per step down) and whom a leader hands leadership back to (leader.go).

// candidate is the state of a replica asking for a lease.
type candidate struct {
	ballot       Ballot
	deadline     uint64
	transfer     bool // asked with Transfer, handed over by the leader of transferFrom
	transferFrom Ballot
	grants       map[ID]grantInfo
	rejects      map[ID]bool
	// retry holds the voters that refused for now, not for good: they promised no ballot as high
	// as this one, but still held another's lease (or had just restarted). They are asked again
	// at the next tick while the campaign lasts (askAgain).
	retry map[ID]bool
}

// grantInfo is what a granter reported about its log (Paxos phase 1b).
type grantInfo struct {
	last       uint64
	lastBallot Ballot
	first      uint64
	commit     uint64
	floor      uint64
	// tick is the candidate's tick when it sent the request this grant answers.
	tick uint64
}

// standDelay is how long a FULL voter waits after a lease runs out before it asks: lower
// priority waits longer, plus seeded jitter.
func (n *Node) standDelay() uint64 {
	var steps uint64
	p := n.advertised()
	if !p.Healthy {
		steps += 10
	}
	if !p.Designated {
		steps++
	}
	steps += uint64(min(p.ZoneRank, 8))
	return steps*n.cfg.RankStaggerTicks + n.rand.intn(n.cfg.ElectionJitterTicks)
}

// scheduleCampaign sets when to stand if no lease is held by then.
func (n *Node) scheduleCampaign(from uint64) {
	n.campaignBase = from
	n.campaignAt = max(from, n.grant.until) + n.standDelay()
}

// campaign asks every voter for a lease under a new ballot. transferFrom is the ballot of the
// leader handing over, when transfer is set.
func (n *Node) campaign(transfer bool, transferFrom Ballot) {
	b := Ballot{Round: max(n.hs.Promised.Round, n.ballot.Round, n.seenRound) + 1, Node: n.id}
	n.role = Candidate
	n.lead = nil
	n.ballot = b
	n.leader = None
	if n.rec == nil {
		// A recovering candidate grants and promises itself only once it won (becomeLeader): a
		// campaign it loses leaves it pristine, or a new group could lose its pristine majority
		// for good (sim seed 6265).
		n.renewGrant(n.id, b)
		n.promise(b)
	}
	n.cand = &candidate{ballot: b, deadline: n.now + n.cfg.CampaignTicks, transfer: transfer, transferFrom: transferFrom,
		grants: map[ID]grantInfo{}, rejects: map[ID]bool{}, retry: map[ID]bool{}}
	n.cand.grants[n.id] = grantInfo{last: n.log.last(), lastBallot: n.log.lastBallot(), first: n.log.first(),
		commit: n.log.commit, floor: n.hs.ClosedFloor, tick: n.now}
	for _, v := range n.log.conf.current().Voters() {
		if v != n.id {
			n.askLease(v)
		}
	}
	n.maybeWin()
}

// askLease sends the candidate's lease request to voter v, stamped with the current tick (the
// lease it wins counts from the request a grant answers).
func (n *Node) askLease(v ID) {
	c := n.cand
	n.send(Message{Type: MsgLease, To: v, Ballot: c.ballot, Index: n.log.last(), LogBallot: n.log.lastBallot(),
		Priority: n.prio, Transfer: c.transfer, Promised: c.transferFrom, Tick: n.now})
}

// askAgain asks, once per tick, the voters that refused for now. A voter still holding the old
// leader's lease when the candidate asked (its grant was renewed a little later than the
// candidate's own) would otherwise cost the campaign its whole CampaignTicks and a second round:
// by the time the candidate stood again, the lower-priority voter had often stood too, and
// each refused the other.
func (n *Node) askAgain() {
	for _, v := range sortedIDs(n.cand.retry) {
		delete(n.cand.retry, v)
		n.askLease(v)
	}
}

// onLease is the voter's side: grant a lease and promise, or refuse.
func (n *Node) onLease(m Message) {
	refuse := func() {
		n.send(Message{Type: MsgLeaseResp, To: m.From, Ballot: m.Ballot, Reject: true, Promised: n.hs.Promised, Tick: m.Tick})
	}
	conf := n.log.conf.current()
	if !conf.IsVoter(m.From) && !n.logBehind(m, conf) {
		refuse() // a removed replica cannot disrupt the group
		if pr := n.strayListener(m.From); pr != nil {
			// A listener that asks for a lease has not learned it is one (made READONLY while
			// it was cut off): it takes nothing from its upstream while it thinks itself a
			// voter, so the leader feeds it until it has learned (fedByLeader).
			pr.directUntil = n.now + n.cfg.LeaseTicks
		}
		return
	}
	if n.rec != nil {
		refuse() // it may have granted or promised before it lost its state (recovery.go)
		return
	}
	// A replica that is not a voter in its own view still grants: candidates ask only the
	// voters of their membership, so the candidate knows a change (READONLY to FULL) this
	// replica has not received yet. Refusing would deadlock a group whose leader died right
	// after appending that change (as raft lets learners vote). onAccept keeps the promise.
	again := n.grant.holder == m.From && n.grant.ballot == m.Ballot // retransmission
	if !again {
		if !n.hs.Promised.Less(m.Ballot) {
			refuse()
			return
		}
		if n.role == Candidate && !n.prio.Better(m.Priority) && n.cand.ballot.Less(m.Ballot) {
			// A replica at least as good is asking under a higher ballot: stand aside rather
			// than split the vote (equal replicas that stood at once would otherwise both wait
			// out CampaignTicks; the higher ballot breaks the tie).
			n.giveUp()
		}
		held := n.now < n.grant.until && n.grant.holder != m.From
		handedOver := m.Transfer && n.grant.ballot == m.Promised
		if held && !handedOver && n.cfg.Mutation != MutationDoubleLease {
			refuse() // one lease at a time (DESIGN.md invariant 2)
			return
		}
		if n.now < n.noGrantUntil && n.cfg.Mutation != MutationDoubleLease {
			refuse() // restarted: a grant made before the crash may still hold
			return
		}
		if me, _ := n.me(); me.Type == Full && m.Index+n.cfg.ElectionLagEntries < n.log.last() {
			refuse() // log-progress gate: this voter can do better itself
			return
		}
	}
	if n.role != Follower && n.ballot != m.Ballot {
		n.becomeFollower(n.ballot, None)
	}
	n.renewGrant(m.From, m.Ballot)
	n.promise(m.Ballot)
	n.scheduleCampaign(n.now)
	n.send(Message{Type: MsgLeaseResp, To: m.From, Ballot: m.Ballot, Index: n.log.last(), LogBallot: n.log.lastBallot(),
		First: n.log.first(), Commit: n.log.commit, ClosedFloor: n.hs.ClosedFloor, Tick: m.Tick, Priority: n.advertised()})
}

// logBehind reports whether a member that is no voter in conf asks for a lease with a log ahead
// of this replica's: it may hold the entry that made it FULL, which this replica lacks. Refusing
// it deadlocked a group whose other voters saw it as READONLY while the only FULL replica in
// their view had lost its data and waited for a leader (sim seed 14122).
func (n *Node) logBehind(m Message, conf Membership) bool {
	if _, ok := conf.Member(m.From); !ok {
		return false
	}
	last := n.log.lastBallot()
	return last.Less(m.LogBallot) || (last == m.LogBallot && m.Index > n.log.last())
}

func (n *Node) onLeaseResp(m Message) {
	if m.Reject && n.hs.Promised.Less(m.Promised) {
		// Someone asked with a higher ballot: remember it so the next campaign goes above it.
		n.seenRound = max(n.seenRound, m.Promised.Round)
	}
	if n.role != Candidate || m.Ballot != n.cand.ballot {
		if n.role == Leader && m.Ballot == n.ballot && !m.Reject {
			n.lead.noteGrant(m, n) // a late grant still renews the lease from its send tick
		}
		return
	}
	if m.Reject {
		n.cand.rejects[m.From] = true
		if m.Promised.Less(n.cand.ballot) {
			n.cand.retry[m.From] = true
		}
		voters := n.log.conf.current().Voters()
		possible := 0
		for _, v := range voters {
			if !n.cand.rejects[v] {
				possible++
			}
		}
		if possible < n.log.conf.current().Quorum() {
			n.giveUp()
		}
		return
	}
	n.cand.grants[m.From] = grantInfo{last: m.Index, lastBallot: m.LogBallot, first: m.First, commit: m.Commit, floor: m.ClosedFloor, tick: m.Tick}
	n.maybeWin()
}

func (n *Node) maybeWin() {
	if !n.mayLead() {
		// Its type changed under the campaign (an installed snapshot's membership): invariant 3
		// (sim seed 16776 made a LOGONLY replica leader).
		n.giveUp()
		return
	}
	conf := n.log.conf.current()
	got := 0
	for _, v := range conf.Voters() {
		if _, ok := n.cand.grants[v]; ok && (v != n.id || n.rec == nil) {
			got++ // a recovering candidate needs a majority of the others (recovery.go)
		}
	}
	if got >= conf.Quorum() {
		n.becomeLeader()
	}
}

// giveUp abandons a campaign that cannot win: the grants are released so another candidate can
// gather them, and this replica stands again later.
func (n *Node) giveUp() {
	n.releaseCampaign()
	n.role = Follower
	n.cand = nil
	n.scheduleCampaign(n.now + n.cfg.CampaignTicks/2)
}

func (n *Node) releaseCampaign() {
	if n.cand == nil {
		return
	}
	b := n.cand.ballot
	for v := range n.cand.grants {
		if v != n.id {
			n.send(Message{Type: MsgLeaseRelease, To: v, Ballot: b})
		}
	}
	if n.grant.holder == n.id && n.grant.ballot == b {
		n.releaseGrant()
	}
}
