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
	// EntryOverheadBytes is what Bytes charges per entry (per version) on top
	// of its value bytes: the 56-byte chain node (value slice header, older and
	// jump links, version, depths; carved from slabs, so without size-class
	// rounding of its own) and the allocator's size-class rounding of the
	// value buffer (a few bytes for small values, up to 12.5% for large ones).
	// Checked against the heap by TestBytesTracksHeap.
	EntryOverheadBytes = 64
	// KeyOverheadBytes is what Bytes charges once per distinct key on top of
	// its key bytes: the 32-byte record, the size-class rounding of the key
	// buffer, the 8-byte B-tree slot with the slack of half-full nodes, and the
	// hash index slot (16-byte string header, 8-byte pointer, control byte)
	// with the map's load-factor and growth slack. Checked against the heap by
	// TestBytesTracksHeap.
	KeyOverheadBytes = 104

	// MaxKeyBytes bounds a key: the sstable prefixes it with 8 bytes of
	// partition id and badger appends 8 bytes of version under its own 65000-byte
	// key limit.
	MaxKeyBytes = 32 << 10
	// MaxValueBytes bounds a value, so that one entry never dominates a table
	// and fits one badger write batch (15% of a badger memtable: the sstable
	// requires memtables of at least 32 MiB).
	MaxValueBytes = 4 << 20

	// btreeDegree: 32 gives nodes of up to 63 slots of 8 bytes, 3 to 4 levels
	// for a million keys: few levels for the first write of a key and for the
	// seek of a scan chunk. Not tuned: point reads and writes of known keys
	// bypass the tree.
	btreeDegree = 32

	// nodeSlabLen is how many chain nodes one allocation holds: 146 nodes of
	// 56 bytes fill the 8 KiB size class. Why slabs: a write then allocates
	// only its value buffer, and a node costs its size, not the 64-byte size
	// class. A table holds at most one partly used slab.
	nodeSlabLen = 8 << 10 / int(unsafe.Sizeof(node{}))
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

// node is one version of one key: a link of the key's chain, newest first.
// It never changes once published (record.newest), so readers walk chains
// without the lock.
type node struct {
	value []byte // nil for a tombstone, never nil otherwise
	// older is the key's previous version; nil for its oldest in the table.
	older *node
	// jump is an older node of the chain, farther back than older when the
	// chain is long, so that a search by version takes O(log n) steps in the
	// key's n versions instead of n: the skew-binary jump pointers of Myers,
	// "An applicative random-access stack" (1983). nil for the oldest node.
	// Invariant: jump is older or one of its older nodes.
	jump    *node
	version uint64
	// depth is how many older versions the chain holds below this node, and
	// jumpDepth is jump's depth (kept here so that link reads one older node,
	// not two). They only shape jump: a wrap after 2^32 versions of one key
	// would make searches slower, never wrong.
	depth, jumpDepth uint32
}

// link makes n the newest node of the chain whose head is head.
func (n *node) link(head *node) {
	n.older = head
	n.depth = head.depth + 1
	n.jump, n.jumpDepth = head, head.depth
	// Where head's jump spans as many nodes as its jump's jump, jump over both:
	// the spans grow like the digits of a skew-binary number.
	if j := head.jump; j != nil && j.jump != nil && head.depth-head.jumpDepth == head.jumpDepth-j.jumpDepth {
		n.jump, n.jumpDepth = j.jump, j.jumpDepth
	}
}

// at returns the newest node of the chain from n with a version <= v, or nil.
func (n *node) at(v uint64) *node {
	n, _ = n.seek(v)
	return n
}

// seek is at, and also returns how many links it followed.
func (n *node) seek(v uint64) (found *node, steps int) {
	for n != nil && n.version > v {
		if j := n.jump; j != nil && j.version > v {
			n = j // every node from n down to j is newer than v as well
		} else {
			n = n.older
		}
		steps++
	}
	return n, steps
}

func (n *node) entry(key []byte) Entry {
	return Entry{Key: key, Value: n.value, Version: n.version, Tombstone: n.value == nil}
}

// record is the table's slot for one distinct key, in the B-tree and in the
// hash index.
type record struct {
	key []byte // never modified
	// newest is the head of the key's chain. Only a writer stores it, holding
	// wmu and mu (read or write); readers load it with or without mu.
	// Invariant: never nil once the record is in the tree.
	newest atomic.Pointer[node]
}

func recordLess(a, b *record) bool { return bytes.Compare(a.key, b.key) < 0 }

// Table is one memstore table of one partition. See the package doc for the
// concurrency contract: one writer, many readers.
type Table struct {
	limitBytes int64
	floor      uint64

	// wmu serializes the writers and guards their own state. The contract
	// allows one writer; wmu makes a second one wait rather than corrupt the
	// chains, and costs the one writer an uncontended lock.
	wmu sync.Mutex
	// slab is guarded by wmu: the nodes not yet used of the last node slab.
	slab []node
	// minVersion, maxVersion are guarded by wmu.
	// Invariant: floor < minVersion <= maxVersion when the table is not empty.
	minVersion, maxVersion uint64

	// mu guards the tree, the hash index and frozen. A writer holds wmu too
	// whenever it holds mu, and takes mu.Lock only to add a key new to the
	// table; a new version of a key the table holds is linked under mu.RLock,
	// which shuts out Freeze but never readers, and readers never wait for
	// such a write.
	mu sync.RWMutex
	// tree is guarded by mu: written under mu.Lock, read under mu.RLock. It
	// holds one record per distinct key, ordered by key; only the first write
	// of a key changes it. Why one slot per key, not per (key, version): a
	// descent costs ~20 key comparisons, each a pointer chase to a key buffer,
	// and with a slot per version every write paid one (Put was 18-22% of a
	// follower's CPU under a write-only workload on 10,000 hot keys), though a
	// new version of a key the table holds just becomes its newest
	// (BenchmarkPutUpdate).
	tree *btree.BTreeG[*record]
	// latest is guarded by mu: written under mu.Lock, read under mu.RLock, or
	// without mu by a writer holding wmu (only writers change it, one at a
	// time). It maps each key to its record, so that a write of a key the
	// table holds and a point read are one hash probe, not a tree descent
	// (BenchmarkGet). Keys are unsafe.String views of record.key, which is
	// never modified and is kept alive by the map itself.
	// Invariant: latest and tree hold the same records.
	latest map[string]*record
	// frozen is guarded by mu. Invariant: once true, never false, and neither
	// the tree nor any chain changes any more.
	frozen bool

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
		tree:       btree.NewG[*record](btreeDegree, recordLess),
		latest:     make(map[string]*record),
	}, nil
}

