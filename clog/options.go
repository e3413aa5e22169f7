package clog

import (
	"errors"
	"fmt"
	"time"
)

// Sentinel errors. Errors returned by the package wrap one of them (test
// with errors.Is) and name the subject and the rule.
var (
	// ErrCorruption: bytes on disk failed a checksum or a structural check
	// somewhere other than a torn tail. Open refuses the log; reads return it.
	ErrCorruption = errors.New("clog: corruption")
	// ErrFailed: a write or an fdatasync failed; the log refuses every later
	// write (see the package doc). Close it and Open it again.
	ErrFailed = errors.New("clog: log failed")
	// ErrClosed: the log was closed.
	ErrClosed = errors.New("clog: log closed")
	// ErrInvalid: an update breaks the per-partition rules (package doc).
	ErrInvalid = errors.New("clog: invalid update")
	// ErrTooLarge: a record, a Save or the number of partitions exceeds its
	// limit in Options.
	ErrTooLarge = errors.New("clog: over limit")
	// ErrCompacted: the requested entries were compacted away.
	ErrCompacted = errors.New("clog: entries compacted")
	// ErrUnavailable: the requested entries are beyond the last one.
	ErrUnavailable = errors.New("clog: entries unavailable")
	// ErrOptions: Options.Validate rejected the options.
	ErrOptions = errors.New("clog: invalid options")
)

// Options configure a Log. Start from DefaultOptions; Validate rejects zero
// and contradictory values.
type Options struct {
	// FS is the file system the log lives on.
	FS FS
	// SegmentBytes is the size segment files are preallocated to. It must
	// hold a segment header, the largest snapshot batch (MaxPartitions meta
	// records with MaxStateBytes of state each) and one batch of
	// MaxBatchBytes.
	SegmentBytes int64
	// MaxBatchBytes bounds the bytes of one write (batch header plus
	// records), and so the bytes of one Save call.
	MaxBatchBytes int
	// MaxRecordBytes bounds one record (9-byte header plus payload; an
	// entry's payload is 24 bytes plus its Data).
	MaxRecordBytes int
	// MaxStateBytes bounds a partition's hard state.
	MaxStateBytes int
	// MaxPartitions bounds how many partitions the log holds.
	MaxPartitions int
	// GatherWait is how long a write may wait for updates of more partitions when the last
	// write held several (see gather); 0 never waits.
	GatherWait time.Duration
	// SlowWrite and OnSlowWrite report slow disks: after a batch whose write and fdatasync
	// took at least SlowWrite, the writer calls OnSlowWrite with the time and the batch's
	// bytes, holding no lock of the log (it must not call the log). Zero or nil: no report.
	SlowWrite   time.Duration
	OnSlowWrite func(took time.Duration, bytes int)
}

// DefaultOptions returns the options for a server: the OS file system,
// 64 MiB segments, 4 MiB batches, 1 MiB records, 1 KiB hard states, 4096
// partitions.
func DefaultOptions() Options {
	return Options{
		FS:             OSFS{},
		SegmentBytes:   64 << 20,
		MaxBatchBytes:  4 << 20,
		MaxRecordBytes: 1 << 20,
		MaxStateBytes:  1 << 10,
		MaxPartitions:  4096,
		GatherWait:     200 * time.Microsecond,
	}
}

// FitEntries raises MaxRecordBytes, and MaxBatchBytes with it, so that one entry of
// dataBytes of Data fits a record and a batch. SegmentBytes must then hold such a batch
// (Validate).
func (o *Options) FitEntries(dataBytes int) {
	o.MaxRecordBytes = max(o.MaxRecordBytes, recordSize(kindEntry, dataBytes))
	o.MaxBatchBytes = max(o.MaxBatchBytes, batchHeaderSize+o.MaxRecordBytes)
}

// Limits of the format: offsets and lengths are 32-bit.
const (
	maxSegmentBytes = 1 << 31
	maxBatchBytes   = 1 << 30
)

// maxSnapshotBytes is the largest snapshot batch the options allow.
func (o Options) maxSnapshotBytes() int64 {
	return batchHeaderSize + int64(o.MaxPartitions)*int64(recordHeaderSize+metaFixed+o.MaxStateBytes)
}

// Validate reports the first option that is zero, out of range or
// contradicts another, wrapping ErrOptions.
func (o Options) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrOptions}, args...)...)
	}
	switch {
	case o.FS == nil:
		return bad("FS is nil")
	case o.MaxStateBytes <= 0:
		return bad("MaxStateBytes %d must be positive", o.MaxStateBytes)
	case o.MaxPartitions <= 0:
		return bad("MaxPartitions %d must be positive", o.MaxPartitions)
	case o.MaxRecordBytes < recordHeaderSize+entryFixed+1:
		return bad("MaxRecordBytes %d must be at least %d", o.MaxRecordBytes, recordHeaderSize+entryFixed+1)
	case o.MaxRecordBytes < recordHeaderSize+stateFixed+o.MaxStateBytes:
		return bad("MaxRecordBytes %d must hold a state record of MaxStateBytes %d (%d bytes)",
			o.MaxRecordBytes, o.MaxStateBytes, recordHeaderSize+stateFixed+o.MaxStateBytes)
	case o.MaxBatchBytes > maxBatchBytes:
		return bad("MaxBatchBytes %d exceeds the format's limit %d", o.MaxBatchBytes, maxBatchBytes)
	case o.MaxBatchBytes < batchHeaderSize+o.MaxRecordBytes:
		return bad("MaxBatchBytes %d must hold a batch header and a record of MaxRecordBytes %d",
			o.MaxBatchBytes, o.MaxRecordBytes)
	case o.SegmentBytes > maxSegmentBytes:
		return bad("SegmentBytes %d exceeds the format's limit %d", o.SegmentBytes, int64(maxSegmentBytes))
	}
	if need := segmentHeaderSize + o.maxSnapshotBytes() + int64(o.MaxBatchBytes); o.SegmentBytes < need {
		return bad("SegmentBytes %d must hold a header, a snapshot of MaxPartitions %d and a batch of MaxBatchBytes %d (%d bytes)",
			o.SegmentBytes, o.MaxPartitions, o.MaxBatchBytes, need)
	}
	return nil
}
