package paxos

import (
	"fmt"
	"slices"
)

// leader is the state of a replica that gathered a majority of leases.
type leader struct {
	prs map[ID]*progress
	ids []ID // sorted keys of prs, for deterministic iteration
	// selfTick is when the leader last renewed its own grant.
	selfTick uint64
	// reconfirm: fetchFrom/fetchTo name the voter whose log suffix is being copied; barrier is
	// the index of the barrier entry. The leader serves once the barrier is chosen.
	fetchFrom   ID
	fetchTo     uint64
	fetchNext   uint64 // next index to fetch
	barrier     uint64
	reconfirmed bool
	// floor: proposals must carry versions above it (closed versions of earlier leaders).
	floor          uint64
	proposedClosed Closed
	lastVersion    uint64
	transferTo     ID
	transferEnd    uint64
	lastHeartbeat  uint64
	// lapsed is the tick the lease ran out at while this replica kept leading (see tickLeader);
	// 0 while the lease holds.
	lapsed uint64
	// dirty: entries were proposed since the last Ready; Ready sends them (batching).
	dirty bool
	// replicating: reconfirm reconciled the log; only then may it be sent under this ballot.
	replicating bool
}

// Proposal is one command for the log, stamped with its commit version.
type Proposal struct {
	Version uint64
	Data    []byte
}

func (l *leader) minVersion() uint64 { return max(l.floor, l.proposedClosed.Version, l.lastVersion) }

// leaseEnd is the first tick at which the leader's lease no longer holds: measured from the
// quorum-th newest send tick its voters acknowledged, minus the drift bound.
func (l *leader) leaseEnd(n *Node) uint64 {
	conf := n.log.conf.current()
	var ticks [16]uint64
	ts := ticks[:0]
	for _, x := range conf.Members {
		v := x.ID
		if !x.Type.IsVoter() {
			continue
		}
		if v == n.id {
			ts = append(ts, l.selfTick)
		} else if pr := l.prs[v]; pr != nil {
			ts = append(ts, pr.ackTick)
		} else {
			ts = append(ts, 0)
		}
	}
	q := conf.Quorum()
	if len(ts) < q {
		return 0
	}
	slices.Sort(ts)
	t := ts[len(ts)-q]
	if t == 0 {
		return 0 // a majority never acknowledged
	}
	return t + n.cfg.LeaseTicks - n.cfg.MaxDriftTicks
}

func (l *leader) noteGrant(m Message, n *Node) {
	if pr := l.prs[m.From]; pr != nil && m.Tick > pr.ackTick {
		pr.ackTick = m.Tick
	}
}

// becomeLeader runs when a majority granted the lease: phase 1 is done; reconfirm re-proposes
// the most advanced log suffix the majority reported.
func (n *Node) becomeLeader() {
	c := n.cand
	if n.rec != nil {
		// A recovering leader (recovery.go) won with a majority of the others. What it holds
		// above its commit point it accepted without counting: drop it and take the best log
		// of the others, which holds every chosen entry.
		n.log.truncateFrom(n.log.commit + 1)
		if !n.mayLead() {
			// What made it FULL was among those uncounted entries: it may not lead
			// (invariant 3; sim seed 14077 made a LOGONLY replica leader here).
			n.giveUp()
			return
		}
		g := c.grants[n.id]
		g.last, g.lastBallot = n.log.last(), n.log.lastBallot()
		c.grants[n.id] = g
		n.renewGrant(n.id, c.ballot)
		n.promise(c.ballot)
	}
	n.role = Leader
	n.cand = nil
	n.leader = n.id
	l := &leader{selfTick: c.grants[n.id].tick}
	n.lead = l
	best, bestID := c.grants[n.id], n.id
	floor := n.hs.ClosedFloor
	for _, id := range sortedIDs(c.grants) {
		g := c.grants[id]
		floor = max(floor, g.floor)
		if best.lastBallot.Less(g.lastBallot) || (best.lastBallot == g.lastBallot && g.last > best.last) {
			best, bestID = g, id
		}
	}
	if n.cfg.Mutation == MutationClosedGoesBack {
		floor = 0
	}
	l.floor = floor
	n.syncProgress()
	for id, g := range c.grants {
		if pr := l.prs[id]; pr != nil {
			pr.ackTick = g.tick
			pr.lastResp = n.now
		}
	}
	if n.cfg.Mutation == MutationSkipReconfirm {
		l.reconfirmed = true
		l.replicating = true
		l.dirty = true
		return
	}
	if bestID != n.id {
		l.fetchFrom, l.fetchTo, l.fetchNext = bestID, best.last, n.log.commit+1
		if l.fetchNext <= l.fetchTo {
			n.sendFetch()
			return
		}
		// The best log ends at or below this leader's commit point: there is nothing to copy
		// (asking for [commit+1, best.last] would get an empty page forever), and this
		// leader's own entries above its commit point are not in the best log, so they were
		// not chosen; finishReconfirm drops them.
	}
	n.finishReconfirm()
}

