package sim

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"

	"obkv/paxos"
)

// topology is a group's initial locality: replica i+1 lives in zone i+1 and has types[i];
// ranks[i] is its zone's level in a primary_zone-like ordering (0 is the highest priority).
type topology struct {
	name      string
	types     []paxos.ReplicaType
	ranks     []uint32
	upstreams []paxos.ID // READONLY replicas' upstream (cascade); None: fed by the leader
}

const (
	f = paxos.Full
	l = paxos.LogOnly
	r = paxos.ReadOnly
)

// topologies are cycled through by seed. 1F2R is a single-voter group with listeners: the one
// place where a leader counting its own unpersisted entries (ack-before-persist) can commit
// alone.
var topologies = []topology{
	{name: "3F", types: []paxos.ReplicaType{f, f, f}, ranks: []uint32{0, 1, 1}},
	{name: "2F1L", types: []paxos.ReplicaType{f, f, l}, ranks: []uint32{0, 1, 1}},
	{name: "3F2R", types: []paxos.ReplicaType{f, f, f, r, r}, ranks: []uint32{0, 1, 2, 2, 2}, upstreams: []paxos.ID{0, 0, 0, 0, 4}},
	{name: "2F1L2R", types: []paxos.ReplicaType{f, f, l, r, r}, ranks: []uint32{0, 1, 1, 2, 2}, upstreams: []paxos.ID{0, 0, 0, 2, 0}},
	{name: "5zone-3F1L1R", types: []paxos.ReplicaType{f, f, f, l, r}, ranks: []uint32{0, 0, 1, 2, 3}, upstreams: []paxos.ID{0, 0, 0, 0, 3}},
	{name: "1F2R", types: []paxos.ReplicaType{f, r, r}, ranks: []uint32{0, 1, 1}},
}

// Topologies returns the names of the topologies seeds cycle through (seed % len).
func Topologies() []string {
	out := make([]string, len(topologies))
	for i, t := range topologies {
		out[i] = t.name
	}
	return out
}

// Protocol timing of every simulated replica, in ticks. A step of simulated time is about one
// tick: each replica ticks at its own rate in [1, maxRate) per step.
const (
	leaseTicks     = 40
	maxDriftTicks  = 6
	heartbeatTicks = 4
	// maxRate bounds the clock drift: a leader counts its lease as leaseTicks-maxDriftTicks of
	// its own ticks and a voter grants leaseTicks of its ticks, so the rate ratio of any two
	// replicas must stay below leaseTicks/(leaseTicks-maxDriftTicks). Ticks happen at step
	// granularity, which costs up to one tick on each clock, so the simulator keeps the ratio
	// below (leaseTicks-1)/(leaseTicks-maxDriftTicks+1) = 39/35.
	maxRate = float64(leaseTicks-1) / float64(leaseTicks-maxDriftTicks+1)
	// versionSkewSteps bounds how far apart the replicas' physical clocks (the physical part
	// of the hybrid clock that stamps versions) may be.
	versionSkewSteps = 150
)

func nodeConfig(id paxos.ID, mut paxos.Mutation, incarnation uint64, established bool) paxos.Config {
	c := paxos.DefaultConfig(id)
	c.Established = established
	c.LeaseTicks = leaseTicks
	c.MaxDriftTicks = maxDriftTicks
	c.HeartbeatTicks = heartbeatTicks
	c.CampaignTicks = 20
	c.RankStaggerTicks = 4
	c.ElectionJitterTicks = 6
	c.TransferTicks = 60
	c.ElectionLagEntries = 30
	c.MaxMsgEntries = 8
	c.MaxMsgBytes = 1024
	c.MaxInflightMsgs = 4
	c.MaxInflightBytes = 8192
	c.MaxUncommittedEntries = 64
	c.Seed = uint64(id)*1_000_003 + incarnation
	c.Mutation = mut
	return c
}

// Options selects one run.
type Options struct {
	Seed     uint64
	Mutation paxos.Mutation
	// SafetySteps is how long the faulty phase runs; LivenessSteps bounds the healed phase.
	SafetySteps   int
	LivenessSteps int
	// HistoryDir is where a non-linearizable history is written as HTML ("" = os.TempDir()).
	HistoryDir string
}

// Stats counts what a run exercised.
type Stats struct {
	Steps, PutsOK, PutsUnknown, PutsFailed, StrongReads, WeakReads   uint64
	Crashes, TornCrashes, Restarts, Partitions, Elections, Transfers uint64
	DisksLost, SlowWrites                                            uint64
	ConfChanges, Checkpoints, SnapshotsInstalled, ClosedPublished    uint64
	MsgsSent, MsgsDropped, MsgsDuplicated, MsgsDelayed, MsgsCut      uint64
	LivenessTicks, ServingSteps                                      uint64
}

// Result is the outcome of one run.
type Result struct {
	Seed     uint64
	Topology string
	Mutation paxos.Mutation
	Profile  string
	// Err is the first invariant broken (nil: none). Step is when.
	Err  error
	Step uint64
	// Trace is the tail of the event log, for the report.
	Trace string
	// HistoryFile is the HTML visualisation of a non-linearizable history, when there is one.
	HistoryFile string
	Stats       Stats
}

