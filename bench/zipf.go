package bench

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// ZipfianTheta is YCSB's default skew (ZipfianGenerator.ZIPFIAN_CONSTANT).
const ZipfianTheta = 0.99

// Chooser picks a record index in [0, n).
type Chooser interface {
	Next(r *rand.Rand) uint64
}

// Uniform picks every record with the same probability.
type Uniform struct{ N uint64 }

// Next returns a uniformly random index in [0, N).
func (u Uniform) Next(r *rand.Rand) uint64 { return r.Uint64N(u.N) }

// Zipfian picks index i (0-based) with probability proportional to 1/(i+1)^theta: index 0 is the
// most popular. It is the algorithm of Gray et al., "Quickly Generating Billion-Record Synthetic
// Databases" (SIGMOD 1994), as YCSB's ZipfianGenerator. Construction is O(n) (the zeta sum);
// Next is O(1) and does not allocate. Immutable after NewZipfian: safe for concurrent use with
// one *rand.Rand per goroutine.
type Zipfian struct {
	n                        uint64
	theta, alpha, zetan, eta float64
	halfPowTheta             float64
}

// NewZipfian returns a zipfian chooser over n items with skew theta in (0, 1).
func NewZipfian(n uint64, theta float64) (*Zipfian, error) {
	if n < 1 {
		return nil, fmt.Errorf("zipfian over %d items: need at least 1", n)
	}
	if !(theta > 0 && theta < 1) {
		return nil, fmt.Errorf("zipfian theta %v: must be in (0, 1)", theta)
	}
	zeta2 := zeta(2, theta)
	z := &Zipfian{n: n, theta: theta, alpha: 1 / (1 - theta), zetan: zeta(n, theta), halfPowTheta: math.Pow(0.5, theta)}
	z.eta = (1 - math.Pow(2/float64(n), 1-theta)) / (1 - zeta2/z.zetan)
	return z, nil
}

func zeta(n uint64, theta float64) float64 {
	var s float64
	for i := uint64(1); i <= n; i++ {
		s += 1 / math.Pow(float64(i), theta)
	}
	return s
}

// Next returns an index in [0, n), small indexes the most often.
func (z *Zipfian) Next(r *rand.Rand) uint64 {
	u := r.Float64()
	uz := u * z.zetan
	if uz < 1 {
		return 0
	}
	if uz < 1+z.halfPowTheta {
		return min(1, z.n-1)
	}
	i := uint64(float64(z.n) * math.Pow(z.eta*u-z.eta+1, z.alpha))
	return min(i, z.n-1)
}

// Scrambled spreads a zipfian's popular indexes over [0, n) with FNV-1a 64, as YCSB's
// ScrambledZipfianGenerator: the popularity curve is the same, but the hot records are not
// neighbours (they land on different partitions and pages). Distinct ranks may map to the same
// index, so slightly fewer than n records are ever chosen.
type Scrambled struct{ Z *Zipfian }

// Next returns a scrambled zipfian index in [0, n).
func (s Scrambled) Next(r *rand.Rand) uint64 { return fnv64(s.Z.Next(r)) % s.Z.n }

// fnv64 is FNV-1a 64 over the 8 little-endian bytes of v.
func fnv64(v uint64) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < 8; i++ {
		h ^= v & 0xff
		h *= 1099511628211
		v >>= 8
	}
	return h
}

// NewChooser returns the chooser of a distribution name over n records: "zipfian" (scrambled,
// theta ZipfianTheta) or "uniform".
func NewChooser(distribution string, n uint64) (Chooser, error) {
	switch distribution {
	case "zipfian":
		z, err := NewZipfian(n, ZipfianTheta)
		if err != nil {
			return nil, err
		}
		return Scrambled{z}, nil
	case "uniform":
		if n < 1 {
			return nil, fmt.Errorf("uniform over %d items: need at least 1", n)
		}
		return Uniform{n}, nil
	default:
		return nil, fmt.Errorf("key distribution %q: want zipfian or uniform", distribution)
	}
}
