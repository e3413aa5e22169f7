package bench

import (
	"strings"
	"testing"
	"time"
)

func TestGapTrackerWindow(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	g := NewGapTracker(t0)
	for ms := 0; ms <= 100; ms += 10 { // steady writes on partitions 0 and 1, 1ms each
		g.Ack(0, at(ms-1), at(ms))
		g.Ack(1, at(ms+4), at(ms+5))
	}
	g.Open() // kill at 101ms: the long gaps before are forgotten, the last acks kept
	// A write of partition 0 sent before the kill is answered after it (committed before the
	// victim died): an ack in the window, but not a write sent after the death.
	g.Ack(0, at(100), at(103))
	if g.AllSentSince(at(101), 2) {
		t.Error("AllSentSince(101ms) true on the answer to a write sent at 100ms")
	}
	// Partition 0 resumes at 900ms, partition 1 keeps writing every 10ms.
	for ms := 115; ms <= 1000; ms += 10 {
		g.Ack(1, at(ms-1), at(ms))
	}
	g.Ack(0, at(899), at(900))
	w := g.Close(at(1000))
	if w.MaxPart != 0 || w.MaxPartGap != 797*time.Millisecond {
		t.Errorf("partition gap = %v on %d, want 797ms on 0 (103ms -> 900ms)", w.MaxPartGap, w.MaxPart)
	}
	if w.MaxGap != 10*time.Millisecond {
		t.Errorf("overall gap = %v, want 10ms (partition 1 kept writing)", w.MaxGap)
	}
	if g.AllSentSince(at(850), 2) != true || g.AllSentSince(at(899), 2) != false || g.AllSentSince(at(0), 3) != false {
		t.Error("AllSentSince: want true after 850ms for 2 partitions, false after 899ms and for a partition never written")
	}
	if w.Acks != 91 {
		t.Errorf("acks %d, want 91", w.Acks)
	}
}

func TestGapTrackerOpenGapCountsToClose(t *testing.T) {
	t0 := time.Unix(1000, 0)
	g := NewGapTracker(t0)
	g.Ack(3, t0.Add(time.Second), t0.Add(time.Second))
	g.Open()
	w := g.Close(t0.Add(4 * time.Second)) // nothing resumed: the gap is still open
	if w.MaxGap != 3*time.Second || w.MaxPartGap != 3*time.Second || w.MaxPart != 3 {
		t.Errorf("window %+v, want 3s open gaps on partition 3", w)
	}
}

func TestQuantileNearestRank(t *testing.T) {
	ds := []time.Duration{5, 1, 4, 2, 3}
	for _, tc := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 3}, {0.99, 5}, {1, 5}, {0, 1}, {0.2, 1}, {0.21, 2}} {
		if got := Quantile(ds, tc.q); got != tc.want {
			t.Errorf("Quantile(%v) = %v, want %v", tc.q, got, tc.want)
		}
	}
	if Quantile(nil, 0.5) != 0 {
		t.Error("Quantile of nothing is not 0")
	}
}

func TestWriteFailoverTable(t *testing.T) {
	ms := time.Millisecond
	kills := []Kill{
		{N: 1, Server: "s1", Leading: 4, Window: Window{Acks: 900, MaxGap: 20 * ms, MaxPartGap: 1200 * ms, MaxPart: 2}, Recovered: 1300 * ms, Errors: 5,
			ErrorKinds:    map[string]int64{"outcome_unknown": 4, "timeout": 1},
			ErrorExamples: map[string]string{"outcome_unknown": "write to s1: transport is closing", "timeout": "write: context deadline exceeded"}},
		{N: 2, Server: "s2", Leading: 3, Window: Window{Acks: 800, MaxGap: 30 * ms, MaxPartGap: 900 * ms, MaxPart: 0}, Errors: 0},
	}
	var b strings.Builder
	if err := WriteFailoverTable(&b, kills); err != nil {
		t.Fatal(err)
	}
	want := `KILL  SERVER  LED  MAX GAP (ANY WRITE)  MAX GAP (ONE PARTITION)  PARTITION  ALL PARTITIONS WRITING AFTER  ACKS  ERRORS
1     s1      4    20.000ms             1200.000ms               2          1300.000ms                    900   5
2     s2      3    30.000ms             900.000ms                0          -                             800   0
errors of kill 1: outcome_unknown 4, timeout 1
  e.g. outcome_unknown: write to s1: transport is closing
  e.g. timeout: write: context deadline exceeded
over 2 kills: longest gap of any write median 20.000ms p99 30.000ms; of one partition median 900.000ms p99 1200.000ms max 1200.000ms
`
	if b.String() != want {
		t.Errorf("table:\n%s\nwant:\n%s", b.String(), want)
	}
}
