package paxos

import "fmt"

// Boot is the state a replica recovers from its durable log and storage.
type Boot struct {
	// HardState is the last persisted hard state (zero for a new replica).
	HardState HardState
	// Snapshot is the checkpoint the log was compacted to. For a new group it is Index 0 with the
	// initial membership; a replica added later starts with an empty membership and learns it
	// from the leader.
	Snapshot SnapshotMeta
	// Entries are the persisted entries after Snapshot.Index, contiguous and ascending.
	Entries []Entry
	// Applied is the highest index the driver's state machine already reflects.
	// Invariant: Snapshot.Index <= Applied <= last entry.
	Applied uint64
	// Fresh says the driver holds no durable state for this replica: it creates it, for a new
	// group, to join one, or again after its data was lost, and cannot tell which. The replica
	// starts in recovery (recovery.go). HardState, Entries and Snapshot.Index must be zero.
	Fresh bool
}

// SoftState is volatile state the driver may want to act on when it changes.
type SoftState struct {
	Role    Role
	Leader  ID
	Ballot  Ballot
	Serving bool
}

// SnapshotFetch asks the driver to fetch the data of a snapshot from a replica, install it, and
// then call InstallSnapshot with Meta.
type SnapshotFetch struct {
	From ID
	Meta SnapshotMeta
}

// Ready is the output of the state machine. The driver handles it in field order and then calls
// Advance with it:
//  1. persist HardState (if not zero) and Entries, durably (fdatasync). If Entries[0].Index is
//     at or below what the driver has stored, it first discards its entries from that index on.
//     A crash before the sync may keep any prefix of the new entries, but the discard must not
//     become durable without the entries that replace what it discards: a stored entry at an
//     index the crash did not reach must survive. Reconfirm re-persists entries a replica already
//     acknowledged (under a new ballot); losing them there loses chosen values;
//  2. only then send Messages (they may acknowledge what step 1 persisted). Exception: the
//     messages for which MaySendBeforePersist is true may be sent before or during step 1;
//  3. apply Committed in order; they are chosen (persisted by a majority), so the driver may
//     apply them, and answer their proposers, while step 1's write is still in flight;
//  4. answer ReadStates once applied through their Index; act on Snapshot, Soft and Closed.
//
// The slices belong to the Node and are valid until Advance.
type Ready struct {
	HardState  HardState
	Entries    []Entry
	Messages   []Message
	Committed  []Entry
	ReadStates []ReadState
	Snapshot   *SnapshotFetch
	Soft       *SoftState
	// Closed is the newest closed version this replica knows, when it changed.
	Closed *Closed
}

// MaySendBeforePersist reports whether m may leave before the Ready that carries it is
// persisted (etcd raft lets a leader send its appends in parallel with its own write the same
// way). MsgAccept and MsgHeartbeat propose; they acknowledge nothing of the sender's own state:
// the commit point and closed version they carry count the sender only once Advance confirmed
// its entries and hard state durable, and a proposal accepted by others stays a valid
// proposal even if the proposer crashes before writing it. A MsgHeartbeatResp may leave first
// when everything it reports was durable before this Ready: the promise of the leader's ballot
// and the closed floor (it acknowledges no entry; its commit hint needs no disk).
func MaySendBeforePersist(m Message) bool {
	return m.Type == MsgAccept || m.Type == MsgHeartbeat || (m.Type == MsgHeartbeatResp && m.early)
}

// TakeEarly removes from the Node's output, and returns appended to buf, the messages queued
// since the last Ready that may leave before anything more is persisted (MaySendBeforePersist);
// the others stay for the next Ready. A driver may go on stepping and ticking the Node between
// a Ready and its Advance, while the Ready's write is under way, sending what TakeEarly gives:
// leaders then renew their leases and followers answer them through a long write. It changes
// no other state; the messages of the Ready not yet advanced are not touched.
func (n *Node) TakeEarly(buf []Message) []Message {
	kept := n.msgs[:n.readyMsgs]
	for _, m := range n.msgs[n.readyMsgs:] {
		if MaySendBeforePersist(m) {
			buf = append(buf, m)
		} else {
			kept = append(kept, m)
		}
	}
	clear(n.msgs[len(kept):])
	n.msgs = kept
	return buf
}

