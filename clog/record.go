package clog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// Sizes and constants of the format specified in doc.go.
const (
	formatVersion     = 1
	segmentHeaderSize = 32
	batchHeaderSize   = 24
	recordHeaderSize  = 9
	batchMagic        = 0xB0C7
	flagSnapshot      = 1

	entryFixed   = 24 // partition, index, ballot
	stateFixed   = 8  // partition
	truncFixed   = 16 // partition, from
	compactFixed = 16 // partition, below
	metaFixed    = 25 // partition, first, next, hasState
	dropFixed    = 8  // partition
)

var segmentMagic = [8]byte{'O', 'B', 'K', 'V', 'C', 'L', 'O', 'G'}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func checksum(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

// kind is the type of a record.
type kind uint8

const (
	kindEntry    kind = 1
	kindState    kind = 2
	kindTruncate kind = 3
	kindCompact  kind = 4
	kindMeta     kind = 5
	kindDrop     kind = 6
)

func (k kind) fixed() int {
	switch k {
	case kindEntry:
		return entryFixed
	case kindState:
		return stateFixed
	case kindTruncate:
		return truncFixed
	case kindCompact:
		return compactFixed
	case kindMeta:
		return metaFixed
	case kindDrop:
		return dropFixed
	}
	return -1
}

var le = binary.LittleEndian

// record is a decoded record. The meaning of a, b and data depends on kind:
// entry: index, ballot, data; state: -, -, state; truncate: from; compact:
// below; meta: first, next, state (hasState: whether state is set); drop:
// nothing (the partition is forgotten).
type record struct {
	kind      kind
	partition uint64
	a, b      uint64
	hasState  bool
	data      []byte // aliases the decoded bytes
}

// appendRecord appends a record whose payload is the fixed fields of k
// (partition, then fields) followed by tail, and returns the extended buffer.
func appendRecord(buf []byte, k kind, partition uint64, fields [2]uint64, flag bool, head, tail []byte) []byte {
	start := len(buf)
	n := k.fixed() + len(head) + len(tail)
	buf = grow(buf, recordHeaderSize+n)
	r := buf[start:]
	le.PutUint32(r[4:], uint32(n))
	r[8] = byte(k)
	p := r[recordHeaderSize:]
	le.PutUint64(p, partition)
	switch k {
	case kindEntry:
		le.PutUint64(p[8:], fields[0])
		le.PutUint64(p[16:], fields[1])
	case kindTruncate, kindCompact:
		le.PutUint64(p[8:], fields[0])
	case kindMeta:
		le.PutUint64(p[8:], fields[0])
		le.PutUint64(p[16:], fields[1])
		p[24] = 0
		if flag {
			p[24] = 1
		}
	}
	copy(p[k.fixed()+copy(p[k.fixed():], head):], tail)
	le.PutUint32(r, checksum(r[4:recordHeaderSize+n]))
	return buf
}

// grow extends buf by n bytes, reusing its capacity when it can.
func grow(buf []byte, n int) []byte {
	if len(buf)+n <= cap(buf) {
		return buf[:len(buf)+n]
	}
	nb := make([]byte, len(buf)+n, max(2*cap(buf), len(buf)+n))
	copy(nb, buf)
	return nb
}

// recordSize is the encoded size of a record of kind k with tail bytes.
func recordSize(k kind, tail int) int { return recordHeaderSize + k.fixed() + tail }

var (
	errShort    = errors.New("record header extends past the batch")
	errChecksum = errors.New("record checksum mismatch")
)

// decodeRecord decodes the record at the start of b, verifying its checksum
// and structure, and returns it with its encoded size.
func decodeRecord(b []byte) (record, int, error) {
	if len(b) < recordHeaderSize {
		return record{}, 0, errShort
	}
	n := int(le.Uint32(b[4:]))
	if n > len(b)-recordHeaderSize {
		return record{}, 0, fmt.Errorf("record length %d extends past the batch (%d bytes left)", n, len(b)-recordHeaderSize)
	}
	if got, want := checksum(b[4:recordHeaderSize+n]), le.Uint32(b); got != want {
		return record{}, 0, fmt.Errorf("%w (stored %#08x, computed %#08x)", errChecksum, want, got)
	}
	k := kind(b[8])
	fixed := k.fixed()
	if fixed < 0 {
		return record{}, 0, fmt.Errorf("unknown record kind %d", k)
	}
	if n < fixed {
		return record{}, 0, fmt.Errorf("record of kind %d has %d payload bytes, needs at least %d", k, n, fixed)
	}
	p := b[recordHeaderSize : recordHeaderSize+n]
	r := record{kind: k, partition: le.Uint64(p), data: p[fixed:]}
	switch k {
	case kindEntry, kindMeta:
		r.a, r.b = le.Uint64(p[8:]), le.Uint64(p[16:])
		if k == kindMeta {
			if p[24] > 1 {
				return record{}, 0, fmt.Errorf("meta record hasState byte %d is not 0 or 1", p[24])
			}
			r.hasState = p[24] == 1
		}
	case kindTruncate, kindCompact:
		r.a = le.Uint64(p[8:])
		if len(r.data) != 0 {
			return record{}, 0, fmt.Errorf("record of kind %d has %d trailing bytes", k, len(r.data))
		}
	case kindDrop:
		if len(r.data) != 0 {
			return record{}, 0, fmt.Errorf("record of kind %d has %d trailing bytes", k, len(r.data))
		}
	}
	return r, recordHeaderSize + n, nil
}

// batchHeader is the decoded header of a batch.
type batchHeader struct {
	flags  uint16
	seq    uint64
	length uint32
	count  uint32
}

func putBatchHeader(b []byte, h batchHeader) {
	le.PutUint16(b[4:], batchMagic)
	le.PutUint16(b[6:], h.flags)
	le.PutUint64(b[8:], h.seq)
	le.PutUint32(b[16:], h.length)
	le.PutUint32(b[20:], h.count)
	le.PutUint32(b, checksum(b[4:batchHeaderSize]))
}

// parseBatchHeader reports whether b starts with a batch header whose
// checksum and magic are right.
func parseBatchHeader(b []byte) (batchHeader, bool) {
	if len(b) < batchHeaderSize || le.Uint16(b[4:]) != batchMagic || checksum(b[4:batchHeaderSize]) != le.Uint32(b) {
		return batchHeader{}, false
	}
	return batchHeader{flags: le.Uint16(b[6:]), seq: le.Uint64(b[8:]), length: le.Uint32(b[16:]), count: le.Uint32(b[20:])}, true
}

func putSegmentHeader(b []byte, id, firstSeq uint64) {
	copy(b, segmentMagic[:])
	le.PutUint32(b[8:], formatVersion)
	le.PutUint64(b[12:], id)
	le.PutUint64(b[20:], firstSeq)
	le.PutUint32(b[28:], checksum(b[:28]))
}

// parseSegmentHeader checks the header of segment file id and returns the
// sequence number of its first batch.
func parseSegmentHeader(b []byte, id uint64) (uint64, error) {
	if len(b) < segmentHeaderSize {
		return 0, fmt.Errorf("file of %d bytes is shorter than a segment header (%d)", len(b), segmentHeaderSize)
	}
	if [8]byte(b[:8]) != segmentMagic {
		return 0, fmt.Errorf("magic %q is not %q", b[:8], segmentMagic[:])
	}
	if got, want := checksum(b[:28]), le.Uint32(b[28:]); got != want {
		return 0, fmt.Errorf("segment header checksum mismatch (stored %#08x, computed %#08x)", want, got)
	}
	if v := le.Uint32(b[8:]); v != formatVersion {
		return 0, fmt.Errorf("format version %d is not supported (this build reads version %d)", v, formatVersion)
	}
	if got := le.Uint64(b[12:]); got != id {
		return 0, fmt.Errorf("header names segment %d, the file name segment %d", got, id)
	}
	return le.Uint64(b[20:]), nil
}
