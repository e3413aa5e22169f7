package rootservice

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"obkv/tenant"
)

// Row is one row of a `show` result; its keys are the column names (and the JSON keys).
type Row map[string]any

// Show lists what obctl show asks for: servers, zones, resource-units, resource-pools, tenants,
// tables, jobs or replicas (optionally of one tenant and table).
func (s *Service) Show(ctx context.Context, what, tenantName, table string) ([]Row, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.load(ctx); err != nil {
		return nil, err
	}
	m := s.meta
	var rows []Row
	switch what {
	case "servers":
		topo := s.cluster.Topology()
		assigned := tenant.Assigned(m.Units, m.Catalog.UnitSizes(), "")
		for _, z := range topo.Zones {
			for _, srv := range z.Servers {
				_, region, rpc, _ := s.cluster.ServerInfo(srv)
				id, _ := s.cluster.ServerID(srv)
				status := "ACTIVE"
				if !s.cluster.Alive(srv) {
					status = "INACTIVE"
				}
				a, c := assigned[srv], topo.Capacity[srv]
				row := Row{"server": srv, "id": uint64(id), "zone": z.Name, "region": region, "rpc_addr": rpc, "status": status,
					"cpu_assigned": a.CPU, "memory_assigned": a.Memory, "log_disk_assigned": a.LogDisk}
				// An undeclared capacity is left out (blank in the table): it is not checked.
				for k, v := range map[string]float64{"cpu_capacity": c.CPU, "memory_capacity": float64(c.Memory), "log_disk_capacity": float64(c.LogDisk)} {
					if v > 0 {
						row[k] = v
					}
				}
				rows = append(rows, row)
			}
		}
	case "zones":
		for _, z := range s.cluster.Topology().Zones {
			alive := 0
			for _, srv := range z.Servers {
				if s.cluster.Alive(srv) {
					alive++
				}
			}
			rows = append(rows, Row{"zone": z.Name, "region": z.Region, "servers": strings.Join(z.Servers, ","), "alive": alive})
		}
	case "resource-units":
		for _, name := range sortedKeys(m.Catalog.Units) {
			u := m.Catalog.Units[name]
			rows = append(rows, Row{"name": u.Name, "max_cpu": u.MaxCPU, "min_cpu": u.MinCPU, "memory_size": u.MemorySize, "log_disk_size": u.LogDiskSize})
		}
	case "resource-pools":
		for _, name := range sortedKeys(m.Catalog.Pools) {
			p := m.Catalog.Pools[name]
			owner, _ := m.Catalog.PoolOwner(name)
			var servers []string
			for _, a := range m.Units {
				if a.Pool == name {
					servers = append(servers, a.Server)
				}
			}
			rows = append(rows, Row{"name": p.Name, "unit": p.Unit, "unit_num": p.UnitNum, "zone_list": strings.Join(p.ZoneList, ","),
				"tenant": owner, "servers": strings.Join(servers, ",")})
		}
	case "tenants":
		for _, name := range sortedKeys(m.Catalog.Tenants) {
			t := m.Catalog.Tenants[name]
			rows = append(rows, Row{"name": t.Name, "id": t.ID, "resource_pool_list": strings.Join(t.PoolList, ","), "replica_num": t.ReplicaNum,
				"locality": t.Locality, "primary_zone": t.PrimaryZone})
		}
	case "tables":
		if err := checkFilter(&m, tenantName, ""); err != nil {
			return nil, err
		}
		for _, key := range sortedKeys(m.Catalog.Tables) {
			tb := m.Catalog.Tables[key]
			if tenantName != "" && tb.Tenant != tenantName {
				continue
			}
			rows = append(rows, Row{"tenant": tb.Tenant, "name": tb.Name, "id": tb.ID, "partitions": tb.Partitions})
		}
	case "jobs":
		for _, j := range m.Jobs {
			rows = append(rows, Row{"id": j.ID, "kind": j.Kind, "tenant": j.Tenant, "detail": j.Detail, "state": j.State, "progress": j.Progress})
		}
	case "replicas":
		if err := checkFilter(&m, tenantName, table); err != nil {
			return nil, err
		}
		rows = s.replicaRows(tenantName, table)
	default:
		return nil, fmt.Errorf("%w: show %q (known: servers, zones, resource-units, resource-pools, tenants, tables, jobs, replicas)", ErrUnknownOp, what)
	}
	return rows, nil
}

