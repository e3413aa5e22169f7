package rootservice

import (
	"context"
	"fmt"
	"slices"
	"time"

	"obkv/paxos"
	"obkv/tenant"
)

// Schedulers of the root service: locality-change jobs and re-replication change the desired
// placement (Partition.Replicas); nextChange then moves each group's real membership towards
// it, one Paxos membership change at a time, through the group's leader.

// Tick runs the schedulers once. downFor says how long a server has been unreachable;
// offline is the permanent-offline time after which its replicas are rebuilt elsewhere.
func (s *Service) Tick(ctx context.Context, downFor func(server string) time.Duration, offline time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.current(ctx); err != nil {
		return err
	}
	m := s.meta.clone()
	changed := s.runJobs(&m)
	if s.rereplicate(&m, downFor, offline) {
		changed = true
	}
	if s.markEstablished(&m) {
		changed = true
	}
	if !changed {
		return nil
	}
	return s.save(ctx, m)
}

// markEstablished records every partition a leader was reported serving for
// (Partition.Established), and reports whether it marked any.
func (s *Service) markEstablished(m *Meta) bool {
	changed := false
	for i := range m.Partitions {
		p := &m.Partitions[i]
		if _, _, ok := s.leaderReport(p.ID); ok && !p.Established {
			p.Established, changed = true, true
		}
	}
	return changed
}

// reportFresh is how old a server's report may be and still count: a server that stopped
// reporting is down or cut off.
const reportFresh = 5 * time.Second

// leaderReport returns the report of the replica serving as leader of partition p, if any: of
// several recent reports that say so (a deposed leader's last one can still be recent), the one
// with the highest ballot, whose membership is the newest.
func (s *Service) leaderReport(p uint64) (string, ReplicaReport, bool) {
	var (
		best    ReplicaReport
		bestSrv string
	)
	for _, srv := range sortedKeys(s.reports) {
		rep := s.reports[srv]
		if time.Since(rep.at) > reportFresh {
			continue
		}
		for _, r := range rep.replicas {
			if r.Partition == p && r.Serving && (bestSrv == "" || best.Ballot.Less(r.Ballot)) {
				best, bestSrv = r, srv
			}
		}
	}
	return bestSrv, best, bestSrv != ""
}

// desiredMembers is the membership a partition's placement asks for.
func (s *Service) desiredMembers(p Partition) []paxos.Member {
	var out []paxos.Member
	for _, r := range p.Replicas {
		id, _ := s.cluster.ServerID(r.Server)
		out = append(out, paxos.Member{ID: id, Type: r.Type})
	}
	slices.SortFunc(out, func(a, b paxos.Member) int { return int(a.ID) - int(b.ID) })
	return out
}

// converged reports whether partition p's leader reports exactly the desired membership.
func (s *Service) converged(p Partition) bool {
	_, rep, ok := s.leaderReport(p.ID)
	if !ok {
		return false
	}
	return sameMembers(rep.Members, s.desiredMembers(p))
}

func sameMembers(a, b []paxos.Member) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].ID != b[i].ID || a[i].Type != b[i].Type {
			return false
		}
	}
	return true
}

// nextChange is the next membership change of partition p towards desired, given its leader's
// report: none while a member recovers (recovering, from recoveringPartitions;
// paxos/recovery.go). A recovering replica counts toward no quorum; a change that left the
// others short of one (a voter removed or made a listener) would stop the group until it
// recovered, which needs a quorum of the others.
func (s *Service) nextChange(p uint64, desired []paxos.Member, leader ReplicaReport, recovering map[uint64]bool) *paxos.ConfChange {
	if recovering[p] {
		return nil
	}
	return nextChange(desired, leader.Members, s.caughtUp(p, leader.Commit), s.hasData(p))
}

// recoveringPartitions returns the partitions of which a server lately reported a replica
// recovering (a server that stopped reporting holds nothing up).
func (s *Service) recoveringPartitions() map[uint64]bool {
	out := map[uint64]bool{}
	for _, rep := range s.reports {
		if time.Since(rep.at) > reportFresh {
			continue
		}
		for _, r := range rep.replicas {
			if r.Recovering {
				out[r.Partition] = true
			}
		}
	}
	return out
}

