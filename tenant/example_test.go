package tenant_test

import (
	"fmt"

	"obkv/tenant"
)

// Example walks the DDL of one tenant the way the root service applies it, then places its
// units, the replicas of one table and the leaders.
func Example() {
	topo := tenant.Topology{Zones: []tenant.ZoneInfo{
		{Name: "z1", Region: "hz", Servers: []string{"s1a", "s1b"}},
		{Name: "z2", Region: "hz", Servers: []string{"s2a", "s2b"}},
		{Name: "z3", Region: "sh", Servers: []string{"s3a", "s3b"}},
	}}
	var c tenant.Catalog
	u, _ := c.CreateUnit(tenant.Unit{Name: "small", MaxCPU: 2, MemorySize: tenant.GiB})
	fmt.Println("unit:", u.MinCPU, u.LogDiskSize/tenant.GiB, "GiB log disk")

	_, err := c.CreatePool(tenant.Pool{Name: "pool1", Unit: "small", UnitNum: 3, ZoneList: []string{"z1", "z2", "z3"}}, topo)
	fmt.Println(err)
	pool, _ := c.CreatePool(tenant.Pool{Name: "pool1", Unit: "small", UnitNum: 2, ZoneList: []string{"z1", "z2", "z3"}}, topo)

	_, err = c.CreateTenant(tenant.Tenant{Name: "shop", PoolList: []string{"pool1"}, Locality: "F@z1,F@z2,R@z3", PrimaryZone: "z3"}, topo)
	fmt.Println(err)
	t, _ := c.CreateTenant(tenant.Tenant{Name: "shop", PoolList: []string{"pool1"}, Locality: "F@z1,F@z2,R@z3", PrimaryZone: "z1;z2"}, topo)
	fmt.Println("tenant:", t.ID, t.ReplicaNum, t.Locality, t.PrimaryZone)
	tb, _ := c.CreateTable(tenant.Table{Name: "orders", Tenant: "shop", Partitions: 4})

	units, _ := tenant.PlaceUnits(pool, nil, topo, nil, nil)
	servers := tenant.UnitServers(units, t.PoolList)
	loc, _ := tenant.ParseLocality(t.Locality)
	pz, _ := tenant.ParsePrimaryZone(t.PrimaryZone)
	var parts [][]tenant.ReplicaPlacement
	for p := range tb.Partitions {
		reps, _ := tenant.PlaceReplicas(loc, servers, tb.ID, p)
		parts = append(parts, reps)
	}
	leaders := tenant.AssignLeaders(parts, pz, nil)
	for p, reps := range parts {
		fmt.Println("partition", p, reps, "leader", reps[leaders[p]].Server)
	}
	fmt.Println("key user:1 ->", tenant.PartitionOf([]byte("user:1"), tb.Partitions))
	// Output:
	// unit: 2 3 GiB log disk
	// resource pool "pool1": unit_num 3 exceeds the 2 servers in zone z1
	// primary_zone "z3": zone z3 has no FULL replica (locality F@z1,F@z2,R@z3)
	// tenant: 1 3 F@z1,F@z2,R@z3 z1;z2
	// partition 0 [{z1 s1a FULL} {z2 s2a FULL} {z3 s3a READONLY}] leader s1a
	// partition 1 [{z1 s1b FULL} {z2 s2b FULL} {z3 s3b READONLY}] leader s1b
	// partition 2 [{z1 s1a FULL} {z2 s2a FULL} {z3 s3a READONLY}] leader s1a
	// partition 3 [{z1 s1b FULL} {z2 s2b FULL} {z3 s3b READONLY}] leader s1b
	// key user:1 -> 3
}
