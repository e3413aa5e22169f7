package sstable

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"obkv/memstore"
)

// sourceStore holds partition 1 with overwrites, deletes, and writes above
// the checkpoint still in memory.
func sourceStore(t *testing.T) (*Store, *memstore.Table) {
	t.Helper()
	s := newStore(t)
	var ops []op
	for i := 0; i < 200; i++ {
		ops = append(ops, op{key: fmt.Sprintf("k%03d", i), value: fmt.Sprintf("first-%d", i), version: uint64(i + 1)})
	}
	dump(t, s, 1, frozen(t, 0, ops...), 10, 200)
	dump(t, s, 1, frozen(t, 200,
		op{key: "k000", value: "second", version: 201},
		op{key: "k001", version: 202, del: true},
		op{key: "new", value: "n", version: 203},
	), 20, 203)
	active := table(t, 203, op{key: "k002", value: "in-memory", version: 204})
	return s, active
}

func export(t *testing.T, s *Store, p uint64) ([]byte, SnapshotInfo) {
	t.Helper()
	var buf bytes.Buffer
	info, err := s.ExportSnapshot(context.Background(), p, &buf)
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), info
}

func withSmallFrames(t *testing.T) {
	old := frameTargetBytes
	frameTargetBytes = 512
	t.Cleanup(func() { frameTargetBytes = old })
}

func TestSnapshotRoundTrip(t *testing.T) {
	withSmallFrames(t)
	src, _ := sourceStore(t)
	snap, info := export(t, src, 1)
	if info.Checkpoint != (Checkpoint{Index: 20, Version: 203}) || info.Entries != 200 || info.Frames < 3 {
		t.Fatalf("export info = %+v, want checkpoint {20 203}, 200 entries (k001 deleted), several frames", info)
	}
	want := scanView(t, src.View(1), "", "", 203)

	for _, target := range []uint64{1, 7} { // the same id and another one
		t.Run(fmt.Sprint("into partition ", target), func(t *testing.T) {
			dst := newStore(t)
			// The target partition had other data: an import replaces it.
			dump(t, dst, target, frozen(t, 0, op{key: "stale", value: "s", version: 500}), 99, 500)
			got, err := dst.ImportSnapshot(context.Background(), target, bytes.NewReader(snap))
			if err != nil {
				t.Fatal(err)
			}
			if got.Checkpoint != info.Checkpoint || got.Entries != info.Entries || got.Frames != info.Frames || got.SourcePartition != 1 {
				t.Fatalf("import info = %+v, export info = %+v", got, info)
			}
			if cp := checkpointOf(t, dst, target); cp != "index 20 version 203" {
				t.Fatalf("checkpoint after import = %s", cp)
			}
			if rows := scanView(t, dst.View(target), "", "", 203); fmt.Sprint(rows) != fmt.Sprint(want) {
				t.Fatalf("imported scan differs:\n got %v\nwant %v", rows, want)
			}
			if v := readView(t, dst.View(target), "k000", 1000); v != "second" {
				t.Fatalf("Get(k000) = %s, want second", v)
			}
			// Versions survive: k005 was written at 6, so it is visible from 6.
			// Reads below the snapshot version are refused: history is not shipped.
			if _, _, err := dst.View(target).Get([]byte("k005"), 202); !errors.Is(err, ErrVersionTooOld) {
				t.Fatalf("Get below the snapshot version: %v, want ErrVersionTooOld", err)
			}
			// Log replay continues above the checkpoint in a new memstore.
			act := table(t, 203, op{key: "k002", value: "replayed", version: 204})
			if v := readView(t, dst.View(target, act), "k002", 204); v != "replayed" {
				t.Fatalf("Get(k002) after replay = %s", v)
			}
			// The floor survives a restart.
		})
	}
}

