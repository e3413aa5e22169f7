// Package paxos is the replication protocol of one partition: a pure, deterministic Multi-Paxos
// state machine with OceanBase-style replica types and a lease-based, priority-ordered election.
//
// # Contract
//
// A Node does no I/O, starts no goroutine, reads no clock and uses no global randomness (a test in
// test/lint enforces the imports). The driver (package replica in the server) feeds it:
//
//   - Tick() at a fixed interval: time is ticks;
//   - Step(msg) for every message from a peer;
//   - Propose, ProposeConfChange, TransferLeader, ReadIndex, CloseVersion, Compact,
//     InstallSnapshot, SetPriority for what the replica is asked to do;
//
// and drains its output with Ready / Advance. A Ready is handled in field order: persist the hard
// state and entries durably, then send the messages, then apply the committed entries (see Ready).
// Every call is deterministic given the calls before it and Config.Seed.
//
// # Roles
//
// FULL and LOGONLY replicas vote: they grant leases, accept entries and count toward quorums.
// Only FULL replicas stand for election. READONLY replicas are listeners: they receive chosen
// entries only (from the leader or from an upstream replica named in the membership) and never
// vote or count.
//
// # Protocol in one paragraph
//
// A FULL voter whose lease grant has run out waits a priority-ordered delay, then asks every voter
// for a lease under a new ballot (MsgLease). A voter grants one lease at a time; the grant is also
// its Paxos promise for the ballot and carries its log position and closed-version floor. With a
// majority of grants the candidate leads: it copies the most advanced log suffix among its
// granters (MsgFetch, "reconfirm"), re-proposes every entry above its commit point, appends a
// barrier under its own ballot, and serves once the barrier is chosen. Phase 2 is a pipelined,
// batched sliding window per peer (MsgAccept); an entry is chosen when a majority of voters has
// persisted it. Heartbeats renew the lease; the leader counts its lease from the moment it sent
// each renewal, minus the drift bound, so it always ends before any granter's grant. A leader
// hands leadership to a better replica (healthier, designated, or in a higher primary_zone level)
// by a graceful transfer (MsgTimeoutNow) that voters honour without waiting out the lease.
//
// # Invariants (DESIGN.md numbering)
//
//  1. A value chosen at an index never changes: only a ballot's reconfirmed log is proposed
//     under it, and entries at or below the commit point are never truncated. A replica that
//     starts with nothing stored (Boot.Fresh: perhaps one whose data was lost) grants and counts
//     nothing until it has caught up past an entry chosen without it (recovery.go).
//  2. At most one replica serves at a time: a voter grants one lease at a time and forgets none
//     across restarts (it grants nothing for LeaseTicks after one); a leader's lease ends
//     MaxDriftTicks before the earliest grant of its majority.
//  3. LOGONLY and READONLY replicas never lead; READONLY replicas never count toward a quorum.
//  4. Committed entries are handed to the driver once, in index order; applied never goes back.
//  5. Closed versions never go back: a leader publishes a closed version only after a majority of
//     voters persisted it as their floor, and a new leader refuses versions at or below the
//     highest floor of its lease majority.
//
// docs/paxos.md describes the messages, what is persisted when, and where the protocol follows or
// departs from OceanBase PALF and etcd raft.
package paxos