// simNode is one replica and everything the driver keeps for it.
type simNode struct {
	id          paxos.ID
	prio        paxos.Priority
	n           *paxos.Node // nil while down
	up, removed bool
	incarnation uint64
	disk        disk
	sm          *kvState // the live state machine (lost on a crash)
	// rate is ticks per step (clock drift); acc accumulates fractions of a tick.
	rate, acc float64
	// physOffset skews this replica's physical clock; hlc is the last version it issued.
	physOffset, hlc uint64
	restartAt       uint64
	// tornNext: crash in the middle of the next Ready that writes anything.
	tornNext bool
	// inflight is a Ready whose write is under way (slow writes): until its step the driver
	// goes on ticking and stepping the node, sending what TakeEarly gives, as the server's
	// poller does through a long write; it makes no request of it.
	inflight   *inflightReady
	lastCommit uint64
	leading    bool
	// pendingPuts are the writes proposed here, by index; pendingReads the strong reads, by
	// request id.
	pendingPuts  map[uint64]*kvOp
	pendingReads map[uint64]*kvOp
	fetch        *paxos.SnapshotFetch
	added        bool // added by a membership change (not part of the topology)
	// lostUntil, after the replica's disk was lost, is how much had been chosen then; the
	// replica counts as without its disk until it left recovery with its commit point there.
	lostUntil uint64
	lost      bool
	// former is the disk it lost, while lost: acknowledgements it sent before still arrive.
	former *disk
	// established: placed again after a lost disk in a group that had chosen something, as
	// the root service does once it saw a leader (paxos.Config.Established).
	established bool
}

// inflightReady is a Ready handed out whose write completes at step doneAt.
type inflightReady struct {
	rd     paxos.Ready
	doneAt uint64
}

// busy reports whether a write of sn is under way: requests wait, as in the server.
func (sn *simNode) busy() bool { return sn.inflight != nil }

// Sim is one simulated cluster: one Paxos group, run in one goroutine from one seed.
type Sim struct {
	opts    Options
	rng     *rand.Rand
	topo    topology
	profile profile
	now     uint64
	nodes   map[paxos.ID]*simNode
	ids     []paxos.ID // sorted
	net     network
	chk     *Checker
	wl      workload
	healed  bool
	conf    paxos.Membership // the topology's membership
	trace   traceRing
	err     error
	errStep uint64
	stats   Stats
}

// profile is the fault and workload mix of one seed.
type profile struct {
	crashEvery, partitionEvery uint64 // mean steps between events; 0 = never
	confChanges, transfers     bool
	diskLoss                   bool // some crashes lose the replica's disk
	// establishedLoss: a replica placed again after its disk was lost in a group that chose
	// something boots with paxos.Config.Established, as the server does for a partition the
	// root service saw lead; otherwise it may take recovery's new-group exit.
	establishedLoss bool
	checkpointEvery uint64
	// slowWrites: one Ready in this many has a write that takes several steps (0 = never).
	slowWrites uint64
}

func (p profile) String() string {
	return fmt.Sprintf("crash/%d partition/%d conf=%v transfer=%v checkpoint/%d disk-loss=%v established=%v slow-writes/%d", p.crashEvery, p.partitionEvery, p.confChanges, p.transfers, p.checkpointEvery, p.diskLoss, p.establishedLoss, p.slowWrites)
}

// New builds the cluster of a seed: its topology (seed modulo the topology list), its fault
// profile, clock rates and skews, all drawn from the seed.
func New(opts Options) *Sim {
	s := &Sim{opts: opts, rng: rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x9e3779b97f4a7c15)),
		nodes: map[paxos.ID]*simNode{}, chk: NewChecker()}
	s.topo = topologies[opts.Seed%uint64(len(topologies))]
	rg := s.rng
	s.net.faults = netFaults{
		dropP: pick(rg, 0, 0.02, 0.08), dupP: pick(rg, 0, 0.01, 0.05), delayP: pick(rg, 0, 0.03, 0.1),
		baseDelay: 1 + rg.Uint64N(2), jitter: rg.Uint64N(4), maxExtraDelay: 10 + rg.Uint64N(40),
	}
	s.profile = profile{
		crashEvery:      []uint64{0, 150, 400}[rg.IntN(3)],
		partitionEvery:  []uint64{0, 60, 150, 300}[rg.IntN(4)],
		confChanges:     rg.IntN(2) == 0,
		transfers:       rg.IntN(2) == 0,
		checkpointEvery: []uint64{40, 120}[rg.IntN(2)],
		diskLoss:        rg.IntN(2) == 0,
		// Not drawn from rg, so that every other draw of a seed stays what it was.
		establishedLoss: (opts.Seed/uint64(len(topologies)))%2 == 1,
		// Half the seeds; a seed without slow writes draws exactly what it drew before.
		slowWrites: []uint64{0, 8}[(opts.Seed/uint64(2*len(topologies)))%2],
	}
	var conf paxos.Membership
	for i, t := range s.topo.types {
		m := paxos.Member{ID: paxos.ID(i + 1), Type: t}
		if i < len(s.topo.upstreams) {
			m.Upstream = s.topo.upstreams[i]
		}
		conf.Members = append(conf.Members, m)
	}
	s.conf = conf
	for i := range s.topo.types {
		id := paxos.ID(i + 1)
		sn := s.addNode(id, s.topo.ranks[i])
		sn.disk = disk{snap: paxos.SnapshotMeta{Membership: cloneConf(conf)}, kv: newKVState(conf)}
		s.start(sn)
	}
	s.wl.init(s)
	return s
}

