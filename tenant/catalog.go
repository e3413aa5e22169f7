package tenant

import (
	"maps"
	"slices"
	"strings"

	"obkv/paxos"
)

// Catalog is the tenant metadata the root service replicates: units, pools, tenants and tables.
// It is a plain value: JSON-serializable (exported fields; encoding/json writes map keys sorted,
// so equal catalogs encode to equal bytes), deep-copied by Clone, and changed only by its
// methods, each of which either applies the whole change and returns nil or returns an error
// and leaves the catalog exactly as it was. The zero Catalog is empty and ready to use.
type Catalog struct {
	Units   map[string]Unit   `json:"units,omitempty"`
	Pools   map[string]Pool   `json:"pools,omitempty"`
	Tenants map[string]Tenant `json:"tenants,omitempty"`
	// Tables is keyed by TableKey(tenant, table).
	Tables map[string]Table `json:"tables,omitempty"`
	// NextID is the next tenant or table ID to hand out; 0 means 1. IDs are never reused.
	NextID uint64 `json:"next_id,omitempty"`
}

// Clone returns a deep copy of c.
func (c *Catalog) Clone() Catalog {
	out := Catalog{NextID: c.NextID}
	if c.Units != nil {
		out.Units = maps.Clone(c.Units)
	}
	if c.Pools != nil {
		out.Pools = make(map[string]Pool, len(c.Pools))
		for k, v := range c.Pools {
			out.Pools[k] = v.Clone()
		}
	}
	if c.Tenants != nil {
		out.Tenants = make(map[string]Tenant, len(c.Tenants))
		for k, v := range c.Tenants {
			out.Tenants[k] = v.Clone()
		}
	}
	if c.Tables != nil {
		out.Tables = maps.Clone(c.Tables)
	}
	return out
}

func (c *Catalog) allocID() uint64 {
	if c.NextID == 0 {
		c.NextID = 1
	}
	id := c.NextID
	c.NextID++
	return id
}

// CreateUnit adds a resource unit configuration, with OceanBase's defaults filled in (see
// Unit.WithDefaults), and returns it as stored.
func (c *Catalog) CreateUnit(u Unit) (Unit, error) {
	u = u.WithDefaults()
	if err := u.Validate(); err != nil {
		return Unit{}, err
	}
	if _, ok := c.Units[u.Name]; ok {
		return Unit{}, errorf(ErrExists, "unit %q already exists", u.Name)
	}
	if c.Units == nil {
		c.Units = make(map[string]Unit)
	}
	c.Units[u.Name] = u
	return u, nil
}

// DropUnit removes a unit configuration no pool uses.
func (c *Catalog) DropUnit(name string) error {
	if _, ok := c.Units[name]; !ok {
		return errorf(ErrNotFound, "unit %q does not exist", name)
	}
	var users []string
	for _, p := range c.Pools {
		if p.Unit == name {
			users = append(users, p.Name)
		}
	}
	if len(users) > 0 {
		slices.Sort(users)
		noun := "resource pool"
		if len(users) > 1 {
			noun = "resource pools"
		}
		return errorf(ErrInUse, "unit %q is used by %s %s; drop them first", name, noun, joinNames(users))
	}
	delete(c.Units, name)
	return nil
}

// CreatePool adds a resource pool. ZoneList is stored sorted. The pool's units are not placed
// here: the root service places them with PlaceUnits.
func (c *Catalog) CreatePool(p Pool, topo Topology) (Pool, error) {
	p = p.Clone()
	if err := checkName("resource pool", p.Name); err != nil {
		return Pool{}, err
	}
	if _, ok := c.Pools[p.Name]; ok {
		return Pool{}, errorf(ErrExists, "resource pool %q already exists", p.Name)
	}
	if err := topo.Validate(); err != nil {
		return Pool{}, err
	}
	if _, ok := c.Units[p.Unit]; !ok {
		return Pool{}, errorf(ErrNotFound, "resource pool %q: unit %q does not exist", p.Name, p.Unit)
	}
	if p.UnitNum < 1 {
		return Pool{}, errorf(ErrInvalid, "resource pool %q: unit_num %d is below 1", p.Name, p.UnitNum)
	}
	if len(p.ZoneList) == 0 {
		return Pool{}, errorf(ErrInvalid, "resource pool %q: zone_list is empty", p.Name)
	}
	seen := make(map[string]bool, len(p.ZoneList))
	for _, z := range p.ZoneList {
		if seen[z] {
			return Pool{}, errorf(ErrInvalid, "resource pool %q: zone %s is listed twice in zone_list", p.Name, z)
		}
		seen[z] = true
		zi, ok := topo.Zone(z)
		if !ok {
			return Pool{}, errorf(ErrNotFound, "resource pool %q: zone %s does not exist", p.Name, z)
		}
		// OceanBase: unit_num is at most the number of OBServers in the zone (paraphrasing
		// https://developer.aliyun.com/article/1339223), since a server holds at most one unit
		// of a pool.
		if p.UnitNum > len(zi.Servers) {
			return Pool{}, errorf(ErrInvalid, "resource pool %q: unit_num %d exceeds the %s in zone %s", p.Name, p.UnitNum, plural(len(zi.Servers), "server", "servers"), z)
		}
	}
	slices.Sort(p.ZoneList)
	if c.Pools == nil {
		c.Pools = make(map[string]Pool)
	}
	c.Pools[p.Name] = p
	return p.Clone(), nil
}