func (n *Node) sendFetch() {
	l := n.lead
	n.send(Message{Type: MsgFetch, To: l.fetchFrom, Ballot: n.ballot, Index: l.fetchNext, Hint: l.fetchTo})
}

// onFetch serves a new leader's reconfirm with this voter's entries.
func (n *Node) onFetch(m Message) {
	if m.Ballot.Less(n.hs.Promised) {
		n.send(Message{Type: MsgFetchResp, To: m.From, Ballot: m.Ballot, Reject: true, Promised: n.hs.Promised})
		return
	}
	if m.Index <= n.log.offset {
		meta := n.snapshotMeta()
		n.send(Message{Type: MsgFetchResp, To: m.From, Ballot: m.Ballot, Reject: true, Snapshot: &meta})
		return
	}
	if m.Index > n.log.last() || n.rec != nil {
		// It no longer holds what it reported when it granted: it lost its data since (and
		// recovers). Refuse, so that the leader stands again and reconfirms from another log;
		// an empty page kept it asking for ever, leading without serving (sim seed 36288).
		n.send(Message{Type: MsgFetchResp, To: m.From, Ballot: m.Ballot, Reject: true})
		return
	}
	es := n.log.slice(m.Index, m.Hint, n.cfg.MaxMsgEntries, n.cfg.MaxMsgBytes)
	n.send(Message{Type: MsgFetchResp, To: m.From, Ballot: m.Ballot, Index: m.Index - 1, Entries: es})
}

func (n *Node) onFetchResp(m Message) {
	l := n.lead
	if n.role != Leader || l.reconfirmed || m.Ballot != n.ballot || m.From != l.fetchFrom {
		return
	}
	if m.Reject {
		// The voter holding the newest suffix compacted what we lack, or moved on to a higher
		// ballot: we cannot reconfirm. Step down (releasing the leases) and catch up first.
		if m.Snapshot != nil && m.Snapshot.Index > n.log.commit && n.pendingSnap <= m.Snapshot.Index {
			n.pendingSnap, n.snapFrom = m.Snapshot.Index+1, m.From
			n.snapFetch = &SnapshotFetch{From: m.From, Meta: *m.Snapshot}
		}
		n.abdicate()
		return
	}
	if m.Index+1 != l.fetchNext || len(m.Entries) == 0 {
		return // a duplicate or stale page; the heartbeat tick asks again if it was lost
	}
	n.log.appendAt(m.Entries)
	if !n.canStand() {
		// The fetched suffix holds a membership change that made this replica LOGONLY or
		// READONLY (or removed it) after it stood as FULL: it may not lead (DESIGN.md
		// invariant 3). Step down and let a FULL voter reconfirm the same suffix.
		n.abdicate()
		return
	}
	l.fetchNext = m.Entries[len(m.Entries)-1].Index + 1
	if l.fetchNext <= l.fetchTo {
		n.sendFetch() // the next page
		return
	}
	n.finishReconfirm()
}

