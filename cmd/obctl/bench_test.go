package main

import (
	"context"
	"fmt"
	"testing"

	"obkv/client"
)

// The failover benchmark's errors are counted per kill by kind, with one message of each, and a
// take starts over (the errors before a kill are not that kill's).
func TestKillErrorsTake(t *testing.T) {
	var e killErrors
	e.add(fmt.Errorf("write k1 to s1: %w", client.ErrOutcomeUnknown))
	if n, _, _ := e.take(); n != 1 {
		t.Fatalf("first take: %d errors; want 1", n)
	}
	e.add(fmt.Errorf("write k2 to s1: %w", client.ErrOutcomeUnknown))
	e.add(fmt.Errorf("write k3 to s1: %w", client.ErrOutcomeUnknown))
	e.add(fmt.Errorf("write k4: %w", context.DeadlineExceeded))
	n, kinds, examples := e.take()
	if n != 3 || kinds["outcome_unknown"] != 2 || kinds["timeout"] != 1 {
		t.Errorf("second take: %d errors, kinds %v; want 3: outcome_unknown 2, timeout 1", n, kinds)
	}
	if examples["outcome_unknown"] != "write k2 to s1: client: write outcome unknown" || examples["timeout"] != "write k4: context deadline exceeded" {
		t.Errorf("examples %q; want the first message of each kind since the last take", examples)
	}
	if n, kinds, _ := e.take(); n != 0 || kinds != nil {
		t.Errorf("take with nothing new: %d errors, kinds %v", n, kinds)
	}
}