func pick(r *rand.Rand, xs ...float64) float64 { return xs[r.IntN(len(xs))] }

func (s *Sim) addNode(id paxos.ID, rank uint32) *simNode {
	sn := &simNode{id: id, prio: paxos.Priority{Healthy: true, ZoneRank: rank},
		rate: 1 + s.rng.Float64()*(maxRate-1), physOffset: s.rng.Uint64N(versionSkewSteps + 1)}
	s.nodes[id] = sn
	s.ids = append(s.ids, id)
	slices.Sort(s.ids)
	return sn
}

// start boots a replica from its durable disk, as a restarted process does.
func (s *Sim) start(sn *simNode) {
	sn.incarnation++
	d := &sn.disk
	boot := paxos.Boot{HardState: d.hs, Snapshot: d.snap, Entries: slices.Clone(d.entries), Applied: d.snap.Index, Fresh: d.hs.IsZero() && len(d.entries) == 0 && d.snap.Index == 0}
	boot.Snapshot.Membership = cloneConf(d.snap.Membership)
	n, err := paxos.New(nodeConfig(sn.id, s.opts.Mutation, sn.incarnation, sn.established), boot)
	if err != nil {
		s.fail(fmt.Errorf("simulator: restart replica %d: %w", sn.id, err))
		return
	}
	n.SetPriority(sn.prio)
	sn.n, sn.up = n, true
	sn.sm = d.kv.clone()
	sn.acc = 0
	sn.pendingPuts, sn.pendingReads = map[uint64]*kvOp{}, map[uint64]*kvOp{}
	sn.fetch = nil
	sn.lastCommit = n.Status().Commit
	sn.leading = false
	s.chk.Started(sn.id, d.snap.Index)
	s.tracef("start %d (incarnation %d) from checkpoint %d, %d entries, %+v", sn.id, sn.incarnation, d.snap.Index, len(d.entries), d.hs)
}

// crash stops a replica: everything not synced is lost (the driver syncs every Ready before
// sending, so only a torn Ready, handled in persist, loses anything), and its volatile state,
// pending requests and in-progress snapshot fetch go with it.
func (s *Sim) crash(sn *simNode, why string) {
	if !sn.up {
		return
	}
	if in := sn.inflight; in != nil {
		// Killed during a write: some prefix of it may be on the disk.
		s.tornWrite(sn, in.rd)
		sn.inflight = nil
	}
	sn.up, sn.n, sn.tornNext, sn.fetch = false, nil, false, nil
	for _, i := range sortedKeys(sn.pendingPuts) {
		sn.pendingPuts[i].node = paxos.None // outcome unknown: resolved from the chosen log at the end
	}
	for _, i := range sortedKeys(sn.pendingReads) {
		sn.pendingReads[i].state = opFailed
	}
	sn.pendingPuts, sn.pendingReads = nil, nil
	sn.restartAt = s.now + 10 + s.rng.Uint64N(150)
	s.stats.Crashes++
	s.tracef("crash %d (%s), restart at %d", sn.id, why, sn.restartAt)
}

// loseDisk crashes sn and empties its disk, as a server whose data directory is lost and that
// comes back under its old name: the root service places the replica again and it boots
// fresh. Invariant 1 holds while a majority of voters keep their disks, so a disk is lost
// only while no other replica is recovering or pristine (recovery.go: a replica that lost its
// data among replicas that never stored anything takes the group for a new one).
func (s *Sim) loseDisk(sn *simNode) bool {
	for _, id := range s.ids {
		o := s.nodes[id]
		if o != sn && !o.removed && (o.recovering() || o.holdsNoEntry()) {
			return false
		}
		// In every membership a replica holds, the voters other than sn must be a majority.
		confs := o.disk.confs()
		if o.up {
			confs = append(confs, o.n.Status().Config)
		}
		for _, c := range confs {
			if c.IsVoter(sn.id) && len(c.Voters())-1 < c.Quorum() {
				return false
			}
		}
	}
	s.crash(sn, "disk lost")
	// The root service places it with the membership its leader reports (the most advanced
	// replica's here), or, if the group does not count it, with none (it joins).
	conf, commit := s.conf, uint64(0)
	for _, id := range s.ids {
		if o := s.nodes[id]; o.up {
			if st := o.n.Status(); st.Commit >= commit {
				conf, commit = st.Config, st.Commit
			}
		}
	}
	if _, ok := conf.Member(sn.id); !ok {
		conf = paxos.Membership{}
	}
	former := sn.disk
	sn.disk = disk{snap: paxos.SnapshotMeta{Membership: cloneConf(conf)}, kv: newKVState(conf)}
	sn.lost, sn.lostUntil, sn.former = true, s.chk.ChosenLen(), &former
	sn.established = s.profile.establishedLoss && s.chk.ChosenLen() > 0
	s.stats.DisksLost++
	return true
}

// recovering reports whether a replica is recovering, or will when it boots: the root service
// changes no membership then, as a change could leave the others short of a majority.
func (s *Sim) recovering() bool {
	for _, id := range s.ids {
		if sn := s.nodes[id]; !sn.removed && sn.recovering() {
			return true
		}
	}
	return false
}

