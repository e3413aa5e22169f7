package sstable

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"

	badger "github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
	btable "github.com/dgraph-io/badger/v4/table"
	"github.com/dgraph-io/ristretto/v2/z"

	"obkv/memstore"
)

// Sentinel errors, wrapped with %w by the errors the package returns.
var (
	// ErrInvalidArgument: a reserved partition id, a bad option, a table that
	// does not fit the checkpoint it is dumped under.
	ErrInvalidArgument = errors.New("sstable: invalid argument")
	// ErrCorruption: a checksum mismatch, a truncated or malformed snapshot
	// stream or metadata record.
	ErrCorruption = errors.New("sstable: corruption")
	// ErrCheckpointRegress: a checkpoint below the partition's current one.
	ErrCheckpointRegress = errors.New("sstable: checkpoint goes back")
	// ErrSafePointRegress: a safe point below the current one.
	ErrSafePointRegress = errors.New("sstable: safe point goes back")
	// ErrVersionTooOld: a read below the safe point or the partition's floor,
	// where versions may be gone.
	ErrVersionTooOld = errors.New("sstable: version too old")
	// ErrNoCheckpoint: the partition has no checkpoint (nothing to export).
	ErrNoCheckpoint = errors.New("sstable: no checkpoint")
	// ErrImporting: the partition is being imported and is not readable.
	ErrImporting = errors.New("sstable: partition is being imported")
)

// Checkpoint is what a partition's sstable covers: every log entry up to
// Index, every version up to Version. The caller may truncate its log up to
// Index once Dump returns.
type Checkpoint struct {
	Index   uint64
	Version uint64
}

type partState struct {
	floor     uint64
	importing bool
	// emptied: an import failed after it dropped the partition's data. The partition holds
	// nothing until an import succeeds or it is dropped: reads and dumps are refused (a dump
	// would record a checkpoint over data that is not there).
	emptied bool
}

// Store is the server's sstable. It is safe for concurrent use.
type Store struct {
	db  *badger.DB
	dir string

	// metaMu serialises metadata writes: checkpoints, markers, the safe point.
	metaMu sync.Mutex
	// dataMu keeps data writes (dumps, imports) and badger's DropPrefix apart: badger
	// refuses every write, of any partition, while a DropPrefix runs. Writers hold it
	// shared (writeData), a drop exclusively (dropLocked). Taken after metaMu, never before.
	dataMu sync.RWMutex

	// dumping holds a token while a Dump writes (capacity 1): see Dump.
	dumping chan struct{}

	mu sync.RWMutex
	// safePoint is guarded by mu. Invariant: never decreases; durable before
	// badger's discard ts is set to it.
	safePoint uint64
	// parts is guarded by mu: per partition read floor and import state.
	parts map[uint64]partState
	// drops is guarded by mu: per partition, how many times its data began to be
	// dropped (an import or DropPartition) since Open. A read notes it before it
	// reads the disk and fails if it moved meanwhile (see readable, unchanged):
	// the read may have seen the partition half gone.
	drops map[uint64]uint64
	// rowGen is guarded by mu: per partition, the generation row cache entries are
	// valid under (rowCache); it moves when a dump ends and whenever drops moves.
	rowGen map[uint64]uint64
	// rows is the row cache; nil when Options.RowCacheBytes is 0.
	rows *rowCache

	// hookAfterDataSync, when set (tests only), runs after a dump's data is
	// durable and before its checkpoint is written; an error stands for a crash
	// there.
	hookAfterDataSync func() error
}

// badgerEmptyFile is the text of ristretto's z.NewFile, which badger returns, unwrapped, when
// Open finds an empty memtable or value log file.
const badgerEmptyFile = "Create a new file"

