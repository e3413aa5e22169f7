// Package replica drives one partition replica: a paxos.Node, its log in the server's clog, its
// data in memstores and the server's sstable. A Poller drives many replicas on one goroutine.
//
// # Contract
//
//   - Every call into the Node happens on the goroutine of the replica's Poller; other
//     goroutines reach it through Step (messages, never blocking: dropped when the inbox is
//     full), Write, ReadIndex, SetPriority, TransferLeader and ProposeConfChange (queued
//     requests), each of which queues the replica for the poller's next round.
//   - Each Ready is carried out in the order paxos documents: the hard state and entries are
//     saved to the clog in one atomic update before any message of that Ready that must wait
//     for it is handed to the Transport; chosen entries are applied to the active memstore at
//     their versions while the write is under way. A poller's round saves the updates of all
//     its replicas in one clog write.
//   - The Node's clock follows real time: before any decision it is ticked up to
//     elapsed/Tick, so a stalled loop never lengthens a leader's lease.
//   - Write returns nil once the batch is applied here; ErrNotChosen when another entry took
//     its place (not applied); ErrOutcomeUnknown when the caller stopped waiting (it may be
//     applied). Versions come from a hybrid logical clock (wall-clock microseconds, pushed above
//     every version seen and above the leader's closed-version floor).
//   - Checkpoint: the active memstore is frozen and dumped to the sstable with the applied index
//     and version; then the Node is compacted through that index, the state record (hard state
//     and snapshot meta) is rewritten in the poller's next write, and once that is durable the
//     clog is compacted through the index. Restart = sstable checkpoint + state
//     record + clog entries after the compacted point.
//   - Snapshot rebuild: when the Node asks for a snapshot, the replica fetches the peer's stream
//     (ExportSnapshot: the snapshot meta, then the sstable data at the matching checkpoint),
//     imports it and installs the meta. LOGONLY replicas keep no memstore or sstable.
//
// Byte formats: a log entry's clog payload is entryHead then the entry's data (codec.go); a
// write batch is Batch.Encode (batch.go); the state record is JSON (state.go).
package replica
