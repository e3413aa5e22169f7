package sstable

import (
	"bytes"
	"errors"
	"fmt"
	"math"

	badger "github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/ristretto/v2"
)

// rowCache holds the newest sstable version of recently read keys (OceanBase's row cache):
// a read that misses the memstores of a key whose newest dumped version is at or below the
// read's version is answered without walking badger's memtables and levels (~17 µs per read
// once hot keys have many versions in L0, measured: docs/performance.md).
//
// An entry is valid only while its partition's generation is the one it was read under. The
// generation moves when a dump ends (successful or not) and when the partition's data begins to
// be dropped or replaced (DropPartition, an import): the only ways the newest sstable version
// of a key changes. A dump's versions stay readable from its frozen memstore until it ends, so
// an entry read during a dump stays right until then; a reader that took the generation before
// the move stores an entry no lookup accepts.
type rowCache struct {
	c *ristretto.Cache[[]byte, *cachedRow]
}

// cachedRow is one key's newest version in the sstable, as read under generation gen.
type cachedRow struct {
	key     []byte // the data key, compared on every hit (the cache keys by hash)
	gen     uint64
	version uint64
	value   []byte
}

// rowOverheadBytes is what an entry costs beyond its key and value (struct, slice headers,
// ristretto's bookkeeping), for the cache's byte budget.
const rowOverheadBytes = 128

func newRowCache(maxBytes int64) (*rowCache, error) {
	if maxBytes == 0 {
		return nil, nil
	}
	// ristretto's guidance: ten counters per expected entry; rows here are ~300 bytes.
	c, err := ristretto.NewCache(&ristretto.Config[[]byte, *cachedRow]{
		NumCounters:        max(10*maxBytes/300, 1000),
		MaxCost:            maxBytes,
		BufferItems:        64,
		IgnoreInternalCost: true,
	})
	if err != nil {
		return nil, fmt.Errorf("sstable row cache: %w", err)
	}
	return &rowCache{c: c}, nil
}

func (rc *rowCache) close() {
	if rc != nil {
		rc.c.Close()
	}
}

// lookup returns the cached newest version of dk if it is valid under gen and at or below
// version.
func (rc *rowCache) lookup(dk []byte, gen, version uint64) ([]byte, bool) {
	if rc == nil {
		return nil, false
	}
	row, ok := rc.c.Get(dk)
	if !ok || row.gen != gen || row.version > version || !bytes.Equal(row.key, dk) {
		return nil, false
	}
	return row.value, true
}

func (rc *rowCache) store(dk []byte, gen, version uint64, value []byte) {
	if rc == nil {
		return
	}
	rc.c.Set(dk, &cachedRow{key: dk, gen: gen, version: version, value: value}, int64(len(dk)+len(value)+rowOverheadBytes))
}

// getCached reads key of partition at version through the row cache; gen is the partition's
// generation as readable returned it, before the read.
func (s *Store) getCached(partition uint64, key []byte, version, gen uint64) ([]byte, bool, error) {
	dk := dataKey(partition, key)
	if v, ok := s.rows.lookup(dk, gen, version); ok {
		return v, true, nil
	}
	if s.rows == nil {
		return s.get(partition, key, version)
	}
	// The newest version: cached whatever the read's version, the answer when at or below it.
	txn := s.db.NewTransactionAt(math.MaxUint64, false)
	item, err := txn.Get(dk)
	if err != nil {
		txn.Discard()
		if errors.Is(err, badger.ErrKeyNotFound) { // absent or deleted: the read decides at its version
			return s.get(partition, key, version)
		}
		return nil, false, fmt.Errorf("sstable get partition %d key %q at version %d: %w", partition, key, version, err)
	}
	newest := item.Version()
	v, err := item.ValueCopy(nil)
	txn.Discard()
	if err != nil {
		return nil, false, fmt.Errorf("sstable get partition %d key %q at version %d: %w", partition, key, version, err)
	}
	s.rows.store(dk, gen, newest, v)
	if newest <= version {
		return v, true, nil
	}
	return s.get(partition, key, version)
}
