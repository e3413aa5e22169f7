// Package tenant is the rule book of the root service for resource units, resource pools,
// tenants, localities, primary zones and tables, in OceanBase's model, and the pure placement
// policy that follows from them (docs/tenants.md has every rule with its message).
//
// # Contract
//
// The package is pure: no I/O, no goroutines, no clock, no randomness (test/lint enforces the
// imports). Every function's result depends only on its arguments; maps are never iterated where
// their order could leak into a result.
//
// Catalog is the state the root service replicates in its meta partition. It is a plain value:
// it round-trips through encoding/json, Clone deep-copies it, and every method either applies
// its whole change and returns nil or returns an error and leaves the catalog unchanged. The
// methods take the cluster's Topology as an argument; the catalog never stores it.
//
// Errors name the value and the rule that rejected it, lowercase, without a final period
// (`primary_zone "z4": zone z4 has no FULL replica (locality F@z1,F@z2,F@z3,R@z4)`), and match
// one of ErrInvalid, ErrNotFound, ErrExists, ErrInUse with errors.Is. Bad input never panics.
//
// # Model
//
//   - A Unit sizes one unit (max_cpu, min_cpu, memory_size, log_disk_size).
//   - A Pool asks for unit_num units of a Unit in each zone of its zone_list, each unit on a
//     different server of the zone (PlaceUnits chooses them).
//   - A Tenant holds one or more pools (disjoint zones, equal unit_num, no pool shared with
//     another tenant), a Locality (one replica per zone: F, L or R) and a PrimaryZone.
//   - A Table belongs to a tenant and has hash partitions (PartitionOf). Each partition is one
//     Paxos group with one replica per locality zone (PlaceReplicas), led from the top alive
//     primary_zone level (LeaderZones, AssignLeaders, Priority).
//
// # Invariants
//
//   - Catalog: every pool's unit exists; every tenant's pools exist, belong to no other tenant,
//     cover disjoint zones and share one unit_num; every tenant's Locality is normalized, valid
//     (Locality.Validate) and within its pools' zones; ReplicaNum = len(Locality); PrimaryZone is
//     normalized and names only zones with a FULL replica; every table's tenant exists; IDs are
//     unique and below NextID.
//   - Locality: sorted by zone, one replica per zone, at least one FULL replica, L <= F (so every
//     majority of voters holds a FULL replica).
//   - A locality change runs as LocalityStep values, one replica at a time, each leaving a valid
//     locality, with at most one Paxos (voter) change per ALTER, as OceanBase allows.
package tenant