// holdsNoEntry reports whether sn holds no log entry and no checkpoint, on disk or in memory: it
// answers a probe as pristine once it withdraws its promise (a candidate that gives up), so with
// a replica that lost its disk it makes the pristine majority of a new group (sim seed 21444).
func (sn *simNode) holdsNoEntry() bool {
	return len(sn.disk.entries) == 0 && sn.disk.snap.Index == 0 && (!sn.up || sn.n.Status().Last == 0)
}

// recovering reports whether sn is recovering, or will be when it boots.
func (sn *simNode) recovering() bool {
	return sn.lost || sn.disk.pristine() || sn.disk.hs.Recovering || (sn.up && sn.n.Status().Recovering)
}

func (s *Sim) fail(err error) {
	if s.err == nil {
		s.err, s.errStep = err, s.now
		s.tracef("FAIL: %v", err)
	}
}

// after checks what a call into a replica changed (before anything of it is persisted: a commit
// must already be durable on a majority of voters), then drains its Ready.
func (s *Sim) after(sn *simNode) {
	s.observe(sn)
	for i := 0; sn.up && s.err == nil; i++ {
		if in := sn.inflight; in != nil {
			if s.now < in.doneAt {
				// The write goes on: what may leave before it, leaves.
				for _, m := range sn.n.TakeEarly(nil) {
					s.net.send(s.rng, s.now, m)
				}
				break
			}
			sn.inflight = nil
			s.tracef("replica %d: slow write done", sn.id)
			s.finishReady(sn, in.rd)
			continue
		}
		if !sn.n.HasReady() {
			break
		}
		if i > 1000 {
			s.fail(fmt.Errorf("replica %d: Ready keeps coming after 1000 rounds", sn.id))
			return
		}
		s.handleReady(sn)
	}
	if sn.up && s.err == nil {
		s.observe(sn)
	}
}

// handleReady handles one Ready in the order its doc demands: persist (write, then sync),
// send, apply, read states, then Advance.
func (s *Sim) handleReady(sn *simNode) {
	rd := sn.n.Ready()
	// The closed version a Ready reports is the Node's at that moment (checked now: a slow
	// write may finish after the Node learned a newer one).
	if rd.Closed != nil {
		if err := s.chk.Closed(sn.id, *rd.Closed); err != nil {
			s.fail(err)
			return
		}
	}
	// Proposals may leave before the Ready is persisted (paxos.MaySendBeforePersist), as the
	// server's replica driver does; a torn crash then loses the sender's copy of what it sent.
	for _, m := range rd.Messages {
		if paxos.MaySendBeforePersist(m) {
			s.net.send(s.rng, s.now, m)
		}
	}
	if p := s.profile.slowWrites; p > 0 && (!rd.HardState.IsZero() || len(rd.Entries) > 0) && s.rng.Uint64N(p) == 0 {
		// A slow write: it completes some steps later, sometimes after a lease.
		sn.inflight = &inflightReady{rd: rd, doneAt: s.now + 1 + s.rng.Uint64N(2*leaseTicks)}
		s.stats.SlowWrites++
		s.tracef("replica %d: slow write of %d entries (hard state %v) until step %d", sn.id, len(rd.Entries), !rd.HardState.IsZero(), sn.inflight.doneAt)
		return
	}
	s.finishReady(sn, rd)
}

// finishReady carries out the rest of a Ready once its write is done: persist it, send what
// waited for it, apply, answer reads, then Advance.
func (s *Sim) finishReady(sn *simNode, rd paxos.Ready) {
	if !s.persist(sn, rd) {
		return // crashed between the write and the sync
	}
	for _, m := range rd.Messages {
		if !paxos.MaySendBeforePersist(m) {
			s.net.send(s.rng, s.now, m)
		}
	}
	for _, e := range rd.Committed {
		s.apply(sn, e)
		if s.err != nil {
			return
		}
	}
	for _, rs := range rd.ReadStates {
		op := sn.pendingReads[rs.RequestID]
		if op == nil {
			continue
		}
		if rs.Rejected {
			op.state = opFailed
			delete(sn.pendingReads, rs.RequestID)
			continue
		}
		op.readIndex, op.indexKnown = rs.Index, true
	}
	s.answerReads(sn)
	if rd.Snapshot != nil {
		f := *rd.Snapshot
		f.Meta.Membership = cloneConf(f.Meta.Membership)
		sn.fetch = &f
		s.tracef("replica %d asks for snapshot %d from %d", sn.id, f.Meta.Index, f.From)
	}
	if rd.Soft != nil {
		if rd.Soft.Role == paxos.Leader && !sn.leading {
			s.stats.Elections++
			s.tracef("replica %d leads ballot %s", sn.id, rd.Soft.Ballot)
		}
		sn.leading = rd.Soft.Role == paxos.Leader
	}
	sn.n.Advance(rd)
	s.observe(sn)
}

// persist writes a Ready's hard state and entries and syncs them. When a torn crash is armed,
// the process dies between the write and the sync instead: the write is a record stream
// (hard state first, then the entries) of which a random prefix survives, each surviving entry
// replacing the stored one at its index (the stored entries after it survive too, as the Ready
// contract demands); persist reports false and nothing of the Ready is sent or applied.
func (s *Sim) persist(sn *simNode, rd paxos.Ready) bool {
	if sn.tornNext && (!rd.HardState.IsZero() || len(rd.Entries) > 0) {
		kept, recs := s.tornWrite(sn, rd)
		s.crash(sn, fmt.Sprintf("torn write: kept %d of %d records", kept, recs))
		return false
	}
	if err := sn.disk.write(rd.HardState, rd.Entries); err != nil {
		s.fail(err)
		return false
	}
	return true
}

