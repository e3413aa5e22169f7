package rootservice

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sort"
	"sync"
	"time"

	"obkv/paxos"
	"obkv/replica"
	"obkv/tenant"
)

// MetaStore is the meta partition's replica as the root service uses it.
type MetaStore interface {
	// Leading reports whether the replica serves as leader, and under which ballot.
	Leading() (paxos.Ballot, bool)
	ReadIndex(ctx context.Context) error
	Get(key []byte, version uint64) ([]byte, bool, error)
	Write(ctx context.Context, b replica.Batch) (uint64, error)
}

// Cluster is what the root service knows of the servers: the cluster file and membership.
type Cluster interface {
	Topology() tenant.Topology
	ServerID(name string) (paxos.ID, bool)
	ServerInfo(name string) (zone, region, rpcAddr string, ok bool)
	Alive(name string) bool
	// MetaLocality is the locality of the meta partition (the system tenant's).
	MetaLocality() string
	// LocalLeader is the leader that this server's own replica of partition p, if it hosts one,
	// last heard from (0, false when it hosts none or knows none).
	LocalLeader(p uint64) (paxos.ID, bool)
}

// Errors.
var (
	// ErrUnknownOp: an admin request names no known operation.
	ErrUnknownOp = errors.New("rootservice: unknown operation")
	// ErrBadArgs: an admin request's arguments do not decode.
	ErrBadArgs = errors.New("rootservice: bad arguments")
)

// Service is the root service: it runs on the server whose meta replica leads, applies DDL to
// the catalog and stores it in the meta partition, places units and replicas, and tells every
// server which replicas to host with which election priority.
type Service struct {
	store   MetaStore
	cluster Cluster
	log     *slog.Logger

	mu     sync.Mutex // serializes DDL
	meta   Meta
	loaded bool
	// ballot is the meta replica's ballot when meta was loaded: a cached meta is used only
	// within the leadership it was read in (see current).
	ballot  paxos.Ballot
	reports map[string]serverReport
	// noRoom holds the "unit cannot move there" warnings already logged (noRoomOnce).
	noRoom map[string]bool
}

// noRoomOnce logs, once per pool, server and reason, that re-replication could not move a unit
// of pool onto srv for lack of capacity: the operator's cue to add a server or raise a capacity.
func (s *Service) noRoomOnce(pool, srv, why string) {
	k := pool + "\x00" + srv + "\x00" + why
	if s.noRoom[k] {
		return
	}
	if s.noRoom == nil {
		s.noRoom = map[string]bool{}
	}
	s.noRoom[k] = true
	s.log.Warn("a unit cannot move off a dead server: no room on the candidate", "pool", pool, "server", srv, "lacks", why)
}

type serverReport struct {
	at       time.Time
	replicas []ReplicaReport
}

// New returns a root service over the meta partition's replica.
func New(store MetaStore, cluster Cluster, log *slog.Logger) *Service {
	return &Service{store: store, cluster: cluster, log: log, reports: map[string]serverReport{}}
}

// ErrNotLeading: the meta replica under this root service no longer leads (the operation was
// not carried out; another server will run the root service).
var ErrNotLeading = errors.New("the root service is not available here: this server's meta replica no longer leads")

// current makes s.meta the meta document of the current leadership: it fails while the meta
// replica does not lead, and reloads when it leads under another ballot than the one the
// cached document was read in (another root service may have changed it meanwhile). A root
// service that answered from a document of an earlier reign could tell servers to drop
// replicas that were placed since. Callers hold mu.
func (s *Service) current(ctx context.Context) error {
	b, ok := s.store.Leading()
	if !ok {
		return ErrNotLeading
	}
	if s.loaded && b == s.ballot {
		return nil
	}
	return s.load(ctx)
}

