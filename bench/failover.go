package bench

import (
	"fmt"
	"io"
	"sort"
	"sync"
	"text/tabwriter"
	"time"
)

// GapTracker measures the longest gap between successful writes, overall and per partition,
// within a window: what a client sees of a leader failover. Writers call Ack after each
// acknowledged write; the failover driver calls Open just before a kill and Close when the
// cluster has recovered (AllSentSince: every partition acknowledged a write sent after the
// victim was dead). A gap that spans Open counts from the last ack before it (the kill
// interrupted it); a gap still open at Close counts up to Close (the writes had not resumed).
// Safe for concurrent use.
type GapTracker struct {
	mu sync.Mutex
	// lastAck is the time of the latest ack, overall and per partition.
	lastAck     time.Time
	lastAckPart map[int]time.Time
	// lastSentPart is, per partition, the latest send time of an acknowledged write.
	lastSentPart map[int]time.Time
	// maxGap and maxGapPart are the longest gaps since Open.
	maxGap     time.Duration
	maxGapPart map[int]time.Duration
	acks       int64
}

// NewGapTracker returns a tracker whose first gaps count from start.
func NewGapTracker(start time.Time) *GapTracker {
	return &GapTracker{lastAck: start, lastAckPart: map[int]time.Time{}, lastSentPart: map[int]time.Time{}, maxGapPart: map[int]time.Duration{}}
}

// Ack records a write sent at sent and acknowledged at now on partition part.
func (g *GapTracker) Ack(part int, sent, now time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.acks++
	if sent.After(g.lastSentPart[part]) {
		g.lastSentPart[part] = sent
	}
	g.maxGap = max(g.maxGap, now.Sub(g.lastAck))
	if now.After(g.lastAck) {
		g.lastAck = now
	}
	if last, ok := g.lastAckPart[part]; ok {
		g.maxGapPart[part] = max(g.maxGapPart[part], now.Sub(last))
		if now.Before(last) {
			return
		}
	}
	g.lastAckPart[part] = now
}

// Open starts a window: the longest gaps are forgotten, the last acks kept.
func (g *GapTracker) Open() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.maxGap, g.acks = 0, 0
	clear(g.maxGapPart)
}

// AllSentSince reports whether each of partitions 0..parts-1 has acknowledged a write sent
// after t. Why sent, not acknowledged: answers to writes the victim committed just before it
// died still arrive after the kill, and with acks alone a fifth of the kills of a run (8
// partitions, 64 writers) seemed to recover in 50 ms, the window closing before the gap.
func (g *GapTracker) AllSentSince(t time.Time, parts int) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	for p := 0; p < parts; p++ {
		if last, ok := g.lastSentPart[p]; !ok || !last.After(t) {
			return false
		}
	}
	return true
}

// Window is what a GapTracker measured between Open and Close.
type Window struct {
	// Acks is the writes acknowledged in the window.
	Acks int64 `json:"acks"`
	// MaxGap is the longest time without any acknowledged write.
	MaxGap time.Duration `json:"-"`
	// MaxPartGap is the longest time one partition went without an acknowledged write, and
	// MaxPart that partition (-1 when no partition was written before).
	MaxPartGap time.Duration `json:"-"`
	MaxPart    int           `json:"max_partition"`
}

// Close ends the window at now and returns it; gaps still open count up to now.
func (g *GapTracker) Close(now time.Time) Window {
	g.mu.Lock()
	defer g.mu.Unlock()
	w := Window{Acks: g.acks, MaxGap: max(g.maxGap, now.Sub(g.lastAck)), MaxPart: -1}
	parts := make([]int, 0, len(g.lastAckPart))
	for p := range g.lastAckPart {
		parts = append(parts, p)
	}
	sort.Ints(parts) // ties go to the lowest partition: deterministic
	for _, p := range parts {
		gap := max(g.maxGapPart[p], now.Sub(g.lastAckPart[p]))
		if w.MaxPart < 0 || gap > w.MaxPartGap {
			w.MaxPartGap, w.MaxPart = gap, p
		}
	}
	return w
}

// Kill is one kill of the failover benchmark.
type Kill struct {
	N int `json:"kill"`
	// Server killed and the number of partitions it led.
	Server  string `json:"server"`
	Leading int    `json:"partitions_led"`
	Window
	// Recovered is how long after the kill every partition had acknowledged a write again
	// (0 when it did not happen within the window).
	Recovered time.Duration `json:"-"`
	// Errors is the writes refused or of unknown outcome in the window; ErrorKinds counts them
	// by kind, ErrorExamples has one message of each kind.
	Errors        int64             `json:"errors"`
	ErrorKinds    map[string]int64  `json:"error_kinds,omitempty"`
	ErrorExamples map[string]string `json:"error_examples,omitempty"`
}

// Quantile returns the q-quantile (0..1) of ds by the nearest-rank method: the smallest value
// with at least q of the values at or below it. 0 for no values.
func Quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	rank := int(q*float64(len(s)) + 0.999999999)
	return s[min(max(rank, 1), len(s))-1]
}

// FailoverSummary is the median and p99 over kills of the overall and per-partition gaps.
type FailoverSummary struct {
	Kills                              int
	MedianGap, P99Gap                  time.Duration
	MedianPartGap, P99PartGap, MaxPart time.Duration
}

// Summarize computes the FailoverSummary of kills.
func Summarize(kills []Kill) FailoverSummary {
	var gaps, part []time.Duration
	for _, k := range kills {
		gaps = append(gaps, k.MaxGap)
		part = append(part, k.MaxPartGap)
	}
	return FailoverSummary{Kills: len(kills), MedianGap: Quantile(gaps, 0.5), P99Gap: Quantile(gaps, 0.99),
		MedianPartGap: Quantile(part, 0.5), P99PartGap: Quantile(part, 0.99), MaxPart: Quantile(part, 1)}
}

// WriteFailoverTable prints one row per kill and the summary.
func WriteFailoverTable(w io.Writer, kills []Kill) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KILL\tSERVER\tLED\tMAX GAP (ANY WRITE)\tMAX GAP (ONE PARTITION)\tPARTITION\tALL PARTITIONS WRITING AFTER\tACKS\tERRORS")
	for _, k := range kills {
		rec := "-"
		if k.Recovered > 0 {
			rec = FormatLatency(k.Recovered)
		}
		fmt.Fprintf(tw, "%d\t%s\t%d\t%s\t%s\t%d\t%s\t%d\t%d\n", k.N, k.Server, k.Leading, FormatLatency(k.MaxGap),
			FormatLatency(k.MaxPartGap), k.MaxPart, rec, k.Acks, k.Errors)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, k := range kills {
		if len(k.ErrorKinds) == 0 {
			continue
		}
		writeErrors(w, fmt.Sprintf("kill %d", k.N), k.ErrorKinds, k.ErrorExamples)
	}
	s := Summarize(kills)
	_, err := fmt.Fprintf(w, "over %d kills: longest gap of any write median %s p99 %s; of one partition median %s p99 %s max %s\n",
		s.Kills, FormatLatency(s.MedianGap), FormatLatency(s.P99Gap), FormatLatency(s.MedianPartGap), FormatLatency(s.P99PartGap), FormatLatency(s.MaxPart))
	return err
}