// Open opens (or creates) the store in opts.Dir: it replays badger's WALs,
// loads the safe point and the partitions' floors, and drops every partition
// an interrupted import or drop left behind. Restart = Open, then Checkpoints.
func Open(ctx context.Context, opts Options) (*Store, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := checkFiles(opts.Dir); err != nil {
		return nil, err
	}
	db, err := badger.OpenManaged(opts.badger())
	if err != nil && strings.Contains(err.Error(), badgerEmptyFile) {
		// A crash between badger creating a memtable or value log file and its first write
		// leaves an empty file; Open sizes it and then fails (badger issue #2207). The sized
		// file holds nothing, and the second Open reads it as empty.
		db, err = badger.OpenManaged(opts.badger())
	}
	if err != nil {
		return nil, fmt.Errorf("sstable open %s: %w", opts.Dir, err)
	}
	rows, err := newRowCache(opts.RowCacheBytes)
	if err != nil {
		return nil, errors.Join(err, db.Close())
	}
	s := &Store{db: db, dir: opts.Dir, dumping: make(chan struct{}, 1), parts: make(map[uint64]partState), drops: make(map[uint64]uint64),
		rowGen: make(map[uint64]uint64), rows: rows}
	if err := s.recover(ctx); err != nil {
		rows.close()
		return nil, errors.Join(err, db.Close())
	}
	return s, nil
}

// checkFiles refuses, before badger opens dir, what badger would mishandle: tables without a
// MANIFEST (badger starts an empty one and deletes every table it does not list, all of them),
// and a table whose trailer points outside the file (a truncated table: badger panics on it,
// in a goroutine of its own, naming the table's id and not its file).
func checkFiles(dir string) error {
	tables, err := filepath.Glob(filepath.Join(dir, "*.sst"))
	if err != nil || len(tables) == 0 {
		return nil
	}
	const remedy = "If the other replicas of this server's partitions are healthy, move the directory aside and start the server again: " +
		"its replicas are rebuilt from their peers (docs/operations.md, Damaged data)"
	if _, err := os.Stat(filepath.Join(dir, "MANIFEST")); errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("sstable open %s: %d table files but no MANIFEST, which lists them: opening would delete them. %s: %w",
			dir, len(tables), remedy, ErrCorruption)
	}
	for _, path := range tables {
		if err := checkTableTrailer(path); err != nil {
			return fmt.Errorf("sstable open %s: table %s: %v. %s: %w", dir, path, err, remedy, ErrCorruption)
		}
	}
	return nil
}

// checkTableTrailer checks the lengths at the end of a badger table (v4: ... index, index
// length, checksum, checksum length; lengths are 4 bytes big-endian) against its size.
func checkTableTrailer(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	size := fi.Size()
	if size < 8 {
		return fmt.Errorf("%d bytes, shorter than a table's trailer (truncated)", size)
	}
	var b [4]byte
	if _, err := f.ReadAt(b[:], size-4); err != nil {
		return err
	}
	sumLen := int64(binary.BigEndian.Uint32(b[:]))
	if sumLen > size-8 {
		return fmt.Errorf("checksum length %d in a file of %d bytes (truncated or damaged)", sumLen, size)
	}
	if _, err := f.ReadAt(b[:], size-8-sumLen); err != nil {
		return err
	}
	if indexLen := int64(binary.BigEndian.Uint32(b[:])); indexLen > size-8-sumLen {
		return fmt.Errorf("index length %d in a file of %d bytes (truncated or damaged)", indexLen, size)
	}
	return nil
}

func (s *Store) recover(ctx context.Context) error {
	raw, ok, err := s.readMeta(metaKey(metaSafePoint, 0))
	if err != nil {
		return err
	}
	if ok {
		sp, err := decodeUint64("safe point", raw)
		if err != nil {
			return err
		}
		s.safePoint = sp
		s.db.SetDiscardTs(sp)
	}
	var pending []uint64
	if err := s.scanMeta(metaImport, func(p uint64, _ []byte) error {
		pending = append(pending, p)
		return nil
	}); err != nil {
		return err
	}
	for _, p := range pending {
		// An import or drop was interrupted: whatever it left is not a
		// consistent partition.
		if err := s.DropPartition(ctx, p); err != nil {
			return fmt.Errorf("sstable open: dropping partition %d left by an interrupted import or drop: %w", p, err)
		}
	}
	return s.scanMeta(metaCheckpoint, func(p uint64, raw []byte) error {
		rec, err := decodeCheckpoint(raw)
		if err != nil {
			return fmt.Errorf("sstable open: partition %d: %w", p, err)
		}
		s.parts[p] = partState{floor: rec.Floor}
		return nil
	})
}