// nextChange is the next single membership change that moves actual towards desired. A new
// voter joins as a READONLY listener first and is promoted only once it has caught up
// (caughtUp), as raft learners are: adding an empty voter to a group that has only a bare
// majority alive would stall every commit (and the leader's lease) until it caught up, which it
// can only do from a serving leader. Then come type changes, then removals: fault tolerance
// grows before it shrinks. A LOGONLY replica keeps no data, so turning it into a data replica
// is a removal then an add.
func nextChange(desired, actual []paxos.Member, caughtUp, hasData func(paxos.ID) bool) *paxos.ConfChange {
	for _, d := range desired {
		if _, ok := findMember(actual, d.ID); !ok {
			t := d.Type
			if t.IsVoter() {
				t = paxos.ReadOnly
			}
			return &paxos.ConfChange{Type: paxos.ConfAdd, ID: d.ID, Replica: t}
		}
	}
	for _, d := range desired {
		a, _ := findMember(actual, d.ID)
		if a.Type == d.Type {
			continue
		}
		if a.Type == paxos.ReadOnly && d.Type.IsVoter() && !caughtUp(d.ID) {
			return nil // wait for the listener to catch up before it votes
		}
		if a.Type == paxos.LogOnly && d.Type != paxos.LogOnly && (d.Type == paxos.ReadOnly || !hasData(d.ID)) {
			// Paxos has no LOGONLY->READONLY conversion, and a replica created LOGONLY has no
			// data to serve as FULL: remove it; it is re-added (and rebuilt) next.
			return &paxos.ConfChange{Type: paxos.ConfRemove, ID: d.ID}
		}
		return &paxos.ConfChange{Type: paxos.ConfSetType, ID: d.ID, Replica: d.Type}
	}
	for _, a := range actual {
		if _, ok := findMember(desired, a.ID); !ok {
			return &paxos.ConfChange{Type: paxos.ConfRemove, ID: a.ID}
		}
	}
	return nil
}

// caughtUpWithin is how far behind the leader's commit point a listener may be when it is
// promoted to a voter.
const caughtUpWithin = 64

// hasData reports whether replica id of partition p keeps data (it was not created LOGONLY).
func (s *Service) hasData(p uint64) func(paxos.ID) bool {
	return func(id paxos.ID) bool {
		r, ok := s.reported(p, id)
		return ok && r.Type != paxos.LogOnly
	}
}

// reported returns the latest report of replica id of partition p.
func (s *Service) reported(p uint64, id paxos.ID) (ReplicaReport, bool) {
	for _, srv := range sortedKeys(s.reports) {
		if sid, _ := s.cluster.ServerID(srv); sid != id {
			continue
		}
		for _, r := range s.reports[srv].replicas {
			if r.Partition == p {
				return r, true
			}
		}
	}
	return ReplicaReport{}, false
}

// caughtUp reports whether replica id of partition p has applied within caughtUpWithin of the
// leader's commit point, from the latest reports.
func (s *Service) caughtUp(p uint64, leaderCommit uint64) func(paxos.ID) bool {
	return func(id paxos.ID) bool {
		r, ok := s.reported(p, id)
		return ok && r.Applied+caughtUpWithin >= leaderCommit
	}
}

// aliveZones returns which zones have at least one live server.
func (s *Service) aliveZones() map[string]bool {
	out := map[string]bool{}
	for _, z := range s.cluster.Topology().Zones {
		for _, srv := range z.Servers {
			if s.cluster.Alive(srv) {
				out[z.Name] = true
			}
		}
	}
	return out
}

// runJobs advances running jobs; it reports whether m changed.
func (s *Service) runJobs(m *Meta) bool {
	changed := false
	for j := range m.Jobs {
		job := &m.Jobs[j]
		if job.State != "running" {
			continue
		}
		var parts []int
		for i, p := range m.Partitions {
			if p.Tenant == job.Tenant {
				parts = append(parts, i)
			}
		}
		switch job.Kind {
		case "alter-primary-zone":
			t := m.Catalog.Tenants[job.Tenant]
			pz, _ := tenant.ParsePrimaryZone(t.PrimaryZone)
			loc, _ := tenant.ParseLocality(t.Locality)
			zones := tenant.LeaderZones(pz, loc, s.aliveZones())
			done := 0
			for _, i := range parts {
				if srv, _, ok := s.leaderReport(m.Partitions[i].ID); ok {
					if z, _, _, _ := s.cluster.ServerInfo(srv); slices.Contains(zones, z) {
						done++
					}
				}
			}
			progress := fmt.Sprintf("%d/%d partitions led from %v", done, len(parts), zones)
			if progress != job.Progress {
				job.Progress, changed = progress, true
			}
			if done == len(parts) {
				job.State, changed = "done", true
			}
		case "alter-locality":
			if job.Step >= len(job.Steps) {
				job.State, changed = "done", true
				continue
			}
			st := job.Steps[job.Step]
			if !job.Started {
				for _, i := range parts {
					if err := s.applyStep(m, &m.Partitions[i], st); err != nil {
						job.State, job.Progress = "failed", err.Error()
						return true
					}
				}
				job.Started, changed = true, true
			}
			done := 0
			for _, i := range parts {
				if s.converged(m.Partitions[i]) {
					done++
				}
			}
			progress := fmt.Sprintf("step %d/%d (%s %s), %d/%d partitions done", job.Step+1, len(job.Steps), stepName(st), st.Zone, done, len(parts))
			if progress != job.Progress {
				job.Progress, changed = progress, true
			}
			if done == len(parts) {
				job.Step++
				job.Started = false
				changed = true
				if job.Step == len(job.Steps) {
					job.State = "done"
					job.Progress = fmt.Sprintf("%d/%d steps done", len(job.Steps), len(job.Steps))
				}
			}
		}
	}
	return changed
}

