//go:build unix

package cluster

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"obkv/test/internal/realcluster"
)

// TestValidationErrors: every DDL that breaks a rule fails with a non-zero exit and one line on
// stderr that names the value and the rule (docs/tenants.md has the messages), and leaves the
// catalog as it was. The cluster is realcluster.FourZones plus a second server in z1, so that a pool can have
// unit_num 2 in one zone.
func TestValidationErrors(t *testing.T) {
	ctx := realcluster.Context(t, 60*time.Second)
	topo := realcluster.FourZones
	topo.Servers = append(slices.Clone(topo.Servers), [2]string{"s5", "z1"})
	c := newCluster(t, topo, nil)
	c.StartAll()
	c.waitReady(ctx)

	c.setupTenant(ctx, "t1", "p1", 1, "z1,z2,z3,z4", "F@z1,F@z2,F@z3,R@z4", "z1;z2,z3")
	for _, p := range [][]string{
		{"pa", "1", "z1,z2"},
		{"pb", "1", "z2,z3"},
		{"p2x", "2", "z1"},
		{"pz2", "1", "z2"},
		{"pfree", "1", "z1,z2,z3"},
		{"pall", "1", "z1,z2,z3,z4"},
	} {
		c.MustCtl(ctx, nil, "create", "resource-pool", p[0], "--unit", "u_t1", "--unit-num", p[1], "--zone-list", p[2])
	}
	var poolsBefore, tenantsBefore []map[string]any
	c.MustCtl(ctx, &poolsBefore, "show", "resource-pools")
	c.MustCtl(ctx, &tenantsBefore, "show", "tenants")

	for _, tc := range []struct {
		name string
		args []string
		want []string // fragments of the message, in order
	}{
		{"duplicate zone in zone_list",
			[]string{"create", "resource-pool", "pdup", "--unit", "u_t1", "--zone-list", "z1,z2,z1"},
			[]string{`resource pool "pdup": zone z1 is listed twice in zone_list`}},
		{"zone not in the cluster",
			[]string{"create", "resource-pool", "pz9", "--unit", "u_t1", "--zone-list", "z1,z9"},
			[]string{`resource pool "pz9": zone z9 does not exist`}},
		{"unit_num above the one server of a zone",
			[]string{"create", "resource-pool", "pbig", "--unit", "u_t1", "--unit-num", "2", "--zone-list", "z1,z2"},
			[]string{`resource pool "pbig": unit_num 2 exceeds the 1 server in zone z2`}},
		{"unit_num above the two servers of a zone",
			[]string{"create", "resource-pool", "pbig", "--unit", "u_t1", "--unit-num", "3", "--zone-list", "z1"},
			[]string{`resource pool "pbig": unit_num 3 exceeds the 2 servers in zone z1`}},
		{"pool of another tenant",
			[]string{"create", "tenant", "t2", "--resource-pool-list", "p1"},
			[]string{`resource_pool_list (p1): resource pool p1 has already been granted to tenant t1`}},
		{"pools overlap in a zone",
			[]string{"create", "tenant", "t2", "--resource-pool-list", "pa,pb"},
			[]string{`resource_pool_list (pa,pb): resource pools pa and pb both cover zone z2 (a tenant has at most one pool per zone)`}},
		{"pools differ in unit_num",
			[]string{"create", "tenant", "t2", "--resource-pool-list", "p2x,pz2"},
			[]string{`resource_pool_list (p2x,pz2): resource pools `, `p2x (unit_num 2)`, `pz2 (unit_num 1)`, `differ in unit_num (a tenant's pools must have the same unit_num)`}},
		{"locality with an unknown replica type",
			[]string{"create", "tenant", "t2", "--resource-pool-list", "pfree", "--locality", "F@z1,X@z2"},
			[]string{`locality "F@z1,X@z2": replica type X is not F, L, R, FULL, LOGONLY or READONLY`}},
		{"locality item not TYPE@ZONE",
			[]string{"create", "tenant", "t2", "--resource-pool-list", "pfree", "--locality", "F z1,F@z2"},
			[]string{`locality "F z1,F@z2": replica "F z1" is not TYPE@ZONE`}},
		{"locality with two replicas in a zone",
			[]string{"create", "tenant", "t2", "--resource-pool-list", "pfree", "--locality", "F@z1,R@z1"},
			[]string{`locality "F@z1,R@z1": two replicas in zone z1`}},
		{"locality with more L than F",
			[]string{"create", "tenant", "t2", "--resource-pool-list", "pfree", "--locality", "F@z1,L@z2,L@z3"},
			[]string{`locality "F@z1,L@z2,L@z3": 2 LOGONLY replicas outnumber the 1 FULL replica`}},
		{"locality without F",
			[]string{"create", "tenant", "t2", "--resource-pool-list", "pfree", "--locality", "L@z1,R@z2"},
			[]string{`locality "L@z1,R@z2": no FULL replica (only a FULL replica can lead)`}},
		{"primary_zone with an empty level",
			[]string{"create", "tenant", "t2", "--resource-pool-list", "pfree", "--primary-zone", "z1;;z2"},
			[]string{`primary_zone "z1;;z2": level 2 is empty`}},
		{"primary_zone blank",
			[]string{"create", "tenant", "t2", "--resource-pool-list", "pfree", "--primary-zone", " "},
			[]string{`primary_zone " ": empty (name zones, e.g. z1;z2,z3, or RANDOM)`}},
		{"primary_zone with an empty zone",
			[]string{"create", "tenant", "t2", "--resource-pool-list", "pfree", "--primary-zone", "z1,,z2"},
			[]string{`primary_zone "z1,,z2": level 1 has an empty zone`}},
		{"primary_zone without a FULL replica",
			[]string{"create", "tenant", "t2", "--resource-pool-list", "pall", "--locality", "F@z1,F@z2,F@z3,R@z4", "--primary-zone", "z4"},
			[]string{`primary_zone "z4": zone z4 has no FULL replica (locality F@z1,F@z2,F@z3,R@z4)`}},
		{"primary_zone outside the cluster",
			[]string{"create", "tenant", "t2", "--resource-pool-list", "pfree", "--primary-zone", "z1;z9"},
			[]string{`primary_zone "z1;z9": zone z9 does not exist`}},
		{"alter to a primary_zone without a FULL replica",
			[]string{"alter", "tenant", "t1", "--primary-zone", "z4;z1"},
			[]string{`primary_zone "z4;z1": zone z4 has no FULL replica`}},
		{"table of an unknown tenant",
			[]string{"create", "table", "t9.orders", "--partitions", "2"},
			[]string{`table "orders": tenant "t9" does not exist`}},
		{"table without a tenant",
			[]string{"create", "table", "orders"},
			[]string{`"orders": want TENANT.TABLE`}},
		{"table with two dots",
			[]string{"create", "table", "t1.a.b"},
			[]string{`"t1.a.b": want TENANT.TABLE`}},
		{"table partitions out of range",
			[]string{"create", "table", "t1.big", "--partitions", "0"},
			[]string{`table "big": partitions 0 is outside 1..1024`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.Run(ctx, append(tc.args, "-o", "json")...)
			checkFailure(t, err, tc.want)
		})
	}
	t.Run("output yaml", func(t *testing.T) {
		_, err := c.Run(ctx, "show", "tenants", "-o", "yaml")
		checkFailure(t, err, []string{`-o "yaml": want table or json`})
	})

	// A failed DDL leaves the catalog unchanged.
	var poolsAfter, tenantsAfter []map[string]any
	c.MustCtl(ctx, &poolsAfter, "show", "resource-pools")
	c.MustCtl(ctx, &tenantsAfter, "show", "tenants")
	if names(poolsAfter) != names(poolsBefore) || names(tenantsAfter) != names(tenantsBefore) {
		t.Errorf("failed DDL changed the catalog: pools %s -> %s, tenants %s -> %s",
			names(poolsBefore), names(poolsAfter), names(tenantsBefore), names(tenantsAfter))
	}
	var tables []tableRow
	c.MustCtl(ctx, &tables, "show", "tables")
	if len(tables) != 0 {
		t.Errorf("failed create table left tables: %+v", tables)
	}
	var tenants []tenantRow
	c.MustCtl(ctx, &tenants, "show", "tenants")
	for _, tn := range tenants {
		if tn.Name == "t1" && tn.PrimaryZone != "z1;z2,z3" {
			t.Errorf("failed alter changed t1's primary_zone to %q", tn.PrimaryZone)
		}
	}
}

// checkFailure checks err is obctl's failure: exit status 1, one line "obctl: MESSAGE" on
// stderr, MESSAGE holding every fragment of want in order.
func checkFailure(t *testing.T, err error, want []string) {
	t.Helper()
	var ce *realcluster.CtlError
	if !errors.As(err, &ce) {
		t.Fatalf("want a failed obctl, got %v", err)
	}
	line := strings.TrimSuffix(ce.Stderr, "\n")
	if ce.Code == 0 || strings.Contains(line, "\n") || !strings.HasPrefix(line, "obctl: ") {
		t.Errorf("exit %d, stderr %q: want a non-zero exit and one line \"obctl: ...\"", ce.Code, ce.Stderr)
	}
	rest := line
	for _, w := range want {
		i := strings.Index(rest, w)
		if i < 0 {
			t.Errorf("stderr %q: want %q (fragments in order: %q)", line, w, want)
			return
		}
		rest = rest[i+len(w):]
	}
}

// names joins the "name" column of rows.
func names(rows []map[string]any) string {
	var out []string
	for _, r := range rows {
		s, _ := r["name"].(string)
		out = append(out, s)
	}
	return strings.Join(out, ",")
}
