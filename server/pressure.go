package server

import (
	"math"
	"runtime/metrics"
	"sync"
	"syscall"
	"time"
)

// pressure measures what the process went through between two of its calls: how long
// goroutines waited for a CPU (the Go scheduler's latency histogram) and how many minor page
// faults it took. A poller that goes without ticks is either blocked (a slow clog write, logged
// apart) or not given a CPU; the second shows as a high wait, and on some virtual machines, where
// page faults are costly, as many faults: badger writes every new table through a memory map,
// a fault per page, and a large compaction on this project's 2-core VM took 30,000-60,000 a second
// and most of the machine's CPU (docs/performance.md, eighteenth session).
type pressure struct {
	mu     sync.Mutex
	sample []metrics.Sample
	counts []uint64 // the histogram's counts at the last call
	faults int64
	at     time.Time
}

const schedLatencies = "/sched/latencies:seconds"

func newPressure() *pressure {
	p := &pressure{sample: []metrics.Sample{{Name: schedLatencies}}}
	p.attrs() // the baseline
	return p
}

// attrs returns, since the previous call, the 99th percentile and the longest of the times
// runnable goroutines waited to run (to the histogram's bucket) and the minor page faults per
// second, as log attributes.
func (p *pressure) attrs() []any {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	var out []any
	metrics.Read(p.sample)
	if v := p.sample[0].Value; v.Kind() == metrics.KindFloat64Histogram {
		h := v.Float64Histogram()
		if len(p.counts) == len(h.Counts) {
			out = append(out, "cpu_wait_p99", quantileSince(h, p.counts, 0.99).Round(time.Microsecond),
				"cpu_wait_max", quantileSince(h, p.counts, 1).Round(time.Microsecond))
		}
		p.counts = append(p.counts[:0], h.Counts...)
	}
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err == nil {
		faults := int64(ru.Minflt)
		if !p.at.IsZero() {
			if secs := now.Sub(p.at).Seconds(); secs > 0 {
				out = append(out, "page_faults_per_s", int64(float64(faults-p.faults)/secs))
			}
		}
		p.faults = faults
	}
	p.at = now
	return out
}

// quantileSince is the q quantile of the observations h holds beyond those counted in before
// (h's counts at an earlier moment, same buckets): the upper bound of the bucket it falls in, or
// its lower bound for the last, unbounded bucket. 0 when there was none.
func quantileSince(h *metrics.Float64Histogram, before []uint64, q float64) time.Duration {
	var total uint64
	for i, c := range h.Counts {
		total += c - before[i]
	}
	if total == 0 {
		return 0
	}
	want := uint64(math.Ceil(q * float64(total)))
	var seen uint64
	for i, c := range h.Counts {
		seen += c - before[i]
		if seen >= want {
			bound := h.Buckets[i+1]
			if math.IsInf(bound, 1) {
				bound = h.Buckets[i]
			}
			return time.Duration(bound * float64(time.Second))
		}
	}
	return 0
}
