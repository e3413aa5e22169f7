// Package clog is the durable log of one server: the entries and the Paxos
// hard state of every partition replica the server hosts share one log, one
// write and one fdatasync per batch (group commit).
//
// # Contract
//
//   - [Log.Save] returns nil only once every update it was given is on stable
//     storage (written and fdatasync'ed). Many goroutines may call Save at the
//     same time; their updates are batched into one write and one fdatasync,
//     one batch at a time, by a flusher goroutine or by a waiting Save whose
//     batch the flusher has not taken yet. [Log.StartSave] queues without
//     waiting; its Pending.Wait has Save's result. An update is atomic: after a crash either all
//     of it is recovered or none of it (a batch is the unit of recovery).
//   - If Save returns an error other than a validation error, the outcome is
//     ambiguous: the update may or may not be recovered after a restart (the
//     same ambiguity hashicorp/raft documents for its log store). In
//     particular a cancelled context returns ctx.Err() while the update may
//     still become durable.
//   - Reads ([Log.Entries], [Log.State], [Log.Range], [Log.Partitions]) see
//     only what is durable: an update becomes visible when its batch has been
//     synced, never before.
//   - Every record read back from disk is checked against its CRC-32C before
//     it is used (invariant 6 of DESIGN.md); a mismatch is [ErrCorruption].
//   - A failed write or fdatasync fails every caller of that batch and every
//     caller queued behind it, and the Log refuses all later writes with
//     [ErrFailed] (fsyncgate: after a failed fsync the kernel may have
//     dropped the dirty pages and marked them clean, so retrying the fsync
//     would "succeed" without the data). Reads of what was durable before
//     still work. The only way forward is Close and Open: recovery then
//     decides from what is on disk.
//
// # Per-partition rules (checked by Save, rejected with [ErrInvalid])
//
// Indexes start at 1. A partition retains the contiguous range
// [first, next) of entries. The first entries saved for a partition set
// first; afterwards an update's Entries must start exactly at next (after its
// TruncateFrom is applied) and be contiguous and ascending. TruncateFrom t
// discards [t, next) and may not reach below first (compacted entries are
// committed and never conflict). Compact(p, below) discards [first, below); a
// below beyond next empties the partition and makes below the next index to
// append (the way a replica installs a snapshot).
//
// # On-disk format (version 1)
//
// The log is a directory of segment files named %016x.clog (the segment id in
// hex, ids ascending in write order). A segment is created under the name
// %016x.clog.tmp, written, preallocated, synced and then renamed, so a
// segment with its final name always has a complete header and snapshot
// batch; *.tmp files are removed by Open. NEWEST_SEGMENT then names it
// (written the same way), so that Open can refuse a log whose newest segment
// was deleted. All integers are little-endian.
//
// Segment header, 32 bytes at offset 0:
//
//	0  magic     [8]byte "OBKVCLOG"
//	8  version   uint32  1
//	12 segment   uint64  the id in the file name
//	20 firstSeq  uint64  sequence number of the first batch of the segment
//	28 crc       uint32  CRC-32C (Castagnoli) of bytes [0, 28)
//
// The header is followed by batches back to back. A batch is what one write
// and one fdatasync put on disk. Batch header, 24 bytes:
//
//	0  crc       uint32  CRC-32C of header bytes [4, 24)
//	4  magic     uint16  0xB0C7
//	6  flags     uint16  bit 0: snapshot batch; other bits zero
//	8  seq       uint64  batch sequence number, +1 per batch over the whole log
//	16 length    uint32  bytes of records that follow the header
//	20 count     uint32  number of records
//
// Then count records, exactly filling length bytes. Record, 9 bytes of
// header and n bytes of payload:
//
//	0  crc       uint32  CRC-32C of bytes [4, 9+n): length, kind and payload
//	4  n         uint32  payload length
//	8  kind      uint8
//	9  payload   n bytes
//
// Record kinds and payloads:
//
//	1 entry     partition u64, index u64, ballot u64, data (the rest)
//	2 state     partition u64, hard state (the rest; the last one wins)
//	3 truncate  partition u64, from u64   (discard entries >= from)
//	4 compact   partition u64, below u64  (discard entries < below)
//	5 meta      partition u64, first u64, next u64, hasState u8, state (the rest)
//
// Within an update the records are written truncate, entries, state; a
// compaction is a record of its own. Meta records appear only in the
// snapshot batch, the first batch of every segment: one meta record per
// known partition restating its retained range [first, next) and its hard
// state as of the moment the segment was created. Because every segment
// starts with a full snapshot of the metadata, any segment other than the
// newest can be deleted as soon as no partition retains an entry in it: the
// truncations, compactions and states it held are restated by the next
// segment.
//
// The bytes after the last batch of a segment are zero: segments are
// preallocated with fallocate(2) where the file system supports it (else the
// file is extended with ftruncate, which reads as zeros too). We preallocate
// rather than zero-fill because zero-filling writes the whole segment once
// more; fallocate reserves the blocks so an append does not allocate them
// (the project measured ~40k durable appends/s with 16 writers on a growing
// file, ~68k on a preallocated one).
//
// # Recovery
//
// Open reads every segment in id order and checks every header and record
// checksum, that batch sequence numbers are consecutive (also across
// adjacent segments), that the records of a batch exactly fill it, and that
// the per-partition rules above held for what was written. A batch is
// applied only if all of it is valid.
//
// In the newest segment, the first invalid batch starts the tail. The tail is
// torn (a write that was interrupted by a crash; it was never acknowledged
// because its fdatasync never returned) when no valid batch header appears
// anywhere after it; then it is cut, its bytes are overwritten with zeros and
// synced, and appends continue there. If a valid batch header follows the
// damage, the damage is not a torn tail but corruption of acknowledged data:
// Open fails with [ErrCorruption] naming the file and offset. In any older
// segment every batch must be valid and the bytes after the last batch must
// be zero; anything else is [ErrCorruption]. Open never silently drops a
// batch that a later batch proves was acknowledged.
//
// A flipped bit in the very last batch is indistinguishable from a torn
// write and that batch is cut: like every write-ahead log that detects torn
// writes by checksum, clog trusts the disk not to corrupt synced data in the
// last batch silently (ext4, xfs with checksummed metadata and a healthy
// disk).
//
// # Invariants
//
//   - Batches are written in seq order by one goroutine; the write of batch
//     k+1 starts only after batch k was synced, so only the last batch can be
//     torn.
//   - The in-memory index reflects exactly the batches that were synced.
//   - A segment file is never written again after the next segment exists,
//     and segment files are never reused, so bytes after the tail are zero.
//   - segment.live counts the retained entries stored in the segment; a
//     segment is deleted only when live is zero and it is not the newest.
package clog
