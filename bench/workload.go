package bench

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
)

// OpKind is one kind of benchmark operation.
type OpKind int

// The operation kinds, in report order.
const (
	OpRead OpKind = iota
	OpUpdate
	OpInsert
	OpScan
	numOpKinds
)

var opNames = [numOpKinds]string{"read", "update", "insert", "scan"}

// String returns the operation's report name.
func (k OpKind) String() string {
	if k < 0 || k >= numOpKinds {
		return "op(" + strconv.Itoa(int(k)) + ")"
	}
	return opNames[k]
}

// Workload is an operation mix: the proportions of each kind, summing to 1.
type Workload struct {
	Name string
	// Mix[k] is the fraction of operations of kind k.
	Mix [numOpKinds]float64
}

// Workloads are the named mixes ParseWorkload knows (see the package doc).
var Workloads = []Workload{
	{Name: "A", Mix: [numOpKinds]float64{OpRead: 0.5, OpUpdate: 0.5}},
	{Name: "B", Mix: [numOpKinds]float64{OpRead: 0.95, OpUpdate: 0.05}},
	{Name: "C", Mix: [numOpKinds]float64{OpRead: 1}},
	{Name: "W", Mix: [numOpKinds]float64{OpUpdate: 1}},
	{Name: "S", Mix: [numOpKinds]float64{OpScan: 0.95, OpInsert: 0.05}},
}

// ParseWorkload returns the workload of a name (A, B, C, W or S; case-insensitive).
func ParseWorkload(name string) (Workload, error) {
	for _, w := range Workloads {
		if strings.EqualFold(w.Name, name) {
			return w, nil
		}
	}
	return Workload{}, fmt.Errorf("workload %q: want one of A, B, C, W, S", name)
}

// Validate checks that the mix is non-negative and sums to 1.
func (w Workload) Validate() error {
	var sum float64
	for k, f := range w.Mix {
		if f < 0 {
			return fmt.Errorf("workload %s: %s fraction %v is negative", w.Name, OpKind(k), f)
		}
		sum += f
	}
	if sum < 0.999999 || sum > 1.000001 {
		return fmt.Errorf("workload %s: fractions sum to %v, want 1", w.Name, sum)
	}
	return nil
}

// Pick draws an operation kind by the mix.
func (w *Workload) Pick(r *rand.Rand) OpKind {
	u := r.Float64()
	last := OpRead
	for k, f := range w.Mix {
		if f == 0 {
			continue
		}
		last = OpKind(k)
		if u < f {
			return last
		}
		u -= f
	}
	return last // rounding: the last kind with a share
}

// Writes reports whether the workload writes at all.
func (w Workload) Writes() bool { return w.Mix[OpUpdate] > 0 || w.Mix[OpInsert] > 0 }

// KeyName returns record i's key: "user" and the decimal index, zero-padded to size bytes
// (YCSB's keys are "user" + a number). It never returns a key shorter than the index needs, so
// keys stay distinct when size is too small for them; zero-padding keeps key order = index order.
func KeyName(i uint64, size int) []byte {
	return AppendKey(nil, i, size)
}

// AppendKey appends record i's key (KeyName) to dst and returns it, so a worker can reuse one
// buffer.
func AppendKey(dst []byte, i uint64, size int) []byte {
	const prefix = "user"
	var num [20]byte
	d := strconv.AppendUint(num[:0], i, 10)
	dst = append(dst, prefix...)
	for n := len(prefix) + len(d); n < size; n++ {
		dst = append(dst, '0')
	}
	return append(dst, d...)
}
