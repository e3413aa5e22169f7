package memstore

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/google/btree"
)

// Sentinel errors, wrapped with %w by the errors the package returns.
var (
	// ErrFrozen: the table was frozen and accepts no more writes.
	ErrFrozen = errors.New("memstore: table is frozen")
	// ErrNotFrozen: the operation needs a frozen (immutable) table.
	ErrNotFrozen = errors.New("memstore: table is not frozen")
	// ErrVersionOrder: a write's version is not above the key's newest
	// version, below the newest version of the table, or not above the
	// table's floor.
	ErrVersionOrder = errors.New("memstore: version out of order")
	// ErrInvalidArgument: an empty or oversized key or value, or a bad config.
	ErrInvalidArgument = errors.New("memstore: invalid argument")
)

const (
	// EntryOverheadBytes is what Bytes charges per entry on top of the key and
	// value bytes: the 40-byte B-tree slot (slice header, version, key length,
	// flags), the unused slack of half-full B-tree nodes (about half a slot
	// again), the node headers amortised over their items and the allocator's
	// size-class rounding of the key+value buffer. Checked against the heap by
	// TestBytesTracksHeap.
	EntryOverheadBytes = 96
	// KeyOverheadBytes is what Bytes charges once per distinct key for its
	// slot in the newest-version hash index (string header, 40-byte item,
	// control byte and the map's load-factor slack).
	KeyOverheadBytes = 80

	// MaxKeyBytes bounds a key: the sstable prefixes it with 8 bytes of
	// partition id and badger appends 8 bytes of version under its own 65000-byte
	// key limit.
	MaxKeyBytes = 32 << 10
	// MaxValueBytes bounds a value, so that one entry never dominates a table
	// and fits one badger write batch (15% of a badger memtable: the sstable
	// requires memtables of at least 32 MiB).
	MaxValueBytes = 4 << 20

	// btreeDegree: 32 gives nodes of up to 63 slots of 40 bytes (2.5 KiB),
	// about 4 levels for a million entries: few levels for older-version
	// reads and scans, nodes small enough to copy cheaply on split. Not tuned:
	// point reads at the newest version bypass the tree.
	btreeDegree = 32
)

// Config configures a Table.
type Config struct {
	// LimitBytes is the size at which Full reports true and the apply loop
	// should freeze the table. Must be > 0.
	LimitBytes int64
	// FloorVersion: every write must have a version above it. Set it to the
	// MaxVersion of the table frozen before this one (0 for the first table),
	// so the versions of successive tables never interleave.
	FloorVersion uint64
}

// Validate rejects a zero or negative limit.
func (c Config) Validate() error {
	if c.LimitBytes <= 0 {
		return fmt.Errorf("memstore config: LimitBytes %d: must be > 0: %w", c.LimitBytes, ErrInvalidArgument)
	}
	return nil
}

// Entry is one version of one key. Key and Value alias the table's immutable
// storage: do not modify them.
type Entry struct {
	Key       []byte
	Value     []byte // nil for a tombstone
	Version   uint64
	Tombstone bool
}

// item is the B-tree slot: key and value share one buffer (one allocation per
// write), 40 bytes in all. Items order by key ascending, then version
// descending, so the first item >= (k, v) is the newest version <= v of k.
type item struct {
	buf       []byte // key || value
	version   uint64
	keyLen    uint32
	tombstone bool
}

func (it *item) key() []byte   { return it.buf[:it.keyLen:it.keyLen] }
func (it *item) value() []byte { return it.buf[it.keyLen:] }

func (it *item) entry() Entry {
	e := Entry{Key: it.key(), Version: it.version, Tombstone: it.tombstone}
	if !it.tombstone {
		e.Value = it.value()
	}
	return e
}

func itemLess(a, b item) bool {
	if c := bytes.Compare(a.buf[:a.keyLen], b.buf[:b.keyLen]); c != 0 {
		return c < 0
	}
	return a.version > b.version
}

// pivot is a search key: it is never stored, so it may alias the caller's key.
func pivot(key []byte, version uint64) item {
	return item{buf: key, keyLen: uint32(len(key)), version: version}
}

// Table is one memstore table of one partition. See the package doc for the
// concurrency contract: one writer, many readers.
type Table struct {
	limitBytes int64
	floor      uint64

	mu sync.RWMutex
	// tree is guarded by mu: written under mu.Lock, read under mu.RLock.
	// It holds every entry.
	tree *btree.BTreeG[item]
	// latest is guarded by mu. It maps each key to its newest entry, which is
	// also in tree. Why: a B-tree descent costs ~20 key comparisons, each a
	// pointer chase to a key buffer (1.6us per random read measured on 200k
	// entries), while most reads are at or above the key's newest version and
	// one hash probe answers them (BenchmarkGet). Keys are unsafe.String views
	// of the item's buffer, which is never modified and is kept alive by the
	// map itself.
	// Invariant: latest[k] is the item of tree with key k and the largest version.
	latest map[string]item
	// frozen is guarded by mu. Invariant: once true, never false, and tree no
	// longer changes.
	frozen bool
	// minVersion, maxVersion are guarded by mu.
	// Invariant: floor < minVersion <= maxVersion when the table is not empty.
	minVersion, maxVersion uint64

	bytes atomic.Int64
	count atomic.Int64
}

// New returns an empty, writable table.
func New(cfg Config) (*Table, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Table{
		limitBytes: cfg.LimitBytes,
		floor:      cfg.FloorVersion,
		tree:       btree.NewG[item](btreeDegree, itemLess),
		latest:     make(map[string]item),
	}, nil
}

