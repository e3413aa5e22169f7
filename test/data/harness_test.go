//go:build unix

package data

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

// waitReady waits until the root service sees every server ACTIVE
// and the meta partition has a leader.
func (c *testCluster) waitReady(ctx context.Context) time.Duration {
	c.t.Helper()
	return c.WaitFor(ctx, "the cluster to be ready", func(ctx context.Context) (bool, string) {
		var servers []realcluster.ServerRow
		if err := c.Ctl(ctx, &servers, "show", "servers"); err != nil {
			return false, err.Error()
		}
		active := 0
		for _, s := range servers {
			if s.Status == "ACTIVE" {
				active++
			}
		}
		if active != len(c.Servers) || len(servers) != len(c.Servers) {
			return false, fmt.Sprintf("servers: %+v", servers)
		}
		rows, err := c.Replicas(ctx, "sys")
		if err != nil {
			return false, err.Error()
		}
		if _, msg := realcluster.Leaders(rows, "__all_meta", 1); msg != "" {
			return false, msg
		}
		return true, ""
	})
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
