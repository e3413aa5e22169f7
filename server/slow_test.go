package server

import (
	"bytes"
	"log/slog"
	"math"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync"
	"testing"
	"time"
)

// Slow clog writes are logged at once, then at most once per slowLogEvery with how many there
// were meanwhile and the longest.
func TestSlowWritesLoggedAtMostEvery(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	w := newSlowLog(log, 500*time.Millisecond, "slow clog writes")
	note := func(took time.Duration, bytes int) { w.note(took, "last_bytes", bytes) }
	lines := func() []string { return strings.Split(strings.TrimSpace(buf.String()), "\n") }

	note(130*time.Millisecond, 4096)
	if got := lines(); len(got) != 1 || !strings.Contains(got[0], "count=1") || !strings.Contains(got[0], "longest=130ms") ||
		!strings.Contains(got[0], "lease=500ms") || !strings.Contains(got[0], "last_bytes=4096") {
		t.Fatalf("after the first slow write: %q", got)
	}
	note(300*time.Millisecond, 100)
	note(140*time.Millisecond, 100)
	if got := lines(); len(got) != 1 {
		t.Fatalf("slow writes within %v logged again: %q", slowLogEvery, got)
	}
	w.mu.Lock()
	w.logged = w.logged.Add(-slowLogEvery)
	w.mu.Unlock()
	note(150*time.Millisecond, 100)
	got := lines()
	if len(got) != 2 || !strings.Contains(got[1], "count=3") || !strings.Contains(got[1], "longest=300ms") {
		t.Fatalf("after %v: %q, want a second line counting 3 writes, the slowest 300ms", slowLogEvery, got)
	}
}

// The stall line's pressure attributes: a goroutine kept from the only CPU shows as a wait, and
// memory touched for the first time as page faults.
func TestPressureSeesCPUWaitsAndPageFaults(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	p := newPressure()
	// Goroutines that become runnable while another spins on the one P wait for the spinner's
	// preemption (about 10 ms). The runtime records one in eight of these waits: start many.
	var wg sync.WaitGroup
	for range 64 {
		wg.Add(1)
		go wg.Done()
	}
	deadline := time.Now().Add(50 * time.Millisecond)
	for time.Now().Before(deadline) {
	}
	wg.Wait()
	mem := make([]byte, 64<<20)
	for i := 0; i < len(mem); i += 4096 {
		mem[i] = 1
	}
	attrs := p.attrs()
	t.Logf("first byte %d: %v", mem[0], attrs)
	got := map[string]any{}
	for i := 0; i+1 < len(attrs); i += 2 {
		got[attrs[i].(string)] = attrs[i+1]
	}
	if w, ok := got["cpu_wait_max"].(time.Duration); !ok || w < 5*time.Millisecond {
		t.Errorf("cpu_wait_max = %v (%v), want at least 5ms after a goroutine waited behind a spinner", got["cpu_wait_max"], attrs)
	}
	if _, ok := got["cpu_wait_p99"].(time.Duration); !ok {
		t.Errorf("no cpu_wait_p99 in %v", attrs)
	}
	if f, ok := got["page_faults_per_s"].(int64); !ok || f <= 0 {
		t.Errorf("page_faults_per_s = %v (%v), want > 0 after touching 64 MiB of new memory", got["page_faults_per_s"], attrs)
	}
}

func TestQuantileSince(t *testing.T) {
	h := &metrics.Float64Histogram{
		Buckets: []float64{0, 0.001, 0.01, 0.1, math.Inf(1)},
		Counts:  []uint64{105, 3, 0, 1},
	}
	before := []uint64{5, 3, 0, 0}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{
		{0.5, time.Millisecond},     // 100 of the 101 new ones are under 1 ms
		{0.99, time.Millisecond},    // the 100th of 101
		{1, 100 * time.Millisecond}, // the longest is in the unbounded bucket: its lower bound
	} {
		if got := quantileSince(h, before, c.q); got != c.want {
			t.Errorf("quantile %v = %v, want %v", c.q, got, c.want)
		}
	}
	if got := quantileSince(h, h.Counts, 0.99); got != 0 {
		t.Errorf("no new observations: %v, want 0", got)
	}
}
