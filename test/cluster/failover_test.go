//go:build unix

package cluster

import (
	"context"
	"fmt"
	"testing"
	"time"

	"obkv/test/internal/realcluster"
)

// failoverBound is how long, after a server dies or returns, the test allows for every
// partition to lead again from the right zones.
const failoverBound = 10 * time.Second

// TestFailoverAndReturn: under primary_zone "z1;z2,z3" all 6 leaders are in z1; after SIGKILL of
// the z1 server every partition leads from z2 or z3, split 3/3, within failoverBound; after the
// server restarts, all leaders return to z1 within failoverBound. The meta partition (and with
// it the root service) fails over and returns too.
func TestFailoverAndReturn(t *testing.T) {
	ctx := realcluster.Context(t, 60*time.Second)
	c := newCluster(t, realcluster.FourZones, nil)
	c.StartAll()
	c.waitReady(ctx)
	c.setupTenant(ctx, "t1", "p1", 1, "z1,z2,z3,z4", "F@z1,F@z2,F@z3,R@z4", "z1;z2,z3")
	c.MustCtl(ctx, nil, "create", "table", "t1.orders", "--partitions", "6")
	c.waitLeaders(ctx, "t1", "orders", 6, "z1")
	metaLeader(ctx, t, c, "s1")

	killed := time.Now()
	c.Kill("s1")
	elsewhere, even := c.waitMoved(ctx, killed, "t1", "orders", 6, "z2", "z3")
	t.Logf("after SIGKILL of s1: every partition led from z2/z3 after %v, split evenly after %v",
		elsewhere.Round(time.Millisecond), even.Round(time.Millisecond))
	if even > failoverBound {
		t.Errorf("failover took %v, want at most %v", even, failoverBound)
	}
	// Until gossip declares s1 dead (a few seconds; the leaders may move sooner) its replicas
	// show as UNKNOWN: they stopped reporting. Then they must show as OFFLINE.
	c.WaitFor(ctx, "every replica on the killed s1 shown OFFLINE", func(ctx context.Context) (bool, string) {
		rows, err := c.Replicas(ctx, "t1")
		if err != nil {
			return false, err.Error()
		}
		for _, r := range rows {
			if r.Server == "s1" && r.Role != "OFFLINE" {
				return false, fmt.Sprintf("%+v", r)
			}
		}
		return true, ""
	})
	if ls := metaLeader(ctx, t, c, ""); ls == "s1" {
		t.Errorf("meta partition still led by the killed s1")
	}
	c.waitStatus(ctx, "s1", "INACTIVE")

	restarted := time.Now()
	c.Start("s1")
	_, back := c.waitMoved(ctx, restarted, "t1", "orders", 6, "z1")
	t.Logf("after restart of s1: all leaders back in z1 after %v", back.Round(time.Millisecond))
	if back > failoverBound {
		t.Errorf("return took %v, want at most %v", back, failoverBound)
	}
	metaLeader(ctx, t, c, "s1")
	c.waitStatus(ctx, "s1", "ACTIVE")
}

// waitStatus waits until show servers lists server with status.
func (c *testCluster) waitStatus(ctx context.Context, server, status string) {
	c.t.Helper()
	c.WaitFor(ctx, fmt.Sprintf("show servers to list %s %s", server, status), func(ctx context.Context) (bool, string) {
		var rows []realcluster.ServerRow
		if err := c.Ctl(ctx, &rows, "show", "servers"); err != nil {
			return false, err.Error()
		}
		for _, r := range rows {
			if r.Server == server {
				return r.Status == status, fmt.Sprintf("%+v", r)
			}
		}
		return false, fmt.Sprintf("%s not listed: %+v", server, rows)
	})
}

// waitMoved waits, bounded by ctx and failoverBound past since, until every partition has one
// leader in zones and they are spread over zones within one. It returns when, counted from
// since, every partition first had a leader in zones, and when they were also spread.
func (c *testCluster) waitMoved(ctx context.Context, since time.Time, tenant, table string, parts int, zones ...string) (time.Duration, time.Duration) {
	c.t.Helper()
	ctx, cancel := context.WithDeadline(ctx, since.Add(failoverBound))
	defer cancel()
	var first time.Duration
	in := map[string]bool{}
	for _, z := range zones {
		in[z] = true
	}
	c.WaitFor(ctx, fmt.Sprintf("the leaders of %s.%s to move to %v", tenant, table, zones), func(ctx context.Context) (bool, string) {
		rows, err := c.Replicas(ctx, tenant)
		if err != nil {
			return false, err.Error()
		}
		now := time.Since(since)
		ls, msg := realcluster.Leaders(rows, table, parts)
		if msg != "" {
			return false, msg
		}
		c.checkOnlyFullLead(rows)
		for _, r := range ls {
			if !in[r.Zone] {
				return false, realcluster.Describe(rows, table)
			}
		}
		if first == 0 {
			first = now
		}
		if ok, msg := spreadWithin(ls, zones...); !ok {
			return false, msg + ": " + realcluster.Describe(rows, table)
		}
		return true, ""
	})
	return first, time.Since(since)
}

// metaLeader waits for the meta partition to have one leader, on want unless want is "", and
// returns it.
func metaLeader(ctx context.Context, t *testing.T, c *testCluster, want string) string {
	t.Helper()
	var got string
	c.WaitFor(ctx, "a meta partition leader on "+want, func(ctx context.Context) (bool, string) {
		rows, err := c.Replicas(ctx, "sys")
		if err != nil {
			return false, err.Error()
		}
		ls, msg := realcluster.Leaders(rows, "__all_meta", 1)
		if msg != "" {
			return false, msg
		}
		got = ls[0].Server
		return want == "" || got == want, realcluster.Describe(rows, "__all_meta")
	})
	return got
}