// load reads the meta document linearizably. Callers hold mu.
func (s *Service) load(ctx context.Context) error {
	ballot, ok := s.store.Leading()
	if !ok {
		return ErrNotLeading
	}
	if err := s.store.ReadIndex(ctx); err != nil {
		return err
	}
	b, _, err := s.store.Get(metaKey, math.MaxUint64)
	if err != nil {
		return err
	}
	m, err := decodeMeta(b)
	if err != nil {
		return err
	}
	s.meta, s.loaded, s.ballot = m, true, ballot
	return nil
}

// save writes m as the new meta document and adopts it.
func (s *Service) save(ctx context.Context, m Meta) error {
	if _, err := s.store.Write(ctx, replica.Batch{Ops: []replica.Op{{Kind: replica.OpPut, Key: metaKey, Value: m.encode()}}}); err != nil {
		return err
	}
	s.meta = m
	return nil
}

// sysUnit sizes the system tenant's units, one on a server of every zone: the smallest unit
// there is. config's capacity floors hold it (TestCapacityFloorsHoldTheSystemUnit).
var sysUnit = tenant.Unit{Name: "sys_unit_config", MaxCPU: tenant.MinUnitCPU, MemorySize: tenant.MinUnitMemorySize}

// Bootstrap creates the system tenant on a new cluster (empty meta). It is idempotent.
func (s *Service) Bootstrap(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.load(ctx); err != nil {
		return err
	}
	if _, ok := s.meta.Catalog.Tenants[SysTenant]; ok {
		return nil
	}
	m := s.meta.clone()
	topo := s.cluster.Topology()
	zones := topo.ZoneNames()
	if _, err := m.Catalog.CreateUnit(sysUnit); err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}
	pool, err := m.Catalog.CreatePool(tenant.Pool{Name: sysPool, Unit: sysUnit.Name, UnitNum: 1, ZoneList: zones}, topo)
	if err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}
	if err := s.placeUnits(&m, pool); err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}
	if _, err := m.Catalog.CreateTenant(tenant.Tenant{Name: SysTenant, PoolList: []string{sysPool}, Locality: s.cluster.MetaLocality()}, topo); err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}
	s.log.Info("bootstrapped the cluster: system tenant created", "zones", zones)
	return s.save(ctx, m)
}

// protectSystem refuses DDL on what bootstrap made: the system tenant, its pool and unit. The
// meta partition's replicas and leader follow the cluster file (its zones and their order),
// not the catalog, and bootstrap only looks for the tenant: a dropped system tenant left a
// cluster that never bootstrapped again (its unit still existed), so its schedulers never ran.
func protectSystem(op string, args []byte) error {
	var a struct {
		Name   string `json:"name"`
		Tenant string `json:"tenant"`
	}
	if json.Unmarshal(args, &a) != nil {
		return nil // the operation's own decoding reports it
	}
	switch {
	case (op == "drop-tenant" || op == "alter-tenant") && a.Name == SysTenant:
		return ruleErrorf(tenant.ErrInvalid, "tenant %q is the system tenant: it cannot be dropped or altered (the meta partition's zones and leader priority come from the cluster file: its zones and their order)", SysTenant)
	case op == "drop-pool" && a.Name == sysPool:
		return ruleErrorf(tenant.ErrInvalid, "resource pool %q belongs to the system tenant: it cannot be dropped", sysPool)
	case op == "drop-unit" && a.Name == sysUnit.Name:
		return ruleErrorf(tenant.ErrInvalid, "resource unit %q is the system tenant's: it cannot be dropped", sysUnit.Name)
	case (op == "create-table" || op == "drop-table" || op == "switch-leader") && a.Tenant == SysTenant:
		return ruleErrorf(tenant.ErrInvalid, "tenant %q is the system tenant: it holds only the meta partition (%s), no tables of users; create a tenant of your own (obctl create tenant)", SysTenant, MetaTable)
	}
	return nil
}

// sysPool is the system tenant's resource pool.
const sysPool = "sys_pool"

// MetaTable is how the meta partition is named as a table of the system tenant (obctl show
// replicas, obctl unsafe-recover): it has one partition, MetaPartition.
const MetaTable = "__all_meta"

// SysTenant is the system tenant's name.
const SysTenant = "sys"