// tornWrite leaves on sn's disk what a crash before the sync keeps of rd's write: a random
// prefix of its record stream (hard state first, then the entries).
func (s *Sim) tornWrite(sn *simNode, rd paxos.Ready) (kept, recs int) {
	recs = len(rd.Entries)
	if !rd.HardState.IsZero() {
		recs++
	}
	keep := s.rng.IntN(recs + 1)
	kept = keep
	if !rd.HardState.IsZero() && keep > 0 {
		sn.disk.hs = rd.HardState
		keep--
	}
	if err := sn.disk.writeTorn(rd.Entries[:keep]); err != nil {
		s.fail(err)
	}
	s.stats.TornCrashes++
	return kept, recs
}

// apply applies one chosen entry to a replica's state machine and settles the write proposed
// at that index there, if any.
func (s *Sim) apply(sn *simNode, e paxos.Entry) {
	if h, v := sn.disk.at(e.Index); h == Absent || (h == Present && v != valueOf(e)) {
		s.fail(fmt.Errorf("Ready contract: replica %d applies entry %d (%s) that is not persisted on its disk", sn.id, e.Index, valueOf(e)))
		return
	}
	if err := s.chk.Applied(sn.id, e); err != nil {
		s.fail(err)
		return
	}
	if err := sn.sm.apply(e); err != nil {
		s.fail(err)
		return
	}
	if op := sn.pendingPuts[e.Index]; op != nil {
		delete(sn.pendingPuts, e.Index)
		if got, _, ok := decodePut(e.Data); ok && e.Type == paxos.EntryNormal && got == op.id {
			op.state, op.ret = opOK, s.wl.clock()
		} else {
			op.state = opFailed // another value was chosen at its index: it never happened
		}
	}
	if e.Type == paxos.EntryConfChange {
		cc, _ := paxos.DecodeConfChange(e.Data)
		if cc.Type == paxos.ConfRemove {
			if x := s.nodes[cc.ID]; x != nil && !x.removed {
				x.removed = true
				s.crash(x, "removed from the group")
				s.tracef("replica %d removed", cc.ID)
			}
		}
	}
}

// observe checks, after any call into a replica, what that call may have changed.
func (s *Sim) observe(sn *simNode) {
	if !sn.up || s.err != nil {
		return
	}
	st := sn.n.Status()
	if sn.lost && !st.Recovering && st.Commit >= sn.lostUntil {
		sn.lost, sn.former = false, nil
		s.tracef("replica %d recovered from its lost disk (commit %d)", sn.id, st.Commit)
	}
	if err := s.chk.Role(sn.id, st.Type, st.Role); err != nil {
		s.fail(err)
		return
	}
	if st.Commit > sn.lastCommit && st.Role == paxos.Leader {
		holds := func(id paxos.ID, i uint64) (Holding, value) {
			if x := s.nodes[id]; x != nil {
				h, v := x.disk.at(i)
				if h == Absent && x.former != nil {
					// An acknowledgement the replica sent before it lost its disk.
					return x.former.at(i)
				}
				return h, v
			}
			return Absent, value{}
		}
		logged := func(i uint64) (value, bool) {
			e, ok := sn.n.Entry(i)
			return valueOf(e), ok
		}
		if err := s.chk.Commit(sn.id, st.Config, sn.lastCommit, st.Commit, logged, holds); err != nil {
			s.fail(err)
			return
		}
	}
	sn.lastCommit = st.Commit
	if err := s.chk.Closed(sn.id, st.Closed); err != nil {
		s.fail(err)
		return
	}
	s.checkServing()
}

func (s *Sim) checkServing() {
	var serving []paxos.ID
	for _, id := range s.ids {
		if x := s.nodes[id]; x.up && x.n.Serving() {
			serving = append(serving, id)
		}
	}
	if err := s.chk.Serving(serving); err != nil {
		s.fail(err)
	}
}

// Run runs the safety phase, heals everything, runs the liveness phase and checks the histories.
func Run(opts Options) Result {
	s := New(opts)
	return s.run()
}

func (s *Sim) run() Result {
	res := Result{Seed: s.opts.Seed, Topology: s.topo.name, Mutation: s.opts.Mutation,
		Profile: s.profile.String() + " net: " + s.net.faults.String()}
	for i := 0; i < s.opts.SafetySteps && s.err == nil; i++ {
		s.step()
	}
	if s.err == nil {
		s.heal()
		s.liveness()
	}
	if s.err == nil {
		if err := s.chk.WeakReads(s.wl.weak); err != nil {
			s.fail(err)
		}
	}
	if s.err == nil {
		path, err := s.wl.checkLinearizable(s.chk, s.opts.HistoryDir, fmt.Sprintf("seed%d", s.opts.Seed))
		if err != nil {
			s.fail(err)
			res.HistoryFile = path
		}
	}
	s.collectStats()
	res.Err, res.Step, res.Stats = s.err, s.errStep, s.stats
	res.Trace = s.trace.String()
	return res
}

