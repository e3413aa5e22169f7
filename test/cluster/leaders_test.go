//go:build unix

package cluster

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"obkv/test/internal/realcluster"
)

// TestLeaderPlacement runs three tenants on the 3x2 topology (three zones of two servers):
// primary_zone "z1;z2,z3" puts all 6 leaders in z1; "z1,z2;z3" splits them 3/3 between z1 and
// z2; RANDOM spreads them 2/2/2. Replicas are one per zone, on the tenant's unit servers.
func TestLeaderPlacement(t *testing.T) {
	ctx := realcluster.Context(t, 60*time.Second)
	c := newCluster(t, realcluster.ThreeByTwo, nil)
	c.StartAll()
	c.waitReady(ctx)

	c.setupTenant(ctx, "ta", "pa", 1, "z1,z2,z3", "", "z1;z2,z3")
	c.setupTenant(ctx, "tb", "pb", 2, "z1,z2,z3", "", "z1,z2;z3")
	c.setupTenant(ctx, "tc", "pc", 1, "z1,z2,z3", "", "RANDOM")
	for _, tn := range []string{"ta", "tb", "tc"} {
		c.MustCtl(ctx, nil, "create", "table", tn+".orders", "--partitions", "6")
	}

	cases := []struct {
		tenant string
		zones  []string
	}{
		{"ta", []string{"z1"}},
		{"tb", []string{"z1", "z2"}},
		{"tc", []string{"z1", "z2", "z3"}},
	}
	for _, tc := range cases {
		d, ls := c.waitLeaders(ctx, tc.tenant, "orders", 6, tc.zones...)
		t.Logf("%s: leaders per zone %v, per server %s, %v after create", tc.tenant, leadersByZone(ls), perServer(ls), d.Round(time.Millisecond))
	}

	// Placement: one replica per zone, every one FULL (the default locality), on servers of
	// the tenant's pool (unit_num 1: one server per zone; unit_num 2: both).
	var pools []map[string]any
	c.MustCtl(ctx, &pools, "show", "resource-pools")
	poolServers := map[string]map[string]bool{}
	for _, p := range pools {
		tn, _ := p["tenant"].(string)
		srvs, _ := p["servers"].(string)
		poolServers[tn] = map[string]bool{}
		for _, s := range strings.Split(srvs, ",") {
			poolServers[tn][s] = true
		}
	}
	for _, tc := range cases {
		rows, err := c.Replicas(ctx, tc.tenant)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]int{"ta": 3, "tb": 6, "tc": 3}[tc.tenant]
		if len(poolServers[tc.tenant]) != want {
			t.Errorf("%s: pool servers %v, want %d", tc.tenant, poolServers[tc.tenant], want)
		}
		zonesOf := map[int]map[string]bool{}
		for _, r := range rows {
			if zonesOf[r.Partition] == nil {
				zonesOf[r.Partition] = map[string]bool{}
			}
			if zonesOf[r.Partition][r.Zone] || r.Type != "FULL" || !poolServers[tc.tenant][r.Server] || c.ZoneOf(r.Server) != r.Zone {
				t.Errorf("%s: replica %+v: want one FULL replica per zone on a server of the tenant's pool (%v)", tc.tenant, r, poolServers[tc.tenant])
			}
			zonesOf[r.Partition][r.Zone] = true
		}
		if len(zonesOf) != 6 {
			t.Errorf("%s: replicas of %d partitions, want 6: %s", tc.tenant, len(zonesOf), realcluster.Describe(rows, "orders"))
		}
		for p, zs := range zonesOf {
			if len(zs) != 3 {
				t.Errorf("%s: partition %d has replicas in zones %v, want z1, z2, z3", tc.tenant, p, zs)
			}
		}
	}
}

// perServer describes leaders per server: "s1:2 s3:1".
func perServer(ls map[int]realcluster.ReplicaRow) string {
	n := map[string]int{}
	for _, r := range ls {
		n[r.Server]++
	}
	var out []string
	for s, k := range n {
		out = append(out, fmt.Sprintf("%s:%d", s, k))
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}