// DropPool removes a resource pool no tenant holds.
func (c *Catalog) DropPool(name string) error {
	if _, ok := c.Pools[name]; !ok {
		return errorf(ErrNotFound, "resource pool %q does not exist", name)
	}
	if t, ok := c.poolOwner(name); ok {
		return errorf(ErrInUse, "resource pool %q is granted to tenant %s; drop the tenant first", name, t)
	}
	delete(c.Pools, name)
	return nil
}

// poolOwner returns the tenant that holds pool, if any.
func (c *Catalog) poolOwner(pool string) (string, bool) {
	for _, name := range slices.Sorted(maps.Keys(c.Tenants)) {
		if slices.Contains(c.Tenants[name].PoolList, pool) {
			return name, true
		}
	}
	return "", false
}

// PoolOwner returns the tenant a pool is granted to, if any.
func (c *Catalog) PoolOwner(pool string) (string, bool) { return c.poolOwner(pool) }

// TenantZones returns the zones of a tenant's pools, sorted (OceanBase's tenant zone_list).
func (c *Catalog) TenantZones(tenant string) []string {
	t, ok := c.Tenants[tenant]
	if !ok {
		return nil
	}
	var zones []string
	for _, p := range t.PoolList {
		zones = append(zones, c.Pools[p].ZoneList...)
	}
	slices.Sort(zones)
	return slices.Compact(zones)
}

// checkPoolList validates a tenant's resource_pool_list against the catalog (tenant is the
// tenant that may already hold the pools) and returns the pools' zones, sorted.
func (c *Catalog) checkPoolList(tenant string, pools []string) ([]string, error) {
	subject := "resource_pool_list (" + joinNames(pools) + ")"
	if len(pools) == 0 {
		return nil, errorf(ErrInvalid, "resource_pool_list (): empty (a tenant needs at least one resource pool)")
	}
	zoneOwner := make(map[string]string)
	seen := make(map[string]bool, len(pools))
	var first Pool
	for i, name := range pools {
		if seen[name] {
			return nil, errorf(ErrInvalid, "%s: resource pool %s is listed twice", subject, name)
		}
		seen[name] = true
		p, ok := c.Pools[name]
		if !ok {
			return nil, errorf(ErrNotFound, "%s: resource pool %s does not exist", subject, name)
		}
		// OceanBase: "A resource pool can belong to only one tenant."
		if owner, ok := c.poolOwner(name); ok && owner != tenant {
			return nil, errorf(ErrInUse, "%s: resource pool %s has already been granted to tenant %s", subject, name, owner)
		}
		if i == 0 {
			first = p
		} else if p.UnitNum != first.UnitNum {
			return nil, errorf(ErrInvalid, "%s: resource pools %s (unit_num %d) and %s (unit_num %d) differ in unit_num (a tenant's pools must have the same unit_num)",
				subject, first.Name, first.UnitNum, p.Name, p.UnitNum)
		}
		for _, z := range p.ZoneList {
			// OceanBase: "the zones of multiple resource pools that belong to the same tenant
			// cannot overlap".
			if other, ok := zoneOwner[z]; ok {
				return nil, errorf(ErrInvalid, "%s: resource pools %s and %s both cover zone %s (a tenant has at most one pool per zone)", subject, other, name, z)
			}
			zoneOwner[z] = name
		}
	}
	return slices.Sorted(maps.Keys(zoneOwner)), nil
}