// Put writes value for key at version. Key and value are copied.
func (t *Table) Put(key, value []byte, version uint64) error {
	return t.write(key, value, version, false)
}

// Delete writes a tombstone for key at version.
func (t *Table) Delete(key []byte, version uint64) error {
	return t.write(key, nil, version, true)
}

func (t *Table) write(key, value []byte, version uint64, tombstone bool) error {
	op := "put"
	if tombstone {
		op = "delete"
	}
	if len(key) == 0 {
		return fmt.Errorf("memstore %s at version %d: key is empty: %w", op, version, ErrInvalidArgument)
	}
	if len(key) > MaxKeyBytes {
		return fmt.Errorf("memstore %s key %s: %d bytes: above the %d-byte limit: %w",
			op, quote(key), len(key), MaxKeyBytes, ErrInvalidArgument)
	}
	if len(value) > MaxValueBytes {
		return fmt.Errorf("memstore %s key %s: value of %d bytes: above the %d-byte limit: %w",
			op, quote(key), len(value), MaxValueBytes, ErrInvalidArgument)
	}
	if version == math.MaxUint64 {
		// MaxUint64 is the "read everything" version; a write there could never
		// be shadowed.
		return fmt.Errorf("memstore %s key %s at version %d: version is reserved: %w",
			op, quote(key), version, ErrInvalidArgument)
	}

	// Build the item before taking the lock: readers wait only for the tree
	// and map updates, not for the allocation and copy.
	buf := make([]byte, len(key)+len(value))
	copy(buf, key)
	copy(buf[len(key):], value)
	it := item{buf: buf, version: version, keyLen: uint32(len(key)), tombstone: tombstone}

	t.mu.Lock()
	defer t.mu.Unlock()
	if t.frozen {
		return fmt.Errorf("memstore %s key %s at version %d: %w", op, quote(key), version, ErrFrozen)
	}
	if version <= t.floor {
		return fmt.Errorf("memstore %s key %s at version %d: not above the table's floor version %d: %w",
			op, quote(key), version, t.floor, ErrVersionOrder)
	}
	if version < t.maxVersion {
		return fmt.Errorf("memstore %s key %s at version %d: below the table's newest version %d (versions are monotonic per partition): %w",
			op, quote(key), version, t.maxVersion, ErrVersionOrder)
	}
	newest, seen := t.latest[string(key)]
	if seen && version <= newest.version {
		return fmt.Errorf("memstore %s key %s at version %d: not above the key's newest version %d: %w",
			op, quote(key), version, newest.version, ErrVersionOrder)
	}

	t.tree.ReplaceOrInsert(it)
	t.latest[unsafe.String(&buf[0], len(key))] = it
	if t.count.Load() == 0 {
		t.minVersion = version
	}
	t.maxVersion = version
	t.count.Add(1)
	charge := int64(len(buf)) + EntryOverheadBytes
	if !seen {
		charge += KeyOverheadBytes
	}
	t.bytes.Add(charge)
	return nil
}

// Get returns the newest entry of key with a version <= version. found is
// false when the table holds no such entry; when found, the entry may be a
// tombstone (e.Tombstone), which hides the key from older tables.
func (t *Table) Get(key []byte, version uint64) (e Entry, found bool) {
	t.mu.RLock()
	newest, ok := t.latest[string(key)]
	if !ok || newest.version <= version {
		// Absent, or the newest version is the answer: no descent.
		t.mu.RUnlock()
		if ok {
			return newest.entry(), true
		}
		return Entry{}, false
	}
	t.tree.AscendGreaterOrEqual(pivot(key, version), func(it item) bool {
		if bytes.Equal(it.key(), key) {
			e, found = it.entry(), true
		}
		return false
	})
	t.mu.RUnlock()
	return e, found
}

// Freeze makes the table immutable. It is idempotent.
func (t *Table) Freeze() {
	t.mu.Lock()
	t.frozen = true
	t.mu.Unlock()
}

// Frozen reports whether Freeze was called.
func (t *Table) Frozen() bool {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.frozen
}

// Full reports whether Bytes reached the configured limit.
func (t *Table) Full() bool { return t.bytes.Load() >= t.limitBytes }

// Bytes is the approximate memory the table holds: key and value bytes plus
// EntryOverheadBytes per entry.
func (t *Table) Bytes() int64 { return t.bytes.Load() }

// Len is the number of entries (every version of every key, tombstones included).
func (t *Table) Len() int { return int(t.count.Load()) }

// FloorVersion is the version every entry of the table is above.
func (t *Table) FloorVersion() uint64 { return t.floor }

// VersionRange returns the smallest and largest version written; ok is false
// for an empty table.
func (t *Table) VersionRange() (minVersion, maxVersion uint64, ok bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.minVersion, t.maxVersion, t.count.Load() > 0
}

// ForEach calls fn with every entry of a frozen table (every version of every
// key, tombstones included), in key order and, per key, newest version first.
// It stops at the first error fn returns and returns it. It refuses a table
// that is not frozen with ErrNotFrozen: a dump of a table that still takes
// writes would miss them.
func (t *Table) ForEach(fn func(Entry) error) error {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if !t.frozen {
		return fmt.Errorf("memstore for-each over %d entries: %w", t.count.Load(), ErrNotFrozen)
	}
	var err error
	t.tree.Ascend(func(it item) bool {
		err = fn(it.entry())
		return err == nil
	})
	return err
}

// quote renders a key for an error message, cut to 64 bytes.
func quote(key []byte) string {
	const max = 64
	if len(key) > max {
		return fmt.Sprintf("%q...(%d bytes)", key[:max], len(key))
	}
	return fmt.Sprintf("%q", key)
}