// Close flushes and closes badger.
func (s *Store) Close() error {
	s.rows.close()
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("sstable close: %w", err)
	}
	return nil
}

// Get reads key of partition from the sstable alone (no memstore) at version.
func (s *Store) Get(partition uint64, key []byte, version uint64) (value []byte, found bool, err error) {
	gen, err := s.readable("get", partition, version)
	if err != nil {
		return nil, false, err
	}
	value, found, err = s.get(partition, key, version)
	if err == nil {
		err = s.unchanged("get", partition, gen.drops)
	}
	return value, found, err
}

func (s *Store) get(partition uint64, key []byte, version uint64) ([]byte, bool, error) {
	txn := s.db.NewTransactionAt(version, false)
	defer txn.Discard()
	item, err := txn.Get(dataKey(partition, key))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("sstable get partition %d key %q at version %d: %w", partition, key, version, err)
	}
	v, err := item.ValueCopy(nil)
	if err != nil {
		return nil, false, fmt.Errorf("sstable get partition %d key %q at version %d: %w", partition, key, version, err)
	}
	return v, true, nil
}

// Scrub reads every table and verifies every block's checksum. Reads do verify the blocks they
// read, but badger's point lookups drop a block's checksum error and read on as if the key were
// absent, so a damaged block reads as missing rows; only a scrub finds it. It reads the whole
// store, a table at a time: run it rarely, off the hot path. A table compacted away meanwhile
// is skipped.
func (s *Store) Scrub(ctx context.Context) (tables int, err error) {
	for _, ti := range s.db.Tables() {
		if err := ctx.Err(); err != nil {
			return tables, err
		}
		path := btable.NewFilename(ti.ID, s.dir)
		ok, err := scrubTable(path)
		if err != nil {
			return tables, fmt.Errorf("sstable scrub %s: table %s: %v: %w", s.dir, path, err, ErrCorruption)
		}
		if ok {
			tables++
		}
	}
	return tables, nil
}

// scrubTable verifies one table file's block checksums; ok is false when the file is gone.
// badger's own check dereferences a nil block when a block fails (v4.9.6,
// table.(*Table).VerifyChecksum), so its panic is taken as the failure it reports.
func scrubTable(path string) (ok bool, err error) {
	mf, err := z.OpenMmapFile(path, os.O_RDONLY, 0)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil && !errors.Is(err, z.NewFile) {
		return false, err
	}
	t, err := btable.OpenTable(mf, btable.Options{ReadOnly: true, ChkMode: options.OnBlockRead, Compression: options.Snappy, BlockSize: 4 << 10})
	if err != nil {
		return false, err
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("a block fails its checksum (badger: %v)", r)
		}
		_ = mf.Close(-1) // not t.DecrRef: at no references it deletes the file
	}()
	return true, t.VerifyChecksum()
}

// Emptied reports whether a snapshot import of the partition failed after dropping its data:
// it holds nothing, and refuses reads and dumps, until an import succeeds or it is dropped.
func (s *Store) Emptied(partition uint64) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.parts[partition].emptied
}

// readGen is a partition's generations as a read found them before reading.
type readGen struct {
	drops uint64 // for unchanged after the read
	rows  uint64 // what row cache entries are valid under (rowCache)
}

// readable refuses a read the store cannot answer exactly. It returns the
// partition's generations.
func (s *Store) readable(op string, partition, version uint64) (readGen, error) {
	if err := checkPartition(op, partition); err != nil {
		return readGen{}, err
	}
	s.mu.RLock()
	sp, st, drops, rows := s.safePoint, s.parts[partition], s.drops[partition], s.rowGen[partition]
	s.mu.RUnlock()
	switch {
	case st.importing:
		return readGen{}, fmt.Errorf("sstable %s partition %d: %w", op, partition, ErrImporting)
	case st.emptied:
		return readGen{}, fmt.Errorf("sstable %s partition %d: a snapshot import failed after dropping its data; it holds nothing until the next import: %w", op, partition, ErrImporting)
	case version < sp:
		return readGen{}, fmt.Errorf("sstable %s partition %d at version %d: below the safe point %d: %w",
			op, partition, version, sp, ErrVersionTooOld)
	case version < st.floor:
		return readGen{}, fmt.Errorf("sstable %s partition %d at version %d: below the partition's floor %d (the snapshot it was rebuilt from): %w",
			op, partition, version, st.floor, ErrVersionTooOld)
	}
	return readGen{drops: drops, rows: rows}, nil
}