// grant is a voter's lease and promise to one replica.
type grant struct {
	holder ID
	ballot Ballot
	// prevPromised is the promise before this grant; a released grant restores it (below).
	prevPromised Ballot
	// until is the first tick at which the grant no longer holds.
	until uint64
}

// Node is one replica of one Paxos group: a pure, deterministic state machine. It is not safe
// for concurrent use; the driver serializes calls.
type Node struct {
	cfg  Config
	id   ID
	rand rng
	// now is the local clock in ticks. It only moves forward.
	now uint64

	hs     HardState
	lastHS HardState // last handed out in a Ready
	// persistedHS is the hard state the driver confirmed durable.
	persistedHS HardState
	log         plog
	prio        Priority

	role   Role
	ballot Ballot // leadership ballot this replica follows or holds
	leader ID
	// seenRound is the highest ballot round refused to us; the next campaign goes above it.
	seenRound uint64

	grant grant
	// noGrantUntil keeps a restarted voter from granting until any lease it granted before the
	// crash has run out (it does not remember it).
	noGrantUntil uint64
	// campaignAt is when a FULL voter stands if no lease is held by then; campaignBase is the
	// tick it was computed from.
	campaignAt, campaignBase uint64

	cand *candidate
	lead *leader
	// feeds are the cascaded READONLY replicas this replica feeds while it is not the leader.
	feeds map[ID]*progress

	// closed is the newest published closed version this replica knows.
	// Invariant: closed.Version never decreases.
	closed Closed

	msgs []Message
	// readyMsgs is how many of msgs the last Ready handed out: they stay until Advance.
	readyMsgs  int
	readStates []ReadState
	snapFetch  *SnapshotFetch
	lastSoft   SoftState
	lastClosed Closed
	// pendingSnap is 1 + the index of the snapshot being fetched, 0 when none (dedupes
	// requests); snapFrom is the replica that offered it and hears when it is installed.
	pendingSnap uint64
	snapFrom    ID
	// snap is the point the driver's data reflects (its last checkpoint or installed
	// snapshot), offered to replicas behind the log. The log may keep entries below it for
	// followers that lag (CompactRetaining): offset <= snap.Index <= applied. Its Closed is
	// unused (snapshotMeta offers the current closed version).
	snap SnapshotMeta
	// rec is set while the replica recovers (HardState.Recovering; recovery.go).
	rec *recovery
}

// New returns a replica recovered from boot.
func New(cfg Config, boot Boot) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	// The clock starts at 1 so that tick 0 can mean "never" (no acknowledgement, no grant).
	n := &Node{cfg: cfg, id: cfg.ID, rand: rng{s: cfg.Seed}, prio: Priority{Healthy: true}, now: 1}
	snap := boot.Snapshot
	n.log = plog{offset: snap.Index, offsetBallot: snap.Ballot, offsetVersion: snap.Version}
	n.log.conf.base = snap.Membership.clone()
	for i, e := range boot.Entries {
		if e.Index != snap.Index+1+uint64(i) {
			return nil, fmt.Errorf("%w: entry %d of the recovered log has index %d, want %d", ErrBadBoot, i, e.Index, snap.Index+1+uint64(i))
		}
	}
	n.log.entries = append([]Entry(nil), boot.Entries...)
	n.log.conf.onAppend(n.log.entries)
	n.log.stable = n.log.last()
	if boot.Applied < snap.Index || boot.Applied > n.log.last() {
		return nil, fmt.Errorf("%w: applied index %d outside the log [%d,%d]", ErrBadBoot, boot.Applied, snap.Index, n.log.last())
	}
	n.log.applied = boot.Applied
	n.log.commit = max(boot.Applied, min(boot.HardState.Commit, n.log.last()))
	n.hs = boot.HardState
	n.hs.Commit = n.log.commit
	n.lastHS, n.persistedHS = n.hs, n.hs
	switch {
	case boot.Fresh && (!boot.HardState.IsZero() || len(boot.Entries) > 0 || snap.Index > 0):
		return nil, fmt.Errorf("%w: a fresh replica with state (hard state %+v, %d entries, snapshot %d)", ErrBadBoot, boot.HardState, len(boot.Entries), snap.Index)
	case (boot.Fresh && cfg.Mutation != MutationAmnesiaVotes) || n.hs.Recovering:
		n.startRecovery() // persisted with the first Ready, before any message
	}
	n.closed = snap.Closed
	n.snap = snap
	n.snap.Membership = snap.Membership.clone()
	n.lastClosed = n.closed
	if !n.hs.Promised.IsZero() {
		n.noGrantUntil = n.now + cfg.LeaseTicks
	}
	n.ballot = n.hs.Promised
	n.scheduleCampaign(n.noGrantUntil)
	return n, nil
}

