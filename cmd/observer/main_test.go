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

// TestListenPprof: --pprof takes loopback addresses only, and says why it refuses one.
func TestListenPprof(t *testing.T) {
	ln, err := listenPprof("127.0.0.1:0")
	if err != nil {
		t.Fatalf("127.0.0.1:0: %v", err)
	}
	_ = ln.Close()
	for _, bad := range []string{"0.0.0.0:6060", ":6060", "10.1.2.3:6060", "example.com:6060", "6060"} {
		if ln, err := listenPprof(bad); err == nil {
			_ = ln.Close()
			t.Errorf("--pprof %s: listening; want it refused", bad)
		}
	}
}