// unchanged fails a read during which the partition's data began to be dropped
// (gen is what readable returned): what it read may miss rows.
func (s *Store) unchanged(op string, partition, gen uint64) error {
	s.mu.RLock()
	now := s.drops[partition]
	s.mu.RUnlock()
	if now != gen {
		return fmt.Errorf("sstable %s partition %d: its data was dropped or replaced by a snapshot during the read: %w", op, partition, ErrImporting)
	}
	return nil
}

// Dump writes every version of the frozen table t of partition at its own
// commit version, makes it durable, then records cp as the partition's
// checkpoint (see "Dump and checkpoint protocol" in the package doc). Every
// version of t must be <= cp.Version, and cp must not be below the
// partition's current checkpoint. Remove t from the partition's reads only
// after Dump returns nil. On error the checkpoint is unchanged; the data may
// be partly written, which a later Dump of the same entries overwrites
// identically.
//
// Dumps run one at a time per store; a Dump waits (until ctx ends) while another writes. Every
// partition of a server checkpoints into its one store, and eight dumps at once starved the
// server's poller of CPU for hundreds of milliseconds, long enough for leases to lapse
// (docs/performance.md, seventeenth session).
func (s *Store) Dump(ctx context.Context, partition uint64, t *memstore.Table, cp Checkpoint) error {
	if err := checkPartition("dump", partition); err != nil {
		return err
	}
	if !t.Frozen() {
		return fmt.Errorf("sstable dump partition %d: %w", partition, memstore.ErrNotFrozen)
	}
	if _, hi, ok := t.VersionRange(); ok && hi > cp.Version {
		return fmt.Errorf("sstable dump partition %d: table holds version %d, above the checkpoint version %d: %w",
			partition, hi, cp.Version, ErrInvalidArgument)
	}
	if err := s.checkAdvance(partition, cp); err != nil {
		return err
	}
	s.mu.RLock()
	st := s.parts[partition]
	s.mu.RUnlock()
	if st.importing {
		return fmt.Errorf("sstable dump partition %d: %w", partition, ErrImporting)
	}
	if st.emptied {
		return fmt.Errorf("sstable dump partition %d: a snapshot import failed after dropping its data; no checkpoint until the next import: %w", partition, ErrImporting)
	}
	select {
	case s.dumping <- struct{}{}:
		defer func() { <-s.dumping }()
	case <-ctx.Done():
		return fmt.Errorf("sstable dump partition %d: waiting for another dump: %w", partition, ctx.Err())
	}

	// From here the partition's newest sstable versions may change: the row cache's entries
	// stay valid until the dump ends (its versions are in the frozen table until then).
	defer func() {
		s.mu.Lock()
		s.rowGen[partition]++
		s.mu.Unlock()
	}()
	n := 0
	err := s.writeData(func(wb *badger.WriteBatch) error {
		return t.ForEach(func(e memstore.Entry) error {
			if n++; n%1024 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			k := dataKey(partition, e.Key)
			if e.Tombstone {
				return wb.DeleteAt(k, e.Version)
			}
			// e.Value aliases the frozen table, which never changes.
			return wb.SetEntryAt(badger.NewEntry(k, e.Value), e.Version)
		})
	})
	if err == nil {
		err = s.db.Sync()
	}
	if err == nil && s.hookAfterDataSync != nil {
		err = s.hookAfterDataSync()
	}
	if err != nil {
		return fmt.Errorf("sstable dump partition %d (%d entries, checkpoint index %d version %d): %w",
			partition, t.Len(), cp.Index, cp.Version, err)
	}
	// The data is durable: only now may the checkpoint say so.
	return s.setCheckpoint(partition, checkpointRecord{Checkpoint: cp})
}

