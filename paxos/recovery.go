package paxos

import "fmt"

// Recovery of a replica that starts with no durable state.
//
// A replica that boots with nothing stored (Boot.Fresh: no hard state, no entries, no
// snapshot) is either new or one whose data was lost: a server whose data directory was
// rebuilt empty comes back under its old name and the root service places its replicas
// again. The second kind may have granted leases, promised ballots and accepted entries that a
// majority counted, and remembers none of it. Voting at once, it could help a candidate that lacks a chosen entry to a majority
// (the entry is lost, DESIGN.md invariant 1), or accept under a ballot below one it promised.
// Paxos Made Live (Chandra, Griesemer and Redstone, 2007, section 5.1) rebuilds such a replica
// as a non-voting member until it has seen one complete instance of Paxos started after it
// began rebuilding; this file does that:
//
//   - while HardState.Recovering, the replica grants no lease, never stands, takes entries as
//     a listener does, and acknowledges them only up to the commit point the leader sent it, so
//     its acknowledgements count toward no commit, lease or closed-version floor. Its priority
//     reads unhealthy, so no leader hands it leadership;
//   - it probes the voters (MsgProbe) at its first tick, then every HeartbeatTicks until a
//     serving leader answered. A serving leader answers by appending a barrier: an entry
//     chosen only after the probe, without the prober (MsgProbeResp.Hint).
//     A leader (or an upstream feeding it) also starts its progress over: what it acknowledged
//     before it lost its state is gone;
//   - it ends recovery once it has caught up through that barrier, chosen, and at least
//     CampaignTicks+LeaseTicks after it started: every lease it granted before it lost its
//     state has run out, and every campaign that counted one of its promises has won or given
//     up by then. A leader that chose the barrier without it holds a log with every chosen
//     entry, which the replica now has up to there;
//   - a recovering FULL replica may stand after that time too (a group whose only FULL
//     replica lost its data has nobody else to lead), but its own grant does not count: it
//     wins with a majority of the others, whose logs hold every chosen entry (any majority
//     that chose one, less this replica, intersects them). It drops what it holds above its
//     commit point, copies the best log of the others (reconfirm), and ends recovery once it
//     has: a leader that gives up before stays recovering.
//
// A new group is made only of such replicas, and one of them must vote first. A recovering
// replica whose probes show that a majority of its voters, itself included, has stored nothing
// at all ends recovery at once: with a majority pristine, nothing can have been chosen (any
// majority that chose something intersects it) unless a replica in it lost its state, and one
// that did is covered by invariant 1 only while the others keep theirs. Every voter answering
// that its log holds no entry (pristine or not) ends it too, once everything the replica may
// have forgotten is moot (forgotten): the others may have promised ballots of campaigns, but an
// entry chosen would be held by a majority, which would then all have lost their state. A
// majority of them is not enough: a voter that promised in an early campaign and never got an
// entry says nothing of the group that ran without it (sim seed 7416, a group that ran on the
// other two voters, one of which lost its disk while the other was cut off, started afresh).
// Without this exit a new group whose first writes were lost on half its voters (crashes before
// their first fsync), while the other half had promised in a campaign, waited for ever: neither
// half could elect without the other (sim seed 2878). Config.Established (the driver knows the
// group ran) closes both exits. The case this cannot tell apart otherwise: a
// replica lost its data while the only other replicas that hold the group's entries are down
// or answer late, and the rest never received anything; it then starts the group afresh.
// The recovering flag is persisted with the hard state, so a crash in the middle of recovery
// resumes it.

// recovery is the volatile state of a recovering replica.
type recovery struct {
	since    uint64      // tick recovery started (this incarnation)
	pristine map[ID]bool // voters whose last probe answer said they stored nothing
	empty    map[ID]bool // voters whose last probe answer said their log holds no entry
	target   uint64      // a barrier a serving leader appended after a probe; 0 until one answers
	forced   bool        // an operator gave up the catch-up condition (ForceEndRecovery)
}

// startRecovery puts a replica that booted with no durable state into recovery, or resumes the
// recovery a crash interrupted.
func (n *Node) startRecovery() {
	n.hs.Recovering = true
	n.rec = &recovery{since: n.now, pristine: map[ID]bool{}, empty: map[ID]bool{}}
}

// isPristine reports whether this replica has stored nothing: no promise, no entry, no snapshot.
func (n *Node) isPristine() bool {
	return n.hs.Promised.IsZero() && n.log.last() == 0 && n.log.offset == 0
}

// tickRecovery ends recovery when it may end, or probes the voters again.
func (n *Node) tickRecovery() {
	r := n.rec
	if n.mayEndRecovery() {
		n.endRecovery()
		n.scheduleCampaign(n.now)
		return
	}
	if r.target != 0 {
		return // waiting to catch up through the barrier
	}
	if age := n.now - r.since; age > 1 && age%n.cfg.HeartbeatTicks != 0 {
		// Probes after the first go every HeartbeatTicks: each one a serving leader hears
		// appends a barrier, and a replica that hears no answer (cut off one way) would
		// otherwise grow the log by one entry per tick.
		return
	}
	conf := n.log.conf.current()
	for _, v := range conf.Voters() {
		if v != n.id {
			n.send(Message{Type: MsgProbe, To: v, Ballot: n.ballot})
		}
	}
	if n.leader != None && n.leader != n.id && !conf.IsVoter(n.leader) {
		// A replica that joined knows no membership until the leader sends it one.
		n.send(Message{Type: MsgProbe, To: n.leader, Ballot: n.ballot})
	}
	if me, ok := n.me(); ok && me.Upstream != None && me.Upstream != n.id && me.Upstream != n.leader && !conf.IsVoter(me.Upstream) {
		// A listener fed by another listener: the upstream remembers how far it fed it, and
		// its feed would be refused below that for ever (noteResp takes such refusals for
		// stale). Its answer counts for nothing here (pristine and empty count voters).
		n.send(Message{Type: MsgProbe, To: me.Upstream, Ballot: n.ballot})
	}
}

