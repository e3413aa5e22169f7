package paxos

import "fmt"

// MessageType names a protocol message.
type MessageType uint8

const (
	// MsgLease asks a voter for a lease and a promise on Ballot (election and Paxos phase 1a
	// in one). Fields: Ballot, Index/LogBallot = the candidate's last entry, Priority,
	// Transfer (the candidate was handed leadership by the holder of Hint's ballot), Tick.
	MsgLease MessageType = iota + 1
	// MsgLeaseResp grants or refuses a lease (phase 1b). Fields: Ballot (the request's),
	// Reject, Promised (the voter's promise), Index/LogBallot = the voter's last entry,
	// Commit, First (first index it still holds), ClosedFloor, Tick (echoed).
	MsgLeaseResp
	// MsgLeaseRelease tells voters that a candidate gave up Ballot: they may grant again.
	MsgLeaseRelease
	// MsgFetch asks a voter for its entries in [Index, Hint] during reconfirm.
	MsgFetch
	// MsgFetchResp returns them. Reject means the voter no longer holds Index (compacted) or
	// promised a higher ballot.
	MsgFetchResp
	// MsgAccept carries entries after (Index, LogBallot) under Ballot, the commit point and a
	// closed version (Paxos phase 2a; empty, it is the heartbeat that renews the lease). To a
	// READONLY listener it carries only chosen entries.
	MsgAccept
	// MsgAcceptResp acknowledges persisted entries through Index (phase 2b) or rejects with a
	// Hint of where to retry. It echoes Tick (lease accounting) and carries Priority and Last.
	MsgAcceptResp
	// MsgSnapshot tells a replica behind the compacted prefix to install Snapshot.
	MsgSnapshot
	// MsgReadIndex asks the leader for the commit point (RequestID).
	MsgReadIndex
	// MsgReadIndexResp returns it in Index; Reject when the leader is not serving.
	MsgReadIndexResp
	// MsgTimeoutNow hands leadership to the receiver: it campaigns at once with Transfer set.
	// Ballot is the abdicating leader's ballot.
	MsgTimeoutNow
	// MsgHeartbeat renews the lease and carries the commit point (at most what the receiver
	// matched) and closed versions, without log positions, so it never disturbs the pipeline.
	MsgHeartbeat
	// MsgHeartbeatResp answers it: Tick echoed, Priority, Index = the responder's last index.
	MsgHeartbeatResp
	// MsgProbe asks a replica about its state; a recovering replica sends it (recovery.go).
	MsgProbe
	// MsgProbeResp answers it: Reject = the responder has stored something (a promise, an entry
	// or a snapshot: it is not pristine); Index = its last index; Hint, only from a serving
	// leader, = the index of a barrier it appended for the asker, which is chosen after the
	// probe was sent.
	MsgProbeResp
	msgTypeCount
)

var messageTypeNames = [...]string{
	MsgLease:         "Lease",
	MsgLeaseResp:     "LeaseResp",
	MsgLeaseRelease:  "LeaseRelease",
	MsgFetch:         "Fetch",
	MsgFetchResp:     "FetchResp",
	MsgAccept:        "Accept",
	MsgAcceptResp:    "AcceptResp",
	MsgSnapshot:      "Snapshot",
	MsgReadIndex:     "ReadIndex",
	MsgReadIndexResp: "ReadIndexResp",
	MsgTimeoutNow:    "TimeoutNow",
	MsgHeartbeat:     "Heartbeat",
	MsgHeartbeatResp: "HeartbeatResp",
	MsgProbe:         "Probe",
	MsgProbeResp:     "ProbeResp",
}

func (t MessageType) String() string {
	if int(t) < len(messageTypeNames) && messageTypeNames[t] != "" {
		return messageTypeNames[t]
	}
	return fmt.Sprintf("MessageType(%d)", uint8(t))
}