// Tick advances the local clock by one tick.
func (n *Node) Tick() {
	n.now++
	if n.rec != nil {
		n.tickRecovery()
	}
	switch n.role {
	case Leader:
		n.tickLeader()
	case Candidate:
		if n.now >= n.cand.deadline {
			n.giveUp()
		} else {
			n.askAgain()
		}
	}
	if n.role == Follower {
		if n.now%n.cfg.HeartbeatTicks == 0 {
			n.tickFeeds()
		}
		if n.canStand() && n.now >= n.campaignAt && n.now >= n.grant.until && n.now >= n.noGrantUntil {
			n.campaign(false, Ballot{})
		}
	}
}

// SetPriority sets this replica's election priority (driver's view of health, designation and
// zone rank). A leader learns followers' priorities from their acknowledgements.
func (n *Node) SetPriority(p Priority) {
	if p != n.prio {
		n.prio = p
		n.scheduleCampaign(n.campaignBase)
	}
}

// Step handles one message. A malformed message is refused with ErrBadMessage and changes
// nothing; a stale, duplicated or misdirected one is ignored.
func (n *Node) Step(m Message) error {
	if err := n.validate(m); err != nil {
		return err
	}
	switch m.Type {
	case MsgLease:
		n.onLease(m)
	case MsgLeaseResp:
		n.onLeaseResp(m)
	case MsgLeaseRelease:
		if n.grant.holder == m.From && n.grant.ballot == m.Ballot {
			n.releaseGrant()
		}
	case MsgFetch:
		n.onFetch(m)
	case MsgFetchResp:
		n.onFetchResp(m)
	case MsgAccept, MsgHeartbeat:
		n.onAccept(m)
	case MsgAcceptResp, MsgHeartbeatResp:
		n.onAcceptResp(m)
	case MsgSnapshot:
		n.onSnapshot(m)
	case MsgReadIndex:
		n.onReadIndex(m)
	case MsgReadIndexResp:
		n.readStates = append(n.readStates, ReadState{RequestID: m.RequestID, Index: m.Index, Rejected: m.Reject})
	case MsgProbe:
		n.onProbe(m)
	case MsgProbeResp:
		n.onProbeResp(m)
	case MsgTimeoutNow:
		if n.canStand() && !m.Ballot.Less(n.hs.Promised) && n.role != Leader {
			n.campaign(true, m.Ballot)
		}
	}
	return nil
}

func (n *Node) validate(m Message) error {
	if m.To != n.id {
		return fmt.Errorf("%w: %s: addressed to %d, this is %d", ErrBadMessage, m.Type, m.To, n.id)
	}
	if m.From == None || m.From == n.id {
		return fmt.Errorf("%w: %s: sender %d is not a peer", ErrBadMessage, m.Type, m.From)
	}
	if m.Type == 0 || m.Type >= msgTypeCount {
		return fmt.Errorf("%w: type %d is unknown", ErrBadMessage, m.Type)
	}
	for i, e := range m.Entries {
		if e.Index != m.Index+1+uint64(i) {
			return fmt.Errorf("%w: %s: entry %d has index %d, want %d", ErrBadMessage, m.Type, i, e.Index, m.Index+1+uint64(i))
		}
	}
	if m.Type == MsgSnapshot && m.Snapshot == nil {
		return fmt.Errorf("%w: snapshot message without a snapshot", ErrBadMessage)
	}
	return nil
}

