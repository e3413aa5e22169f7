// Package sstable is the persistent MVCC layer of one server: a single
// badger/v4 database in managed mode holding the dumped memstore tables of
// every partition the server hosts, their checkpoints, and the snapshots that
// ship a partition to a rebuilding replica. Badger versions are the commit
// versions the leaders stamped; nothing here invents a version for user data.
//
// # Key format
//
// Every badger key starts with an 8-byte big-endian partition id:
//
//	data key:     partition (8 bytes, big-endian, != 0xFFFF_FFFF_FFFF_FFFF) | user key (1..memstore.MaxKeyBytes bytes)
//	metadata key: FF FF FF FF FF FF FF FF | kind (1 byte) | partition (8 bytes, big-endian)
//
// Partition id math.MaxUint64 is reserved for metadata, so a partition's data
// is exactly the keys under its 8-byte prefix (DropPartition and snapshots use
// that prefix) and metadata never mixes with data. Big-endian ids keep a
// partition's keys contiguous and ordered by user key. Metadata kinds:
//
//	'c' checkpoint:     index u64 | version u64 | floor u64 | crc32c u32 (of the 24 bytes before it)
//	'i' import marker:  index u64 | version u64 | crc32c u32; present only while an import runs
//	's' safe point:     (partition field 0) version u64 | crc32c u32
//
// All integers are big-endian; crc32c is CRC-32 with the Castagnoli polynomial.
// A metadata key is written at badger version (newest version of that key,
// deleted or not) + 1, so a later write always shadows an earlier one.
//
// # Reads
//
// A View merges a partition's memstore tables (active and frozen, newest
// first) over the sstable. The layering invariant that makes the merge a
// "first source wins" lookup: for any key, every version in a newer source is
// above every version in an older one (memstore.Config.FloorVersion, and
// tables are dumped oldest first). A tombstone in a newer source therefore
// hides the key in older ones; within the sstable badger's own tombstones hide
// older versions. A read below the safe point or below the partition's floor
// (the version of the snapshot it was rebuilt from) is refused with
// ErrVersionTooOld, because versions below it may already be gone.
//
// # Dump and checkpoint protocol
//
// Dump writes every version of a frozen memstore table at its own commit
// version (tombstones as deletes at their version) in a managed write batch,
// flushes it, calls DB.Sync, and only then writes the checkpoint record
// (index, version) and syncs again. Crash ordering: a crash before the first
// Sync completes may keep any subset of the data but leaves the old
// checkpoint, so the caller replays its log from the old checkpoint and
// rewrites the same (key, version) -> value pairs, which is idempotent. A crash
// after it keeps all the data; the checkpoint may or may not survive, and if
// it does, the data it covers is already durable. So a checkpoint is never
// visible without the data it covers, and the log prefix up to a checkpoint
// the caller has read back may be truncated.
//
// # Snapshot stream format (format version 1)
//
//	header: magic "OBKVSNAP" (8) | format u32 = 1 | flags u32 = 0 | source partition u64 | index u64 | version u64 | crc32c u32 of the 40 bytes before it
//	frame:  kind u8 | seq u32 | length u32 | payload (length bytes) | crc32c u32 of kind, seq, length and payload
//	kind 'B' (batch) payload: repeated { key length u32 | user key | version u64 | value length u32 | value }
//	kind 'E' (end) payload:   entries u64 | batch frames u64
//
// Frames are numbered from 0 with no gap; the end frame is the last and counts
// what came before it, so a dropped, repeated, reordered or truncated frame is
// detected. Keys are user keys without the partition prefix, so a snapshot can
// be imported under any partition id. The stream holds, per live key, its
// newest version <= the snapshot version (the checkpoint version of the
// source), in key order: what a badger iterator at that version yields under
// the partition prefix.
// Tombstones are not shipped; the importer starts from an empty partition.
//
// # Invariants
//
//   - A partition's checkpoint (index, version) never goes back.
//   - The safe point never goes back, and it is durable before badger is told
//     to discard versions below it.
//   - A failed or interrupted import leaves the partition empty: an import
//     marker is synced before the first data write, and Open drops every
//     partition whose marker survived.
//   - Every metadata record is checked against its crc32c when read; badger
//     verifies its own block and value checksums (options.OnBlockRead,
//     VerifyValueChecksum).
package sstable
