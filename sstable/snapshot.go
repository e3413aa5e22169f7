package sstable

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"

	badger "github.com/dgraph-io/badger/v4"

	"obkv/memstore"
)

// Snapshot stream constants (format in the package doc).
const (
	snapshotMagic   = "OBKVSNAP"
	snapshotFormat  = 1
	headerBytes     = 8 + 4 + 4 + 8 + 8 + 8 + 4
	frameHeadBytes  = 1 + 4 + 4
	frameBatch      = 'B'
	frameEnd        = 'E'
	endPayloadBytes = 16
	// MaxFrameBytes bounds a frame payload; a reader refuses a larger length
	// before allocating (a corrupt length must not exhaust memory). One entry
	// at the memstore's key and value limits fits.
	MaxFrameBytes = 8 << 20
)

// frameTargetBytes: a batch frame is cut once its payload passes 1 MiB, so a
// reader buffers little and a corrupt frame loses little. A variable so tests
// can make many frames from little data.
var frameTargetBytes = 1 << 20

// exportPrefetch is how many values an export's iterator reads ahead: at the 4 MiB
// value limit, 16 MiB.
const exportPrefetch = 4

// SnapshotInfo describes a snapshot stream.
type SnapshotInfo struct {
	// SourcePartition is the partition id it was exported from.
	SourcePartition uint64
	// Checkpoint is the source's checkpoint: the stream holds every live key
	// at its newest version <= Checkpoint.Version, and log replay resumes
	// after Checkpoint.Index.
	Checkpoint Checkpoint
	Entries    uint64
	Frames     uint64
}

// ExportSnapshot writes the partition's sstable at its checkpoint version to
// w, in the format of the package doc, with one badger iterator under the
// partition prefix. It fails with ErrNoCheckpoint when the partition has no
// checkpoint.
//
// The stream reads at the checkpoint version or, when version GC has moved the
// safe point past it, at the safe point: the partition's data holds nothing
// above its checkpoint version, so both read the same rows, and below the safe
// point badger may already have dropped the versions a read needs. The caller
// keeps Dumps of the partition out until the export ends (a Dump writes data
// above the checkpoint before it moves the checkpoint).
func (s *Store) ExportSnapshot(ctx context.Context, partition uint64, w io.Writer) (SnapshotInfo, error) {
	if err := checkPartition("export", partition); err != nil {
		return SnapshotInfo{}, err
	}
	cp, ok, err := s.checkpoint(partition)
	if err != nil {
		return SnapshotInfo{}, err
	}
	if !ok {
		return SnapshotInfo{}, fmt.Errorf("sstable export partition %d: %w", partition, ErrNoCheckpoint)
	}
	at := max(cp.Version, s.SafePoint())
	if _, err := s.readable("export", partition, at); err != nil {
		return SnapshotInfo{}, err
	}
	info := SnapshotInfo{SourcePartition: partition, Checkpoint: cp}
	bw := bufio.NewWriterSize(w, 256<<10)
	if _, err := bw.Write(encodeHeader(info)); err != nil {
		return info, fmt.Errorf("sstable export partition %d: header: %w", partition, err)
	}

	var payload []byte
	flush := func() error {
		if len(payload) == 0 {
			return nil
		}
		err := writeFrame(bw, frameBatch, uint32(info.Frames), payload)
		info.Frames++
		payload = payload[:0]
		return err
	}
	// One iterator, in key order: the export holds one frame and the iterator's few
	// prefetched values. badger's Stream read ranges in parallel into 32 MiB buffers and
	// queued up to 32 of them for a slower writer: exporting a partition of 128 values of
	// 1 MiB grew the heap by 600-800 MiB (BenchmarkExportLargeValues), on a leader that
	// streams snapshots while it serves writes. The follower's import, not this read, sets
	// a snapshot's pace.
	txn := s.db.NewTransactionAt(at, false)
	defer txn.Discard()
	opts := badger.DefaultIteratorOptions
	opts.Prefix = partitionPrefix(partition)
	opts.PrefetchSize = exportPrefetch
	it := txn.NewIterator(opts)
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		if err = ctx.Err(); err != nil {
			break
		}
		item := it.Item()
		key := item.Key()
		if len(key) <= 8 {
			continue
		}
		if err = item.Value(func(v []byte) error {
			payload = appendEntry(payload, key[8:], item.Version(), v)
			return nil
		}); err != nil {
			break
		}
		info.Entries++
		if len(payload) >= frameTargetBytes {
			if err = flush(); err != nil {
				break
			}
		}
	}
	if err != nil {
		return info, fmt.Errorf("sstable export partition %d at version %d: %w", partition, at, err)
	}
	err = flush()
	if err == nil {
		end := binary.BigEndian.AppendUint64(make([]byte, 0, endPayloadBytes), info.Entries)
		end = binary.BigEndian.AppendUint64(end, info.Frames)
		err = writeFrame(bw, frameEnd, uint32(info.Frames), end)
	}
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		return info, fmt.Errorf("sstable export partition %d: %w", partition, err)
	}
	return info, nil
}

