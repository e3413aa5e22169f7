//go:build unix

package cluster

import (
	"context"
	"fmt"
	"testing"
	"time"

	"obkv/test/internal/realcluster"
)

// TestBootstrapAndRestart: four servers over two regions come up as one cluster (every server
// ACTIVE, the system tenant, a meta leader); a tenant and a table are created and placed; after
// every server is killed and restarted, the same cluster resumes from the data directories: same
// tenants and tables (same IDs), every partition leads again from the primary zone, and no
// replica's applied index went back.
func TestBootstrapAndRestart(t *testing.T) {
	ctx := realcluster.Context(t, 60*time.Second)
	c := newCluster(t, realcluster.FourZones, nil)
	c.StartAll()
	t.Logf("cluster ready in %v", c.waitReady(ctx).Round(time.Millisecond))

	var servers []realcluster.ServerRow
	c.MustCtl(ctx, &servers, "show", "servers")
	wantRegion := map[string]string{"z1": "r1", "z2": "r1", "z3": "r1", "z4": "r2"}
	for _, s := range servers {
		if s.Status != "ACTIVE" || wantRegion[s.Zone] != s.Region || c.ZoneOf(s.Server) != s.Zone {
			t.Errorf("show servers: %+v, want ACTIVE in zone %s, region %s", s, c.ZoneOf(s.Server), wantRegion[c.ZoneOf(s.Server)])
		}
	}

	c.setupTenant(ctx, "t1", "p1", 1, "z1,z2,z3,z4", "F@z1,F@z2,F@z3,R@z4", "z1;z2,z3")
	c.MustCtl(ctx, nil, "create", "table", "t1.orders", "--partitions", "4")
	d, _ := c.waitLeaders(ctx, "t1", "orders", 4, "z1")
	t.Logf("4 leaders in z1 %v after create table", d.Round(time.Millisecond))

	var tenantsBefore []tenantRow
	var tablesBefore []tableRow
	c.MustCtl(ctx, &tenantsBefore, "show", "tenants")
	c.MustCtl(ctx, &tablesBefore, "show", "tables")
	rowsBefore, err := c.Replicas(ctx, "t1")
	if err != nil {
		t.Fatal(err)
	}
	checkReplicaTypes(t, rowsBefore, map[string]string{"z1": "FULL", "z2": "FULL", "z3": "FULL", "z4": "READONLY"})

	c.KillAll()
	c.StartAll()
	t.Logf("cluster ready again %v after restarting every server", c.waitReady(ctx).Round(time.Millisecond))

	var tenantsAfter []tenantRow
	var tablesAfter []tableRow
	c.MustCtl(ctx, &tenantsAfter, "show", "tenants")
	c.MustCtl(ctx, &tablesAfter, "show", "tables")
	if !equalRows(tenantsBefore, tenantsAfter) {
		t.Errorf("tenants changed across the restart:\nbefore %+v\nafter  %+v", tenantsBefore, tenantsAfter)
	}
	if !equalRows(tablesBefore, tablesAfter) || len(tablesAfter) != 1 || tablesAfter[0] != (tableRow{Tenant: "t1", Name: "orders", ID: tablesAfter[0].ID, Partitions: 4}) {
		t.Errorf("tables changed across the restart:\nbefore %+v\nafter  %+v", tablesBefore, tablesAfter)
	}
	d, _ = c.waitLeaders(ctx, "t1", "orders", 4, "z1")
	t.Logf("4 leaders back in z1 %v after the cluster was ready", d.Round(time.Millisecond))

	// Applied indexes never go back (DESIGN.md invariant 4), across a restart too. Wait for
	// every replica to report, then compare with what it had applied before.
	before := map[[2]any]uint64{}
	for _, r := range rowsBefore {
		before[[2]any{r.Partition, r.Server}] = r.AppliedIndex
	}
	c.WaitFor(ctx, "every replica of t1.orders to report an applied index at least its last one", func(ctx context.Context) (bool, string) {
		rows, err := c.Replicas(ctx, "t1")
		if err != nil {
			return false, err.Error()
		}
		for _, r := range rows {
			if r.Role == "UNKNOWN" || r.Role == "OFFLINE" || r.AppliedIndex < before[[2]any{r.Partition, r.Server}] {
				return false, fmt.Sprintf("p%d on %s: role %s applied %d, before the restart %d", r.Partition, r.Server, r.Role, r.AppliedIndex, before[[2]any{r.Partition, r.Server}])
			}
		}
		return len(rows) == len(rowsBefore), fmt.Sprintf("%d rows, want %d", len(rows), len(rowsBefore))
	})
}

// checkReplicaTypes checks every replica has the type its zone's locality says.
func checkReplicaTypes(t *testing.T, rows []realcluster.ReplicaRow, want map[string]string) {
	t.Helper()
	for _, r := range rows {
		if want[r.Zone] != r.Type {
			t.Errorf("replica %+v: type %s, want %s in zone %s", r, r.Type, want[r.Zone], r.Zone)
		}
	}
}

func equalRows[T comparable](a, b []T) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