// abdicate stops leading without waiting for the lease: the grants this replica gathered are
// released so others can be granted at once (it never served under them, or it handed over).
func (n *Node) abdicate() {
	l := n.lead
	for _, id := range l.ids {
		if n.log.conf.current().IsVoter(id) {
			n.send(Message{Type: MsgLeaseRelease, To: id, Ballot: n.ballot})
		}
	}
	if n.grant.holder == n.id && n.grant.ballot == n.ballot {
		n.releaseGrant()
	}
	n.becomeFollower(n.ballot, None)
	n.scheduleCampaign(n.now + n.cfg.CampaignTicks)
}

// finishReconfirm re-proposes the log suffix above the commit point and appends a barrier under
// this leader's ballot; when the barrier is chosen, so is everything before it.
//
// The suffix keeps the ballots its entries were accepted under (as raft keeps terms): only the
// barrier carries the new ballot. Re-tagging the suffix with the new ballot would let a replica
// holding only a prefix of it (a torn write, or an Accept whose successor was lost) present a
// log whose last entry has the highest ballot yet lacks chosen entries; the next leader would
// take that log as the best one and overwrite them. With the original ballots a log ends in
// this ballot only once it holds the whole reconfirmed suffix.
func (n *Node) finishReconfirm() {
	l := n.lead
	if l.fetchFrom != None {
		n.log.truncateFrom(max(l.fetchTo, n.log.commit) + 1)
	}
	l.fetchFrom = None
	if n.rec != nil {
		// Its log now holds every chosen entry, and its ballot is above every promise of the
		// majority that granted it: an acceptor like any other (recovery.go).
		n.endRecovery()
	}
	n.log.appendAt([]Entry{{Index: n.log.last() + 1, Ballot: n.ballot, Type: EntryBarrier}})
	l.barrier = n.log.last()
	l.replicating = true
	for _, e := range n.log.entries {
		l.lastVersion = max(l.lastVersion, e.Version)
	}
	if l.floor > 0 {
		l.proposedClosed = Closed{Version: l.floor, Index: l.barrier}
		if n.hs.ClosedFloor < l.floor {
			n.hs.ClosedFloor = l.floor
		}
	}
	n.syncProgress()
	for _, id := range l.ids {
		l.prs[id].reset(n.log.commit + 1)
	}
	l.dirty = true
	n.maybeCommit() // a single-voter group chooses at once
}

// syncProgress makes the leader's progress map match the current membership.
func (n *Node) syncProgress() {
	l := n.lead
	conf := n.log.conf.current()
	if l.prs == nil {
		l.prs = map[ID]*progress{}
	}
	for id := range l.prs {
		if _, ok := conf.Member(id); !ok || id == n.id {
			delete(l.prs, id)
		}
	}
	for _, m := range conf.Members {
		if m.ID != n.id && l.prs[m.ID] == nil {
			l.prs[m.ID] = &progress{next: n.log.last() + 1, probing: true, lastResp: n.now}
		}
	}
	l.ids = sortedIDs(l.prs)
}

// fedByLeader reports whether the leader sends entries to member m itself: voters, and
// listeners without a live upstream.
func (n *Node) fedByLeader(m Member) bool {
	if !n.fedByUpstream(m) {
		return true
	}
	if pr := n.lead.prs[m.ID]; pr != nil && n.now < pr.directUntil {
		return true // it thinks itself a voter (onLease)
	}
	up := n.lead.prs[m.Upstream]
	return up == nil || n.now > up.lastResp+n.cfg.LeaseTicks
}

// strayListener returns the leader's progress for a READONLY member fed by another replica, or
// nil (not the leader; not such a member).
func (n *Node) strayListener(id ID) *progress {
	if n.role != Leader {
		return nil
	}
	if m, ok := n.log.conf.current().Member(id); !ok || !n.fedByUpstream(m) {
		return nil
	}
	return n.lead.prs[id]
}

// fedByUpstream reports whether m is a READONLY member that another replica than this one feeds.
func (n *Node) fedByUpstream(m Member) bool {
	return m.Type == ReadOnly && m.Upstream != None && m.Upstream != n.id
}

// limitFor is the highest index a peer may be sent: voters get the whole log, listeners only
// chosen entries.
func (n *Node) limitFor(m Member) uint64 {
	if m.Type == ReadOnly && n.cfg.Mutation != MutationReadOnlyQuorum {
		return n.log.commit
	}
	return n.log.last()
}