func encodeHeader(info SnapshotInfo) []byte {
	b := make([]byte, 0, headerBytes)
	b = append(b, snapshotMagic...)
	b = binary.BigEndian.AppendUint32(b, snapshotFormat)
	b = binary.BigEndian.AppendUint32(b, 0) // flags
	b = binary.BigEndian.AppendUint64(b, info.SourcePartition)
	b = binary.BigEndian.AppendUint64(b, info.Checkpoint.Index)
	b = binary.BigEndian.AppendUint64(b, info.Checkpoint.Version)
	return sealed(b)
}

func appendEntry(b, key []byte, version uint64, value []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(key)))
	b = append(b, key...)
	b = binary.BigEndian.AppendUint64(b, version)
	b = binary.BigEndian.AppendUint32(b, uint32(len(value)))
	return append(b, value...)
}

func writeFrame(w io.Writer, kind byte, seq uint32, payload []byte) error {
	head := make([]byte, 0, frameHeadBytes)
	head = append(head, kind)
	head = binary.BigEndian.AppendUint32(head, seq)
	head = binary.BigEndian.AppendUint32(head, uint32(len(payload)))
	sum := crc32.Update(crc32.Checksum(head, castagnoli), castagnoli, payload)
	if _, err := w.Write(head); err != nil {
		return err
	}
	if _, err := w.Write(payload); err != nil {
		return err
	}
	_, err := w.Write(binary.BigEndian.AppendUint32(nil, sum))
	return err
}

// corrupt wraps a stream defect: a checksum mismatch, a malformed field or a
// truncation (io.EOF and io.ErrUnexpectedEOF inside the stream).
func corrupt(format string, args ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), ErrCorruption)
}

func readFull(r io.Reader, b []byte, what string) error {
	if _, err := io.ReadFull(r, b); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return corrupt("snapshot truncated in the %s", what)
		}
		return fmt.Errorf("snapshot read %s: %w", what, err)
	}
	return nil
}

func readHeader(r io.Reader) (SnapshotInfo, error) {
	b := make([]byte, headerBytes)
	if err := readFull(r, b, "header"); err != nil {
		return SnapshotInfo{}, err
	}
	if string(b[:8]) != snapshotMagic {
		return SnapshotInfo{}, corrupt("snapshot header: magic %q, want %q", b[:8], snapshotMagic)
	}
	body, err := unseal("snapshot header", b, headerBytes-4)
	if err != nil {
		return SnapshotInfo{}, err
	}
	if f := binary.BigEndian.Uint32(body[8:]); f != snapshotFormat {
		return SnapshotInfo{}, corrupt("snapshot header: format %d, this build reads format %d", f, snapshotFormat)
	}
	if fl := binary.BigEndian.Uint32(body[12:]); fl != 0 {
		return SnapshotInfo{}, corrupt("snapshot header: flags %#x, want 0", fl)
	}
	return SnapshotInfo{
		SourcePartition: binary.BigEndian.Uint64(body[16:]),
		Checkpoint: Checkpoint{
			Index:   binary.BigEndian.Uint64(body[24:]),
			Version: binary.BigEndian.Uint64(body[32:]),
		},
	}, nil
}