// checkLocality parses and checks a tenant locality against the topology and the tenant's
// zones (its pools' zones). An empty string means the default: one FULL replica in every zone
// of the pools (OceanBase's default, e.g. FULL{1}@zone1, FULL{1}@zone2, FULL{1}@zone3 for a
// pool on three zones, https://github.com/oceanbase/oceanbase/issues/486).
func checkLocality(s string, zones []string, topo Topology) (Locality, error) {
	var loc Locality
	if s == "" {
		loc = make(Locality, len(zones))
		for i, z := range zones {
			loc[i] = Replica{Zone: z, Type: paxos.Full}
		}
		s = loc.String()
	} else {
		var err error
		if loc, err = ParseLocality(s); err != nil {
			return nil, err
		}
	}
	for _, r := range loc {
		if _, ok := topo.Zone(r.Zone); !ok {
			return nil, errorf(ErrNotFound, "locality %q: zone %s does not exist", s, r.Zone)
		}
		if !slices.Contains(zones, r.Zone) {
			return nil, errorf(ErrInvalid, "locality %q: zone %s is not in the tenant's zone list (%s)", s, r.Zone, joinNames(zones))
		}
	}
	if err := loc.Validate(); err != nil {
		return nil, err
	}
	return loc, nil
}

// checkPrimaryZone parses and checks a primary_zone against the topology, the tenant's zones
// and its locality. Empty means RANDOM.
func checkPrimaryZone(s string, zones []string, loc Locality, topo Topology) (PrimaryZone, error) {
	if s == "" {
		return PrimaryZone{}, nil
	}
	pz, err := ParsePrimaryZone(s)
	if err != nil {
		return PrimaryZone{}, err
	}
	for _, z := range pz.Zones() {
		if _, ok := topo.Zone(z); !ok {
			return PrimaryZone{}, errorf(ErrNotFound, "primary_zone %q: zone %s does not exist", s, z)
		}
		if !slices.Contains(zones, z) {
			return PrimaryZone{}, errorf(ErrInvalid, "primary_zone %q: zone %s is not in the tenant's zone list (%s)", s, z, joinNames(zones))
		}
		t, ok := loc.Type(z)
		if !ok {
			return PrimaryZone{}, errorf(ErrInvalid, "primary_zone %q: zone %s holds no replica (locality %s)", s, z, loc)
		}
		// Only FULL replicas lead: a primary zone without one could never hold a leader.
		if t != paxos.Full {
			return PrimaryZone{}, errorf(ErrInvalid, "primary_zone %q: zone %s has no FULL replica (locality %s)", s, z, loc)
		}
	}
	return pz, nil
}

// CreateTenant adds a tenant after checking every rule (docs/tenants.md lists them with their
// messages): the name; its pools (exist, not granted to another tenant, disjoint zones, equal
// unit_num); its locality (default one F per pool zone; syntax; zones exist and belong to the
// pools; at least one F; L <= F); replica_num (0 or the number of replicas of the locality);
// its primary_zone (default RANDOM; syntax; zones exist, belong to the pools, hold a FULL
// replica). It returns the tenant as stored, with its new ID and normalized fields.
func (c *Catalog) CreateTenant(t Tenant, topo Topology) (Tenant, error) {
	t = t.Clone()
	if err := checkName("tenant", t.Name); err != nil {
		return Tenant{}, err
	}
	if _, ok := c.Tenants[t.Name]; ok {
		return Tenant{}, errorf(ErrExists, "tenant %q already exists", t.Name)
	}
	if err := topo.Validate(); err != nil {
		return Tenant{}, err
	}
	zones, err := c.checkPoolList(t.Name, t.PoolList)
	if err != nil {
		return Tenant{}, err
	}
	loc, err := checkLocality(t.Locality, zones, topo)
	if err != nil {
		return Tenant{}, err
	}
	// replica_num counts the replicas of the locality, of every type: one per locality zone.
	// OceanBase derives it from the locality too (a tenant created with replica_num=1 on a
	// three-zone pool shows replica_num=3, issue #486 above); we refuse a contradiction rather
	// than silently overriding it.
	if t.ReplicaNum != 0 && t.ReplicaNum != len(loc) {
		return Tenant{}, errorf(ErrInvalid, "replica_num %d does not match the %s of locality %s", t.ReplicaNum, plural(len(loc), "replica", "replicas"), loc)
	}
	pz, err := checkPrimaryZone(t.PrimaryZone, zones, loc, topo)
	if err != nil {
		return Tenant{}, err
	}
	slices.Sort(t.PoolList)
	t.ReplicaNum = len(loc)
	t.Locality = loc.String()
	t.PrimaryZone = pz.String()
	t.ID = c.allocID()
	if c.Tenants == nil {
		c.Tenants = make(map[string]Tenant)
	}
	c.Tenants[t.Name] = t
	return t.Clone(), nil
}

