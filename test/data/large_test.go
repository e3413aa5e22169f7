//go:build unix

package data

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"obkv/client"
	"obkv/replica"
	"obkv/test/internal/realcluster"
)

// TestLargeValues: values and batches at the size limits are written, replicated to every
// replica and read back, strongly and weakly, through the client library; a value over the
// limit is refused with an error naming the limit, and the partition keeps serving. (A 4 MiB
// value used to stop the leader's replica: its log record exceeded the clog's 1 MiB record
// limit.)
func TestLargeValues(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a real cluster")
	}
	ctx := realcluster.Context(t, 90*time.Second)
	c := newCluster(t, realcluster.FourZones, nil)
	c.StartAll()
	c.waitReady(ctx)
	c.setupTenant(ctx, "t1", "p1", 1, "z1,z2,z3,z4", "F@z1,F@z2,F@z3,R@z4", "z1;z2,z3")
	c.MustCtl(ctx, nil, "create", "table", "t1.kv", "--partitions", "1")
	c.waitLeaders(ctx, "t1", "kv", 1, "in z1", inZones("z1"))
	cl := c.newClient(ctx, c.Addrs(), client.WithTimeout(20*time.Second))

	value := func(seed byte, n int) []byte {
		v := make([]byte, n)
		for i := range v {
			v[i] = seed + byte(i*7)
		}
		return v
	}
	// A write of megabytes goes to the four servers' logs at once, on this machine's one disk;
	// where that takes a good part of the lease, the leader loses it and the write's outcome is
	// unknown (docs/operations.md, "The disk stalls"). These writes put fixed values, so
	// writing them again is safe: the test retries those, a few times, and fails on anything else.
	acked := func(what string, write func() error) {
		t.Helper()
		for attempt := 1; ; attempt++ {
			err := write()
			if err == nil {
				return
			}
			if !errors.Is(err, client.ErrOutcomeUnknown) || attempt == 3 {
				t.Fatalf("%s (attempt %d): %v", what, attempt, err)
			}
			t.Logf("%s: outcome unknown (a leader change), writing it again: %v", what, err)
		}
	}
	big := value(1, replica.MaxValueBytes)
	acked(fmt.Sprintf("put of a %d-byte value", len(big)), func() error {
		_, err := cl.Put(ctx, "t1", "kv", []byte("big"), big)
		return err
	})
	// A batch of MaxBatchBytes: four values of just under 4 MiB.
	var ops []client.Op
	for i := range 4 {
		ops = append(ops, client.PutOp([]byte{byte('a' + i)}, value(byte(10+i), replica.MaxValueBytes-1)))
	}
	acked(fmt.Sprintf("batch of 4 values of %d bytes", replica.MaxValueBytes-1), func() error {
		_, err := cl.Batch(ctx, "t1", "kv", ops)
		return err
	})
	_, err := cl.Put(ctx, "t1", "kv", []byte("huge"), value(2, replica.MaxValueBytes+1))
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("limit %d", replica.MaxValueBytes)) {
		t.Fatalf("put of a value over the limit = %v, want a refusal naming the limit %d", err, replica.MaxValueBytes)
	}

	check := func(what string, key string, want []byte, opts ...client.ReadOption) {
		t.Helper()
		c.WaitFor(ctx, what, func(ctx context.Context) (bool, string) {
			r, err := cl.Get(ctx, "t1", "kv", []byte(key), opts...)
			switch {
			case err != nil:
				return false, err.Error()
			case !r.Found: // a weak read may be behind the write
				return false, "not found (yet)"
			case !bytes.Equal(r.Value, want):
				t.Fatalf("%s: %d bytes, not the %d written", what, len(r.Value), len(want))
			}
			return true, ""
		})
	}
	check("a strong read of the 4 MiB value", "big", big)
	for i, op := range ops {
		check(fmt.Sprintf("a strong read of batch value %d", i), string(op.Key), op.Value)
	}
	check("a weak read of the 4 MiB value from a follower", "big", big, client.Weak(), client.Prefer(client.Follower))
	check("a weak read of the 4 MiB value from the READONLY replica", "big", big, client.Weak(), client.Prefer(client.ReadonlyOnly))
	acked("a write after the large ones", func() error {
		_, err := cl.Put(ctx, "t1", "kv", []byte("small"), []byte("after"))
		return err
	})
	check("the write after the large ones", "small", []byte("after"))
}