func (n *Node) bcastAppend() {
	if !n.lead.replicating {
		return
	}
	conf := n.log.conf.current()
	for _, id := range n.lead.ids {
		m, _ := conf.Member(id)
		if n.fedByLeader(m) {
			n.sendAppend(id, n.lead.prs[id], n.limitFor(m))
		}
	}
}

// sendAppend sends pr's peer what it lacks up to limit, as far as the window allows.
func (n *Node) sendAppend(to ID, pr *progress, limit uint64) {
	for {
		if pr.next <= n.log.offset {
			if pr.snapSentAt == 0 || n.now >= pr.snapSentAt+n.cfg.LeaseTicks {
				meta := n.snapshotMeta()
				n.send(Message{Type: MsgSnapshot, To: to, Ballot: n.ballot, Snapshot: &meta})
				pr.snapSentAt = max(n.now, 1)
			}
			return
		}
		if pr.probing && len(pr.inflight) > 0 || pr.full(&n.cfg) {
			return
		}
		if pr.next > limit {
			if pr.probing {
				// Nothing new to send, but the peer's position is unknown: probe with an
				// empty MsgAccept at next-1.
				n.sendEmptyAccept(to, pr)
				pr.sent(pr.next, pr.next-1, 0)
			}
			return
		}
		es := n.log.slice(pr.next, limit, n.cfg.MaxMsgEntries, n.cfg.MaxMsgBytes)
		prev, _ := n.log.ballotAt(pr.next - 1)
		var bytes uint64
		for i := range es {
			bytes += es[i].size()
		}
		n.send(Message{Type: MsgAccept, To: to, Ballot: n.ballot, Index: pr.next - 1, LogBallot: prev, Entries: es,
			Commit: n.log.commit, Tick: n.now, Closed: n.closed, ClosedFloor: n.floorToSend()})
		pr.sent(pr.next, es[len(es)-1].Index, bytes)
	}
}

// sendEmptyAccept probes or heartbeats a listener.
func (n *Node) sendEmptyAccept(to ID, pr *progress) {
	prev, ok := n.log.ballotAt(pr.next - 1)
	if !ok {
		return
	}
	n.send(Message{Type: MsgAccept, To: to, Ballot: n.ballot, Index: pr.next - 1, LogBallot: prev,
		Commit: n.log.commit, Tick: n.now, Closed: n.closed})
}

func (n *Node) floorToSend() uint64 {
	if n.role == Leader {
		return n.lead.proposedClosed.Version
	}
	return 0
}

func (n *Node) snapshotMeta() SnapshotMeta {
	return SnapshotMeta{Index: n.snap.Index, Ballot: n.snap.Ballot, Version: n.snap.Version,
		Membership: n.snap.Membership.clone(), Closed: n.closed}
}

func (n *Node) tickLeader() {
	l := n.lead
	if n.now >= l.leaseEnd(n) {
		// The lease ran out (no majority renewed it in time): the leader stops serving at once
		// (Serving), but keeps its ballot and goes on renewing for half a lease
		// (Config.lapseTicks). Late answers were the usual cause (a CPU or disk stall on one
		// of the servers); when a majority answers a renewal sent after the lapse, it serves
		// again under the same ballot, without an election and its reconfirm. Ballots keep it
		// safe meanwhile: another replica can win only from voters whose grants ran out, and
		// their promises refuse this leader's renewals (stepDownIfRefused).
		if l.lapsed == 0 {
			l.lapsed = n.now
		}
		if n.now >= l.lapsed+n.cfg.lapseTicks() {
			n.stepDown()
			return
		}
	} else {
		l.lapsed = 0
	}
	if l.transferTo != None && n.now >= l.transferEnd {
		l.transferTo = None // the target did not catch up in time: serve again
	}
	if n.now-l.lastHeartbeat >= n.cfg.HeartbeatTicks {
		n.heartbeat()
		if l.fetchFrom != None {
			n.sendFetch()
		}
		n.maybeTransferBack()
	}
}