func (n *Node) endRecovery() {
	n.hs.Recovering = false
	n.rec = nil
}

// forgotten reports whether everything the replica may have forgotten is moot by now: every
// lease it granted before it lost its state has run out, and every campaign that counted one of
// its promises has won or given up.
func (r *recovery) forgotten(n *Node) bool {
	return n.now >= r.since+n.cfg.CampaignTicks+n.cfg.LeaseTicks
}

// ForceEndRecovery is the operator's way out of a group that cannot recover by itself: a
// majority of its voters lost their data (two data directories of a three-replica group), so
// no quorum of the others can ever choose the barrier that ends their recovery, and the group
// waits for ever. It gives up the catch-up condition for this replica: it ends recovery at the
// first tick at which everything it forgot is moot (forgotten: leases it granted before have
// run out), and from then on votes with what it holds. That is UNSAFE by design: entries a
// majority chose that only lost replicas held are gone, and a leader elected with this
// replica's vote may choose other values at their indexes (DESIGN.md invariant 1 holds only
// while a majority keeps its disks). Lease safety (invariant 2) is kept by the wait.
// It returns ErrNotRecovering on a replica that is not recovering, and ErrRecoveryLive on
// one that hears a leader: its recovery ends by itself, and forced it would vote with a log a
// majority may not have (a group that could keep every write would risk one).
func (n *Node) ForceEndRecovery() error {
	if n.rec == nil {
		return ErrNotRecovering
	}
	if n.leader != None {
		return fmt.Errorf("%w: replica %d hears leader %d and leaves recovery once caught up", ErrRecoveryLive, n.id, n.leader)
	}
	n.rec.forced = true
	return nil
}

func (n *Node) mayEndRecovery() bool {
	r := n.rec
	if r.target != 0 && n.log.commit >= r.target && r.forgotten(n) {
		return true
	}
	if r.forced && r.forgotten(n) {
		return true
	}
	me, ok := n.me()
	if !ok || !me.Type.IsVoter() || !n.isPristine() {
		return false
	}
	if n.cfg.Established {
		// The driver knows the group ran, so a majority of pristine replicas here is one
		// that lost its state (two data directories of a three-replica group). Starting
		// afresh would lose what the others hold and, worse, reuse ballots they have seen
		// for other values at indexes they hold, so that replicas apply different entries
		// (invariant 4). The replica waits for a barrier, or for an operator
		// (ForceEndRecovery). Without the driver's word the replica cannot tell: a voter
		// that knows of chosen entries may be the survivor of a lost majority, or the
		// leader of a new group that elected before this replica's probe arrived, and a
		// new group's late replica must not wait for a barrier it may never get.
		return false
	}
	conf := n.log.conf.current()
	voters := conf.Voters()
	pristine, empty := 0, 0
	for _, v := range voters {
		switch {
		case v == n.id || r.pristine[v]:
			pristine++
			empty++
		case r.empty[v]:
			empty++
		}
	}
	return pristine >= conf.Quorum() || (empty == len(voters) && r.forgotten(n))
}

// onProbe answers a recovering replica. A serving leader appends a barrier for it: once that
// is chosen, a majority chose an entry without the prober after it started.
func (n *Node) onProbe(m Message) {
	// Only a recovering replica probes: whatever it acknowledged before may be gone, and a
	// follower's acknowledged index otherwise never goes back. Start its progress over.
	pr := n.feeds[m.From]
	if n.role == Leader {
		pr = n.lead.prs[m.From]
	}
	if pr != nil && pr.match > 0 {
		// Probe from the end: its answer says where its log ends (a replica that crashed in
		// the middle of recovery still holds what it took; a compacted point means a snapshot).
		pr.match, pr.floor = 0, 0
		pr.reset(n.log.last() + 1)
	}
	resp := Message{Type: MsgProbeResp, To: m.From, Ballot: n.ballot, Index: n.log.last(), Reject: !n.isPristine()}
	if n.canPropose() == nil && n.log.last()-n.log.commit < n.cfg.MaxUncommittedEntries {
		n.log.appendAt([]Entry{{Index: n.log.last() + 1, Ballot: n.ballot, Type: EntryBarrier}})
		n.lead.dirty = true
		n.maybeCommit() // a single-voter group chooses at once
		resp.Hint = n.log.last()
	}
	n.send(resp)
}

func (n *Node) onProbeResp(m Message) {
	r := n.rec
	if r == nil {
		return
	}
	if m.Reject {
		delete(r.pristine, m.From)
	} else {
		r.pristine[m.From] = true
	}
	if m.Index == 0 {
		r.empty[m.From] = true // no entry and no snapshot (a compacted log's last is its offset)
	} else {
		delete(r.empty, m.From)
	}
	if r.target == 0 && m.Hint != 0 {
		r.target = m.Hint
	}
}

// advertised is the priority this replica reports to others: a recovering replica reads
// unhealthy, so leaders do not hand it leadership it cannot take.
func (n *Node) advertised() Priority {
	p := n.prio
	if n.rec != nil {
		p.Healthy = false
	}
	return p
}
