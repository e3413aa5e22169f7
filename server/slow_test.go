package server

import (
	"bytes"
	"log/slog"
	"strings"
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
