//go:build unix

package cluster

import (
	"context"
	"fmt"
	"testing"
	"time"

	"obkv/test/internal/realcluster"
)

// testCluster is a realcluster.Cluster owned by one test, with this suite's helpers.
type testCluster struct {
	*realcluster.Cluster
	t *testing.T
}

// newCluster writes a cluster file of topo with settings (over realcluster.BaseSettings); see
// realcluster.New.
func newCluster(t *testing.T, topo realcluster.Topology, settings map[string]string) *testCluster {
	t.Helper()
	return &testCluster{Cluster: realcluster.New(t, "", topo, settings), t: t}
}

// tenantRow is one row of `obctl show tenants -o json`.
type tenantRow struct {
	Name             string `json:"name"`
	ID               uint64 `json:"id"`
	ResourcePoolList string `json:"resource_pool_list"`
	ReplicaNum       int    `json:"replica_num"`
	Locality         string `json:"locality"`
	PrimaryZone      string `json:"primary_zone"`
}

// tableRow is one row of `obctl show tables -o json`.
type tableRow struct {
	Tenant     string `json:"tenant"`
	Name       string `json:"name"`
	ID         uint64 `json:"id"`
	Partitions int    `json:"partitions"`
}

// waitReady waits until the root service sees every server ACTIVE, the system tenant exists
// and the meta partition has a leader.
func (c *testCluster) waitReady(ctx context.Context) time.Duration {
	c.t.Helper()
	return c.WaitFor(ctx, "the cluster to be ready", func(ctx context.Context) (bool, string) {
		var tenants []tenantRow
		if err := c.Ctl(ctx, &tenants, "show", "tenants"); err != nil {
			return false, err.Error()
		}
		if !hasTenant(tenants, "sys") {
			return false, fmt.Sprintf("no sys tenant yet: %+v", tenants)
		}
		return realcluster.Ready(ctx, c.File, len(c.Servers))
	})
}

func hasTenant(rows []tenantRow, name string) bool {
	for _, r := range rows {
		if r.Name == name {
			return true
		}
	}
	return false
}

// leadersByZone counts leaders per zone.
func leadersByZone(ls map[int]realcluster.ReplicaRow) map[string]int {
	n := map[string]int{}
	for _, r := range ls {
		n[r.Zone]++
	}
	return n
}

// spreadWithin reports whether the leaders are all in zones and spread over them evenly
// (counts differ by at most one), and describes them otherwise.
func spreadWithin(ls map[int]realcluster.ReplicaRow, zones ...string) (bool, string) {
	n := leadersByZone(ls)
	lo, hi, total := -1, 0, 0
	for _, z := range zones {
		k := n[z]
		total += k
		if lo < 0 || k < lo {
			lo = k
		}
		if k > hi {
			hi = k
		}
	}
	if total != len(ls) || hi-lo > 1 {
		return false, fmt.Sprintf("leaders per zone %v, want all %d in %v spread within one", n, len(ls), zones)
	}
	return true, ""
}

// waitLeaders waits until every one of the parts partitions of tenant.table has exactly one
// leader, all of them in zones and spread evenly over them, and returns how long it took and
// the leaders.
func (c *testCluster) waitLeaders(ctx context.Context, tenant, table string, parts int, zones ...string) (time.Duration, map[int]realcluster.ReplicaRow) {
	c.t.Helper()
	var got map[int]realcluster.ReplicaRow
	d := c.WaitFor(ctx, fmt.Sprintf("the %d leaders of %s.%s spread over %v", parts, tenant, table, zones), func(ctx context.Context) (bool, string) {
		rows, err := c.Replicas(ctx, tenant)
		if err != nil {
			return false, err.Error()
		}
		ls, msg := realcluster.Leaders(rows, table, parts)
		if msg != "" {
			return false, msg
		}
		c.checkOnlyFullLead(rows)
		if ok, msg := spreadWithin(ls, zones...); !ok {
			return false, msg + ": " + realcluster.Describe(rows, table)
		}
		got = ls
		return true, ""
	})
	return d, got
}

// checkOnlyFullLead fails the test if a LOGONLY or READONLY replica is shown as a leader
// (DESIGN.md invariant 3).
func (c *testCluster) checkOnlyFullLead(rows []realcluster.ReplicaRow) {
	c.t.Helper()
	for _, r := range rows {
		if r.Role == "LEADER" && r.Type != "FULL" {
			c.t.Errorf("a %s replica leads: %+v", r.Type, r)
		}
	}
}

// setupTenant creates a unit u_TENANT, pool and tenant in one go.
func (c *testCluster) setupTenant(ctx context.Context, tenant, pool string, unitNum int, zones, locality, primaryZone string) {
	c.t.Helper()
	c.MustCtl(ctx, nil, "create", "resource-unit", "u_"+tenant, "--max-cpu", "1", "--memory-size", "1GiB")
	c.MustCtl(ctx, nil, "create", "resource-pool", pool, "--unit", "u_"+tenant, "--unit-num", fmt.Sprint(unitNum), "--zone-list", zones)
	args := []string{"create", "tenant", tenant, "--resource-pool-list", pool, "--primary-zone", primaryZone}
	if locality != "" {
		args = append(args, "--locality", locality)
	}
	c.MustCtl(ctx, nil, args...)
}