func TestSnapshotFloorSurvivesRestart(t *testing.T) {
	src, _ := sourceStore(t)
	snap, _ := export(t, src, 1)
	dir := t.TempDir()
	dst := openStore(t, dir)
	if _, err := dst.ImportSnapshot(context.Background(), 3, bytes.NewReader(snap)); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
	dst = openStore(t, dir)
	defer dst.Close()
	if _, _, err := dst.View(3).Get([]byte("k005"), 100); !errors.Is(err, ErrVersionTooOld) {
		t.Fatalf("Get below the snapshot version after restart: %v, want ErrVersionTooOld", err)
	}
	if v := readView(t, dst.View(3), "k005", 203); v != "first-5" {
		t.Fatalf("Get(k005, 203) after restart = %s", v)
	}
}

func TestExportWithoutCheckpoint(t *testing.T) {
	s := newStore(t)
	if _, err := s.ExportSnapshot(context.Background(), 5, io.Discard); !errors.Is(err, ErrNoCheckpoint) {
		t.Fatalf("export of a partition without checkpoint: %v, want ErrNoCheckpoint", err)
	}
}

// assertEmpty: no checkpoint and no data in the partition.
func assertEmpty(t *testing.T, s *Store, p uint64) {
	t.Helper()
	if cp := checkpointOf(t, s, p); cp != "none" {
		t.Fatalf("partition %d checkpoint = %s after a failed import, want none", p, cp)
	}
	if vs := allVersions(t, s, p); len(vs) != 0 {
		t.Fatalf("partition %d holds %d keys after a failed import, want none", p, len(vs))
	}
}

// TestImportRefusesCorruption flips one byte at many offsets (header, frame
// heads, payloads, checksums, end frame) and truncates at many lengths; each
// import must fail with ErrCorruption and leave the partition empty.
func TestImportRefusesCorruption(t *testing.T) {
	withSmallFrames(t)
	src, _ := sourceStore(t)
	snap, _ := export(t, src, 1)
	dst := newStore(t)

	try := func(name string, stream []byte) {
		t.Helper()
		// Give the partition data first: a failed import must not leave it either. (After a
		// failed import only a drop or an import lets it take a dump again.)
		if err := dst.DropPartition(context.Background(), 2); err != nil {
			t.Fatal(err)
		}
		dump(t, dst, 2, frozen(t, 0, op{key: "old", value: "o", version: 1}), 1, 1)
		_, err := dst.ImportSnapshot(context.Background(), 2, bytes.NewReader(stream))
		if !errors.Is(err, ErrCorruption) {
			t.Fatalf("%s: import error = %v, want ErrCorruption", name, err)
		}
		if len(stream) < headerBytes || !bytes.Equal(stream[:headerBytes], snap[:headerBytes]) {
			// Refused at the header: the partition was not touched.
			if cp := checkpointOf(t, dst, 2); cp != "index 1 version 1" {
				t.Fatalf("%s: checkpoint = %s after a refused header, want the old one", name, cp)
			}
			return
		}
		assertEmpty(t, dst, 2)
	}
	step := len(snap) / 40
	for off := 0; off < len(snap); off += step {
		b := bytes.Clone(snap)
		b[off] ^= 0x40
		try(fmt.Sprintf("byte %d of %d flipped", off, len(snap)), b)
	}
	try("last byte flipped", func() []byte { b := bytes.Clone(snap); b[len(b)-1] ^= 1; return b }())
	for _, n := range []int{0, 10, headerBytes, headerBytes + 3, headerBytes + frameHeadBytes + 10, len(snap) / 2, len(snap) - 30, len(snap) - 1} {
		try(fmt.Sprintf("truncated to %d of %d bytes", n, len(snap)), snap[:n])
	}
	// A whole frame removed: every checksum is right, the sequence is not.
	first := headerBytes
	flen := int(binary.BigEndian.Uint32(snap[first+5:]))
	second := first + frameHeadBytes + flen + 4
	try("first frame removed", append(bytes.Clone(snap[:first]), snap[second:]...))
	try("first frame repeated", append(bytes.Clone(snap[:second]), snap[first:]...))

	// A well-formed stream of another format is refused by its header.
	b := bytes.Clone(snap)
	binary.BigEndian.PutUint32(b[8:], 2)
	copy(b[headerBytes-4:], sealed(b[:headerBytes-4])[headerBytes-4:])
	if _, err := dst.ImportSnapshot(context.Background(), 2, bytes.NewReader(b)); !errors.Is(err, ErrCorruption) ||
		!bytes.Contains([]byte(err.Error()), []byte("format 2")) {
		t.Fatalf("import of format 2: %v, want ErrCorruption naming the format", err)
	}
	// The intact stream still imports.
	if _, err := dst.ImportSnapshot(context.Background(), 2, bytes.NewReader(snap)); err != nil {
		t.Fatal(err)
	}
}

