package faults

import (
	"bytes"
	"log/slog"
	"testing"
)

// TestBrokenInvariants: the log check finds the replica's "apply failed" lines, as the observer's
// text logger writes it, and a panic, and nothing in ordinary lines.
func TestBrokenInvariants(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	log.Info("leadership", "leader", true)
	log.Warn("checkpoint failed", "err", "disk full")
	log.Error("apply failed", "version", 7, "err", "memstore: version out of order")
	log.Error("apply failed: a stale snapshot replaced data newer than it", "snapshot_index", 5)
	buf.WriteString("panic: runtime error: index out of range\n")
	log.Info("a message that mentions apply failed in an attribute", "note", "apply failed")
	got := brokenInvariants(buf.String())
	if len(got) != 3 {
		t.Fatalf("brokenInvariants found %d lines, want 3 (two apply failures, a panic): %q", len(got), got)
	}
}
