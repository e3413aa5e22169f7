// Package memstore is the in-memory MVCC layer of one partition replica: an
// ordered map (key, version) -> value or tombstone, built on the generic B-tree
// of github.com/google/btree.
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
//     tree: a read holds the read lock only for one B-tree descent (Get) or one
//     bounded chunk of a scan, so readers never wait on each other and the writer
//     waits at most one chunk.
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
//   - Every entry is in the B-tree; each key's newest entry is also in a hash
//     index, so a read at or above a key's newest version (the common case) is
//     one hash probe, and only older reads descend the tree.
//   - Bytes counts key, value, a fixed per-entry overhead (EntryOverheadBytes)
//     and a per-key overhead for the hash index (KeyOverheadBytes); it only grows.
//
// Bad input (an empty key, a version out of order, a write after freeze) is
// refused with an error and never changes the table.
package memstore
