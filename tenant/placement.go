package tenant

import (
	"cmp"
	"math"
	"slices"
	"strings"

	"obkv/paxos"
)

// UnitAssignment places one unit of a pool on a server.
type UnitAssignment struct {
	Pool   string `json:"pool"`
	Zone   string `json:"zone"`
	Index  int    `json:"index"` // 0..unit_num-1 within the zone
	Server string `json:"server"`
}

func isAlive(alive map[string]bool, name string) bool { return alive == nil || alive[name] }

// PlaceUnits places the units of pool: UnitNum units in each zone of its zone list, each on a
// different alive server ("a physical server can accommodate only one resource unit in the same
// resource pool", oceanbase-doc tenant resource management; a tenant's pools cover disjoint
// zones, so this also gives DESIGN.md's "at most one unit of a tenant per server"). existing is every unit already placed in the cluster. Units of
// this pool that already sit on an alive server of the right zone stay; the others go, one at a
// time in index order, to the alive server with the fewest units of any pool, ties broken by
// server name. alive nil means every server is alive. The result is sorted by zone, then index,
// and depends only on the inputs.
//
// A unit goes only to a server whose declared capacity (topo.Capacity) still holds it: what the
// units already there reserve (sizes gives each pool's unit; see Unit.Demand) plus this one fits
// every declared resource. Units of this pool that stay are not checked again (a capacity lowered
// in the cluster file does not evict them).
func PlaceUnits(pool Pool, sizes UnitSizes, topo Topology, alive map[string]bool, existing []UnitAssignment) ([]UnitAssignment, error) {
	if pool.UnitNum < 1 {
		return nil, errorf(ErrInvalid, "resource pool %q: unit_num %d is below 1", pool.Name, pool.UnitNum)
	}
	unit, sized := sizes[pool.Name]
	var need Capacity
	if sized {
		need = unit.Demand()
	}
	assigned := Assigned(existing, sizes, pool.Name)
	load := make(map[string]int)
	mine := make(map[string][]UnitAssignment) // zone -> this pool's existing units
	for _, a := range existing {
		if a.Pool == pool.Name {
			mine[a.Zone] = append(mine[a.Zone], a)
		} else {
			load[a.Server]++
		}
	}
	zones := slices.Clone(pool.ZoneList)
	slices.Sort(zones)
	var out []UnitAssignment
	for _, z := range slices.Compact(zones) {
		zi, ok := topo.Zone(z)
		if !ok {
			return nil, errorf(ErrNotFound, "resource pool %q: zone %s does not exist", pool.Name, z)
		}
		servers := slices.Clone(zi.Servers)
		slices.Sort(servers)
		servers = slices.Compact(servers)
		var up []string
		for _, s := range servers {
			if isAlive(alive, s) {
				up = append(up, s)
			}
		}
		if pool.UnitNum > len(servers) {
			return nil, errorf(ErrInvalid, "resource pool %q: unit_num %d exceeds the %s in zone %s", pool.Name, pool.UnitNum, plural(len(servers), "server", "servers"), z)
		}
		if pool.UnitNum > len(up) {
			return nil, errorf(ErrInvalid, "resource pool %q: unit_num %d exceeds the %s in zone %s", pool.Name, pool.UnitNum, plural(len(up), "alive server", "alive servers"), z)
		}
		placed := make([]string, pool.UnitNum)
		used := make(map[string]bool)
		prev := slices.Clone(mine[z])
		slices.SortFunc(prev, func(a, b UnitAssignment) int { return cmp.Compare(a.Index, b.Index) })
		for _, a := range prev {
			if a.Index >= 0 && a.Index < pool.UnitNum && placed[a.Index] == "" && !used[a.Server] && slices.Contains(up, a.Server) {
				placed[a.Index] = a.Server
				used[a.Server] = true
				load[a.Server]++
				assigned[a.Server] = assigned[a.Server].add(need)
			}
		}
		for i := range placed {
			if placed[i] != "" {
				continue
			}
			best := ""
			var full []string // alive servers without room, and why
			for _, s := range up {
				if used[s] {
					continue
				}
				if why := Lacks(topo.Capacity[s], assigned[s], need); why != "" {
					full = append(full, s+": "+why)
					continue
				}
				if best == "" || load[s] < load[best] {
					best = s
				}
			}
			if best == "" {
				return nil, errorf(ErrInvalid, "resource pool %q: no alive server in zone %s has room for unit %d of %d of %q (%s): %s",
					pool.Name, z, i+1, pool.UnitNum, unit.Name, describe(unit), strings.Join(full, "; "))
			}
			placed[i] = best
			used[best] = true
			load[best]++
			assigned[best] = assigned[best].add(need)
		}
		for i, s := range placed {
			out = append(out, UnitAssignment{Pool: pool.Name, Zone: z, Index: i, Server: s})
		}
	}
	return out, nil
}

// UnitServers returns, for each zone, the sorted servers holding a unit of one of pools: the
// servers a tenant's replicas may use.
func UnitServers(assignments []UnitAssignment, pools []string) map[string][]string {
	out := make(map[string][]string)
	for _, a := range assignments {
		if slices.Contains(pools, a.Pool) {
			out[a.Zone] = append(out[a.Zone], a.Server)
		}
	}
	for z, s := range out {
		slices.Sort(s)
		out[z] = slices.Compact(s)
	}
	return out
}

// ReplicaPlacement is one replica of a partition.
type ReplicaPlacement struct {
	Zone   string            `json:"zone"`
	Server string            `json:"server"`
	Type   paxos.ReplicaType `json:"type"`
}

