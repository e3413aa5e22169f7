package tenant

import (
	"encoding/json"
	"math"
	"reflect"
	"testing"
)

// baseCatalog has unit u1, pools p123 (z1,z2,z3, unit_num 1), p4 (z4, unit_num 1), p12x2
// (z1,z2, unit_num 2), p3 (z3), pfree (z1), and no tenant.
func baseCatalog(t *testing.T) *Catalog {
	t.Helper()
	topo := testTopology()
	var c Catalog
	if _, err := c.CreateUnit(Unit{Name: "u1", MaxCPU: 2, MemorySize: GiB}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []Pool{
		{Name: "p123", Unit: "u1", UnitNum: 1, ZoneList: []string{"z3", "z1", "z2"}},
		{Name: "p4", Unit: "u1", UnitNum: 1, ZoneList: []string{"z4"}},
		{Name: "p12x2", Unit: "u1", UnitNum: 2, ZoneList: []string{"z1", "z2"}},
		{Name: "p3", Unit: "u1", UnitNum: 1, ZoneList: []string{"z3"}},
		{Name: "pfree", Unit: "u1", UnitNum: 1, ZoneList: []string{"z1"}},
	} {
		if _, err := c.CreatePool(p, topo); err != nil {
			t.Fatal(err)
		}
	}
	return &c
}

func encode(t *testing.T, c *Catalog) string {
	t.Helper()
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// expectFail runs op, checks its error and that the catalog did not change.
func expectFail(t *testing.T, c *Catalog, kind error, msg string, op func() error) {
	t.Helper()
	before := encode(t, c)
	checkErr(t, op(), kind, msg)
	if after := encode(t, c); after != before {
		t.Errorf("failed operation changed the catalog:\nbefore %s\nafter  %s", before, after)
	}
}

func TestUnits(t *testing.T) {
	var c Catalog
	u, err := c.CreateUnit(Unit{Name: "small", MaxCPU: 2, MemorySize: 512 * MiB})
	checkErr(t, err, nil, "")
	if u.MinCPU != 2 || u.LogDiskSize != 3*512*MiB {
		t.Errorf("defaults not applied: %+v", u)
	}
	if c.Units["small"] != u {
		t.Errorf("stored %+v, returned %+v", c.Units["small"], u)
	}
	for _, tc := range []struct {
		u    Unit
		kind error
		msg  string
	}{
		{Unit{Name: "1u", MaxCPU: 1, MemorySize: GiB}, ErrInvalid, `unit name "1u" is not valid: it must start with a letter or '_' and hold only letters, digits and '_' (at most 64 bytes)`},
		{Unit{Name: "small", MaxCPU: 1, MemorySize: GiB}, ErrExists, `unit "small" already exists`},
		{Unit{Name: "u", MaxCPU: 0.5, MemorySize: GiB}, ErrInvalid, `unit "u": max_cpu 0.5 is below the minimum of 1`},
		{Unit{Name: "u", MaxCPU: math.NaN(), MemorySize: GiB}, ErrInvalid, `unit "u": max_cpu NaN is below the minimum of 1`},
		{Unit{Name: "u", MaxCPU: math.Inf(1), MemorySize: GiB}, ErrInvalid, `unit "u": max_cpu +Inf is above the maximum of 4096`},
		{Unit{Name: "u", MaxCPU: 2, MinCPU: 0.5, MemorySize: GiB}, ErrInvalid, `unit "u": min_cpu 0.5 is below the minimum of 1`},
		{Unit{Name: "u", MaxCPU: 2, MinCPU: 4, MemorySize: GiB}, ErrInvalid, `unit "u": min_cpu 4 exceeds max_cpu 2`},
		{Unit{Name: "u", MaxCPU: 2, MemorySize: MiB}, ErrInvalid, `unit "u": memory_size 1048576 is below the minimum of 268435456 (256MiB)`},
		{Unit{Name: "u", MaxCPU: 2, MemorySize: GiB, LogDiskSize: 100 * MiB}, ErrInvalid, `unit "u": log_disk_size 104857600 is below the minimum of 536870912 (512MiB)`},
		{Unit{Name: "u", MaxCPU: 2, MemorySize: math.MaxInt64}, ErrInvalid, `unit "u": memory_size 9223372036854775807 is above the maximum of 70368744177664 (64TiB)`},
		{Unit{Name: "u", MaxCPU: 2, MemorySize: 64<<40 + 1}, ErrInvalid, `unit "u": memory_size 70368744177665 is above the maximum of 70368744177664 (64TiB)`},
		{Unit{Name: "u", MaxCPU: 2, MemorySize: GiB, LogDiskSize: 1<<50 + 1}, ErrInvalid, `unit "u": log_disk_size 1125899906842625 is above the maximum of 1125899906842624 (1024TiB)`},
	} {
		expectFail(t, &c, tc.kind, tc.msg, func() error { _, err := c.CreateUnit(tc.u); return err })
	}
}

func TestPools(t *testing.T) {
	c := baseCatalog(t)
	topo := testTopology()
	if got := c.Pools["p123"].ZoneList; !reflect.DeepEqual(got, []string{"z1", "z2", "z3"}) {
		t.Errorf("zone_list not sorted: %v", got)
	}
	for _, tc := range []struct {
		p    Pool
		topo Topology
		kind error
		msg  string
	}{
		{Pool{Name: "p-1", Unit: "u1", UnitNum: 1, ZoneList: []string{"z1"}}, topo, ErrInvalid, `resource pool name "p-1" is not valid: it must start with a letter or '_' and hold only letters, digits and '_' (at most 64 bytes)`},
		{Pool{Name: "p4", Unit: "u1", UnitNum: 1, ZoneList: []string{"z1"}}, topo, ErrExists, `resource pool "p4" already exists`},
		{Pool{Name: "p9", Unit: "u9", UnitNum: 1, ZoneList: []string{"z1"}}, topo, ErrNotFound, `resource pool "p9": unit "u9" does not exist`},
		{Pool{Name: "p9", Unit: "u1", UnitNum: 0, ZoneList: []string{"z1"}}, topo, ErrInvalid, `resource pool "p9": unit_num 0 is below 1`},
		{Pool{Name: "p9", Unit: "u1", UnitNum: 1}, topo, ErrInvalid, `resource pool "p9": zone_list is empty`},
		{Pool{Name: "p9", Unit: "u1", UnitNum: 1, ZoneList: []string{"z1", "z2", "z1"}}, topo, ErrInvalid, `resource pool "p9": zone z1 is listed twice in zone_list`},
		{Pool{Name: "p9", Unit: "u1", UnitNum: 1, ZoneList: []string{"z1", "z9"}}, topo, ErrNotFound, `resource pool "p9": zone z9 does not exist`},
		{Pool{Name: "p9", Unit: "u1", UnitNum: 3, ZoneList: []string{"z1", "z2"}}, topo, ErrInvalid, `resource pool "p9": unit_num 3 exceeds the 2 servers in zone z1`},
		{Pool{Name: "p9", Unit: "u1", UnitNum: 2, ZoneList: []string{"z4"}}, topo, ErrInvalid, `resource pool "p9": unit_num 2 exceeds the 1 server in zone z4`},
		{Pool{Name: "p9", Unit: "u1", UnitNum: 1, ZoneList: []string{"z1"}}, Topology{Zones: []ZoneInfo{{Name: "z1", Servers: []string{"s1"}}, {Name: "z2", Servers: []string{"s1"}}}}, ErrInvalid, `topology: server s1 is in zones z1 and z2 (a server is in one zone)`},
	} {
		expectFail(t, c, tc.kind, tc.msg, func() error { _, err := c.CreatePool(tc.p, tc.topo); return err })
	}
	// Dependencies: a unit used by pools, a pool granted to a tenant.
	expectFail(t, c, ErrInUse, `unit "u1" is used by resource pools p123,p12x2,p3,p4,pfree; drop them first`, func() error { return c.DropUnit("u1") })
	expectFail(t, c, ErrNotFound, `unit "u9" does not exist`, func() error { return c.DropUnit("u9") })
	if _, err := c.CreateTenant(Tenant{Name: "t1", PoolList: []string{"p123"}}, topo); err != nil {
		t.Fatal(err)
	}
	expectFail(t, c, ErrInUse, `resource pool "p123" is granted to tenant t1; drop the tenant first`, func() error { return c.DropPool("p123") })
	expectFail(t, c, ErrNotFound, `resource pool "p9" does not exist`, func() error { return c.DropPool("p9") })
	checkErr(t, c.DropPool("pfree"), nil, "")
	checkErr(t, c.DropTenant("t1"), nil, "")
	checkErr(t, c.DropPool("p123"), nil, "")
}

func TestCreateTenantDefaults(t *testing.T) {
	c := baseCatalog(t)
	tn, err := c.CreateTenant(Tenant{Name: "t1", PoolList: []string{"p4", "p123"}}, testTopology())
	checkErr(t, err, nil, "")
	want := Tenant{Name: "t1", PoolList: []string{"p123", "p4"}, ReplicaNum: 4, Locality: "F@z1,F@z2,F@z3,F@z4", PrimaryZone: "RANDOM", ID: 1}
	if !reflect.DeepEqual(tn, want) {
		t.Errorf("got %+v\nwant %+v", tn, want)
	}
	tn2, err := c.CreateTenant(Tenant{Name: "t2", PoolList: []string{"p12x2"}, ReplicaNum: 2,
		Locality: "full{1}@z2, logonly{1}@z1", PrimaryZone: " z2 "}, testTopology())
	checkErr(t, err, nil, "")
	if tn2.Locality != "L@z1,F@z2" || tn2.PrimaryZone != "z2" || tn2.ID != 2 {
		t.Errorf("not normalized: %+v", tn2)
	}
	if got := c.TenantZones("t1"); !reflect.DeepEqual(got, []string{"z1", "z2", "z3", "z4"}) {
		t.Errorf("TenantZones = %v", got)
	}
	if owner, ok := c.PoolOwner("p4"); !ok || owner != "t1" {
		t.Errorf("PoolOwner(p4) = %q, %v", owner, ok)
	}
}

func TestCreateTenantRules(t *testing.T) {
	topo := testTopology()
	c := baseCatalog(t)
	if _, err := c.CreateTenant(Tenant{Name: "owner", PoolList: []string{"p3"}}, topo); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		t    Tenant
		kind error
		msg  string
	}{
		{"name", Tenant{Name: "", PoolList: []string{"p123"}}, ErrInvalid, `tenant name "" is not valid: it must start with a letter or '_' and hold only letters, digits and '_' (at most 64 bytes)`},
		{"exists", Tenant{Name: "owner", PoolList: []string{"p123"}}, ErrExists, `tenant "owner" already exists`},
		{"no pools", Tenant{Name: "t"}, ErrInvalid, `resource_pool_list (): empty (a tenant needs at least one resource pool)`},
		{"pool twice", Tenant{Name: "t", PoolList: []string{"p123", "p123"}}, ErrInvalid, `resource_pool_list (p123,p123): resource pool p123 is listed twice`},
		{"unknown pool", Tenant{Name: "t", PoolList: []string{"p123", "p9"}}, ErrNotFound, `resource_pool_list (p123,p9): resource pool p9 does not exist`},
		{"granted", Tenant{Name: "t", PoolList: []string{"p3"}}, ErrInUse, `resource_pool_list (p3): resource pool p3 has already been granted to tenant owner`},
		{"overlap", Tenant{Name: "t", PoolList: []string{"p123", "pfree"}}, ErrInvalid, `resource_pool_list (p123,pfree): resource pools p123 and pfree both cover zone z1 (a tenant has at most one pool per zone)`},
		{"unit_num", Tenant{Name: "t", PoolList: []string{"p12x2", "p4"}}, ErrInvalid, `resource_pool_list (p12x2,p4): resource pools p12x2 (unit_num 2) and p4 (unit_num 1) differ in unit_num (a tenant's pools must have the same unit_num)`},
		{"locality type", Tenant{Name: "t", PoolList: []string{"p123"}, Locality: "F@z1,X@z2"}, ErrInvalid, `locality "F@z1,X@z2": replica type X is not F, L, R, FULL, LOGONLY or READONLY`},
		{"locality two in zone", Tenant{Name: "t", PoolList: []string{"p123"}, Locality: "F@z1,R@z1"}, ErrInvalid, `locality "F@z1,R@z1": two replicas in zone z1 (F and R; a zone holds at most one replica)`},
		{"locality unknown zone", Tenant{Name: "t", PoolList: []string{"p123"}, Locality: "F@z1,F@z9"}, ErrNotFound, `locality "F@z1,F@z9": zone z9 does not exist`},
		{"locality outside pools", Tenant{Name: "t", PoolList: []string{"p123"}, Locality: "F@z1,F@z2,R@z4"}, ErrInvalid, `locality "F@z1,F@z2,R@z4": zone z4 is not in the tenant's zone list (z1,z2,z3)`},
		{"locality no F", Tenant{Name: "t", PoolList: []string{"p123"}, Locality: "L@z1,R@z2"}, ErrInvalid, `locality "L@z1,R@z2": no FULL replica (only a FULL replica can lead)`},
		{"locality L majority", Tenant{Name: "t", PoolList: []string{"p123"}, Locality: "F@z1,L@z2,L@z3"}, ErrInvalid, `locality "F@z1,L@z2,L@z3": 2 LOGONLY replicas outnumber the 1 FULL replica (every majority of the 3 voters must include a FULL replica)`},
		{"replica_num", Tenant{Name: "t", PoolList: []string{"p123"}, ReplicaNum: 2}, ErrInvalid, `replica_num 2 does not match the 3 replicas of locality F@z1,F@z2,F@z3`},
		{"primary_zone syntax", Tenant{Name: "t", PoolList: []string{"p123"}, PrimaryZone: "z1;;z2"}, ErrInvalid, `primary_zone "z1;;z2": level 2 is empty`},
		{"primary_zone unknown", Tenant{Name: "t", PoolList: []string{"p123"}, PrimaryZone: "z1;z9"}, ErrNotFound, `primary_zone "z1;z9": zone z9 does not exist`},
		{"primary_zone outside pools", Tenant{Name: "t", PoolList: []string{"p123"}, PrimaryZone: "z1;z4"}, ErrInvalid, `primary_zone "z1;z4": zone z4 is not in the tenant's zone list (z1,z2,z3)`},
		{"primary_zone no replica", Tenant{Name: "t", PoolList: []string{"p123"}, Locality: "F@z1,F@z2", PrimaryZone: "z3"}, ErrInvalid, `primary_zone "z3": zone z3 holds no replica (locality F@z1,F@z2)`},
		{"primary_zone no F", Tenant{Name: "t", PoolList: []string{"p123", "p4"}, Locality: "F@z1,F@z2,F@z3,R@z4", PrimaryZone: "z4"}, ErrInvalid, `primary_zone "z4": zone z4 has no FULL replica (locality F@z1,F@z2,F@z3,R@z4)`},
		{"bad topology", Tenant{Name: "t", PoolList: []string{"p123"}}, ErrInvalid, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tp := topo
			if tc.name == "bad topology" {
				tp = Topology{Zones: []ZoneInfo{{Name: "z1"}, {Name: "z1"}}}
			}
			expectFail(t, c, tc.kind, tc.msg, func() error { _, err := c.CreateTenant(tc.t, tp); return err })
		})
	}
}