// stepDown ends a leadership whose lease did not come back: the replica follows, and stands
// again once its own grant has run out.
func (n *Node) stepDown() {
	n.becomeFollower(n.ballot, None)
	n.scheduleCampaign(n.now)
}

// stepDownIfRefused ends a lapsed leadership as soon as a majority of voters refuses it for
// higher promises: its lease cannot come back, and its renewals would keep the voters that still
// answer it from granting the candidate that can win.
func (n *Node) stepDownIfRefused() {
	if n.role != Leader || n.lead.lapsed == 0 {
		return // not lapsed, or noteStalePromise campaigned already
	}
	l := n.lead
	conf := n.log.conf.current()
	willing := 0
	for _, v := range conf.Voters() {
		if pr := l.prs[v]; v == n.id || (pr != nil && pr.refusingSince == 0) {
			willing++
		}
	}
	if willing < conf.Quorum() {
		n.stepDown()
	}
}

// heartbeat renews the lease with every voter and feeds listeners.
func (n *Node) heartbeat() {
	l := n.lead
	l.lastHeartbeat = n.now
	n.renewGrant(n.id, n.ballot)
	l.selfTick = n.now
	conf := n.log.conf.current()
	for _, id := range l.ids {
		pr := l.prs[id]
		m, _ := conf.Member(id)
		n.unstall(pr)
		if m.Type.IsVoter() {
			n.send(Message{Type: MsgHeartbeat, To: id, Ballot: n.ballot, Commit: min(n.log.commit, pr.match),
				Tick: n.now, Closed: n.closed, ClosedFloor: l.proposedClosed.Version})
		} else if n.fedByLeader(m) && len(pr.inflight) == 0 && pr.next > n.limitFor(m) {
			n.sendEmptyAccept(id, pr)
		}
		if l.replicating && n.fedByLeader(m) {
			n.sendAppend(id, pr, n.limitFor(m))
		}
	}
}

// unstall resets a window that has not moved for two heartbeats (its messages were lost): the
// peer is probed again where the oldest lost message began. Not from match+1: a leader elected
// while the peer was down has match 0 for it, and probing from index 1 would walk below its
// compacted log and offer a snapshot to a peer that lacks only the last few entries.
func (n *Node) unstall(pr *progress) {
	if len(pr.inflight) > 0 && n.now >= pr.lastAcceptResp+2*n.cfg.HeartbeatTicks && n.now >= pr.lastResp {
		pr.reset(pr.inflight[0].first)
		pr.lastAcceptResp = n.now
	}
}

// onAcceptResp handles acknowledgements at the leader or at a replica feeding listeners.
func (n *Node) onAcceptResp(m Message) {
	if m.Reject && n.ballot.Less(m.Promised) {
		// This voter promised a higher ballot. The leader does not step down for it: if that
		// ballot won a majority, this leader's lease stops being renewed and runs out; if it did
		// not, its candidate releases the promise. Remember the round for the next campaign.
		n.seenRound = max(n.seenRound, m.Promised.Round)
		if n.role == Leader && m.Ballot == n.ballot {
			n.noteStalePromise(m.From)
			n.stepDownIfRefused()
		}
		return
	}
	if n.role != Leader {
		n.onFeedResp(m)
		return
	}
	if m.Ballot != n.ballot {
		return
	}
	pr := n.lead.prs[m.From]
	if pr == nil {
		return
	}
	n.noteResp(pr, m)
	if m.Type == MsgAcceptResp || m.Type == MsgHeartbeatResp {
		n.maybeCommit()
		n.maybePublishClosed()
		n.maybeTransfer()
	}
}

