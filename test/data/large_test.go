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

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"obkv/api"
	"obkv/client"
	"obkv/replica"
	"obkv/tenant"
	"obkv/test/internal/realcluster"
)

// TestLargeValues: values and batches at the size limits are written, replicated to every
// replica and read back, strongly and weakly, through the client library; a value over the
// limit is refused with an error naming the limit, and the partition keeps serving; a scan
// over them comes back whole, in pages. (A 4 MiB value used to stop the leader's replica: its
// log record exceeded the clog's 1 MiB record limit.) Then malformed raw requests
// (badRequests).
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

	// A scan of the large values comes back whole, in pages of at most api.BatchBytes: sixteen
	// values of 4 MiB in one response exceeded the message limit, and no client could page
	// past it. Tried counts the requests of every page.
	res, err := cl.Scan(ctx, "t1", "kv", nil, nil, 0)
	if err != nil {
		t.Fatalf("scan of the large values: %v", err)
	}
	want := map[string][]byte{"big": big, "small": []byte("after")}
	for _, op := range ops {
		want[string(op.Key)] = op.Value
	}
	if len(res.Rows) != len(want) {
		t.Fatalf("scan returned %d rows, want %d", len(res.Rows), len(want))
	}
	for _, r := range res.Rows {
		if !bytes.Equal(r.Value, want[string(r.Key)]) {
			t.Fatalf("scan row %q: %d bytes, not the %d written", r.Key, len(r.Value), len(want[string(r.Key)]))
		}
	}
	if pages := res.Partitions[0].Tried; pages < len(ops) {
		t.Errorf("scan of %d values of ~4 MiB took %d requests; want pages of at most %d bytes", len(want), pages, api.BatchBytes)
	}
	badRequests(ctx, t, c)
}

// badRequests sends malformed data requests straight to a server (the client library refuses
// most of them before sending) and checks each is refused as InvalidArgument naming the field,
// briefly, and that nothing of them is applied.
func badRequests(ctx context.Context, t *testing.T, c *testCluster) {
	c.MustCtl(ctx, nil, "create", "table", "t1.two", "--partitions", "2")
	c.waitLeaders(ctx, "t1", "two", 2, "in z1", inZones("z1"))
	kv := c.dialKV()
	loc, err := kv.locate(ctx, "t1", "two")
	if err != nil {
		t.Fatal(err)
	}
	var leader string
	for _, r := range loc.Locations[0].Replicas {
		if r.Leader {
			leader = r.Server
		}
	}
	// A key of partition 1, 16 MiB long: refused for its size before it is hashed or quoted.
	long := bytes.Repeat([]byte("k"), 16<<20)
	keyOf := func(p int) []byte {
		for i := 0; ; i++ {
			if k := []byte(fmt.Sprintf("k%d", i)); tenant.PartitionOf(k, 2) == p {
				return k
			}
		}
	}
	key0, key1 := keyOf(0), keyOf(1)
	for _, tc := range []struct {
		what string
		req  *api.WriteRequest
		want string
	}{
		{"kind 257 (put, cut to 8 bits)", &api.WriteRequest{Ops: []*api.KVOp{{Kind: 257, Key: key0, Value: []byte("v")}}}, "kind 257"},
		{"kind 0", &api.WriteRequest{Ops: []*api.KVOp{{Kind: 0, Key: key0}}}, "kind 0"},
		{"no operations", &api.WriteRequest{}, "0 operations"},
		{"a 16 MiB key", &api.WriteRequest{Ops: []*api.KVOp{{Kind: 1, Key: long, Value: []byte("v")}}}, fmt.Sprintf("key of %d bytes", len(long))},
		{"a key of another partition", &api.WriteRequest{Ops: []*api.KVOp{{Kind: 1, Key: key1, Value: []byte("v")}}}, "belongs to partition 1"},
		{"no tenant", &api.WriteRequest{Table: "two", Ops: []*api.KVOp{{Kind: 1, Key: []byte("x"), Value: []byte("v")}}}, "tenant: empty"},
		{"no table", &api.WriteRequest{Tenant: "t1", Ops: []*api.KVOp{{Kind: 1, Key: []byte("x"), Value: []byte("v")}}}, "table: empty"},
	} {
		req := tc.req
		if req.Tenant == "" && req.Table == "" {
			req.Tenant, req.Table = "t1", "two"
		}
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err := kv.kv[leader].Write(cctx, req)
		cancel()
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), tc.want) || len(err.Error()) > 512 {
			t.Errorf("write with %s: %.600v; want InvalidArgument naming %q, in a short message", tc.what, err, tc.want)
		}
	}
	r, err := kv.kv[leader].Get(ctx, &api.GetRequest{Tenant: "t1", Table: "two", Key: key0})
	if err != nil || r.Found {
		t.Errorf("get of the key written with kind 257 = %v, %v; want not found", r, err)
	}
}
