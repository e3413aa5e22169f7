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
		return realcluster.Ready(ctx, c.File, len(c.Servers))
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
