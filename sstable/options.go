package sstable

import (
	"fmt"
	"runtime"

	badger "github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
)

// Options sizes the server's badger database. DefaultOptions gives the sizes
// for a server hosting many partitions; each field says why.
type Options struct {
	// Dir holds the badger files (LSM tables, memtable WALs, value log).
	Dir string

	// MemTableSizeBytes: badger memtables only absorb dumps (the memstore is
	// the write buffer and the clog the WAL), so 64 MiB per memtable turns a
	// few dumps into one L0 table. At least 32 MiB: badger caps one write batch
	// entry at 15% of it and a memstore value may be 4 MiB. A server scales the
	// default by its id, so that servers holding the same data do not compact
	// level 0 at the same moments (server.sstableOptions).
	MemTableSizeBytes int64
	// NumMemtables: 3 is one filling, one flushing and one spare for a burst
	// of dumps; more would only duplicate what the memstores already hold.
	NumMemtables int
	// NumLevelZeroTables / NumLevelZeroTablesStall: dumps of many partitions
	// come in bursts after a freeze wave; 8 and 20 let L0 absorb a burst
	// before compaction pressure stalls writes.
	NumLevelZeroTables      int
	NumLevelZeroTablesStall int
	// BlockCacheSizeBytes caches decompressed blocks for reads that miss the
	// memstores. 256 MiB is badger's default and the largest cache in the
	// server's storage budget (see docs/storage.md).
	BlockCacheSizeBytes int64
	// RowCacheBytes bounds the row cache: the newest dumped version of recently
	// read keys, which spares a read that misses the memstores the walk through
	// badger's tables (see rowCache). 0 turns it off.
	RowCacheBytes int64
	// IndexCacheSizeBytes bounds table indexes and bloom filters in memory.
	// Badger keeps them all in memory when 0, which grows with the data of
	// every partition; 64 MiB bounds it.
	IndexCacheSizeBytes int64
	// ValueLogFileSizeBytes: values below ValueThreshold (1 MiB, badger's
	// maximum) live in the LSM tree, so the value log only holds the rare
	// large value; 256 MiB files keep its preallocation small.
	ValueLogFileSizeBytes int64
	// NumCompactors: half the machine's cores, from 2 (compactor 0 prioritises
	// L0) to 4 (badger's default): fewer compactions at once on a small
	// machine (on a 2-core machine running three servers, four each competed
	// with the pollers during compaction bursts: docs/performance.md,
	// seventeenth session; not measured apart from that session's other
	// changes). It does not bound compaction's CPU: one compaction builds its
	// tables in parallel (subcompactions), and writes each through a memory
	// map, a page fault per page (eighteenth session).
	NumCompactors int
	// Logger receives badger's log lines (SlogLogger passes the ones an operator needs to a
	// slog.Logger); nil silences badger.
	Logger badger.Logger
}

// DefaultOptions returns the options for a server hosting many partitions.
func DefaultOptions(dir string) Options {
	return Options{
		Dir:                     dir,
		MemTableSizeBytes:       64 << 20,
		NumMemtables:            3,
		NumLevelZeroTables:      8,
		NumLevelZeroTablesStall: 20,
		BlockCacheSizeBytes:     192 << 20,
		IndexCacheSizeBytes:     64 << 20,
		RowCacheBytes:           64 << 20,
		ValueLogFileSizeBytes:   256 << 20,
		NumCompactors:           min(max(runtime.NumCPU()/2, 2), 4),
	}
}

// MemoryBudgetBytes is the most memory the store may hold with these options:
// badger's memtables, block cache and index cache, and the row cache.
func (o Options) MemoryBudgetBytes() int64 {
	return int64(o.NumMemtables)*o.MemTableSizeBytes + o.BlockCacheSizeBytes + o.IndexCacheSizeBytes + o.RowCacheBytes
}

// Validate rejects missing, zero and contradictory values.
func (o Options) Validate() error {
	switch {
	case o.Dir == "":
		return fmt.Errorf("sstable options: Dir is empty: %w", ErrInvalidArgument)
	case o.MemTableSizeBytes < 32<<20:
		return fmt.Errorf("sstable options: MemTableSizeBytes %d: must be at least 32 MiB so a 4 MiB value fits a badger batch: %w",
			o.MemTableSizeBytes, ErrInvalidArgument)
	case o.NumMemtables < 1:
		return fmt.Errorf("sstable options: NumMemtables %d: must be >= 1: %w", o.NumMemtables, ErrInvalidArgument)
	case o.NumLevelZeroTables < 1 || o.NumLevelZeroTablesStall <= o.NumLevelZeroTables:
		return fmt.Errorf("sstable options: NumLevelZeroTables %d, NumLevelZeroTablesStall %d: need 1 <= tables < stall: %w",
			o.NumLevelZeroTables, o.NumLevelZeroTablesStall, ErrInvalidArgument)
	case o.BlockCacheSizeBytes <= 0:
		return fmt.Errorf("sstable options: BlockCacheSizeBytes %d: must be > 0 (compressed blocks need a cache): %w",
			o.BlockCacheSizeBytes, ErrInvalidArgument)
	case o.RowCacheBytes < 0:
		return fmt.Errorf("sstable options: RowCacheBytes %d: must be >= 0: %w", o.RowCacheBytes, ErrInvalidArgument)
	case o.IndexCacheSizeBytes < 0:
		return fmt.Errorf("sstable options: IndexCacheSizeBytes %d: must be >= 0: %w", o.IndexCacheSizeBytes, ErrInvalidArgument)
	case o.ValueLogFileSizeBytes < 1<<20 || o.ValueLogFileSizeBytes >= 2<<30:
		return fmt.Errorf("sstable options: ValueLogFileSizeBytes %d: must be in [1 MiB, 2 GiB): %w",
			o.ValueLogFileSizeBytes, ErrInvalidArgument)
	case o.NumCompactors < 2:
		return fmt.Errorf("sstable options: NumCompactors %d: must be >= 2 (compactor 0 is reserved for L0): %w",
			o.NumCompactors, ErrInvalidArgument)
	}
	return nil
}

func (o Options) badger() badger.Options {
	return badger.DefaultOptions(o.Dir).
		WithMemTableSize(o.MemTableSizeBytes).
		WithNumMemtables(o.NumMemtables).
		WithNumLevelZeroTables(o.NumLevelZeroTables).
		WithNumLevelZeroTablesStall(o.NumLevelZeroTablesStall).
		WithBlockCacheSize(o.BlockCacheSizeBytes).
		WithIndexCacheSize(o.IndexCacheSizeBytes).
		WithValueLogFileSize(o.ValueLogFileSizeBytes).
		WithNumCompactors(o.NumCompactors).
		// Durability comes from explicit Syncs after dumps; the clog is the
		// WAL for everything not yet dumped.
		WithSyncWrites(false).
		// Managed mode has no badger transactions to conflict.
		WithDetectConflicts(false).
		// Keep only the newest version at or below the discard ts (the safe point).
		WithNumVersionsToKeep(1).
		// Invariant 6: nothing read from disk is trusted without its checksum.
		WithChecksumVerificationMode(options.OnBlockRead).
		WithVerifyValueChecksum(true).
		WithCompression(options.Snappy).
		WithMetricsEnabled(false).
		WithLogger(o.Logger)
}