// writeData writes what fill adds to a batch of data entries, kept apart from drops (dataMu).
// Nothing is synced.
func (s *Store) writeData(fill func(wb *badger.WriteBatch) error) error {
	s.dataMu.RLock()
	defer s.dataMu.RUnlock()
	wb := s.db.NewManagedWriteBatch()
	defer wb.Cancel()
	if err := fill(wb); err != nil {
		return err
	}
	return wb.Flush()
}

// checkAdvance refuses a checkpoint below the partition's current one.
func (s *Store) checkAdvance(partition uint64, cp Checkpoint) error {
	cur, ok, err := s.checkpoint(partition)
	if err != nil || !ok {
		return err
	}
	if cp.Index < cur.Index || cp.Version < cur.Version {
		return fmt.Errorf("sstable checkpoint partition %d: index %d version %d: below the current index %d version %d: %w",
			partition, cp.Index, cp.Version, cur.Index, cur.Version, ErrCheckpointRegress)
	}
	return nil
}

func (s *Store) setCheckpoint(partition uint64, rec checkpointRecord) error {
	s.metaMu.Lock()
	defer s.metaMu.Unlock()
	// Checked again under metaMu: two dumps of one partition must not race
	// a checkpoint back.
	if err := s.checkAdvance(partition, rec.Checkpoint); err != nil {
		return err
	}
	return s.writeMetaLocked(metaKey(metaCheckpoint, partition), rec.encode())
}

// Checkpoint returns the partition's durable checkpoint; ok is false when it
// has none.
func (s *Store) Checkpoint(partition uint64) (index, version uint64, ok bool, err error) {
	if err := checkPartition("checkpoint", partition); err != nil {
		return 0, 0, false, err
	}
	cp, ok, err := s.checkpoint(partition)
	return cp.Index, cp.Version, ok, err
}

func (s *Store) checkpoint(partition uint64) (Checkpoint, bool, error) {
	raw, ok, err := s.readMeta(metaKey(metaCheckpoint, partition))
	if err != nil || !ok {
		return Checkpoint{}, false, err
	}
	rec, err := decodeCheckpoint(raw)
	if err != nil {
		return Checkpoint{}, false, fmt.Errorf("sstable checkpoint partition %d: %w", partition, err)
	}
	return rec.Checkpoint, true, nil
}

// Checkpoints returns the checkpoint of every partition that has one: what a
// restarting server reads to know where each partition's log replay starts.
func (s *Store) Checkpoints() (map[uint64]Checkpoint, error) {
	out := make(map[uint64]Checkpoint)
	err := s.scanMeta(metaCheckpoint, func(p uint64, raw []byte) error {
		rec, err := decodeCheckpoint(raw)
		if err != nil {
			return fmt.Errorf("sstable checkpoints: partition %d: %w", p, err)
		}
		out[p] = rec.Checkpoint
		return nil
	})
	return out, err
}

// SetSafePoint lets badger discard, at its next compactions, every version
// below version that a newer version at or below it shadows (and tombstones
// at or below it). Reads below the safe point are refused from now on. The
// safe point is durable before badger learns it. A safe point below the
// current one is refused with ErrSafePointRegress.
func (s *Store) SetSafePoint(ctx context.Context, version uint64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.metaMu.Lock()
	defer s.metaMu.Unlock()
	s.mu.RLock()
	cur := s.safePoint
	s.mu.RUnlock()
	if version < cur {
		return fmt.Errorf("sstable safe point %d: below the current safe point %d: %w", version, cur, ErrSafePointRegress)
	}
	if err := s.writeMetaLocked(metaKey(metaSafePoint, 0), encodeUint64(version)); err != nil {
		return err
	}
	// Refuse reads below it before any version below it can go.
	s.mu.Lock()
	s.safePoint = version
	s.mu.Unlock()
	s.db.SetDiscardTs(version)
	return nil
}

// SafePoint returns the current safe point.
func (s *Store) SafePoint() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.safePoint
}