// checkFilter: a show filter names a tenant and table that exist (an empty list for a typo
// would read as "none"). The meta partition counts as table MetaTable of the system tenant.
func checkFilter(m *Meta, tenantName, table string) error {
	if tenantName == "" {
		if table != "" {
			return ruleErrorf(tenant.ErrInvalid, "table %q: name its tenant too", table)
		}
		return nil
	}
	if _, ok := m.Catalog.Tenants[tenantName]; !ok {
		return ruleErrorf(tenant.ErrNotFound, "tenant %q does not exist", tenantName)
	}
	if table == "" || (tenantName == SysTenant && table == MetaTable) {
		return nil
	}
	if _, ok := m.Catalog.Tables[tenant.TableKey(tenantName, table)]; !ok {
		return ruleErrorf(tenant.ErrNotFound, "table %q does not exist in tenant %s", table, tenantName)
	}
	return nil
}

// replicaRows joins placement with what servers last reported. The meta partition is listed
// as table __all_meta of the system tenant.
func (s *Service) replicaRows(tenantName, table string) []Row {
	reported := map[string]map[uint64]ReplicaReport{}
	for srv, rep := range s.reports {
		reported[srv] = map[uint64]ReplicaReport{}
		for _, r := range rep.replicas {
			reported[srv][r.Partition] = r
		}
	}
	type group struct {
		tenant, table string
		index         int
		id            uint64
		replicas      []tenant.ReplicaPlacement
		established   bool // Partition.Established; the meta partition is (its root service runs)
	}
	var groups []group
	var meta []tenant.ReplicaPlacement
	for _, srv := range sortedKeys(reported) {
		if r, ok := reported[srv][MetaPartition]; ok {
			zone, _, _, _ := s.cluster.ServerInfo(srv)
			meta = append(meta, tenant.ReplicaPlacement{Zone: zone, Server: srv, Type: r.Type})
		}
	}
	groups = append(groups, group{SysTenant, MetaTable, 0, MetaPartition, meta, true})
	for _, p := range s.meta.Partitions {
		groups = append(groups, group{p.Tenant, p.Table, p.Index, p.ID, p.Replicas, p.Established})
	}
	var rows []Row
	for _, g := range groups {
		if (tenantName != "" && g.tenant != tenantName) || (table != "" && g.table != table) {
			continue
		}
		var leaderCommit uint64
		for _, r := range g.replicas {
			if rep, ok := reported[r.Server][g.id]; ok && rep.Serving {
				leaderCommit = rep.Commit
			}
		}
		for _, r := range g.replicas {
			row := Row{"tenant": g.tenant, "table": g.table, "partition": g.index, "server": r.Server, "zone": r.Zone,
				"type": r.Type.String(), "role": "UNKNOWN", "applied_index": uint64(0), "lag": uint64(0),
				"established": g.established}
			if rep, ok := reported[r.Server][g.id]; ok && s.cluster.Alive(r.Server) {
				row["role"] = "FOLLOWER"
				switch {
				case rep.Serving:
					row["role"] = "LEADER"
				case rep.Recovering:
					row["role"] = "RECOVERING" // started without its data: it votes once caught up
				}
				row["applied_index"] = rep.Applied
				if leaderCommit > rep.Applied {
					row["lag"] = leaderCommit - rep.Applied
				}
			} else if !s.cluster.Alive(r.Server) {
				row["role"] = "OFFLINE"
			}
			rows = append(rows, row)
		}
	}
	return rows
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