// PlaceReplicas returns the replicas of one partition: one per zone of loc, on a server holding
// one of the tenant's units in that zone (unitServers, see UnitServers). Partitions go
// round-robin over a zone's unit servers, starting at an offset given by the table ID so that
// single-partition tables do not all land on the first server: partition p of table id uses the
// (id+p) mod n-th server of the zone's sorted list. The result is sorted by zone.
func PlaceReplicas(loc Locality, unitServers map[string][]string, tableID uint64, partition int) ([]ReplicaPlacement, error) {
	if partition < 0 {
		return nil, errorf(ErrInvalid, "partition %d is negative", partition)
	}
	out := make([]ReplicaPlacement, 0, len(loc))
	for _, r := range loc {
		servers := slices.Clone(unitServers[r.Zone])
		if len(servers) == 0 {
			return nil, errorf(ErrInvalid, "locality %s: zone %s has no unit of the tenant", loc, r.Zone)
		}
		slices.Sort(servers)
		servers = slices.Compact(servers)
		i := (tableID%uint64(len(servers)) + uint64(partition)%uint64(len(servers))) % uint64(len(servers))
		out = append(out, ReplicaPlacement{Zone: r.Zone, Server: servers[i], Type: r.Type})
	}
	return out, nil
}

// LeaderZones returns the zones leaders may be in now: the highest primary_zone level that has
// a FULL replica in an alive zone, restricted to its alive zones (sorted). Listed levels come
// first in their order; FULL zones not listed form one last level; for RANDOM every FULL zone is
// one level. alive nil means every zone is alive. Nil when no FULL zone is alive.
func LeaderZones(pz PrimaryZone, loc Locality, alive map[string]bool) []string {
	for _, lv := range pz.levels(loc.ZonesOf(paxos.Full)) {
		var up []string
		for _, z := range lv {
			if isAlive(alive, z) {
				up = append(up, z)
			}
		}
		if len(up) > 0 {
			return up
		}
	}
	return nil
}

// AssignLeaders chooses the leader of each partition (an index into partitions[i], or -1 when
// none can lead): a FULL replica on an alive server (alive nil = all alive), in the highest
// primary_zone level where the partition has one (LeaderZones, per partition). Within that
// level, partitions go to the zone that has received the fewest leaders so far, then to the
// server with the fewest, then to the first zone by name, so partitions sharing a level are
// spread within one across its zones.
//
// The choice is first made as if every server were alive; a partition whose leader that makes
// is alive keeps it, and only the others are spread as above over what is alive (counting the
// kept ones). So a server's failure moves only the leaderships it held, and its return only
// those back: spread afresh over the live servers, a failure also swapped leaderships between
// the survivors, each swap a pause in the partition's writes (docs/performance.md, ninth
// session). The result depends only on the inputs and their order.
func AssignLeaders(partitions [][]ReplicaPlacement, pz PrimaryZone, alive map[string]bool) []int {
	out := make([]int, len(partitions))
	zoneLeaders := make(map[string]int)
	serverLeaders := make(map[string]int)
	lead := func(i, l int) {
		out[i] = l
		if l >= 0 {
			zoneLeaders[partitions[i][l].Zone]++
			serverLeaders[partitions[i][l].Server]++
		}
	}
	var ideal []int // the choice with every server alive; nil when that is the question
	if alive != nil {
		ideal = AssignLeaders(partitions, pz, nil)
	}
	for i := range partitions {
		out[i] = -1
		if ideal != nil && ideal[i] >= 0 && alive[partitions[i][ideal[i]].Server] {
			lead(i, ideal[i]) // kept
		}
	}
	for i, reps := range partitions {
		if out[i] < 0 {
			lead(i, chooseLeader(reps, pz, alive, zoneLeaders, serverLeaders))
		}
	}
	return out
}

// chooseLeader is AssignLeaders' choice for one partition, given the leaders chosen so far.
func chooseLeader(reps []ReplicaPlacement, pz PrimaryZone, alive map[string]bool, zoneLeaders, serverLeaders map[string]int) int {
	var full []string
	up := make(map[string]int) // zone -> replica index of an alive FULL replica
	for j, r := range reps {
		if r.Type != paxos.Full {
			continue
		}
		full = append(full, r.Zone)
		if _, dup := up[r.Zone]; !dup && isAlive(alive, r.Server) {
			up[r.Zone] = j
		}
	}
	for _, lv := range pz.levels(full) {
		best := -1
		for _, z := range lv {
			j, ok := up[z]
			if !ok {
				continue
			}
			if best < 0 || better(reps[j], reps[best], zoneLeaders, serverLeaders) {
				best = j
			}
		}
		if best >= 0 {
			return best
		}
	}
	return -1
}

func better(a, b ReplicaPlacement, zoneLeaders, serverLeaders map[string]int) bool {
	if c := cmp.Compare(zoneLeaders[a.Zone], zoneLeaders[b.Zone]); c != 0 {
		return c < 0
	}
	if c := cmp.Compare(serverLeaders[a.Server], serverLeaders[b.Server]); c != 0 {
		return c < 0
	}
	return a.Zone < b.Zone
}

// Priority returns the election priority a replica should carry (paxos.Priority compares health,
// then designation, then zone rank). ZoneRank is the zone's primary_zone level (PrimaryZone.Rank:
// 0 highest; RANDOM ranks every zone 0; unlisted zones rank after every level). Replicas that can
// never lead (LOGONLY, READONLY) get the lowest rank, math.MaxUint32. designated marks the
// replica AssignLeaders chose; healthy is the server's health as the root service sees it.
func Priority(r ReplicaPlacement, pz PrimaryZone, designated, healthy bool) paxos.Priority {
	rank := uint32(math.MaxUint32)
	if r.Type == paxos.Full {
		rank, _ = pz.Rank(r.Zone)
	}
	return paxos.Priority{Healthy: healthy, Designated: designated, ZoneRank: rank}
}
