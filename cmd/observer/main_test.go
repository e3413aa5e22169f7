package main

import (
	"strings"
	"testing"

	"obkv/config"
)

// TestMemoryLimit: settings.memory_limit becomes the soft limit unless it is 0 or GOMEMLIMIT
// is set, which wins.
func TestMemoryLimit(t *testing.T) {
	st := config.DefaultSettings()
	if lim, msg := memoryLimit(st, ""); lim != 0 || msg != "" {
		t.Fatalf("default settings: limit %d, %q; want none", lim, msg)
	}
	st.MemoryLimitBytes = int64(2 * config.GiB)
	if lim, msg := memoryLimit(st, ""); lim != int64(2*config.GiB) || !strings.Contains(msg, "2GiB") {
		t.Fatalf("memory_limit 2GiB: limit %d, %q; want 2GiB", lim, msg)
	}
	if lim, msg := memoryLimit(st, "1GiB"); lim != 0 || !strings.Contains(msg, "GOMEMLIMIT=1GiB") {
		t.Fatalf("memory_limit 2GiB with GOMEMLIMIT=1GiB: limit %d, %q; want GOMEMLIMIT to win", lim, msg)
	}
}