// blockingReader serves data, then waits for release and fails.
type blockingReader struct {
	data    []byte
	reached chan struct{}
	release chan struct{}
}

func (r *blockingReader) Read(p []byte) (int, error) {
	if len(r.data) > 0 {
		n := copy(p, r.data)
		r.data = r.data[n:]
		return n, nil
	}
	close(r.reached)
	<-r.release
	return 0, errors.New("connection reset")
}

// TestImportInvisibleUntilDone: while an import runs the partition refuses
// reads; a transport failure mid-stream leaves it empty, refusing reads and
// dumps until the next import.
func TestImportInvisibleUntilDone(t *testing.T) {
	withSmallFrames(t)
	src, _ := sourceStore(t)
	snap, _ := export(t, src, 1)
	dst := newStore(t)
	r := &blockingReader{data: snap[:len(snap)/2], reached: make(chan struct{}), release: make(chan struct{})}
	done := make(chan error, 1)
	go func() {
		_, err := dst.ImportSnapshot(context.Background(), 4, r)
		done <- err
	}()
	<-r.reached // half the stream is in (bufio reads ahead of the writes, so wait for the reader)
	if _, _, err := dst.View(4).Get([]byte("k000"), 1000); !errors.Is(err, ErrImporting) {
		t.Fatalf("Get during import: %v, want ErrImporting", err)
	}
	if err := dst.Dump(context.Background(), 4, frozen(t, 0), Checkpoint{1, 1}); !errors.Is(err, ErrImporting) {
		t.Fatalf("Dump during import: %v, want ErrImporting", err)
	}
	if err := dst.DropPartition(context.Background(), 4); !errors.Is(err, ErrImporting) {
		t.Fatalf("DropPartition during import: %v, want ErrImporting", err)
	}
	// Other partitions' dumps and checkpoints proceed while the stream is stalled.
	dump(t, dst, 5, frozen(t, 0, op{key: "other", value: "o", version: 1}), 1, 1)
	close(r.release)
	err := <-done
	if err == nil || errors.Is(err, ErrCorruption) {
		t.Fatalf("import over a failing transport: %v, want the transport error", err)
	}
	assertEmpty(t, dst, 4)
	// The partition holds nothing now: it must not answer reads as if it held its data
	// ("not found"), nor record a checkpoint over data it lacks, until an import succeeds.
	if _, _, err := dst.View(4).Get([]byte("k000"), 1000); !errors.Is(err, ErrImporting) {
		t.Fatalf("Get after a failed import: %v, want ErrImporting", err)
	}
	if err := dst.Dump(context.Background(), 4, frozen(t, 0), Checkpoint{1, 1}); !errors.Is(err, ErrImporting) {
		t.Fatalf("Dump after a failed import: %v, want ErrImporting", err)
	}
	if _, err := dst.ImportSnapshot(context.Background(), 4, bytes.NewReader(snap)); err != nil {
		t.Fatal(err)
	}
	if v := readView(t, dst.View(4), "k000", 1000); v == "<absent>" {
		t.Fatalf("Get after a successful import = %s", v)
	}
}

// TestOpenDropsInterruptedImport: a crash mid-import leaves the marker and
// some data; Open drops the partition.
func TestOpenDropsInterruptedImport(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	dump(t, s, 8, frozen(t, 0, op{key: "keep", value: "k", version: 1}), 1, 1)
	// What ImportSnapshot has done when it crashes after some frames.
	s.metaMu.Lock()
	if err := s.writeMetaLocked(metaKey(metaImport, 6), encodeUint64(20)); err != nil {
		t.Fatal(err)
	}
	s.metaMu.Unlock()
	dump(t, s, 6, frozen(t, 0, op{key: "half", value: "h", version: 5}), 20, 5)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, dir)
	defer s.Close()
	assertEmpty(t, s, 6)
	if _, ok, _ := s.readMeta(metaKey(metaImport, 6)); ok {
		t.Fatal("import marker still present after Open")
	}
	if v := readView(t, s.View(8), "keep", 1); v != "k" {
		t.Fatalf("other partition after recovery: Get(keep) = %s", v)
	}
}

