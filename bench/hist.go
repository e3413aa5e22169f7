package bench

import (
	"sync"
	"time"
	"unicode/utf8"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Histogram bounds, in microseconds: 1 µs to 60 s at 3 significant digits (0.1% error).
const (
	histLowestMicros  = 1
	histHighestMicros = 60_000_000
	histSigFigs       = 3
)

func newHist() *hdrhistogram.Histogram {
	return hdrhistogram.New(histLowestMicros, histHighestMicros, histSigFigs)
}

// recorder is one worker's measurements. The worker writes it under mu (uncontended but for
// the progress ticker, once a second); nothing in it allocates per operation.
type recorder struct {
	mu     sync.Mutex
	hists  [numOpKinds]*hdrhistogram.Histogram
	all    *hdrhistogram.Histogram // every kind: what the progress line merges
	misses [numOpKinds]int64
	errs   [numOpKinds]map[string]int64
	// first holds the first error message of each kind, for the report's examples.
	first [numOpKinds]map[string]string
}

// maxExampleBytes bounds an error example in the report: enough for the client's chain of
// attempts, short enough for a line of a terminal table.
const maxExampleBytes = 400

// newRecorder makes histograms only for the kinds in use (one is ~220 KB at 3 significant
// digits up to 60 s; 64 workers times every kind would be tens of MB for nothing).
func newRecorder(kinds [numOpKinds]bool) *recorder {
	r := &recorder{all: newHist()}
	for k := range r.hists {
		if kinds[k] {
			r.hists[k] = newHist()
		}
		r.errs[k] = map[string]int64{}
		r.first[k] = map[string]string{}
	}
	return r
}

// ok records a successful operation of latency d; miss says a read found no key.
func (r *recorder) ok(k OpKind, d time.Duration, miss bool) {
	us := max(d.Microseconds(), histLowestMicros)
	r.mu.Lock()
	// A latency above the top is clamped to it rather than dropped, so counts stay exact.
	_ = r.hists[k].RecordValue(min(us, histHighestMicros))
	_ = r.all.RecordValue(min(us, histHighestMicros))
	if miss {
		r.misses[k]++
	}
	r.mu.Unlock()
}

// fail records a failed operation by kind of error, keeping the kind's first message.
func (r *recorder) fail(k OpKind, kind string, err error) {
	r.mu.Lock()
	r.errs[k][kind]++
	if _, ok := r.first[k][kind]; !ok {
		r.first[k][kind] = ErrorExample(err)
	}
	r.mu.Unlock()
}

// ErrorExample is err's message as a report shows it: cut at maxExampleBytes (at a character
// boundary), "..." marking the cut.
func ErrorExample(err error) string {
	msg := err.Error()
	if len(msg) <= maxExampleBytes {
		return msg
	}
	n := maxExampleBytes
	for n > 0 && !utf8.RuneStart(msg[n]) {
		n-- // not inside a character
	}
	return msg[:n] + "..."
}

// tally is the merge of recorders.
type tally struct {
	hists  [numOpKinds]*hdrhistogram.Histogram
	all    *hdrhistogram.Histogram
	misses [numOpKinds]int64
	errs   [numOpKinds]map[string]int64
	first  [numOpKinds]map[string]string // one recorder's first message per kind
}

func merge(rs []*recorder) *tally {
	t := &tally{all: newHist()}
	for k := range t.hists {
		t.hists[k] = newHist()
		t.errs[k] = map[string]int64{}
		t.first[k] = map[string]string{}
	}
	for _, r := range rs {
		r.mu.Lock()
		for k := range r.hists {
			if r.hists[k] != nil {
				t.hists[k].Merge(r.hists[k])
			}
			t.misses[k] += r.misses[k]
			for e, n := range r.errs[k] {
				t.errs[k][e] += n
			}
			for e, msg := range r.first[k] {
				if _, ok := t.first[k][e]; !ok {
					t.first[k][e] = msg
				}
			}
		}
		r.mu.Unlock()
	}
	for k := range t.hists {
		t.all.Merge(t.hists[k])
	}
	return t
}

// mergeAll merges only the all-kinds histograms and the error counts: the cheap merge of the
// progress line.
func mergeAll(rs []*recorder) (h *hdrhistogram.Histogram, errs int64) {
	h = newHist()
	for _, r := range rs {
		r.mu.Lock()
		h.Merge(r.all)
		for k := range r.errs {
			for _, n := range r.errs[k] {
				errs += n
			}
		}
		r.mu.Unlock()
	}
	return h, errs
}

func (t *tally) errors() int64 {
	var n int64
	for k := range t.errs {
		for _, c := range t.errs[k] {
			n += c
		}
	}
	return n
}

func micros(us int64) time.Duration { return time.Duration(us) * time.Microsecond }