func (n *Node) me() (Member, bool) { return n.log.conf.current().Member(n.id) }

// isVoter reports whether this replica acts as a voter: a member that votes, not recovering.
func (n *Node) isVoter() bool {
	m, ok := n.me()
	return ok && m.Type.IsVoter() && n.rec == nil
}

// canStand reports whether this replica may campaign: only FULL voters lead. A recovering one
// stands only once what it forgot is moot, and wins only with a majority of the others
// (maybeWin): a group whose only FULL replica lost its data has nobody else to lead and give it
// the barrier it waits for (recovery.go).
func (n *Node) canStand() bool {
	return n.mayLead() && (n.rec == nil || n.rec.forgotten(n))
}

// mayLead reports whether this replica's type lets it lead: it is a FULL member.
func (n *Node) mayLead() bool {
	m, ok := n.me()
	return ok && (m.Type == Full || (m.Type == LogOnly && n.cfg.Mutation == MutationLogOnlyLeads))
}

func (n *Node) send(m Message) {
	m.From = n.id
	n.msgs = append(n.msgs, m)
}

// Serving reports whether this replica is the leader, has finished reconfirm and holds a valid
// lease: only then may it accept writes and serve strong reads locally.
func (n *Node) Serving() bool {
	return n.role == Leader && n.lead.reconfirmed && n.now < n.lead.leaseEnd(n)
}

// Status returns a copy of the replica's volatile state.
func (n *Node) Status() Status {
	s := Status{
		ID: n.id, Role: n.role, Ballot: n.ballot, Leader: n.leader, Serving: n.Serving(),
		Promised: n.hs.Promised, First: n.log.first(), Snapshot: n.snap.Index, Last: n.log.last(), Commit: n.log.commit,
		Applied: n.log.applied, Closed: n.closed, Config: n.log.conf.current().clone(), Tick: n.now,
		Recovering: n.rec != nil,
	}
	if me, ok := n.me(); ok {
		s.Type = me.Type
	}
	if n.role == Leader {
		s.LeaseEnd = n.lead.leaseEnd(n)
		s.MinVersion = n.lead.minVersion()
	}
	return s
}

// MinVersion is Status().MinVersion without the rest of Status (which copies the
// membership): a leader accepts proposals only with versions above it; 0 on a non-leader.
// The driver asks it for every proposal.
func (n *Node) MinVersion() uint64 {
	if n.role != Leader {
		return 0
	}
	return n.lead.minVersion()
}

func (n *Node) soft() SoftState {
	return SoftState{Role: n.role, Leader: n.leader, Ballot: n.ballot, Serving: n.Serving()}
}

// HasReady reports whether Ready has anything to hand out.
func (n *Node) HasReady() bool {
	if n.role == Leader && n.lead.dirty {
		return true
	}
	return n.hardStateChanged() || len(n.log.unstable()) > 0 || len(n.msgs) > 0 || len(n.log.toApply()) > 0 ||
		len(n.readStates) > 0 || n.snapFetch != nil || n.soft() != n.lastSoft || n.closed != n.lastClosed
}

// hardStateChanged reports whether the hard state changed in a way that must be persisted
// before the next message: a promise or a closed-version floor. The commit point alone is a
// hint (losing it is safe), so it does not cost an fsync of its own; it rides along with the
// next Ready that persists anything.
func (n *Node) hardStateChanged() bool {
	return n.hs.Promised != n.lastHS.Promised || n.hs.ClosedFloor != n.lastHS.ClosedFloor || n.hs.Recovering != n.lastHS.Recovering
}