func TestAlterTenant(t *testing.T) {
	topo := testTopology()
	c := baseCatalog(t)
	if _, err := c.CreateTenant(Tenant{Name: "t1", PoolList: []string{"p123", "p4"}, Locality: "F@z1,F@z2,F@z3", PrimaryZone: "z1;z2"}, topo); err != nil {
		t.Fatal(err)
	}
	tn, steps, err := c.AlterTenant("t1", TenantChange{Locality: "F@z1,F@z2,F@z3,R@z4"}, topo)
	checkErr(t, err, nil, "")
	if tn.Locality != "F@z1,F@z2,F@z3,R@z4" || tn.ReplicaNum != 4 || tn.PrimaryZone != "z1;z2" || len(steps) != 1 || steps[0].String() != "add R@z4" {
		t.Errorf("got %+v, %v", tn, steps)
	}
	tn, steps, err = c.AlterTenant("t1", TenantChange{PrimaryZone: "z3"}, topo)
	checkErr(t, err, nil, "")
	if tn.PrimaryZone != "z3" || len(steps) != 0 {
		t.Errorf("got %+v, %v", tn, steps)
	}
	for _, tc := range []struct {
		ch   TenantChange
		kind error
		msg  string
	}{
		{TenantChange{Locality: "F@z1,F@z2,F@z4"}, ErrInvalid, `locality change F@z1,F@z2,F@z3,R@z4 -> F@z1,F@z2,F@z4: 2 Paxos replica changes (remove F@z3, convert z4 R->F); one ALTER changes at most one Paxos replica (READONLY changes may go along): alter to F@z1,F@z2,F@z3,F@z4 first`},
		{TenantChange{Locality: "F@z1,F@z2,R@z3,R@z4"}, ErrInvalid, `locality "F@z1,F@z2,R@z3,R@z4": the tenant's primary_zone "z3": zone z3 has no FULL replica (locality F@z1,F@z2,R@z3,R@z4); change primary_zone first or in the same ALTER`},
		{TenantChange{PrimaryZone: "z4"}, ErrInvalid, `primary_zone "z4": zone z4 has no FULL replica (locality F@z1,F@z2,F@z3,R@z4)`},
		{TenantChange{Locality: "F@z1,F@z2,F@z3,F@z5"}, ErrNotFound, `locality "F@z1,F@z2,F@z3,F@z5": zone z5 does not exist`},
	} {
		expectFail(t, c, tc.kind, tc.msg, func() error { _, _, err := c.AlterTenant("t1", tc.ch, topo); return err })
	}
	// The same change with primary_zone moved in the same ALTER goes through.
	tn, steps, err = c.AlterTenant("t1", TenantChange{Locality: "F@z1,F@z2,R@z3,R@z4", PrimaryZone: "z1,z2"}, topo)
	checkErr(t, err, nil, "")
	if tn.Locality != "F@z1,F@z2,R@z3,R@z4" || tn.PrimaryZone != "z1,z2" || len(steps) != 1 || steps[0].String() != "convert z3 F->R" {
		t.Errorf("got %+v, %v", tn, steps)
	}
	expectFail(t, c, ErrNotFound, `tenant "t9" does not exist`, func() error { _, _, err := c.AlterTenant("t9", TenantChange{}, topo); return err })
}

