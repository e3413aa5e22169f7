package replica

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// OpKind is what one operation of a write batch does.
type OpKind uint8

const (
	// OpPut sets a key.
	OpPut OpKind = 1
	// OpDelete removes a key (writes a tombstone).
	OpDelete OpKind = 2
)

// Op is one operation of a write batch.
type Op struct {
	Kind  OpKind
	Key   []byte
	Value []byte
}

// Batch is what one log entry of a data partition carries: operations applied atomically at the
// entry's version.
type Batch struct {
	Ops []Op
}

// ErrBadBatch: bytes that are not a write batch.
var ErrBadBatch = errors.New("replica: malformed write batch")

// Limits on one batch, so a bad request cannot make a log entry no server can apply.
const (
	MaxOpsPerBatch = 10000
	MaxKeyBytes    = 32 << 10
	MaxValueBytes  = 4 << 20
	MaxBatchBytes  = 16 << 20
)

// MaxEntryBytes bounds the log payload of one entry: a batch within the limits above, encoded
// (magic, op count, per op a kind byte and two length varints) behind the entry header
// (entryHead). The server sizes its clog to hold it.
const MaxEntryBytes = entryHeaderBytes + 1 + binary.MaxVarintLen64 +
	MaxOpsPerBatch*(1+2*binary.MaxVarintLen64) + MaxBatchBytes

// batchMagic starts every encoded batch (format version 1).
const batchMagic byte = 0xB1

// Encode returns the batch's bytes:
//
//	magic 0xB1 | uvarint op count | per op: kind byte, uvarint key len, key, uvarint value len, value
func (b Batch) Encode() []byte {
	n := 1 + binary.MaxVarintLen64
	for _, op := range b.Ops {
		n += 1 + 2*binary.MaxVarintLen64 + len(op.Key) + len(op.Value)
	}
	out := make([]byte, 0, n)
	out = append(out, batchMagic)
	out = binary.AppendUvarint(out, uint64(len(b.Ops)))
	for _, op := range b.Ops {
		out = append(out, byte(op.Kind))
		out = binary.AppendUvarint(out, uint64(len(op.Key)))
		out = append(out, op.Key...)
		out = binary.AppendUvarint(out, uint64(len(op.Value)))
		out = append(out, op.Value...)
	}
	return out
}

// Validate checks a batch a client sent before it is proposed.
func (b Batch) Validate() error {
	if len(b.Ops) == 0 {
		return fmt.Errorf("%w: no operations", ErrBadBatch)
	}
	if len(b.Ops) > MaxOpsPerBatch {
		return fmt.Errorf("%w: %d operations, limit %d", ErrBadBatch, len(b.Ops), MaxOpsPerBatch)
	}
	total := 0
	for i, op := range b.Ops {
		if op.Kind != OpPut && op.Kind != OpDelete {
			return fmt.Errorf("%w: operation %d has kind %d (want put or delete)", ErrBadBatch, i, op.Kind)
		}
		if len(op.Key) == 0 || len(op.Key) > MaxKeyBytes {
			return fmt.Errorf("%w: operation %d: key of %d bytes (want 1..%d)", ErrBadBatch, i, len(op.Key), MaxKeyBytes)
		}
		if len(op.Value) > MaxValueBytes {
			return fmt.Errorf("%w: operation %d: value of %d bytes (limit %d)", ErrBadBatch, i, len(op.Value), MaxValueBytes)
		}
		total += len(op.Key) + len(op.Value)
	}
	if total > MaxBatchBytes {
		return fmt.Errorf("%w: %d bytes of keys and values, limit %d", ErrBadBatch, total, MaxBatchBytes)
	}
	return nil
}

// DecodeBatch parses an encoded batch. It never panics on bad bytes.
func DecodeBatch(data []byte) (Batch, error) {
	if len(data) == 0 || data[0] != batchMagic {
		return Batch{}, fmt.Errorf("%w: bad magic", ErrBadBatch)
	}
	p := data[1:]
	count, k := binary.Uvarint(p)
	if k <= 0 || count > MaxOpsPerBatch {
		return Batch{}, fmt.Errorf("%w: bad operation count", ErrBadBatch)
	}
	p = p[k:]
	b := Batch{Ops: make([]Op, 0, count)}
	field := func() ([]byte, error) {
		n, k := binary.Uvarint(p)
		if k <= 0 || n > uint64(len(p)-k) {
			return nil, fmt.Errorf("%w: truncated field", ErrBadBatch)
		}
		v := p[k : k+int(n)]
		p = p[k+int(n):]
		return v, nil
	}
	for i := uint64(0); i < count; i++ {
		if len(p) == 0 {
			return Batch{}, fmt.Errorf("%w: truncated at operation %d", ErrBadBatch, i)
		}
		op := Op{Kind: OpKind(p[0])}
		p = p[1:]
		var err error
		if op.Key, err = field(); err != nil {
			return Batch{}, err
		}
		if op.Value, err = field(); err != nil {
			return Batch{}, err
		}
		b.Ops = append(b.Ops, op)
	}
	if len(p) != 0 {
		return Batch{}, fmt.Errorf("%w: %d trailing bytes", ErrBadBatch, len(p))
	}
	return b, nil
}