func (s *Service) placeUnits(m *Meta, pool tenant.Pool) error {
	alive := s.aliveMap()
	as, err := tenant.PlaceUnits(pool, m.Catalog.UnitSizes(), s.cluster.Topology(), alive, m.Units)
	if err != nil {
		return err
	}
	m.Units = append(m.Units, as...)
	return nil
}

func (s *Service) aliveMap() map[string]bool {
	alive := map[string]bool{}
	for _, z := range s.cluster.Topology().Zones {
		for _, srv := range z.Servers {
			alive[srv] = s.cluster.Alive(srv)
		}
	}
	return alive
}

// Execute runs one administrative operation and returns its JSON result.
func (s *Service) Execute(ctx context.Context, op string, args []byte) ([]byte, error) {
	if op == "report" {
		var r Report
		if err := json.Unmarshal(args, &r); err != nil {
			return nil, fmt.Errorf("%w: report: %v", ErrBadArgs, err)
		}
		reply, err := s.Report(ctx, r)
		if err != nil {
			return nil, err
		}
		return json.Marshal(reply)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.load(ctx); err != nil {
		return nil, err
	}
	m := s.meta.clone()
	topo := s.cluster.Topology()
	decode := func(v any) error {
		if err := json.Unmarshal(args, v); err != nil {
			return fmt.Errorf("%w: %s: %v", ErrBadArgs, op, err)
		}
		return nil
	}
	if err := protectSystem(op, args); err != nil {
		return nil, err
	}
	var result any
	switch op {
	case "create-unit":
		var u tenant.Unit
		if err := decode(&u); err != nil {
			return nil, err
		}
		got, err := m.Catalog.CreateUnit(u)
		if err != nil {
			return nil, err
		}
		result = got
	case "drop-unit":
		var a struct{ Name string }
		if err := decode(&a); err != nil {
			return nil, err
		}
		if err := m.Catalog.DropUnit(a.Name); err != nil {
			return nil, err
		}
	case "create-pool":
		var p tenant.Pool
		if err := decode(&p); err != nil {
			return nil, err
		}
		got, err := m.Catalog.CreatePool(p, topo)
		if err != nil {
			return nil, err
		}
		if err := s.placeUnits(&m, got); err != nil {
			return nil, err
		}
		result = got
	case "drop-pool":
		var a struct{ Name string }
		if err := decode(&a); err != nil {
			return nil, err
		}
		if err := m.Catalog.DropPool(a.Name); err != nil {
			return nil, err
		}
		m.Units = slices.DeleteFunc(m.Units, func(u tenant.UnitAssignment) bool { return u.Pool == a.Name })
	case "create-tenant":
		var t tenant.Tenant
		if err := decode(&t); err != nil {
			return nil, err
		}
		got, err := m.Catalog.CreateTenant(t, topo)
		if err != nil {
			return nil, err
		}
		result = got
	case "alter-tenant":
		var a struct {
			Name string `json:"name"`
			tenant.TenantChange
		}
		if err := decode(&a); err != nil {
			return nil, err
		}
		old := m.Catalog.Tenants[a.Name]
		for _, j := range m.Jobs {
			if j.Tenant == a.Name && j.Kind == "alter-locality" && j.State == "running" {
				return nil, ruleErrorf(tenant.ErrInUse, "tenant %s: locality change job %d (%s) is still running (%s); wait for it (obctl show jobs)", a.Name, j.ID, j.Detail, j.Progress)
			}
		}
		got, steps, err := m.Catalog.AlterTenant(a.Name, a.TenantChange, topo)
		if err != nil {
			return nil, err
		}
		if len(steps) > 0 {
			m.Jobs = append(m.Jobs, Job{ID: uint64(len(m.Jobs) + 1), Kind: "alter-locality", Tenant: a.Name,
				Detail: fmt.Sprintf("locality %s -> %s", old.Locality, got.Locality), State: "running", Steps: steps,
				Progress: fmt.Sprintf("step 1/%d", len(steps))})
		}
		if got.PrimaryZone != old.PrimaryZone {
			m.Jobs = append(m.Jobs, Job{ID: uint64(len(m.Jobs) + 1), Kind: "alter-primary-zone", Tenant: a.Name,
				Detail: fmt.Sprintf("primary_zone %s -> %s", old.PrimaryZone, got.PrimaryZone), State: "running"})
		}
		result = got
	case "drop-tenant":
		var a struct{ Name string }
		if err := decode(&a); err != nil {
			return nil, err
		}
		if err := m.Catalog.DropTenant(a.Name); err != nil {
			return nil, err
		}
	case "create-table":
		var tb tenant.Table
		if err := decode(&tb); err != nil {
			return nil, err
		}
		got, err := m.Catalog.CreateTable(tb)
		if err != nil {
			return nil, err
		}
		if err := s.placeTable(&m, got); err != nil {
			return nil, err
		}
		result = got
	case "drop-table":
		var a struct{ Tenant, Name string }
		if err := decode(&a); err != nil {
			return nil, err
		}
		if err := m.Catalog.DropTable(a.Tenant, a.Name); err != nil {
			return nil, err
		}
		m.Partitions = slices.DeleteFunc(m.Partitions, func(p Partition) bool { return p.Tenant == a.Tenant && p.Table == a.Name })
	case "switch-leader":
		var a struct {
			Tenant    string `json:"tenant"`
			Table     string `json:"table"`
			Partition int    `json:"partition"`
			To        string `json:"to"`
		}
		if err := decode(&a); err != nil {
			return nil, err
		}
		switch {
		case !tenant.ValidName(a.Tenant) || !tenant.ValidName(a.Table):
			return nil, ruleErrorf(tenant.ErrInvalid, "switch-leader: tenant %.80q and table %.80q: each must be a name (letters, digits and '_', at most %d bytes)", a.Tenant, a.Table, tenant.MaxNameLen)
		case a.To == "":
			return nil, ruleErrorf(tenant.ErrInvalid, "switch-leader: to: empty: name the server to lead")
		}
		tb, ok := m.Catalog.Tables[tenant.TableKey(a.Tenant, a.Table)]
		if !ok {
			return nil, ruleErrorf(tenant.ErrNotFound, "table %s.%s does not exist", a.Tenant, a.Table)
		}
		if a.Partition < 0 || a.Partition >= tb.Partitions {
			return nil, ruleErrorf(tenant.ErrInvalid, "partition %d of %s.%s: the table has partitions 0..%d", a.Partition, a.Tenant, a.Table, tb.Partitions-1)
		}
		if _, _, _, known := s.cluster.ServerInfo(a.To); !known {
			return nil, ruleErrorf(tenant.ErrNotFound, "switch leader to %s: no such server in the cluster", a.To)
		}
		p := m.partition(PartitionID(tb.ID, a.Partition))
		ok = false
		for _, r := range p.Replicas {
			if r.Server == a.To {
				if r.Type != paxos.Full {
					return nil, ruleErrorf(tenant.ErrInvalid, "switch leader to %s: its replica is %s; only FULL replicas lead", a.To, r.Type)
				}
				ok = true
			}
		}
		if !ok {
			return nil, ruleErrorf(tenant.ErrInvalid, "switch leader to %s: partition %d of %s.%s has no replica there", a.To, a.Partition, a.Tenant, a.Table)
		}
		p.Pinned = a.To
		if !s.cluster.Alive(a.To) {
			result = map[string]string{"status": "ok", "note": fmt.Sprintf("%s is not alive: primary_zone picks the leader until it is back, then the pin moves leadership there (if its replica moves away after permanent_offline_time, the pin is dropped)", a.To)}
		}
	default:
		return nil, fmt.Errorf("%w: %q", ErrUnknownOp, op)
	}
	if err := s.save(ctx, m); err != nil {
		return nil, err
	}
	if result == nil {
		result = map[string]string{"status": "ok"}
	}
	return json.Marshal(result)
}

// placeTable creates the partitions of a new table with one replica per locality zone on the
// tenant's unit servers.
func (s *Service) placeTable(m *Meta, tb tenant.Table) error {
	t := m.Catalog.Tenants[tb.Tenant]
	loc, err := tenant.ParseLocality(t.Locality)
	if err != nil {
		return err
	}
	unitServers := tenant.UnitServers(m.Units, t.PoolList)
	for i := 0; i < tb.Partitions; i++ {
		rs, err := tenant.PlaceReplicas(loc, unitServers, tb.ID, i)
		if err != nil {
			return err
		}
		m.Partitions = append(m.Partitions, Partition{ID: PartitionID(tb.ID, i), Tenant: tb.Tenant, Table: tb.Name, Index: i, Replicas: rs})
	}
	sort.Slice(m.Partitions, func(a, b int) bool { return m.Partitions[a].ID < m.Partitions[b].ID })
	return nil
}

// Report records a server's replicas and returns the replicas it should host.
func (s *Service) Report(ctx context.Context, r Report) (ReportReply, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.current(ctx); err != nil {
		return ReportReply{}, err
	}
	s.reports[r.Server] = serverReport{at: time.Now(), replicas: r.Replicas}
	reply := ReportReply{Assignments: s.assignments(r.Server)}
	for _, key := range sortedKeys(s.meta.Catalog.Tables) {
		tb := s.meta.Catalog.Tables[key]
		reply.Tables = append(reply.Tables, TableRef{Tenant: tb.Tenant, Name: tb.Name, ID: tb.ID, Partitions: tb.Partitions})
	}
	return reply, nil
}

// Locate returns a table and where its partitions' replicas are, with the role and readable
// version each replica last reported.
func (s *Service) Locate(ctx context.Context, tenantName, table string) (TableRef, []Location, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.current(ctx); err != nil {
		return TableRef{}, nil, err
	}
	tb, ok := s.meta.Catalog.Tables[tenant.TableKey(tenantName, table)]
	if !ok {
		return TableRef{}, nil, ruleErrorf(tenant.ErrNotFound, "table %s.%s does not exist", tenantName, table)
	}
	ref := TableRef{Tenant: tb.Tenant, Name: tb.Name, ID: tb.ID, Partitions: tb.Partitions}
	var locs []Location
	for i := 0; i < tb.Partitions; i++ {
		p := s.meta.partition(PartitionID(tb.ID, i))
		if p == nil {
			continue
		}
		loc := Location{Index: i, ID: p.ID}
		heard := false // a fresh report of any of p's replicas
		for _, r := range p.Replicas {
			zone, region, rpc, _ := s.cluster.ServerInfo(r.Server)
			rl := ReplicaLocation{Server: r.Server, Zone: zone, Region: region, RPCAddr: rpc, Type: r.Type, Alive: s.cluster.Alive(r.Server)}
			if rep, ok := s.reported(p.ID, mustID(s.cluster, r.Server)); ok && time.Since(s.reports[r.Server].at) < 2*time.Second {
				rl.Leader = rep.Serving
				rl.Readable = rep.Readable
				heard = true
			}
			loc.Replicas = append(loc.Replicas, rl)
		}
		if !heard {
			// No report yet (this root service has just taken over; servers report every 200 ms):
			// name the leader this server's own replica hears from rather than none, so that
			// clients do not read from followers or fail leader reads until their cache expires.
			if id, ok := s.cluster.LocalLeader(p.ID); ok {
				for k := range loc.Replicas {
					if mustID(s.cluster, loc.Replicas[k].Server) == id && loc.Replicas[k].Type == paxos.Full {
						loc.Replicas[k].Leader = true
					}
				}
			}
		}
		locs = append(locs, loc)
	}
	return ref, locs, nil
}

func mustID(c Cluster, server string) paxos.ID {
	id, _ := c.ServerID(server)
	return id
}

func findMember(ms []paxos.Member, id paxos.ID) (paxos.Member, bool) {
	for _, m := range ms {
		if m.ID == id {
			return m, true
		}
	}
	return paxos.Member{}, false
}

// assignments computes what server should host: every replica placed on it, with the group's
// membership and the election priority from its tenant's primary_zone (the designated leader of
// each partition spreads leaders evenly over the top live level).
func (s *Service) assignments(server string) []Assignment {
	alive := s.aliveMap()
	recovering := s.recoveringPartitions()
	var out []Assignment
	byTenant := map[string][]int{}
	for i, p := range s.meta.Partitions {
		byTenant[p.Tenant] = append(byTenant[p.Tenant], i)
	}
	tenants := make([]string, 0, len(byTenant))
	for t := range byTenant {
		tenants = append(tenants, t)
	}
	sort.Strings(tenants)
	for _, tn := range tenants {
		t := s.meta.Catalog.Tenants[tn]
		pz, err := tenant.ParsePrimaryZone(t.PrimaryZone)
		if err != nil {
			continue
		}
		idx := byTenant[tn]
		groups := make([][]tenant.ReplicaPlacement, len(idx))
		for k, i := range idx {
			groups[k] = s.meta.Partitions[i].Replicas
		}
		leaders := tenant.AssignLeaders(groups, pz, alive)
		for k, i := range idx {
			p := s.meta.Partitions[i]
			mine := -1
			for j, r := range p.Replicas {
				if r.Server == server {
					mine = j
				}
			}
			if mine < 0 {
				continue
			}
			var members []paxos.Member
			for _, r := range p.Replicas {
				id, _ := s.cluster.ServerID(r.Server)
				members = append(members, paxos.Member{ID: id, Type: r.Type})
			}
			slices.SortFunc(members, func(a, b paxos.Member) int { return cmp.Compare(a.ID, b.ID) })
			r := p.Replicas[mine]
			designated := leaders[k] == mine
			if p.Pinned != "" && alive[p.Pinned] {
				designated = p.Pinned == server
			}
			a := Assignment{Partition: p.ID, Type: r.Type, Members: members,
				Priority: tenant.Priority(r, pz, designated, true), Established: p.Established}
			if lsrv, rep, ok := s.leaderReport(p.ID); ok {
				id, _ := s.cluster.ServerID(server)
				if slices.ContainsFunc(rep.Members, func(m paxos.Member) bool { return m.ID == id }) {
					// Created here again (its data was lost), it starts from the group's
					// membership, in recovery (paxos/recovery.go).
					a.Members = rep.Members
				} else {
					a.Join, a.Members = true, nil
				}
				if lsrv == server {
					a.Change = s.nextChange(p.ID, members, rep, recovering)
				}
			}
			out = append(out, a)
		}
	}
	// Replicas the placement no longer wants, but their group still counts: a leader among them
	// must hand over before the leader can remove it, so mark them unhealthy.
	for _, p := range s.meta.Partitions {
		if slices.ContainsFunc(p.Replicas, func(r tenant.ReplicaPlacement) bool { return r.Server == server }) {
			continue
		}
		id, _ := s.cluster.ServerID(server)
		lsrv, rep, ok := s.leaderReport(p.ID)
		if !ok {
			// No leader reports the group: whether it still counts this replica is unknown, so
			// the server keeps it. Dropped while still a voter, it would cost the group a vote,
			// and if placed here again before the group removed it, it would come back empty
			// under its old membership: a voter that forgot what it accepted and promised.
			if mine, hosted := s.reported(p.ID, id); hosted {
				out = append(out, Assignment{Partition: p.ID, Type: mine.Type, Priority: paxos.Priority{}, KeepOnly: true})
			}
			continue
		}
		if m, in := findMember(rep.Members, id); in {
			a := Assignment{Partition: p.ID, Type: m.Type, Members: rep.Members, Priority: paxos.Priority{}, KeepOnly: true}
			if lsrv == server {
				a.Change = s.nextChange(p.ID, s.desiredMembers(p), rep, recovering)
			}
			out = append(out, a)
		}
	}
	return out
}