func stepName(st tenant.LocalityStep) string {
	switch st.Op {
	case tenant.StepAdd:
		return "add " + st.To.String()
	case tenant.StepRemove:
		return "remove " + st.From.String()
	case tenant.StepConvert:
		return st.From.String() + "->" + st.To.String()
	}
	return "?"
}

// applyStep changes a partition's desired placement by one locality step.
func (s *Service) applyStep(m *Meta, p *Partition, st tenant.LocalityStep) error {
	idx := slices.IndexFunc(p.Replicas, func(r tenant.ReplicaPlacement) bool { return r.Zone == st.Zone })
	switch st.Op {
	case tenant.StepAdd:
		if idx >= 0 {
			p.Replicas[idx].Type = st.To
			return nil
		}
		t := m.Catalog.Tenants[p.Tenant]
		servers := tenant.UnitServers(m.Units, t.PoolList)[st.Zone]
		if len(servers) == 0 {
			return fmt.Errorf("add %s in zone %s: tenant %s has no unit server there", st.To, st.Zone, p.Tenant)
		}
		srv := servers[(p.Index)%len(servers)]
		p.Replicas = append(p.Replicas, tenant.ReplicaPlacement{Zone: st.Zone, Server: srv, Type: st.To})
		slices.SortFunc(p.Replicas, func(a, b tenant.ReplicaPlacement) int {
			if a.Zone < b.Zone {
				return -1
			}
			if a.Zone > b.Zone {
				return 1
			}
			return 0
		})
	case tenant.StepRemove:
		if idx >= 0 {
			p.Replicas = slices.Delete(p.Replicas, idx, idx+1)
		}
	case tenant.StepConvert:
		if idx < 0 {
			return fmt.Errorf("convert %s in zone %s: partition %d has no replica there", st.From, st.Zone, p.ID)
		}
		p.Replicas[idx].Type = st.To
	}
	return nil
}

// rereplicate moves the replicas of servers gone longer than offline to another server of the
// same zone that holds (or can take) a unit of the tenant. It reports whether m changed.
func (s *Service) rereplicate(m *Meta, downFor func(string) time.Duration, offline time.Duration) bool {
	changed := false
	alive := s.aliveMap()
	for i := range m.Partitions {
		p := &m.Partitions[i]
		for j, r := range p.Replicas {
			if downFor(r.Server) < offline {
				continue
			}
			t := m.Catalog.Tenants[p.Tenant]
			cand := s.replacementServer(m, t, r.Zone, p, alive)
			if cand == "" {
				continue
			}
			s.log.Info("re-replicating", "partition", p.ID, "zone", r.Zone, "from", r.Server, "to", cand)
			p.Replicas[j].Server = cand
			if p.Pinned == r.Server {
				p.Pinned = ""
			}
			changed = true
		}
	}
	return changed
}

// replacementServer picks a live server of zone for a replica of p: a unit server of the
// tenant first; otherwise it moves the tenant's unit off the dead server onto a live server of
// the zone that holds no unit of the tenant.
func (s *Service) replacementServer(m *Meta, t tenant.Tenant, zone string, p *Partition, alive map[string]bool) string {
	used := map[string]bool{}
	for _, r := range p.Replicas {
		used[r.Server] = true
	}
	for _, srv := range tenant.UnitServers(m.Units, t.PoolList)[zone] {
		if alive[srv] && !used[srv] {
			return srv
		}
	}
	holds := map[string]bool{}
	for _, u := range m.Units {
		if slices.Contains(t.PoolList, u.Pool) {
			holds[u.Server] = true
		}
	}
	topo := s.cluster.Topology()
	sizes := m.Catalog.UnitSizes()
	assigned := tenant.Assigned(m.Units, sizes, "")
	for _, z := range topo.Zones {
		if z.Name != zone {
			continue
		}
		for _, srv := range z.Servers {
			if !alive[srv] || holds[srv] {
				continue
			}
			// Move the tenant's unit in this zone from a dead server to srv, if srv has room.
			for k, u := range m.Units {
				if u.Zone != zone || !slices.Contains(t.PoolList, u.Pool) || alive[u.Server] {
					continue
				}
				if why := tenant.Lacks(topo.Capacity[srv], assigned[srv], sizes[u.Pool].Demand()); why != "" {
					s.noRoomOnce(u.Pool, srv, why)
					continue
				}
				m.Units[k].Server = srv
				return srv
			}
		}
	}
	return ""
}