// readFrame reads and verifies frame seq; the payload is freshly allocated.
func readFrame(r io.Reader, seq uint32) (kind byte, payload []byte, err error) {
	head := make([]byte, frameHeadBytes)
	if err := readFull(r, head, fmt.Sprintf("head of frame %d", seq)); err != nil {
		return 0, nil, err
	}
	kind, got, n := head[0], binary.BigEndian.Uint32(head[1:]), binary.BigEndian.Uint32(head[5:])
	if n > MaxFrameBytes {
		return 0, nil, corrupt("snapshot frame %d: length %d above the %d-byte limit", seq, n, MaxFrameBytes)
	}
	payload = make([]byte, n+4)
	if err := readFull(r, payload, fmt.Sprintf("payload of frame %d", seq)); err != nil {
		return 0, nil, err
	}
	payload, trailer := payload[:n], payload[n:]
	sum := crc32.Update(crc32.Checksum(head, castagnoli), castagnoli, payload)
	if want := binary.BigEndian.Uint32(trailer); want != sum {
		return 0, nil, corrupt("snapshot frame %d: crc32c %08x, computed %08x", seq, want, sum)
	}
	if got != seq {
		return 0, nil, corrupt("snapshot frame: sequence %d, want %d (a frame is missing or repeated)", got, seq)
	}
	if kind != frameBatch && kind != frameEnd {
		return 0, nil, corrupt("snapshot frame %d: kind %q, want 'B' or 'E'", seq, kind)
	}
	return kind, payload, nil
}

// ImportSnapshot replaces the partition's data and checkpoint with the
// snapshot read from r. Every frame's checksum is verified before its entries
// are written; a corrupt or truncated stream fails with ErrCorruption. A
// stream refused at its header leaves the partition untouched; one refused
// later leaves it empty (no data, no checkpoint), never half-imported, and
// refuses its reads and dumps until an import succeeds or it is dropped. The partition is not
// readable while the import runs (ErrImporting), and after it reads below the
// snapshot version are refused (ErrVersionTooOld). A crash during the import
// leaves a marker that makes Open drop the partition.
func (s *Store) ImportSnapshot(ctx context.Context, partition uint64, r io.Reader) (SnapshotInfo, error) {
	if err := checkPartition("import", partition); err != nil {
		return SnapshotInfo{}, err
	}
	br := bufio.NewReaderSize(r, 256<<10)
	info, err := readHeader(br)
	if err != nil {
		// Nothing was touched yet.
		return info, fmt.Errorf("sstable import partition %d: %w", partition, err)
	}

	s.mu.Lock()
	if s.parts[partition].importing {
		s.mu.Unlock()
		return info, fmt.Errorf("sstable import partition %d: %w", partition, ErrImporting)
	}
	s.parts[partition] = partState{importing: true}
	s.drops[partition]++
	s.rowGen[partition]++
	s.mu.Unlock()

	// metaMu is held around the metadata steps only, not while the stream is
	// read: a slow transfer must not hold up other partitions' checkpoints.
	// The importing flag keeps Dump and DropPartition of this partition out.
	s.metaMu.Lock()
	err = s.writeMetaLocked(metaKey(metaImport, partition), encodeUint64(info.Checkpoint.Index))
	if err == nil {
		err = s.dropLocked(partition)
	}
	s.metaMu.Unlock()
	if err == nil {
		err = s.importFrames(ctx, partition, br, &info)
	}

	s.metaMu.Lock()
	defer s.metaMu.Unlock()
	if err == nil {
		err = s.writeMetaLocked(metaKey(metaCheckpoint, partition),
			checkpointRecord{Checkpoint: info.Checkpoint, Floor: info.Checkpoint.Version}.encode())
	}
	if err != nil {
		// Leave nothing half-imported: no checkpoint, no data. The marker
		// goes last, so a crash in between is finished by Open.
		cleanup := s.dropLocked(partition)
		if cleanup == nil {
			cleanup = s.writeMetaLocked(metaKey(metaImport, partition), nil)
		}
		s.mu.Lock()
		s.parts[partition] = partState{emptied: true}
		s.mu.Unlock()
		return info, errors.Join(fmt.Errorf("sstable import partition %d from partition %d: %w",
			partition, info.SourcePartition, err), cleanup)
	}
	err = s.writeMetaLocked(metaKey(metaImport, partition), nil)
	s.mu.Lock()
	s.parts[partition] = partState{floor: info.Checkpoint.Version}
	s.mu.Unlock()
	return info, err
}