// noteStalePromise handles a peer that refuses this leader because it promised a higher ballot p. A
// candidate of p either wins (then this lease stops being renewed and runs out) or gives up and
// releases its grants within CampaignTicks. A peer still refusing a lease after that holds an
// orphaned promise: its candidate never learned of the grant (the grant was lost), nobody will
// release it, and the peer refuses this leader forever (no longer replicating, voting or
// listening; it stands itself in between, which only changes the ballot it refuses with). Run
// the election again above it: the voters holding this leader's lease grant the new ballot at
// once, and the peer takes it.
func (n *Node) noteStalePromise(from ID) {
	pr := n.lead.prs[from]
	if pr == nil {
		return
	}
	if pr.refusingSince == 0 {
		pr.refusingSince = n.now
		return
	}
	if n.now >= pr.refusingSince+n.cfg.CampaignTicks+n.cfg.LeaseTicks {
		n.campaign(false, Ballot{})
	}
}

// noteResp updates pr from an answer and sends more if the window opened.
func (n *Node) noteResp(pr *progress, m Message) {
	pr.lastResp = n.now
	pr.prio = m.Priority
	if m.Tick > pr.ackTick {
		pr.ackTick = m.Tick
	}
	pr.floor = max(pr.floor, m.ClosedFloor)
	if !m.Reject {
		pr.refusingSince = 0
	}
	conf := n.log.conf.current()
	member, _ := conf.Member(m.From)
	limit := n.log.commit
	if n.role == Leader {
		limit = n.limitFor(member)
	}
	switch {
	case m.Type == MsgHeartbeatResp:
		if pr.probing && len(pr.inflight) == 0 && (n.role != Leader || n.lead.replicating) {
			n.sendAppend(m.From, pr, limit)
		}
		return
	case m.Reject && m.WantSnapshot:
		pr.reset(0)
		pr.next = n.log.offset // sendAppend offers the snapshot of the compacted point
		pr.snapSentAt = 0
		pr.lastAcceptResp = n.now
	case m.Reject:
		if m.Index < pr.match {
			return // stale
		}
		pr.reset(min(m.Index, m.Hint+1))
		pr.lastAcceptResp = n.now
	default:
		pr.lastAcceptResp = n.now
		if m.Index > pr.match {
			pr.match = m.Index
			pr.probing = false
		} else if pr.probing && m.Index == pr.match {
			pr.probing = false
		}
		pr.acked(pr.match)
		if pr.next <= pr.match {
			pr.next = pr.match + 1
		}
		if pr.match >= n.log.offset {
			pr.snapSentAt = 0
		}
	}
	if n.role != Leader || (n.lead.replicating && n.fedByLeader(member)) {
		n.sendAppend(m.From, pr, limit)
	}
}

// maybeCommit chooses the highest index a majority of voters has persisted, if this leader
// accepted it under its own ballot (earlier-ballot entries are chosen through it).
func (n *Node) maybeCommit() {
	l := n.lead
	conf := n.log.conf.current()
	var buf [16]uint64
	ms := buf[:0]
	self := n.log.stable
	if n.cfg.Mutation == MutationAckBeforePersist {
		self = n.log.last()
	}
	for _, m := range conf.Members {
		counted := m.Type.IsVoter() || n.cfg.Mutation == MutationReadOnlyQuorum
		switch {
		case !counted:
		case m.ID == n.id:
			ms = append(ms, self)
		case l.prs[m.ID] != nil:
			ms = append(ms, l.prs[m.ID].match)
		default:
			ms = append(ms, 0)
		}
	}
	q := conf.Quorum()
	if len(ms) < q {
		return
	}
	slices.Sort(ms)
	idx := ms[len(ms)-q]
	if idx <= n.log.commit {
		return
	}
	if b, ok := n.log.ballotAt(idx); !ok || b != n.ballot {
		return
	}
	n.setCommit(idx)
	if !l.reconfirmed && n.log.commit >= l.barrier {
		l.reconfirmed = true
	}
	// Listeners only take chosen entries: the commit point moving is news for them.
	for _, id := range l.ids {
		if m, _ := conf.Member(id); m.Type == ReadOnly && n.fedByLeader(m) {
			n.sendAppend(id, l.prs[id], n.limitFor(m))
		}
	}
}