// TenantChange is an ALTER TENANT: the fields to change; empty means unchanged.
type TenantChange struct {
	PrimaryZone string `json:"primary_zone,omitempty"`
	Locality    string `json:"locality,omitempty"`
}

// AlterTenant changes a tenant's primary_zone and/or locality. A locality change must be one
// OceanBase accepts in one ALTER (see DiffLocality); AlterTenant returns its steps, which the
// root service runs one at a time. The (new or kept) primary_zone must fit the new locality.
func (c *Catalog) AlterTenant(name string, ch TenantChange, topo Topology) (Tenant, []LocalityStep, error) {
	t, ok := c.Tenants[name]
	if !ok {
		return Tenant{}, nil, errorf(ErrNotFound, "tenant %q does not exist", name)
	}
	if err := topo.Validate(); err != nil {
		return Tenant{}, nil, err
	}
	zones := c.TenantZones(name)
	oldLoc, err := ParseLocality(t.Locality)
	if err != nil {
		return Tenant{}, nil, err
	}
	newLoc := oldLoc
	var steps []LocalityStep
	if ch.Locality != "" {
		if newLoc, err = checkLocality(ch.Locality, zones, topo); err != nil {
			return Tenant{}, nil, err
		}
		if steps, err = DiffLocality(oldLoc, newLoc); err != nil {
			return Tenant{}, nil, err
		}
	}
	pzs := t.PrimaryZone
	if ch.PrimaryZone != "" {
		pzs = ch.PrimaryZone
	}
	pz, err := checkPrimaryZone(pzs, zones, newLoc, topo)
	if err != nil {
		if ch.PrimaryZone == "" && ch.Locality != "" {
			return Tenant{}, nil, errorf(ErrInvalid, "locality %q: the tenant's %s; change primary_zone first or in the same ALTER", ch.Locality, err)
		}
		return Tenant{}, nil, err
	}
	t = t.Clone()
	t.Locality = newLoc.String()
	t.ReplicaNum = len(newLoc)
	t.PrimaryZone = pz.String()
	c.Tenants[name] = t
	return t.Clone(), steps, nil
}

// DropTenant removes a tenant that has no tables; its pools become free.
func (c *Catalog) DropTenant(name string) error {
	if _, ok := c.Tenants[name]; !ok {
		return errorf(ErrNotFound, "tenant %q does not exist", name)
	}
	var tables []string
	for _, tb := range c.Tables {
		if tb.Tenant == name {
			tables = append(tables, tb.Name)
		}
	}
	if len(tables) > 0 {
		slices.Sort(tables)
		return errorf(ErrInUse, "tenant %q has %s (%s); drop them first", name, plural(len(tables), "table", "tables"), strings.Join(tables, ","))
	}
	delete(c.Tenants, name)
	return nil
}

// CreateTable adds a table to an existing tenant and returns it with its new ID.
func (c *Catalog) CreateTable(tb Table) (Table, error) {
	if err := tb.Validate(); err != nil {
		return Table{}, err
	}
	if _, ok := c.Tenants[tb.Tenant]; !ok {
		return Table{}, errorf(ErrNotFound, "table %q: tenant %q does not exist", tb.Name, tb.Tenant)
	}
	key := TableKey(tb.Tenant, tb.Name)
	if _, ok := c.Tables[key]; ok {
		return Table{}, errorf(ErrExists, "table %q already exists in tenant %s", tb.Name, tb.Tenant)
	}
	tb.ID = c.allocID()
	if c.Tables == nil {
		c.Tables = make(map[string]Table)
	}
	c.Tables[key] = tb
	return tb, nil
}

// DropTable removes a table.
func (c *Catalog) DropTable(tenant, name string) error {
	key := TableKey(tenant, name)
	if _, ok := c.Tables[key]; !ok {
		return errorf(ErrNotFound, "table %q does not exist in tenant %s", name, tenant)
	}
	delete(c.Tables, key)
	return nil
}
