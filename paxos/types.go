package paxos

import (
	"fmt"
	"strings"
)

// ID names a replica within one Paxos group. Zero is never a valid ID.
type ID uint64

// None is the zero ID: no replica.
const None ID = 0

// ReplicaType is what a replica does in its group (DESIGN.md, replica types).
type ReplicaType uint8

const (
	// Full replicas vote, keep data and may lead.
	Full ReplicaType = iota + 1
	// LogOnly replicas vote and keep the log but no data; they never lead.
	LogOnly
	// ReadOnly replicas listen to chosen entries; they never vote, never count toward a quorum
	// and never lead.
	ReadOnly
)

func (t ReplicaType) String() string {
	switch t {
	case Full:
		return "FULL"
	case LogOnly:
		return "LOGONLY"
	case ReadOnly:
		return "READONLY"
	}
	return fmt.Sprintf("ReplicaType(%d)", uint8(t))
}

// IsVoter reports whether replicas of this type vote (grant leases, accept, count toward quorums).
func (t ReplicaType) IsVoter() bool { return t == Full || t == LogOnly }

// Ballot orders proposers. Ballots are unique per proposer because the node ID is part of it
// (Paxos Made Simple, "different proposers choose their numbers from disjoint sets").
type Ballot struct {
	Round uint64
	Node  ID
}

// Less reports whether b orders before o.
func (b Ballot) Less(o Ballot) bool {
	if b.Round != o.Round {
		return b.Round < o.Round
	}
	return b.Node < o.Node
}

// IsZero reports whether b is the zero ballot, below every real ballot.
func (b Ballot) IsZero() bool { return b.Round == 0 && b.Node == 0 }

func (b Ballot) String() string { return fmt.Sprintf("%d.%d", b.Round, b.Node) }

// EntryType says how an entry is interpreted.
type EntryType uint8

const (
	// EntryNormal carries an opaque command for the state machine.
	EntryNormal EntryType = iota
	// EntryBarrier is the empty entry a new leader appends at the end of reconfirm; once it is
	// chosen, every entry before it is chosen too. A leader also appends one for a recovering
	// replica's probe (recovery.go).
	EntryBarrier
	// EntryConfChange carries an encoded ConfChange.
	EntryConfChange
)

func (t EntryType) String() string {
	switch t {
	case EntryNormal:
		return "normal"
	case EntryBarrier:
		return "barrier"
	case EntryConfChange:
		return "conf"
	}
	return fmt.Sprintf("EntryType(%d)", uint8(t))
}

// Entry is one slot of the replicated log.
type Entry struct {
	Index uint64
	// Ballot is the ballot of the leader that first proposed the entry. A new leader re-proposes
	// every entry above its commit point (reconfirm) keeping their ballots; only its barrier
	// carries its own ballot (see finishReconfirm). Replicas may still hold a chosen value under
	// different ballots (a replica's stale entry at an index it has since learned is chosen).
	Ballot Ballot
	Type   EntryType
	// Version is the commit version the leader stamped on the entry (0 for barriers and
	// configuration entries). Invariant: an entry after a published closed version's Index
	// carries a Version above that closed version.
	Version uint64
	Data    []byte
}

func (e Entry) size() uint64 { return uint64(len(e.Data)) + 48 }

// HardState is what a replica must persist before it sends any message of the same Ready.
type HardState struct {
	// Promised is the highest ballot this replica promised (granted a lease to, or accepted
	// under). It never accepts a lower ballot afterwards (Paxos phase 1b).
	Promised Ballot
	// Commit is the highest index known chosen; persisted so a restart can re-apply without
	// waiting for the leader. It is a hint: losing it is safe.
	Commit uint64
	// ClosedFloor is the highest closed version this voter has acknowledged. A new leader takes
	// the maximum over its lease majority and never stamps a write at or below it.
	ClosedFloor uint64
	// Recovering marks a replica that started with no durable state: new, or one whose data
	// was lost (a data directory rebuilt empty). It may have promised and accepted before
	// and forgotten it, so it grants no lease and its acknowledgements count toward nothing
	// until it has caught up past an entry chosen without it after it started (recovery.go).
	// Persisted, so a crash in the middle does not end it.
	Recovering bool
}

// IsZero reports whether the hard state is empty.
func (h HardState) IsZero() bool { return h == HardState{} }

// Member is one replica of a group.
type Member struct {
	ID   ID
	Type ReplicaType
	// Upstream, for a READONLY replica, names the replica that feeds it chosen entries
	// (cascade). None means the leader feeds it.
	Upstream ID
}

// Membership is the set of replicas of a group. It is changed only through the log.
type Membership struct {
	Members []Member // sorted by ID
}

// Member returns the member with the given ID.
func (m Membership) Member(id ID) (Member, bool) {
	for _, x := range m.Members {
		if x.ID == id {
			return x, true
		}
	}
	return Member{}, false
}

// Voters returns the IDs of the FULL and LOGONLY members.
func (m Membership) Voters() []ID {
	var out []ID
	for _, x := range m.Members {
		if x.Type.IsVoter() {
			out = append(out, x.ID)
		}
	}
	return out
}