func TestTables(t *testing.T) {
	topo := testTopology()
	c := baseCatalog(t)
	if _, err := c.CreateTenant(Tenant{Name: "t1", PoolList: []string{"p123"}}, topo); err != nil {
		t.Fatal(err)
	}
	tb, err := c.CreateTable(Table{Name: "orders", Tenant: "t1", Partitions: 12})
	checkErr(t, err, nil, "")
	if tb.ID != 2 || c.NextID != 3 {
		t.Errorf("table ID %d, NextID %d", tb.ID, c.NextID)
	}
	for _, tc := range []struct {
		tb   Table
		kind error
		msg  string
	}{
		{Table{Name: "or-ders", Tenant: "t1", Partitions: 1}, ErrInvalid, `table name "or-ders" is not valid: it must start with a letter or '_' and hold only letters, digits and '_' (at most 64 bytes)`},
		{Table{Name: "x", Tenant: "t1", Partitions: 0}, ErrInvalid, `table "x": partitions 0 is outside 1..1024`},
		{Table{Name: "x", Tenant: "t1", Partitions: 1025}, ErrInvalid, `table "x": partitions 1025 is outside 1..1024`},
		{Table{Name: "x", Tenant: "t9", Partitions: 1}, ErrNotFound, `table "x": tenant "t9" does not exist`},
		{Table{Name: "orders", Tenant: "t1", Partitions: 1}, ErrExists, `table "orders" already exists in tenant t1`},
	} {
		expectFail(t, c, tc.kind, tc.msg, func() error { _, err := c.CreateTable(tc.tb); return err })
	}
	expectFail(t, c, ErrInUse, `tenant "t1" has 1 table (orders); drop them first`, func() error { return c.DropTenant("t1") })
	expectFail(t, c, ErrNotFound, `table "x" does not exist in tenant t1`, func() error { return c.DropTable("t1", "x") })
	expectFail(t, c, ErrNotFound, `tenant "t9" does not exist`, func() error { return c.DropTenant("t9") })
	checkErr(t, c.DropTable("t1", "orders"), nil, "")
	checkErr(t, c.DropTenant("t1"), nil, "")
	// IDs are never reused.
	tn, _ := c.CreateTenant(Tenant{Name: "t1", PoolList: []string{"p123"}}, topo)
	if tn.ID != 3 {
		t.Errorf("tenant ID %d, want 3", tn.ID)
	}
}

