package paxos

import "errors"

// Sentinel errors. Callers test them with errors.Is; messages wrap them with the subject.
var (
	ErrInvalidConfig = errors.New("paxos: invalid config")
	// ErrNotLeader: the replica is not the serving leader. The caller should find the leader.
	ErrNotLeader = errors.New("paxos: not leader")
	// ErrNotReady: the replica leads but has not finished reconfirm; retry shortly.
	ErrNotReady = errors.New("paxos: leader not ready")
	// ErrTransferring: leadership is being handed over; proposals wait for the new leader.
	ErrTransferring = errors.New("paxos: leader transfer in progress")
	// ErrBusy: too many entries are waiting to be chosen.
	ErrBusy = errors.New("paxos: too many uncommitted entries")
	// ErrVersionClosed: the proposed version is at or below a closed version.
	ErrVersionClosed = errors.New("paxos: version at or below a closed version")
	// ErrConfChange: the membership change is not allowed.
	ErrConfChange = errors.New("paxos: membership change refused")
	// ErrCompacted: the index is not in the log any more.
	ErrCompacted = errors.New("paxos: index compacted")
	// ErrBadMessage: a message is malformed. It is dropped; state is untouched.
	ErrBadMessage = errors.New("paxos: malformed message")
	// ErrNotRecovering: an operation that only a recovering replica takes (ForceEndRecovery)
	// was asked of one that is not recovering.
	ErrNotRecovering = errors.New("paxos: replica is not recovering")
	// ErrRecoveryLive: ForceEndRecovery was asked of a replica that hears a leader, so its
	// recovery ends by itself once it has caught up; forcing it would only risk data.
	ErrRecoveryLive = errors.New("paxos: recovery can end by itself")
	// ErrBadBoot: the recovered state handed to New is inconsistent.
	ErrBadBoot = errors.New("paxos: inconsistent recovered state")
)