func (s *Sim) collectStats() {
	s.stats.Steps = s.now
	s.stats.MsgsSent, s.stats.MsgsDropped, s.stats.MsgsDuplicated = s.net.stats.sent, s.net.stats.dropped, s.net.stats.duplicated
	s.stats.MsgsDelayed, s.stats.MsgsCut = s.net.stats.delayed, s.net.stats.cut
	for _, op := range s.wl.history {
		switch {
		case !op.put:
			if op.state == opOK {
				s.stats.StrongReads++
			}
		case op.state == opOK:
			s.stats.PutsOK++
		case op.state == opFailed:
			s.stats.PutsFailed++
		default:
			s.stats.PutsUnknown++
		}
	}
	s.stats.WeakReads = uint64(len(s.wl.weak))
}

// step advances simulated time by one step: faults, ticks (every replica at its own rate),
// message deliveries, snapshot fetches, client operations, checkpoints, then the checks that
// span replicas.
func (s *Sim) step() {
	s.now++
	s.faultStep()
	for _, id := range s.ids {
		sn := s.nodes[id]
		if !sn.up {
			continue
		}
		sn.acc += sn.rate
		for sn.acc >= 1 && sn.up && s.err == nil {
			sn.acc--
			sn.n.Tick()
			s.after(sn)
		}
	}
	for s.err == nil {
		m, ok := s.net.due(s.now)
		if !ok {
			break
		}
		sn := s.nodes[m.To]
		if sn == nil || !sn.up {
			continue
		}
		s.trace.addMsg(s.now, m)
		if err := sn.n.Step(m); err != nil {
			s.fail(fmt.Errorf("replica %d refused a message the protocol sent: %v: %w", m.To, m, err))
			return
		}
		s.after(sn)
	}
	for _, id := range s.ids {
		if sn := s.nodes[id]; sn.up && sn.fetch != nil && !sn.busy() && s.err == nil {
			s.fetchSnapshot(sn)
		}
	}
	if s.err == nil {
		s.wl.step(s)
	}
	for _, id := range s.ids {
		if sn := s.nodes[id]; sn.up && !sn.busy() && s.err == nil && s.rng.Uint64N(s.profile.checkpointEvery) == 0 {
			s.checkpoint(sn)
		}
	}
	if s.err == nil {
		s.checkServing()
		if s.servingLeader() != nil {
			s.stats.ServingSteps++
		}
	}
}

// checkpoint makes the replica's state machine durable at its applied index and compacts the
// log to it (the dump point of DESIGN.md, after which the clog prefix can go).
func (s *Sim) checkpoint(sn *simNode) {
	st := sn.n.Status()
	if sn.sm.index != st.Applied {
		s.fail(fmt.Errorf("simulator: replica %d's state machine is at %d, the node applied %d", sn.id, sn.sm.index, st.Applied))
		return
	}
	if st.Applied <= sn.disk.snap.Index {
		return
	}
	if st.Last == st.Applied && !sameConf(st.Config, sn.sm.conf) {
		s.fail(fmt.Errorf("simulator: replica %d's membership replay %v differs from the node's %v", sn.id, sn.sm.conf, st.Config))
		return
	}
	// Half the checkpoints keep the log from the previous one on, for followers that lag
	// (paxos.Node.CompactRetaining): they catch up from entries below the snapshot point.
	keep := st.Applied
	if s.rng.IntN(2) == 0 {
		keep = sn.disk.snap.Index
	}
	sn.disk.checkpoint(sn.sm, st.Closed)
	if err := sn.n.CompactRetaining(st.Applied, keep); err != nil {
		s.fail(fmt.Errorf("simulator: compact replica %d: %w", sn.id, err))
		return
	}
	// The snapshot the node offers from now on is the checkpoint's.
	if got, want := sn.n.SnapshotMeta(), sn.disk.snap; got.Index != want.Index || got.Ballot != want.Ballot ||
		got.Version != want.Version || !sameConf(got.Membership, want.Membership) {
		s.fail(fmt.Errorf("simulator: replica %d offers snapshot %+v after its checkpoint %+v", sn.id, got, want))
		return
	}
	s.stats.Checkpoints++
	s.after(sn)
}

func sameConf(a, b paxos.Membership) bool { return slices.Equal(a.Members, b.Members) }

// fetchSnapshot ships the checkpoint of the replica a Ready named to the one that asked, if the
// source is up and reachable; otherwise it retries on a later step (as a driver would). The
// source ships its current checkpoint, which may be newer than the one offered.
func (s *Sim) fetchSnapshot(sn *simNode) {
	f := sn.fetch
	src := s.nodes[f.From]
	if src == nil || !src.up || s.net.part.cuts(src.id, sn.id) {
		return
	}
	if src.disk.snap.Index < f.Meta.Index {
		// The source's checkpoint went back: it lost its disk since it offered the snapshot.
		// The fetch fails, as the server's does, and the next offer starts another (sim seed
		// 24085 waited for ever on a snapshot no replica held any more).
		sn.fetch = nil
		sn.n.SnapshotFailed()
		s.tracef("replica %d: snapshot %d from %d failed (its checkpoint is %d now)", sn.id, f.Meta.Index, src.id, src.disk.snap.Index)
		s.after(sn)
		return
	}
	meta := src.disk.snap
	if meta.Index == f.Meta.Index {
		if !sameConf(meta.Membership, f.Meta.Membership) || meta.Ballot != f.Meta.Ballot && meta.Index > 0 {
			s.fail(fmt.Errorf("simulator: replica %d's checkpoint at %d (%v) differs from the snapshot its node offered (%v)", src.id, meta.Index, meta.Membership, f.Meta.Membership))
			return
		}
		meta = f.Meta
	}
	meta.Membership = cloneConf(meta.Membership)
	sn.fetch = nil
	before := sn.n.Status()
	sn.n.InstallSnapshot(meta)
	if st := sn.n.Status(); st.First == meta.Index+1 && st.Applied == meta.Index && (before.Applied < meta.Index || before.First == 1 && len(before.Config.Members) == 0) {
		// The node restarted its log at the snapshot (keeping the entries after it when it
		// held the snapshot's last entry): install the data durably, before the next Ready
		// acknowledges it.
		sn.disk.install(meta, src.disk.kv, st.Last > meta.Index)
		sn.sm = src.disk.kv.clone()
		if err := s.chk.Installed(sn.id, meta.Index); err != nil {
			s.fail(err)
			return
		}
		for _, i := range sortedKeys(sn.pendingPuts) {
			if i <= meta.Index {
				sn.pendingPuts[i].node = paxos.None // skipped here: resolved from the chosen log
				delete(sn.pendingPuts, i)
			}
		}
		s.stats.SnapshotsInstalled++
		s.tracef("replica %d installed snapshot %d from %d", sn.id, meta.Index, src.id)
		s.answerReads(sn)
	}
	s.after(sn)
}

