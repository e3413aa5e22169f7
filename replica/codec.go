package replica

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"obkv/paxos"
)

// entryHead is the head of a Paxos entry's clog payload, which the entry's data follows
// (the index is the clog record's own):
//
//	ballot round uint64 | ballot node uint64 | type byte | version uint64 | data
//
// Little-endian; the clog checksums the record. The clog writes the head and the data into
// its record (clog.Entry.Head): a payload built here whole copied every entry once more (with
// 1 MiB values, 0.61 s of a leader's 6.45 s of CPU in a 10 s profile).
func entryHead(e paxos.Entry) []byte {
	b := make([]byte, entryHeaderBytes)
	binary.LittleEndian.PutUint64(b[0:], e.Ballot.Round)
	binary.LittleEndian.PutUint64(b[8:], uint64(e.Ballot.Node))
	b[16] = byte(e.Type)
	binary.LittleEndian.PutUint64(b[17:], e.Version)
	return b
}

// entryHeaderBytes is the size of entryHead.
const entryHeaderBytes = 25

func decodeEntry(b []byte, e *paxos.Entry) error {
	if len(b) < entryHeaderBytes {
		return fmt.Errorf("replica: entry payload of %d bytes, want at least %d", len(b), entryHeaderBytes)
	}
	e.Ballot = paxos.Ballot{Round: binary.LittleEndian.Uint64(b[0:]), Node: paxos.ID(binary.LittleEndian.Uint64(b[8:]))}
	e.Type = paxos.EntryType(b[16])
	e.Version = binary.LittleEndian.Uint64(b[17:])
	e.Data = b[entryHeaderBytes:]
	return nil
}

// maxMetaBytes bounds the snapshot meta header of a snapshot stream.
const maxMetaBytes = 1 << 20

// writeMeta writes the snapshot stream header: uint32 length, then the JSON of meta.
func writeMeta(w io.Writer, meta paxos.SnapshotMeta) error {
	b, err := json.Marshal(meta)
	if err != nil {
		return err
	}
	var n [4]byte
	binary.LittleEndian.PutUint32(n[:], uint32(len(b)))
	if _, err := w.Write(n[:]); err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

var errBadMeta = errors.New("replica: bad snapshot header")

func readMeta(r io.Reader) (paxos.SnapshotMeta, error) {
	var meta paxos.SnapshotMeta
	var n [4]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return meta, fmt.Errorf("%w: %v", errBadMeta, err)
	}
	size := binary.LittleEndian.Uint32(n[:])
	if size > maxMetaBytes {
		return meta, fmt.Errorf("%w: %d bytes, limit %d", errBadMeta, size, maxMetaBytes)
	}
	b := make([]byte, size)
	if _, err := io.ReadFull(r, b); err != nil {
		return meta, fmt.Errorf("%w: %v", errBadMeta, err)
	}
	if err := json.Unmarshal(b, &meta); err != nil {
		return meta, fmt.Errorf("%w: %v", errBadMeta, err)
	}
	return meta, nil
}
