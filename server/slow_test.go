package server

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// Slow clog writes are logged at once, then at most once per slowWriteLogEvery with how many
// there were meanwhile and the slowest.
func TestSlowWritesLoggedAtMostEvery(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	var w slowWrites
	note := w.note(log, 500*time.Millisecond)
	lines := func() []string { return strings.Split(strings.TrimSpace(buf.String()), "\n") }

	note(130*time.Millisecond, 4096)
	if got := lines(); len(got) != 1 || !strings.Contains(got[0], "writes=1") || !strings.Contains(got[0], "slowest=130ms") ||
		!strings.Contains(got[0], "lease=500ms") {
		t.Fatalf("after the first slow write: %q", got)
	}
	note(300*time.Millisecond, 100)
	note(140*time.Millisecond, 100)
	if got := lines(); len(got) != 1 {
		t.Fatalf("slow writes within %v logged again: %q", slowWriteLogEvery, got)
	}
	w.mu.Lock()
	w.logged = w.logged.Add(-slowWriteLogEvery)
	w.mu.Unlock()
	note(150*time.Millisecond, 100)
	got := lines()
	if len(got) != 2 || !strings.Contains(got[1], "writes=3") || !strings.Contains(got[1], "slowest=300ms") {
		t.Fatalf("after %v: %q, want a second line counting 3 writes, the slowest 300ms", slowWriteLogEvery, got)
	}
}