// IsVoter reports whether id is a FULL or LOGONLY member.
func (m Membership) IsVoter(id ID) bool {
	x, ok := m.Member(id)
	return ok && x.Type.IsVoter()
}

// Quorum is the number of voters that make a majority.
func (m Membership) Quorum() int {
	voters := 0
	for _, x := range m.Members {
		if x.Type.IsVoter() {
			voters++
		}
	}
	return voters/2 + 1
}

func (m Membership) clone() Membership {
	return Membership{Members: append([]Member(nil), m.Members...)}
}

func (m Membership) String() string {
	var b strings.Builder
	for i, x := range m.Members {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%s%d", x.Type.String()[:1], x.ID)
		if x.Upstream != None {
			fmt.Fprintf(&b, "<-%d", x.Upstream)
		}
	}
	return b.String()
}

// ConfChangeType is one kind of membership change.
type ConfChangeType uint8

const (
	// ConfAdd adds a replica of the given type.
	ConfAdd ConfChangeType = iota + 1
	// ConfRemove removes a replica.
	ConfRemove
	// ConfSetType converts a replica to another type (F<->R, F<->L).
	ConfSetType
	// ConfSetUpstream changes which replica feeds a READONLY replica.
	ConfSetUpstream
)

func (t ConfChangeType) String() string {
	switch t {
	case ConfAdd:
		return "add"
	case ConfRemove:
		return "remove"
	case ConfSetType:
		return "set-type"
	case ConfSetUpstream:
		return "set-upstream"
	}
	return fmt.Sprintf("ConfChangeType(%d)", uint8(t))
}

// ConfChange is one membership change, proposed through the log.
type ConfChange struct {
	Type     ConfChangeType
	ID       ID
	Replica  ReplicaType // for ConfAdd and ConfSetType
	Upstream ID          // for ConfAdd of a READONLY replica and ConfSetUpstream
}

// Priority is the driver's view of how suitable this replica is to lead, compared in field
// order (as OceanBase's election priority): health, then an explicit designation, then the
// zone's rank in primary_zone. The protocol adds the log-progress gate itself.
type Priority struct {
	// Healthy is false when the driver sees a problem (disk full, clog stalled, ...).
	Healthy bool
	// Designated marks the replica an operator asked to lead.
	Designated bool
	// ZoneRank is the zone's level in primary_zone: 0 is the highest priority.
	ZoneRank uint32
}

// Better reports whether p is strictly preferred over o.
func (p Priority) Better(o Priority) bool {
	if p.Healthy != o.Healthy {
		return p.Healthy
	}
	if p.Designated != o.Designated {
		return p.Designated
	}
	return p.ZoneRank < o.ZoneRank
}

// Closed is a closed version: no entry after Index will carry a version at or below Version.
// A replica that has applied through Index can serve reads at Version.
type Closed struct {
	Version uint64
	Index   uint64
}

// SnapshotMeta describes the state of a group at a log index, shipped to a replica that is
// behind the leader's compacted prefix. The data itself travels outside the protocol.
type SnapshotMeta struct {
	Index      uint64
	Ballot     Ballot // ballot of the entry at Index
	Version    uint64 // version of the entry at Index (the data snapshot is taken at it)
	Membership Membership
	Closed     Closed
}

// ReadState answers a ReadIndex request: once the replica has applied through Index, a read
// that started before the request was made is linearizable.
type ReadState struct {
	RequestID uint64
	Index     uint64
	// Rejected: the leader was not serving; retry elsewhere or later.
	Rejected bool
}

// Role is a replica's current part in the group.
type Role uint8

const (
	// Follower voters accept; followers that are READONLY are called listeners.
	Follower Role = iota
	// Candidate replicas are asking for a lease.
	Candidate
	// Leader replicas hold a majority lease. A leader serves only when Ready() reports it active.
	Leader
)

func (r Role) String() string {
	switch r {
	case Follower:
		return "FOLLOWER"
	case Candidate:
		return "CANDIDATE"
	case Leader:
		return "LEADER"
	}
	return fmt.Sprintf("Role(%d)", uint8(r))
}

// Status is a snapshot of a replica's volatile state, for drivers, tools and checkers.
type Status struct {
	ID       ID
	Type     ReplicaType
	Role     Role
	Ballot   Ballot // ballot of the current leadership term this replica knows
	Leader   ID     // None when unknown
	Serving  bool   // leader with a valid lease that finished reconfirm
	Promised Ballot
	First    uint64 // first index in the log (after compaction)
	Snapshot uint64 // index of the snapshot the replica offers (SnapshotMeta); First-1 or above
	Last     uint64
	Commit   uint64
	Applied  uint64
	Closed   Closed
	Config   Membership
	LeaseEnd uint64 // leader: tick its lease ends (exclusive); 0 when none
	// MinVersion: a leader accepts proposals only with versions above it (closed-version floor).
	MinVersion uint64
	Tick       uint64 // local clock
	// Recovering: started without durable state and not caught up yet (HardState.Recovering).
	Recovering bool
}