// Ready returns what the driver must persist, send and apply. Call Advance after handling it.
func (n *Node) Ready() Ready {
	if n.role == Leader && n.lead.dirty {
		n.lead.dirty = false
		n.bcastAppend()
	}
	var rd Ready
	rd.Entries = n.log.unstable()
	if n.hardStateChanged() || (len(rd.Entries) > 0 && n.hs != n.lastHS) {
		// The commit hint goes no further than the entries already durable: a crash may keep
		// this hard state without this Ready's entries, and a restart applies its stored
		// entries through the hint. One it holds there may be a stale value this Ready
		// replaces (sim seed 1830 applied one). It catches up with a later Ready.
		hs := n.hs
		hs.Commit = min(hs.Commit, n.log.stable)
		rd.HardState = hs
		n.lastHS = hs
	}
	rd.Messages = n.msgs
	n.readyMsgs = len(n.msgs)
	rd.Committed = n.log.toApply()
	rd.ReadStates = n.readStates
	if n.snapFetch != nil {
		rd.Snapshot = n.snapFetch
		n.snapFetch = nil
	}
	if s := n.soft(); s != n.lastSoft {
		n.lastSoft = s
		rd.Soft = new(SoftState) // allocated only on a change: Ready stays allocation-free
		*rd.Soft = s
	}
	if n.closed != n.lastClosed {
		n.lastClosed = n.closed
		rd.Closed = new(Closed)
		*rd.Closed = n.closed
	}
	return rd
}

// Advance tells the Node the driver finished handling rd.
func (n *Node) Advance(rd Ready) {
	if !rd.HardState.IsZero() {
		n.persistedHS = rd.HardState
	}
	if len(rd.Entries) > 0 && rd.Entries[0].Index <= n.log.stable+1 {
		for _, e := range rd.Entries {
			if e.Index <= n.log.stable {
				continue
			}
			if b, ok := n.log.ballotAt(e.Index); !ok || b != e.Ballot || e.Index != n.log.stable+1 {
				break
			}
			n.log.stable = e.Index
		}
	}
	if k := len(rd.Committed); k > 0 {
		if last := rd.Committed[k-1].Index; last > n.log.applied {
			n.log.applied = last
		}
	}
	n.msgs = append(n.msgs[:0], n.msgs[len(rd.Messages):]...)
	n.readyMsgs = 0
	n.readStates = append(n.readStates[:0], n.readStates[len(rd.ReadStates):]...)
	if n.role == Leader {
		n.maybeCommit()
		n.maybePublishClosed()
		n.maybeTransfer()
	}
}

// Compact drops log entries at and below index after the driver durably checkpointed its state
// through it: CompactRetaining(index, index).
func (n *Node) Compact(index uint64) error { return n.CompactRetaining(index, index) }

// CompactRetaining records that the driver durably checkpointed its state through index (the
// snapshot it offers from now on: SnapshotMeta) and drops the log entries at and below keep,
// which may be lower: the entries between stay for followers that lag (a replica restarted
// after missing a checkpoint catches up from the log instead of fetching the whole partition).
// Index must not be above the applied index, nor keep above index. Going back is a no-op.
func (n *Node) CompactRetaining(index, keep uint64) error {
	if index > n.log.applied {
		return fmt.Errorf("paxos: compact to %d: above the applied index %d", index, n.log.applied)
	}
	if keep > index {
		return fmt.Errorf("paxos: compact keeping entries after %d: above the snapshot index %d", keep, index)
	}
	if index > n.snap.Index {
		e := n.log.at(index) // offset <= snap.Index < index <= applied <= last
		n.snap = SnapshotMeta{Index: index, Ballot: e.Ballot, Version: e.Version, Membership: n.log.conf.at(index).clone()}
	}
	n.log.compact(keep)
	return nil
}

// SnapshotFailed tells the Node that the fetch a Ready asked for failed (the offering replica
// died mid-transfer, the import failed). Without it the Node ignored every further offer of the
// same snapshot, and a replica behind an idle leader's compacted log, which offers no newer
// one, stayed without data; now the leader's next offer (it repeats them every LeaseTicks while
// the replica is behind) starts a new fetch.
func (n *Node) SnapshotFailed() {
	n.pendingSnap = 0
	n.snapFrom = None
}