// DropPartition removes the partition's data and checkpoint. It is crash
// safe: a marker makes Open finish an interrupted drop, and the checkpoint
// goes before the data so it is never visible without it.
func (s *Store) DropPartition(ctx context.Context, partition uint64) error {
	if err := checkPartition("drop", partition); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.RLock()
	importing := s.parts[partition].importing
	s.mu.RUnlock()
	if importing {
		return fmt.Errorf("sstable drop partition %d: %w", partition, ErrImporting)
	}
	s.metaMu.Lock()
	defer s.metaMu.Unlock()
	if err := s.writeMetaLocked(metaKey(metaImport, partition), encodeUint64(0)); err != nil {
		return err
	}
	s.mu.Lock()
	s.drops[partition]++
	s.rowGen[partition]++
	s.mu.Unlock()
	if err := s.dropLocked(partition); err != nil {
		return err
	}
	s.mu.Lock()
	delete(s.parts, partition)
	s.mu.Unlock()
	return s.writeMetaLocked(metaKey(metaImport, partition), nil)
}

// dropLocked deletes the checkpoint, then the data. Caller holds metaMu.
func (s *Store) dropLocked(partition uint64) error {
	if err := s.writeMetaLocked(metaKey(metaCheckpoint, partition), nil); err != nil {
		return err
	}
	s.dataMu.Lock()
	err := s.db.DropPrefix(partitionPrefix(partition))
	s.dataMu.Unlock()
	if err != nil {
		return fmt.Errorf("sstable drop partition %d: %w", partition, err)
	}
	return nil
}

// readMeta reads the newest live version of a metadata key.
func (s *Store) readMeta(key []byte) ([]byte, bool, error) {
	txn := s.db.NewTransactionAt(math.MaxUint64, false)
	defer txn.Discard()
	item, err := txn.Get(key)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("sstable metadata %x: %w", key, err)
	}
	v, err := item.ValueCopy(nil)
	if err != nil {
		return nil, false, fmt.Errorf("sstable metadata %x: %w", key, err)
	}
	return v, true, nil
}

// scanMeta calls fn with the partition and value of every live metadata key
// of a kind.
func (s *Store) scanMeta(kind byte, fn func(partition uint64, value []byte) error) error {
	txn := s.db.NewTransactionAt(math.MaxUint64, false)
	defer txn.Discard()
	opts := badger.DefaultIteratorOptions
	opts.Prefix = metaKey(kind, 0)[:9]
	it := txn.NewIterator(opts)
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		item := it.Item()
		k := item.Key()
		if len(k) != 17 {
			return fmt.Errorf("sstable metadata key %x: %d bytes, want 17: %w", k, len(k), ErrCorruption)
		}
		v, err := item.ValueCopy(nil)
		if err != nil {
			return fmt.Errorf("sstable metadata %x: %w", k, err)
		}
		if err := fn(binary.BigEndian.Uint64(k[9:]), v); err != nil {
			return err
		}
	}
	return nil
}

// writeMetaLocked writes (or, for a nil value, deletes) a metadata key at
// one version above its newest one, deleted or not, and syncs. Caller holds
// metaMu.
func (s *Store) writeMetaLocked(key, value []byte) error {
	txn := s.db.NewTransactionAt(math.MaxUint64, false)
	opts := badger.DefaultIteratorOptions
	opts.AllVersions = true
	opts.PrefetchValues = false
	opts.Prefix = key
	it := txn.NewIterator(opts)
	var newest uint64
	if it.Seek(key); it.Valid() {
		newest = it.Item().Version()
	}
	it.Close()
	txn.Discard()

	if value == nil && newest == 0 {
		return nil // nothing to delete
	}
	wb := s.db.NewManagedWriteBatch()
	defer wb.Cancel()
	var err error
	if value == nil {
		err = wb.DeleteAt(key, newest+1)
	} else {
		err = wb.SetEntryAt(badger.NewEntry(key, value), newest+1)
	}
	if err == nil {
		err = wb.Flush()
	}
	if err == nil {
		err = s.db.Sync()
	}
	if err != nil {
		return fmt.Errorf("sstable metadata %x write: %w", key, err)
	}
	return nil
}