// faultStep injects the seed's faults: crashes (some torn, in the middle of a Ready),
// restarts, and partitions by zone.
func (s *Sim) faultStep() {
	for _, id := range s.ids {
		sn := s.nodes[id]
		if !sn.up && !sn.removed && sn.restartAt <= s.now {
			s.stats.Restarts++
			s.start(sn)
		}
	}
	if s.healed {
		return
	}
	if p := s.profile.crashEvery; p > 0 && s.rng.Uint64N(p) == 0 {
		var live []*simNode
		for _, id := range s.ids {
			if sn := s.nodes[id]; sn.up {
				live = append(live, sn)
			}
		}
		if len(live) > 0 {
			sn := live[s.rng.IntN(len(live))]
			switch k := s.rng.IntN(3); {
			case k == 0 && s.profile.diskLoss && s.loseDisk(sn):
			case k < 2:
				sn.tornNext = true
				s.tracef("crash of %d armed for its next write", sn.id)
			default:
				s.crash(sn, "process killed")
			}
		}
	}
	if p := s.profile.partitionEvery; p > 0 && s.rng.Uint64N(p) == 0 {
		s.repartition()
	}
}

// repartition picks a new cut of the zones: healed, majority/minority, the leader's zone
// isolated, one zone cut off one way (in or out), or a single one-way link (a zone that stops
// hearing the leader but still hears, and is heard by, the others).
func (s *Sim) repartition() {
	s.stats.Partitions++
	var zones []paxos.ID
	for _, id := range s.ids {
		if !s.nodes[id].removed {
			zones = append(zones, id)
		}
	}
	var leader paxos.ID
	if l := s.servingLeader(); l != nil {
		leader = l.id
	}
	var p partition
	z := zones[s.rng.IntN(len(zones))]
	if leader != paxos.None && s.rng.IntN(2) == 0 {
		z = leader
	}
	rest := func(in []paxos.ID) []paxos.ID {
		var out []paxos.ID
		for _, x := range zones {
			if !slices.Contains(in, x) {
				out = append(out, x)
			}
		}
		return out
	}
	switch k := s.rng.IntN(14); {
	case k < 3:
		p.desc = "healed"
	case k < 6:
		perm := s.rng.Perm(len(zones))
		var minority []paxos.ID
		for _, i := range perm[:(len(zones)-1)/2+s.rng.IntN(2)] {
			minority = append(minority, zones[i])
		}
		p.cutOneWay(minority, rest(minority))
		p.cutOneWay(rest(minority), minority)
		p.desc = fmt.Sprintf("split %v | %v", minority, rest(minority))
	case k < 8 && leader != paxos.None:
		p.cutOneWay([]paxos.ID{leader}, rest([]paxos.ID{leader}))
		p.cutOneWay(rest([]paxos.ID{leader}), []paxos.ID{leader})
		p.desc = fmt.Sprintf("leader's zone %d isolated", leader)
	case k < 9:
		p.cutOneWay([]paxos.ID{z}, rest([]paxos.ID{z}))
		p.desc = fmt.Sprintf("zone %d cannot send", z)
	case k < 10:
		p.cutOneWay(rest([]paxos.ID{z}), []paxos.ID{z})
		p.desc = fmt.Sprintf("zone %d cannot receive", z)
	default:
		from := z
		if leader != paxos.None {
			from = leader
		}
		others := rest([]paxos.ID{from})
		if len(others) == 0 {
			break
		}
		to := others[s.rng.IntN(len(others))]
		p.cutOneWay([]paxos.ID{from}, []paxos.ID{to})
		p.desc = fmt.Sprintf("link %d->%d cut", from, to)
	}
	s.net.part = p
	s.tracef("partition: %s", p.desc)
}

// servingLeader returns a live replica that serves as leader, or nil.
func (s *Sim) servingLeader() *simNode {
	for _, id := range s.ids {
		if sn := s.nodes[id]; sn.up && sn.n.Serving() {
			return sn
		}
	}
	return nil
}

