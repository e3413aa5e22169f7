package data

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"obkv/api"
	"obkv/test/internal/realcluster"
)

// TestVersionGC: with version_retention 1s every server moves its safe point past a key's
// overwritten version within a few seconds; a weak read pinned below the safe point is then
// refused as not readable on every data replica, and reads at newer versions still see the key.
func TestVersionGC(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a real cluster")
	}
	ctx := realcluster.Context(t, 90*time.Second)
	c := newCluster(t, realcluster.FourZones, map[string]string{"version_retention": "1s"})
	c.StartAll()
	c.waitReady(ctx)
	c.setupTenant(ctx, "t1", "p1", 1, "z1,z2,z3,z4", "F@z1,F@z2,F@z3,R@z4", "z1;z2,z3")
	c.MustCtl(ctx, nil, "create", "table", "t1.kv", "--partitions", "1")
	c.waitLeaders(ctx, "t1", "kv", 1, "in z1", inZones("z1"))
	cl := c.newClient(ctx, c.Addrs())
	old, err := cl.Put(ctx, "t1", "kv", []byte("k"), []byte("old"))
	if err != nil {
		t.Fatal(err)
	}
	cur, err := cl.Put(ctx, "t1", "kv", []byte("k"), []byte("new"))
	if err != nil {
		t.Fatal(err)
	}
	admin := map[string]api.AdminClient{}
	for _, s := range c.Servers {
		conn, err := grpc.NewClient(s.RPCAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = conn.Close() })
		admin[s.Name] = api.NewAdminClient(conn)
	}
	took := c.WaitFor(ctx, fmt.Sprintf("every server's safe point to pass version %d", cur), func(ctx context.Context) (bool, string) {
		var behind []string
		for name, a := range admin {
			cctx, cancel := context.WithTimeout(ctx, rpcTimeout)
			h, err := a.Health(cctx, &api.HealthRequest{})
			cancel()
			if err != nil || h.SafePoint <= cur {
				behind = append(behind, fmt.Sprintf("%s at %d (%v)", name, h.GetSafePoint(), err))
			}
		}
		return len(behind) == 0, strings.Join(behind, ", ")
	})
	t.Logf("safe points passed the overwrite in %v", took.Round(time.Millisecond))

	k := c.dialKV()
	for _, s := range c.Servers {
		get := func(at uint64) (*api.GetResponse, error) {
			cctx, cancel := context.WithTimeout(ctx, rpcTimeout)
			defer cancel()
			return k.kv[s.Name].Get(cctx, &api.GetRequest{Tenant: "t1", Table: "kv", Partition: 0, Key: []byte("k"),
				Options: &api.ReadOptions{Consistency: "weak", SnapshotVersion: at}})
		}
		_, err := get(old)
		if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "below the safe point") {
			t.Errorf("%s: weak read of k at the overwritten version %d: %v; want refused as not readable, below the safe point", s.Name, old, err)
		}
		resp, err := get(0)
		if err != nil || string(resp.Value) != "new" {
			t.Errorf("%s: weak read of k at the readable version: %q, %v; want new", s.Name, resp.GetValue(), err)
		}
	}
}