// importFrames writes the entries of every batch frame, verifies the end
// frame, and makes the data durable.
func (s *Store) importFrames(ctx context.Context, partition uint64, r io.Reader, info *SnapshotInfo) error {
	for seq := uint32(0); ; seq++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		kind, payload, err := readFrame(r, seq)
		if err != nil {
			return err
		}
		if kind == frameEnd {
			if len(payload) != endPayloadBytes {
				return corrupt("snapshot end frame: %d bytes, want %d", len(payload), endPayloadBytes)
			}
			entries, frames := binary.BigEndian.Uint64(payload), binary.BigEndian.Uint64(payload[8:])
			if entries != info.Entries || frames != info.Frames {
				return corrupt("snapshot end frame: counts %d entries in %d frames, read %d in %d",
					entries, frames, info.Entries, info.Frames)
			}
			return s.db.Sync()
		}
		// One batch per frame: a drop of another partition waits for a frame, not for the
		// whole transfer. The payload is fresh per frame and the batch keeps references to it.
		err = s.writeData(func(wb *badger.WriteBatch) error {
			for p := payload; len(p) > 0; {
				key, version, value, rest, err := decodeEntry(p, info.Checkpoint.Version)
				if err != nil {
					return fmt.Errorf("frame %d entry %d: %w", seq, info.Entries, err)
				}
				p = rest
				if err := wb.SetEntryAt(badger.NewEntry(dataKey(partition, key), value), version); err != nil {
					return err
				}
				info.Entries++
			}
			return nil
		})
		if err != nil {
			return err
		}
		info.Frames++
	}
}

func decodeEntry(p []byte, maxVersion uint64) (key []byte, version uint64, value, rest []byte, err error) {
	if len(p) < 4 {
		return nil, 0, nil, nil, corrupt("snapshot entry: %d bytes left, want a 4-byte key length", len(p))
	}
	kl := binary.BigEndian.Uint32(p)
	if kl == 0 || kl > memstore.MaxKeyBytes || uint64(len(p)) < 4+uint64(kl)+8+4 {
		return nil, 0, nil, nil, corrupt("snapshot entry: key length %d with %d bytes left", kl, len(p))
	}
	key, p = p[4:4+kl], p[4+kl:]
	version, p = binary.BigEndian.Uint64(p), p[8:]
	vl := binary.BigEndian.Uint32(p)
	p = p[4:]
	if vl > memstore.MaxValueBytes || uint64(len(p)) < uint64(vl) {
		return nil, 0, nil, nil, corrupt("snapshot entry key %q: value length %d with %d bytes left", key, vl, len(p))
	}
	if version == 0 || version > maxVersion {
		return nil, 0, nil, nil, corrupt("snapshot entry key %q: version %d outside [1, %d]", key, version, maxVersion)
	}
	return key, version, p[:vl], p[vl:], nil
}