// InstallSnapshot tells the Node the driver installed the data of meta (fetched after a Ready
// asked for it). The log restarts after meta.Index. If the log already holds the snapshot's last
// entry (same index and ballot), the entries after it are kept, as raft's InstallSnapshot does:
// they may have been acknowledged, and the leader counts them toward a commit. The driver keeps
// its persisted entries after meta.Index in that case (Status().Last tells which case it was).
func (n *Node) InstallSnapshot(meta SnapshotMeta) {
	n.pendingSnap = 0
	defer func() { n.snapFrom = None }()
	fresh := len(n.log.conf.base.Members) == 0 && n.log.offset == 0
	if meta.Index <= n.log.commit && !fresh {
		return
	}
	if b, ok := n.log.ballotAt(meta.Index); ok && !fresh && meta.Index > n.log.offset && b == meta.Ballot {
		n.log.compact(meta.Index)
		n.log.commit, n.log.applied = meta.Index, meta.Index
		n.log.stable = max(n.log.stable, meta.Index)
	} else {
		n.log = plog{offset: meta.Index, offsetBallot: meta.Ballot, offsetVersion: meta.Version,
			commit: meta.Index, applied: meta.Index, stable: meta.Index}
		n.log.conf.base = meta.Membership.clone()
	}
	n.snap = meta
	n.snap.Membership = meta.Membership.clone()
	n.hs.Commit = meta.Index
	n.learnClosed(meta.Closed)
	if n.role == Candidate && !n.mayLead() {
		// The snapshot's membership made this candidate LOGONLY, READONLY or no member.
		n.giveUp()
	}
	if to := n.snapFrom; to != None && to != n.id {
		n.send(Message{Type: MsgAcceptResp, To: to, Ballot: n.ballot, Index: meta.Index, Hint: meta.Index, Priority: n.advertised(), ClosedFloor: n.hs.ClosedFloor})
	}
}

func (n *Node) learnClosed(c Closed) {
	if c.Version > n.closed.Version {
		n.closed = c
	}
}

func (n *Node) setCommit(c uint64) {
	if c > n.log.commit {
		n.log.commit = c
		n.hs.Commit = c
	}
}

// becomeFollower follows ballot b led by leader (None when unknown).
func (n *Node) becomeFollower(b Ballot, leader ID) {
	if n.role == Candidate && n.cand.ballot != b {
		n.releaseCampaign()
	}
	n.role = Follower
	n.cand = nil
	n.lead = nil
	n.ballot = b
	n.leader = leader
}

// renewGrant grants (or extends) the lease of holder under ballot b. Call it before promising b,
// so that a new grant records the promise to restore if it is released.
func (n *Node) renewGrant(holder ID, b Ballot) {
	if n.grant.holder == holder && n.grant.ballot == b {
		n.grant.until = n.now + n.cfg.LeaseTicks
		return
	}
	n.grant = grant{holder: holder, ballot: b, until: n.now + n.cfg.LeaseTicks, prevPromised: n.hs.Promised}
}

// releaseGrant ends the current grant early because its holder gave its ballot up before
// proposing anything under it. The promise made for that ballot is withdrawn too: a promise
// protects only the proposer of that ballot, which will never use it, and keeping it would make
// this voter refuse the leader that did win.
func (n *Node) releaseGrant() {
	if n.grant.until > n.now {
		n.grant.until = n.now
		n.scheduleCampaign(n.now)
	}
	if n.hs.Promised == n.grant.ballot {
		n.hs.Promised = n.grant.prevPromised
	}
}

func (n *Node) promise(b Ballot) {
	if n.hs.Promised.Less(b) {
		n.hs.Promised = b
	}
}

// Entry returns the entry this replica's log holds at i, durable or not (false: compacted, or
// beyond the log), for checkers and tools.
func (n *Node) Entry(i uint64) (Entry, bool) {
	if i <= n.log.offset || i > n.log.last() {
		return Entry{}, false
	}
	return *n.log.at(i), true
}

// SnapshotMeta describes the log's compacted point: the index, ballot and version of the last
// compacted entry and the membership in force there. A driver ships it with the data of its
// checkpoint at that index.
func (n *Node) SnapshotMeta() SnapshotMeta { return n.snapshotMeta() }