func TestCatalogJSONAndClone(t *testing.T) {
	topo := testTopology()
	c := baseCatalog(t)
	if _, err := c.CreateTenant(Tenant{Name: "t1", PoolList: []string{"p123", "p4"}, Locality: "F@z1,F@z2,L@z3,R@z4", PrimaryZone: "z1;z2"}, topo); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateTable(Table{Name: "orders", Tenant: "t1", Partitions: 4}); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var back Catalog
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&back, c) {
		t.Errorf("JSON round trip differs:\n%+v\n%+v", back, *c)
	}
	b2, _ := json.Marshal(&back)
	if string(b) != string(b2) {
		t.Errorf("encoding is not deterministic")
	}
	cl := c.Clone()
	if !reflect.DeepEqual(&cl, c) {
		t.Errorf("clone differs")
	}
	// Mutating the clone leaves the original alone, down to the slices.
	cl.Pools["p123"].ZoneList[0] = "zz"
	cl.Tenants["t1"].PoolList[0] = "zz"
	if _, err := cl.CreateTable(Table{Name: "more", Tenant: "t1", Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	if c.Pools["p123"].ZoneList[0] != "z1" || c.Tenants["t1"].PoolList[0] != "p123" || len(c.Tables) != 1 || c.NextID != 3 {
		t.Errorf("clone shares state with the original")
	}
	var zero Catalog
	if z := zero.Clone(); !reflect.DeepEqual(z, zero) {
		t.Errorf("zero clone = %+v", z)
	}
}
