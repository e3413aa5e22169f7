package sstable

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
)

// metaPartition is the partition id reserved for metadata keys.
const metaPartition = math.MaxUint64

// Metadata kinds (see the package doc).
const (
	metaCheckpoint byte = 'c'
	metaImport     byte = 'i'
	metaSafePoint  byte = 's'
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func checkPartition(op string, partition uint64) error {
	if partition == metaPartition {
		return fmt.Errorf("sstable %s: partition %d: reserved for metadata: %w", op, partition, ErrInvalidArgument)
	}
	return nil
}

// partitionPrefix is the 8-byte big-endian partition id every data key of
// the partition starts with.
func partitionPrefix(partition uint64) []byte {
	return binary.BigEndian.AppendUint64(make([]byte, 0, 8), partition)
}

// dataKey is partition | user key, in a fresh buffer (badger keeps it).
func dataKey(partition uint64, key []byte) []byte {
	b := make([]byte, 8+len(key))
	binary.BigEndian.PutUint64(b, partition)
	copy(b[8:], key)
	return b
}

// metaKey is FF*8 | kind | partition.
func metaKey(kind byte, partition uint64) []byte {
	b := make([]byte, 17)
	binary.BigEndian.PutUint64(b, metaPartition)
	b[8] = kind
	binary.BigEndian.PutUint64(b[9:], partition)
	return b
}

// sealed appends the crc32c of b to b.
func sealed(b []byte) []byte {
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// unseal checks the trailing crc32c of b and returns the body; want is the
// expected body length.
func unseal(what string, b []byte, want int) ([]byte, error) {
	if len(b) != want+4 {
		return nil, fmt.Errorf("sstable %s record: %d bytes, want %d: %w", what, len(b), want+4, ErrCorruption)
	}
	body := b[:want]
	if got, sum := binary.BigEndian.Uint32(b[want:]), crc32.Checksum(body, castagnoli); got != sum {
		return nil, fmt.Errorf("sstable %s record: crc32c %08x, computed %08x: %w", what, got, sum, ErrCorruption)
	}
	return body, nil
}

// checkpointRecord is the 'c' metadata value.
type checkpointRecord struct {
	Checkpoint
	// Floor: reads of the partition below it are refused (the version of the
	// snapshot it was imported from; 0 otherwise).
	Floor uint64
}

func (r checkpointRecord) encode() []byte {
	b := make([]byte, 0, 28)
	b = binary.BigEndian.AppendUint64(b, r.Index)
	b = binary.BigEndian.AppendUint64(b, r.Version)
	b = binary.BigEndian.AppendUint64(b, r.Floor)
	return sealed(b)
}

func decodeCheckpoint(b []byte) (checkpointRecord, error) {
	body, err := unseal("checkpoint", b, 24)
	if err != nil {
		return checkpointRecord{}, err
	}
	return checkpointRecord{
		Checkpoint: Checkpoint{Index: binary.BigEndian.Uint64(body), Version: binary.BigEndian.Uint64(body[8:])},
		Floor:      binary.BigEndian.Uint64(body[16:]),
	}, nil
}

func encodeUint64(v uint64) []byte {
	return sealed(binary.BigEndian.AppendUint64(make([]byte, 0, 12), v))
}

func decodeUint64(what string, b []byte) (uint64, error) {
	body, err := unseal(what, b, 8)
	if err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint64(body), nil
}