// TestExportPastSafePoint: once version GC moved the safe point past a partition's checkpoint
// version (an idle partition's checkpoint is old), the partition still exports, and the
// snapshot holds the same rows as one taken before GC.
func TestExportPastSafePoint(t *testing.T) {
	src, _ := sourceStore(t)
	before, info := export(t, src, 1)
	want := scanView(t, src.View(1), "", "", info.Checkpoint.Version)
	if err := src.SetSafePoint(context.Background(), info.Checkpoint.Version+1000); err != nil {
		t.Fatal(err)
	}
	after, info2 := export(t, src, 1)
	if info2.Checkpoint != info.Checkpoint || info2.Entries != info.Entries {
		t.Fatalf("export after GC: %+v, before: %+v", info2, info)
	}
	for name, snap := range map[string][]byte{"before": before, "after": after} {
		dst := newStore(t)
		if _, err := dst.ImportSnapshot(context.Background(), 1, bytes.NewReader(snap)); err != nil {
			t.Fatalf("import of the export %s GC: %v", name, err)
		}
		if rows := scanView(t, dst.View(1), "", "", info.Checkpoint.Version); fmt.Sprint(rows) != fmt.Sprint(want) {
			t.Fatalf("export %s GC imports\n %v\nwant %v", name, rows, want)
		}
	}
}

// TestWritesDuringAnotherPartitionsDrop: badger refuses every write while a
// DropPrefix runs; imports and dumps of other partitions must not fail because
// one partition is being dropped (a restarted server installing snapshots of
// several partitions at once lost all but one to "Writes are blocked").
func TestWritesDuringAnotherPartitionsDrop(t *testing.T) {
	// Megabytes on both sides, so that the drops' badger work and the writes overlap.
	var ops []op
	for i := 0; i < 20000; i++ {
		ops = append(ops, op{key: fmt.Sprintf("key%06d", i), value: strings.Repeat("v", 200), version: 1})
	}
	src := newStore(t)
	dump(t, src, 1, frozen(t, 0, ops...), 1, 1)
	snap, _ := export(t, src, 1)
	doomed := frozen(t, 0, ops...)
	s := newStore(t)
	const rounds = 10
	stop := make(chan struct{})
	dropErr := make(chan error, 1)
	go func() {
		defer close(dropErr)
		for {
			select {
			case <-stop:
				return
			default:
			}
			err := s.Dump(context.Background(), 9, doomed, Checkpoint{Index: 1, Version: 1})
			if err == nil {
				err = s.DropPartition(context.Background(), 9)
			}
			if err != nil {
				dropErr <- err
				return
			}
		}
	}()
	var failed error
	for i := uint64(1); i <= rounds && failed == nil; i++ {
		if _, err := s.ImportSnapshot(context.Background(), 4, bytes.NewReader(snap)); err != nil {
			failed = fmt.Errorf("import %d: %w", i, err)
			break
		}
		tb := frozen(t, i-1, op{key: fmt.Sprintf("k%d", i), value: "v", version: i})
		if err := s.Dump(context.Background(), 5, tb, Checkpoint{Index: i, Version: i}); err != nil {
			failed = fmt.Errorf("dump %d: %w", i, err)
		}
	}
	close(stop)
	if err := <-dropErr; err != nil {
		t.Fatalf("drop loop: %v", err)
	}
	if failed != nil {
		t.Fatal(failed)
	}
	if got := readView(t, s.View(4), "key019999", 1); got != ops[19999].value {
		t.Fatalf("partition 4 after the imports reads key019999 = %s", got)
	}
	if got := checkpointOf(t, s, 5); got != fmt.Sprintf("index %d version %d", rounds, rounds) {
		t.Fatalf("partition 5 checkpoint = %s", got)
	}
}