// heal ends every fault: the network is reliable again (small delays only), partitions are
// gone, every crashed replica restarts, and no new crash, transfer or membership change starts.
func (s *Sim) heal() {
	s.healed = true
	s.profile.slowWrites = 0 // writes under way finish; no new one is slow
	s.net.part = partition{}
	s.net.faults = netFaults{baseDelay: 1, jitter: 1}
	for _, id := range s.ids {
		sn := s.nodes[id]
		sn.tornNext = false
		if !sn.up && !sn.removed {
			s.stats.Restarts++
			s.start(sn)
		}
	}
	s.tracef("healed")
}

// liveness checks that, once healed, the group elects its highest-priority live FULL replica,
// commits a new write, and every live member applies it, within LivenessSteps.
func (s *Sim) liveness() {
	start := s.now
	var w *kvOp
	for s.err == nil {
		if s.now-start >= uint64(s.opts.LivenessSteps) {
			s.fail(fmt.Errorf("liveness: %d steps after healing: %s\n%s", s.opts.LivenessSteps, s.livenessState(w), s.statusTable()))
			return
		}
		s.step()
		if s.err != nil {
			return
		}
		l := s.servingLeader()
		if l == nil || !s.isBest(l) {
			continue
		}
		if w == nil || w.state == opFailed || (w.state == opPending && w.node != l.id) {
			w = s.wl.put(s, l, s.rng.IntN(numKeys), -1)
			continue
		}
		if w.state != opOK {
			continue
		}
		done := true
		for _, m := range l.n.Status().Config.Members {
			if x := s.nodes[m.ID]; x != nil && x.up && x.sm.index < w.index {
				done = false
			}
		}
		if done {
			s.stats.LivenessTicks = s.now - start
			return
		}
	}
}

// isBest reports whether sn is a FULL replica of the highest priority among the live FULL
// members of its membership.
func (s *Sim) isBest(sn *simNode) bool {
	st := sn.n.Status()
	if st.Type != paxos.Full {
		return false
	}
	for _, m := range st.Config.Members {
		if x := s.nodes[m.ID]; m.Type == paxos.Full && x != nil && x.up && x.prio.Better(sn.prio) {
			return false
		}
	}
	return true
}

func (s *Sim) livenessState(w *kvOp) string {
	l := s.servingLeader()
	switch {
	case l == nil:
		return "no replica serves as leader"
	case !s.isBest(l):
		return fmt.Sprintf("replica %d (zone rank %d) leads, but a higher-priority FULL replica is live", l.id, l.prio.ZoneRank)
	case w == nil:
		return fmt.Sprintf("replica %d leads but proposed no liveness write", l.id)
	case w.state != opOK:
		return fmt.Sprintf("replica %d leads but the liveness write (op %d, proposed on %d at index %d, state %d) is not applied there", l.id, w.id, w.node, w.index, w.state)
	}
	return fmt.Sprintf("the liveness write at index %d is not applied by every live member", w.index)
}

// statusTable renders every replica's state, one line each.
func (s *Sim) statusTable() string {
	var b strings.Builder
	for _, id := range s.ids {
		sn := s.nodes[id]
		if !sn.up {
			fmt.Fprintf(&b, "  %d DOWN removed=%v disk=(%d,%d]\n", id, sn.removed, sn.disk.snap.Index, sn.disk.last())
			continue
		}
		st := sn.n.Status()
		fmt.Fprintf(&b, "  %d %s %s serving=%v ballot=%s leader=%d promised=%s log=[%d,%d] commit=%d applied=%d closed=%d@%d conf=%v rank=%d tick=%d recovering=%v\n",
			id, st.Type, st.Role, st.Serving, st.Ballot, st.Leader, st.Promised, st.First, st.Last, st.Commit, st.Applied,
			st.Closed.Version, st.Closed.Index, st.Config, sn.prio.ZoneRank, st.Tick, st.Recovering)
	}
	return b.String()
}

// traceRing keeps the last events of a run for the failure report; messages are formatted
// only when the report is printed.
type traceRing struct {
	evs  [traceLen]traceEvent
	next int
	n    int
}

const traceLen = 120

// traceAll, set by tests from SIM_TRACE, prints every event as it happens (replays only).
var traceAll = false

type traceEvent struct {
	step uint64
	msg  *paxos.Message
	text string
}

func (t *traceRing) add(e traceEvent) {
	t.evs[t.next] = e
	t.next = (t.next + 1) % traceLen
	t.n = min(t.n+1, traceLen)
}

func (t *traceRing) addMsg(step uint64, m paxos.Message) {
	if traceAll {
		fmt.Printf("  %6d deliver %s\n", step, m)
	}
	t.add(traceEvent{step: step, msg: &m})
}

func (s *Sim) tracef(format string, args ...any) {
	text := fmt.Sprintf(format, args...)
	if traceAll {
		fmt.Printf("  %6d %s\n", s.now, text)
	}
	s.trace.add(traceEvent{step: s.now, text: text})
}

func (t *traceRing) String() string {
	var b strings.Builder
	for i := range t.n {
		e := t.evs[(t.next-t.n+i+traceLen)%traceLen]
		if e.msg != nil {
			fmt.Fprintf(&b, "  %6d deliver %s\n", e.step, e.msg)
		} else {
			fmt.Fprintf(&b, "  %6d %s\n", e.step, e.text)
		}
	}
	return b.String()
}

func sortedKeys[K interface{ ~uint64 }, V any](m map[K]V) []K {
	ks := make([]K, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

var errNotLinearizable = errors.New("invariant 5: the strong history is not linearizable")
