// Package memstore is the in-memory MVCC layer of one partition replica: an
// ordered map (key, version) -> value or tombstone. The distinct keys are in a
// B-tree (the generic one of github.com/google/btree) and in a hash index;
// each key holds its versions as a chain, newest first.
//
// # Contract
//
//   - A Table holds the writes the apply loop has applied since the last freeze.
//     Versions are commit versions (uint64), stamped by the leader and carried
//     through the log.
//   - A read at version v sees, per key, the newest entry whose version is <= v.
//     A tombstone at that entry hides the key (and every older version of it).
//   - One writer (the apply loop) calls Put and Delete; any number of readers call
//     Get, Scan and NewIterator concurrently with it. A sync.RWMutex guards the
//     tree and the hash index: a read holds the read lock only for one hash probe
//     (Get) or one bounded chunk of a scan (the next 128 keys of the tree), and
//     searches a key's chain of versions without the lock. The writer takes the
//     write lock only to add a key new to the table; a new version of a key the
//     table holds is linked under the read lock, which shuts out Freeze but no
//     reader. So readers never wait on each other nor on a write of a key the
//     table holds, and the writer waits at most one chunk.
//   - Freeze makes the table immutable: every later write fails with ErrFrozen.
//     A frozen table is dumped to the sstable and then dropped by the caller.
//   - Full reports that the approximate memory held (Bytes) reached the limit the
//     table was created with. The table never freezes itself: the apply loop
//     freezes it at a batch boundary, so the writes of one log entry, which may
//     share a version, never straddle two tables.
//
// # Invariants
//
//   - Per key, versions are strictly increasing in apply order: a write at a
//     version not above the key's newest version fails with ErrVersionOrder and
//     changes nothing. Across keys, versions are non-decreasing in apply order
//     (versions are monotonic per partition), and every version is above the
//     table's FloorVersion (the newest version of the table frozen before it), so
//     of two tables of one partition every version of the newer one is above
//     every version of the older one. Readers that merge tables rely on this:
//     newest table first, the first table holding an entry <= v for a key decides.
//   - Keys and values are copied on write; slices returned by reads alias the
//     table's immutable storage and must not be modified by the caller.
//   - Each distinct key has one record, both in the B-tree (in key order) and in
//     the hash index. The record holds the key's entries as an immutable singly
//     linked chain, newest first, whose head the writer replaces atomically. So
//     a write of a new version of a key the table holds is one hash probe and a
//     link, and only the first write of a key inserts into the tree; a read at or
//     above a key's newest version (the common case) is one hash probe and one
//     node. A chain node never changes once published, so readers walk chains
//     without the lock; its jump links (Myers, "An applicative random-access
//     stack", 1983) make a read at an older version O(log n) in the key's n
//     versions.
//   - Bytes counts, per entry, its value and a fixed overhead (EntryOverheadBytes)
//     and, per distinct key, its key once and a fixed overhead for its record,
//     tree slot and hash index slot (KeyOverheadBytes); it only grows.
//
// Bad input (an empty key, a version out of order, a write after freeze) is
// refused with an error and never changes the table.
package memstore