// Message is one protocol message. Which fields are meaningful depends on Type (see the
// constants). A message from an older ballot is answered with the newer one or ignored; a
// duplicated, delayed or reordered message never breaks safety.
type Message struct {
	Type MessageType
	From ID
	To   ID
	// Ballot is the sender's leadership ballot (or the ballot being asked for).
	Ballot Ballot
	// Index and LogBallot identify a log position: the entry before Entries in MsgAccept, the
	// last entry in MsgLease/MsgLeaseResp, the acknowledged index in MsgAcceptResp.
	Index     uint64
	LogBallot Ballot
	Entries   []Entry
	Commit    uint64
	// First is the first index the sender still holds in its log.
	First uint64
	// Hint: reject hint in MsgAcceptResp (the responder's last index); last index wanted in
	// MsgFetch.
	Hint uint64
	// Tick is the sender's local tick when a lease request or renewal was sent, echoed in the
	// response so the leader measures its lease from the moment it asked.
	Tick        uint64
	Reject      bool
	Promised    Ballot
	Priority    Priority
	Transfer    bool
	ClosedFloor uint64
	Closed      Closed
	Snapshot    *SnapshotMeta
	RequestID   uint64
	// WantSnapshot, in a rejecting MsgAcceptResp, says the responder knows no membership yet
	// (a replica just added to the group): send it the snapshot of the compacted point first.
	WantSnapshot bool

	// early marks a MsgHeartbeatResp that may leave before its Ready is persisted (see
	// MaySendBeforePersist). It stays in this process: no wire form carries it.
	early bool
}

func (m Message) String() string {
	s := fmt.Sprintf("%d->%d %s b=%s", m.From, m.To, m.Type, m.Ballot)
	switch m.Type {
	case MsgLease:
		s += fmt.Sprintf(" last=%d@%s prio=%+v", m.Index, m.LogBallot, m.Priority)
		if m.Transfer {
			s += " transfer"
		}
	case MsgLeaseResp:
		if m.Reject {
			s += fmt.Sprintf(" REJECT promised=%s", m.Promised)
		} else {
			s += fmt.Sprintf(" last=%d@%s commit=%d floor=%d", m.Index, m.LogBallot, m.Commit, m.ClosedFloor)
		}
	case MsgFetch:
		s += fmt.Sprintf(" [%d,%d]", m.Index, m.Hint)
	case MsgFetchResp:
		if m.Reject {
			s += " REJECT"
		}
		s += fmt.Sprintf(" entries=%s", fmtEntries(m.Entries))
	case MsgHeartbeat:
		s += fmt.Sprintf(" commit=%d", m.Commit)
		if m.Closed != (Closed{}) {
			s += fmt.Sprintf(" closed=%d@%d", m.Closed.Version, m.Closed.Index)
		}
		if m.ClosedFloor != 0 {
			s += fmt.Sprintf(" floor=%d", m.ClosedFloor)
		}
	case MsgHeartbeatResp:
		if m.Reject {
			s += fmt.Sprintf(" REJECT promised=%s", m.Promised)
		}
	case MsgAccept:
		s += fmt.Sprintf(" prev=%d@%s commit=%d", m.Index, m.LogBallot, m.Commit)
		if len(m.Entries) > 0 {
			s += " entries=" + fmtEntries(m.Entries)
		}
		if m.Closed != (Closed{}) {
			s += fmt.Sprintf(" closed=%d@%d", m.Closed.Version, m.Closed.Index)
		}
		if m.ClosedFloor != 0 {
			s += fmt.Sprintf(" floor=%d", m.ClosedFloor)
		}
	case MsgAcceptResp:
		if m.Reject {
			s += fmt.Sprintf(" REJECT hint=%d promised=%s", m.Hint, m.Promised)
		} else {
			s += fmt.Sprintf(" index=%d", m.Index)
		}
	case MsgSnapshot:
		if m.Snapshot != nil {
			s += fmt.Sprintf(" snap=%d@%s", m.Snapshot.Index, m.Snapshot.Ballot)
		}
	case MsgProbeResp:
		s += fmt.Sprintf(" last=%d pristine=%v barrier=%d", m.Index, !m.Reject, m.Hint)
	case MsgReadIndex, MsgReadIndexResp:
		s += fmt.Sprintf(" req=%d index=%d", m.RequestID, m.Index)
		if m.Reject {
			s += " REJECT"
		}
	}
	return s
}

func fmtEntries(es []Entry) string {
	if len(es) == 0 {
		return "[]"
	}
	s := "["
	for i, e := range es {
		if i > 0 {
			s += " "
		}
		s += fmt.Sprintf("%d@%s", e.Index, e.Ballot)
		switch e.Type {
		case EntryBarrier:
			s += ":barrier"
		case EntryConfChange:
			s += ":conf"
		default:
			if len(e.Data) > 0 {
				s += ":" + string(e.Data)
			}
		}
	}
	return s + "]"
}