// maybePublishClosed publishes the proposed closed version once a majority of voters persisted
// it as their floor, so any later leader learns it in its lease majority.
func (n *Node) maybePublishClosed() {
	l := n.lead
	p := l.proposedClosed
	if p.Version <= n.closed.Version || !l.reconfirmed {
		return
	}
	conf := n.log.conf.current()
	got := 0
	for _, v := range conf.Voters() {
		if v == n.id {
			if n.persistedHS.ClosedFloor >= p.Version {
				got++
			}
		} else if pr := l.prs[v]; pr != nil && pr.floor >= p.Version {
			got++
		}
	}
	if got >= conf.Quorum() {
		n.learnClosed(p)
		n.heartbeat()
	}
}

// Propose appends commands to the log. It returns the index of the first; the rest follow in
// order. Only a serving leader accepts, and every version must be above Status().MinVersion and
// ascending.
func (n *Node) Propose(ps ...Proposal) (uint64, error) {
	if err := n.canPropose(); err != nil {
		return 0, err
	}
	l := n.lead
	if n.log.last()-n.log.commit+uint64(len(ps)) > n.cfg.MaxUncommittedEntries {
		return 0, fmt.Errorf("%w: %d waiting, limit %d", ErrBusy, n.log.last()-n.log.commit, n.cfg.MaxUncommittedEntries)
	}
	prev := l.minVersion()
	for _, p := range ps {
		if p.Version <= prev {
			return 0, fmt.Errorf("%w: version %d must be above %d", ErrVersionClosed, p.Version, prev)
		}
		prev = p.Version
	}
	first := n.log.last() + 1
	for i, p := range ps {
		n.log.entries = append(n.log.entries, Entry{Index: first + uint64(i), Ballot: n.ballot, Type: EntryNormal, Version: p.Version, Data: p.Data})
	}
	if len(ps) > 0 {
		l.lastVersion = prev
		l.dirty = true
		if len(l.ids) == 0 || n.cfg.Mutation == MutationAckBeforePersist {
			n.maybeCommit()
		}
	}
	return first, nil
}

func (n *Node) canPropose() error {
	if n.role != Leader {
		return fmt.Errorf("%w: replica %d is %s (leader %d)", ErrNotLeader, n.id, n.role, n.leader)
	}
	if !n.lead.reconfirmed {
		return fmt.Errorf("%w: replica %d is still reconfirming", ErrNotReady, n.id)
	}
	if !n.Serving() {
		return fmt.Errorf("%w: replica %d lease expired", ErrNotLeader, n.id)
	}
	if n.lead.transferTo != None {
		return fmt.Errorf("%w: to replica %d", ErrTransferring, n.lead.transferTo)
	}
	return nil
}

// ProposeConfChange proposes one membership change. Only one may be in the log unchosen.
func (n *Node) ProposeConfChange(cc ConfChange) (uint64, error) {
	if err := n.canPropose(); err != nil {
		return 0, err
	}
	if p := n.log.conf.pendingIndex(); p > n.log.commit {
		return 0, fmt.Errorf("%w: the change at index %d is not chosen yet: one change at a time", ErrConfChange, p)
	}
	if cc.ID == n.id && (cc.Type == ConfRemove || cc.Type == ConfSetType) {
		return 0, fmt.Errorf("%w: replica %d leads: transfer leadership before changing it", ErrConfChange, n.id)
	}
	if _, err := applyConfChange(n.log.conf.current(), cc); err != nil {
		return 0, err
	}
	e := Entry{Index: n.log.last() + 1, Ballot: n.ballot, Type: EntryConfChange, Data: EncodeConfChange(cc)}
	n.log.appendAt([]Entry{e})
	n.syncProgress()
	n.lead.dirty = true
	return e.Index, nil
}

// TransferLeader hands leadership to a FULL voter: proposals stop, the target is brought up to
// date, then told to campaign at once; the voters let it take over the lease.
func (n *Node) TransferLeader(to ID) error {
	if n.role != Leader || !n.lead.reconfirmed {
		return fmt.Errorf("%w: replica %d cannot transfer leadership", ErrNotLeader, n.id)
	}
	if to == n.id {
		return nil
	}
	m, ok := n.log.conf.current().Member(to)
	if !ok || m.Type != Full {
		return fmt.Errorf("paxos: transfer leadership to replica %d: it is not a FULL member (%s)", to, n.log.conf.current())
	}
	n.lead.transferTo = to
	n.lead.transferEnd = n.now + n.cfg.TransferTicks
	n.maybeTransfer()
	return nil
}

