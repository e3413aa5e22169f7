//go:build unix

package cluster

import (
	"context"
	"fmt"
	"testing"
	"time"

	"obkv/test/internal/realcluster"
)

// TestReReplication: on the 3x2 topology with permanent_offline_time 3s, a tenant with one unit
// per zone loses the z1 server holding its replicas; once the server has been gone that long, the
// root service re-creates its replicas on the other z1 server and leaders return to z1.
//
// It found a stall: the new replica was added as a voter while empty, so with one voter dead the
// group could not commit (or renew its lease) until it caught up, which it could only do from a
// serving leader. New voters now join as READONLY listeners and are promoted once caught up.
func TestReReplication(t *testing.T) {
	ctx := realcluster.Context(t, 45*time.Second)
	c := newCluster(t, realcluster.ThreeByTwo, map[string]string{"permanent_offline_time": "3s"})
	c.StartAll()
	c.waitReady(ctx)
	c.setupTenant(ctx, "ta", "pa", 1, "z1,z2,z3", "", "z1;z2,z3")
	c.MustCtl(ctx, nil, "create", "table", "ta.orders", "--partitions", "4")
	_, ls := c.waitLeaders(ctx, "ta", "orders", 4, "z1")
	// A replica created after its group elected catches up in recovery for about 0.7 s, and until
	// then the group survives no failure of the other two (docs/operations.md, "recovery"):
	// killing the leader inside that window left a partition with no leader for good (seen in CI,
	// p3: s4 RECOVERING, s6 FOLLOWER). This test is about the loss after that.
	c.WaitFor(ctx, "every replica of ta out of recovery", func(ctx context.Context) (bool, string) {
		rows, err := c.Replicas(ctx, "ta")
		if err != nil {
			return false, err.Error()
		}
		for _, r := range rows {
			// Not "not RECOVERING": a replica not reported yet shows UNKNOWN, and under load
			// that let the kill below land inside the recovery window (CI: s6 RECOVERING@1).
			if r.Role != "LEADER" && r.Role != "FOLLOWER" {
				return false, realcluster.Describe(rows, "orders")
			}
		}
		return true, ""
	})
	victim := ls[0].Server
	other := map[string]string{"s1": "s2", "s2": "s1"}[victim]
	if victim == "s1" {
		// s1 also hosts the meta partition; losing it is fine, but say so in the log.
		t.Logf("the tenant's z1 unit is on s1, which also hosts the meta partition")
	}

	killed := time.Now()
	c.Kill(victim)
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	c.WaitFor(wctx, fmt.Sprintf("ta's z1 replicas re-created on %s and leading", other), func(ctx context.Context) (bool, string) {
		rows, err := c.Replicas(ctx, "ta")
		if err != nil {
			return false, err.Error()
		}
		ls, msg := realcluster.Leaders(rows, "orders", 4)
		if msg != "" {
			return false, msg
		}
		for _, r := range rows {
			if r.Server == victim {
				return false, realcluster.Describe(rows, "orders")
			}
		}
		for _, l := range ls {
			if l.Server != other {
				return false, realcluster.Describe(rows, "orders")
			}
		}
		return true, ""
	})
	t.Logf("replicas re-created on %s and leading %v after SIGKILL of %s (permanent_offline_time 3s)", other, time.Since(killed).Round(time.Millisecond), victim)
}
