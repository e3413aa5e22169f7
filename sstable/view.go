package sstable

import (
	"bytes"
	"context"
	"fmt"

	badger "github.com/dgraph-io/badger/v4"

	"obkv/memstore"
)

// View reads one partition at a version, merging its memstore tables over the
// sstable. It holds no resources and may be used concurrently.
type View struct {
	s         *Store
	partition uint64
	// tables, newest first. Invariant (memstore layering): for any key, every
	// version in tables[i] is above every version in tables[i+1] and in the
	// sstable.
	tables []*memstore.Table
}

// View returns a read view of partition over tables, newest first: the active
// table, then the frozen ones not yet dumped (a table being dumped may stay:
// its entries are identical in both places).
func (s *Store) View(partition uint64, tables ...*memstore.Table) *View {
	return &View{s: s, partition: partition, tables: tables}
}

// Get returns the value of key at version: from the newest table holding an
// entry of key at or below version, else from the sstable. A tombstone hides
// the key. The value may alias a memstore table: do not modify it.
func (v *View) Get(key []byte, version uint64) (value []byte, found bool, err error) {
	gen, err := v.s.readable("get", v.partition, version)
	if err != nil {
		return nil, false, err
	}
	for _, t := range v.tables {
		if e, ok := t.Get(key, version); ok {
			if e.Tombstone {
				return nil, false, nil
			}
			return e.Value, true, nil
		}
	}
	value, found, err = v.s.getCached(v.partition, key, version, gen.rows)
	if err == nil {
		err = v.s.unchanged("get", v.partition, gen.drops)
	}
	return value, found, err
}

// Scan calls fn, in key order, with each key of [start, end) visible at
// version and its value, tombstoned keys skipped; nil start and end are
// unbounded. key and value are valid only during the call. It stops when fn
// returns false or ctx is done (returning ctx's error).
func (v *View) Scan(ctx context.Context, start, end []byte, version uint64, fn func(key, value []byte) bool) (err error) {
	gen, err := v.s.readable("scan", v.partition, version)
	if err != nil {
		return err
	}
	// Rows already passed to fn when the partition's data is found dropped at the end are
	// not taken back: the scan fails, and its caller drops what it collected.
	defer func() {
		if err == nil {
			err = v.s.unchanged("scan", v.partition, gen.drops)
		}
	}()
	mems := make([]*memstore.Iterator, len(v.tables))
	for i, t := range v.tables {
		mems[i] = t.NewIterator(start, end, version)
	}

	txn := v.s.db.NewTransactionAt(version, false)
	defer txn.Discard()
	opts := badger.DefaultIteratorOptions
	opts.Prefix = partitionPrefix(v.partition)
	opts.PrefetchValues = false // values are inline in the LSM tree
	bit := txn.NewIterator(opts)
	defer bit.Close()
	bit.Seek(dataKey(v.partition, start))
	// diskKey returns the sstable iterator's user key, or nil when exhausted.
	diskKey := func() []byte {
		if !bit.Valid() {
			return nil
		}
		k := bit.Item().Key()[8:]
		if end != nil && bytes.Compare(k, end) >= 0 {
			return nil
		}
		return k
	}

	var keyBuf, valBuf []byte // reused: key and value are valid only during fn
	for n := 0; ; n++ {
		if n%256 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		// The smallest current key; on ties the newest source wins.
		var min []byte
		winner := -1 // index into mems; len(mems) is the sstable
		for i, it := range mems {
			if !it.Valid() {
				continue
			}
			if k := it.Entry().Key; min == nil || bytes.Compare(k, min) < 0 {
				min, winner = k, i
			}
		}
		if dk := diskKey(); dk != nil && (min == nil || bytes.Compare(dk, min) < 0) {
			min, winner = dk, len(mems)
		}
		if winner < 0 {
			return nil
		}
		var value []byte
		live := true
		if winner < len(mems) {
			e := mems[winner].Entry()
			value, live = e.Value, !e.Tombstone
		} else {
			var err error
			if valBuf, err = bit.Item().ValueCopy(valBuf[:0]); err != nil {
				return fmt.Errorf("sstable scan partition %d at version %d key %q: %w", v.partition, version, min, err)
			}
			value = valBuf
		}
		if live && !fn(min, value) {
			return nil
		}
		// Step every source past min (min may alias one of them: copy it).
		keyBuf = append(keyBuf[:0], min...)
		key := keyBuf
		for _, it := range mems {
			if it.Valid() && bytes.Equal(it.Entry().Key, key) {
				it.Next()
			}
		}
		if dk := diskKey(); dk != nil && bytes.Equal(dk, key) {
			bit.Next()
		}
	}
}