func (n *Node) maybeTransfer() {
	if n.role != Leader {
		return
	}
	l := n.lead
	if l.transferTo == None {
		return
	}
	pr := l.prs[l.transferTo]
	if pr == nil {
		l.transferTo = None
		return
	}
	if pr.match == n.log.last() && n.log.stable == n.log.last() {
		to := l.transferTo
		n.send(Message{Type: MsgTimeoutNow, To: to, Ballot: n.ballot, Commit: n.log.commit})
		// Stop serving now; keep the grants: the voters release them to the target because it
		// names our ballot.
		n.becomeFollower(n.ballot, None)
		n.scheduleCampaign(n.now + n.cfg.CampaignTicks)
		return
	}
	n.sendAppend(l.transferTo, pr, n.log.last())
}

// maybeTransferBack hands leadership to a healthier or higher-priority FULL voter that is
// caught up and answering (as OceanBase switches leaders back to the primary zone).
func (n *Node) maybeTransferBack() {
	l := n.lead
	if !l.reconfirmed || l.transferTo != None {
		return
	}
	conf := n.log.conf.current()
	best, bestPrio := None, n.prio
	for _, id := range l.ids {
		m, _ := conf.Member(id)
		pr := l.prs[id]
		if m.Type != Full || !pr.prio.Healthy || n.now > pr.lastResp+n.cfg.HeartbeatTicks*2 ||
			pr.match+n.cfg.ElectionLagEntries < n.log.last() {
			continue
		}
		if pr.prio.Better(bestPrio) {
			best, bestPrio = id, pr.prio
		}
	}
	if best != None {
		_ = n.TransferLeader(best)
	}
}

// ReadIndex asks for a commit point that makes a read linearizable. On the serving leader the
// answer is immediate (its lease proves no other leader exists); a follower asks the leader. The
// answer arrives in Ready.ReadStates.
func (n *Node) ReadIndex(requestID uint64) error {
	if n.Serving() {
		n.readStates = append(n.readStates, ReadState{RequestID: requestID, Index: n.log.commit})
		return nil
	}
	if n.role == Leader && n.lead.lapsed != 0 {
		return fmt.Errorf("%w: replica %d lease expired", ErrNotLeader, n.id)
	}
	if n.role == Leader {
		return fmt.Errorf("%w: replica %d is still reconfirming", ErrNotReady, n.id)
	}
	if n.leader == None {
		return fmt.Errorf("%w: replica %d knows no leader", ErrNotLeader, n.id)
	}
	n.send(Message{Type: MsgReadIndex, To: n.leader, Ballot: n.ballot, RequestID: requestID})
	return nil
}

func (n *Node) onReadIndex(m Message) {
	if n.Serving() {
		n.send(Message{Type: MsgReadIndexResp, To: m.From, Ballot: n.ballot, RequestID: m.RequestID, Index: n.log.commit})
		return
	}
	n.send(Message{Type: MsgReadIndexResp, To: m.From, Ballot: n.ballot, RequestID: m.RequestID, Reject: true})
}

// CloseVersion promises that no entry proposed from now on carries a version at or below v.
// The promise is persisted by a majority of voters before it is published to followers and
// listeners (Ready.Closed), so closed versions never go back across leader changes.
func (n *Node) CloseVersion(v uint64) error {
	if n.role != Leader || !n.lead.reconfirmed {
		return fmt.Errorf("%w: replica %d cannot close versions", ErrNotLeader, n.id)
	}
	l := n.lead
	if v <= l.proposedClosed.Version {
		return nil
	}
	l.proposedClosed = Closed{Version: v, Index: n.log.last()}
	if n.hs.ClosedFloor < v {
		n.hs.ClosedFloor = v
	}
	n.heartbeat()
	return nil
}

func sortedIDs[V any](m map[ID]V) []ID {
	ids := make([]ID, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}