// Put writes value for key at version. Key and value are copied.
func (t *Table) Put(key, value []byte, version uint64) error {
	return t.write(key, value, version, false, false)
}

// PutShared is Put keeping value itself, not a copy: the caller must never change it
// afterwards. A replica passes the value inside its Paxos log entry, which never changes,
// so the log and the table share one copy: with 1 MiB values the copy took 0.48 s of a
// leader's 6.45 s of CPU in a 10 s profile, and every value's memory twice while the log
// kept its entry.
func (t *Table) PutShared(key, value []byte, version uint64) error {
	if value == nil {
		value = []byte{} // nil marks a tombstone
	}
	return t.write(key, value, version, false, true)
}

// Delete writes a tombstone for key at version.
func (t *Table) Delete(key []byte, version uint64) error {
	return t.write(key, nil, version, true, false)
}

func (t *Table) write(key, value []byte, version uint64, tombstone, shared bool) error {
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

	// Copy the value before taking the locks: the write of a new key makes
	// readers wait for the insert only, not for the allocation and copy.
	var val []byte // nil marks a tombstone
	switch {
	case shared:
		val = value
	case !tombstone:
		val = make([]byte, len(value)) // not nil, even when empty
		copy(val, value)
	}

	t.wmu.Lock()
	defer t.wmu.Unlock()
	// No mu for the probe: only writers change latest, and they hold wmu.
	rec := t.latest[string(key)]
	// The read lock shuts out Freeze (and a ForEach needs frozen), so a write
	// that saw the table writable completes before the table is frozen.
	if rec != nil {
		t.mu.RLock()
		defer t.mu.RUnlock()
	} else {
		t.mu.Lock()
		defer t.mu.Unlock()
	}
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
	var head *node
	if rec != nil {
		head = rec.newest.Load()
		if version <= head.version {
			return fmt.Errorf("memstore %s key %s at version %d: not above the key's newest version %d: %w",
				op, quote(key), version, head.version, ErrVersionOrder)
		}
	}

	n := t.newNode()
	n.value, n.version = val, version
	charge := int64(len(val)) + EntryOverheadBytes
	if head != nil {
		n.link(head)
		// Publishes n with its fields: a reader that loads it sees them.
		rec.newest.Store(n)
	} else {
		k := make([]byte, len(key))
		copy(k, key)
		rec = &record{key: k}
		rec.newest.Store(n)
		t.tree.ReplaceOrInsert(rec)
		t.latest[unsafe.String(&k[0], len(k))] = rec
		charge += int64(len(k)) + KeyOverheadBytes
	}
	if t.count.Load() == 0 {
		t.minVersion = version
	}
	t.maxVersion = version
	t.count.Add(1)
	t.bytes.Add(charge)
	return nil
}

// newNode returns a zeroed node from the slab. Call with wmu held.
func (t *Table) newNode() *node {
	if len(t.slab) == 0 {
		t.slab = make([]node, nodeSlabLen)
	}
	n := &t.slab[0]
	t.slab = t.slab[1:]
	return n
}

// Get returns the newest entry of key with a version <= version. found is
// false when the table holds no such entry; when found, the entry may be a
// tombstone (e.Tombstone), which hides the key from older tables.
func (t *Table) Get(key []byte, version uint64) (e Entry, found bool) {
	t.mu.RLock()
	rec := t.latest[string(key)]
	t.mu.RUnlock()
	if rec == nil {
		return Entry{}, false
	}
	// The chain needs no lock: its nodes never change once published.
	n := rec.newest.Load().at(version)
	if n == nil {
		return Entry{}, false
	}
	return n.entry(rec.key), true
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

// Bytes is the approximate memory the table holds: per entry its value bytes
// and EntryOverheadBytes, per distinct key its key bytes and KeyOverheadBytes.
func (t *Table) Bytes() int64 { return t.bytes.Load() }

// Len is the number of entries (every version of every key, tombstones included).
func (t *Table) Len() int { return int(t.count.Load()) }

// FloorVersion is the version every entry of the table is above.
func (t *Table) FloorVersion() uint64 { return t.floor }

// VersionRange returns the smallest and largest version written; ok is false
// for an empty table.
func (t *Table) VersionRange() (minVersion, maxVersion uint64, ok bool) {
	t.wmu.Lock()
	defer t.wmu.Unlock()
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
	t.tree.Ascend(func(rec *record) bool {
		for n := rec.newest.Load(); n != nil; n = n.older {
			if err = fn(n.entry(rec.key)); err != nil {
				return false
			}
		}
		return true
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
