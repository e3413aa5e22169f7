package paxos

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// harness runs a group of Nodes in memory for the scenario tests: messages queue until
// delivered, persistence is immediate (each Ready is handled whole), and links can be cut.
type harness struct {
	nodes   map[ID]*Node
	cfgs    map[ID]Config
	disks   map[ID]*disk
	queue   []Message
	cut     map[[2]ID]bool // cut[from,to]: messages dropped
	down    map[ID]bool
	applied map[ID][]Entry
	reads   map[ID][]ReadState
	trace   *strings.Builder // when non-nil, delivered messages are written here
	snaps   map[ID][]SnapshotFetch
	// fresh: replicas that start with an empty disk start as Boot.Fresh (recovery.go).
	fresh bool
}

// disk is what a replica persisted.
type disk struct {
	hs      HardState
	snap    SnapshotMeta
	entries []Entry
	applied uint64
}

func newHarness(members []Member, fresh bool, mutate func(*Config)) *harness {
	h := &harness{nodes: map[ID]*Node{}, cfgs: map[ID]Config{}, disks: map[ID]*disk{}, cut: map[[2]ID]bool{},
		down: map[ID]bool{}, applied: map[ID][]Entry{}, reads: map[ID][]ReadState{}, snaps: map[ID][]SnapshotFetch{}, fresh: fresh}
	conf := Membership{Members: append([]Member(nil), members...)}
	slices.SortFunc(conf.Members, func(a, b Member) int { return int(a.ID) - int(b.ID) })
	for _, m := range members {
		cfg := testConfig(m.ID)
		if mutate != nil {
			mutate(&cfg)
		}
		h.cfgs[m.ID] = cfg
		h.disks[m.ID] = &disk{snap: SnapshotMeta{Membership: conf}}
		h.start(m.ID)
	}
	// By default a lower ID is a higher priority (replica 1 in the first primary_zone level,
	// replica 2 in the next, ...); scenarios override it with `prio`.
	for _, m := range members {
		h.nodes[m.ID].SetPriority(Priority{Healthy: true, ZoneRank: uint32(m.ID - 1)})
	}
	return h
}

func testConfig(id ID) Config {
	c := DefaultConfig(id)
	c.LeaseTicks = 10
	c.MaxDriftTicks = 1
	c.HeartbeatTicks = 2
	c.CampaignTicks = 6
	c.RankStaggerTicks = 3
	c.ElectionJitterTicks = 3
	c.TransferTicks = 20
	c.ElectionLagEntries = 1000
	c.Seed = uint64(id)
	return c
}

// addNode creates a replica that is not yet in the group (empty membership).
func (h *harness) addNode(id ID) {
	h.cfgs[id] = testConfig(id)
	h.disks[id] = &disk{}
	h.start(id)
}

func (h *harness) start(id ID) {
	d := h.disks[id]
	fresh := h.fresh && d.hs.IsZero() && len(d.entries) == 0 && d.snap.Index == 0
	n, err := New(h.cfgs[id], Boot{HardState: d.hs, Snapshot: d.snap, Entries: append([]Entry(nil), d.entries...), Applied: d.applied, Fresh: fresh})
	if err != nil {
		panic(err)
	}
	if old := h.nodes[id]; old != nil {
		n.SetPriority(old.prio) // priority is the driver's: it survives a restart
	}
	h.nodes[id] = n
	// The state machine restarts from its durable checkpoint (here: everything applied).
	var kept []Entry
	for _, e := range h.applied[id] {
		if e.Index <= d.applied {
			kept = append(kept, e)
		}
	}
	h.applied[id] = kept
	delete(h.down, id)
}

func (h *harness) ids() []ID {
	var ids []ID
	for id := range h.nodes {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// process handles every Ready of every live node until none has one.
func (h *harness) process() {
	for progress := true; progress; {
		progress = false
		for _, id := range h.ids() {
			n := h.nodes[id]
			if h.down[id] || !n.HasReady() {
				continue
			}
			progress = true
			rd := n.Ready()
			d := h.disks[id]
			if !rd.HardState.IsZero() {
				d.hs = rd.HardState
			}
			if len(rd.Entries) > 0 {
				first := rd.Entries[0].Index
				keep := first - d.snap.Index - 1
				if keep < uint64(len(d.entries)) {
					d.entries = d.entries[:keep]
				}
				d.entries = append(d.entries, rd.Entries...)
			}
			for _, m := range rd.Messages {
				h.queue = append(h.queue, m)
			}
			for _, e := range rd.Committed {
				h.applied[id] = append(h.applied[id], e)
				d.applied = e.Index
			}
			h.reads[id] = append(h.reads[id], rd.ReadStates...)
			if rd.Snapshot != nil {
				h.snaps[id] = append(h.snaps[id], *rd.Snapshot)
			}
			n.Advance(rd)
		}
	}
}

// deliver delivers queued messages (and what they cause) until the network is quiet or
// limit messages were delivered. It returns how many it delivered.
func (h *harness) deliver(limit int) int {
	count := 0
	for {
		h.process()
		if len(h.queue) == 0 || count >= limit {
			return count
		}
		m := h.queue[0]
		h.queue = h.queue[1:]
		if h.down[m.To] || h.down[m.From] || h.cut[[2]ID{m.From, m.To}] || h.nodes[m.To] == nil {
			continue
		}
		count++
		if h.trace != nil {
			fmt.Fprintln(h.trace, m.String())
		}
		if err := h.nodes[m.To].Step(m); err != nil {
			panic(err)
		}
	}
}

func (h *harness) tick(n int) {
	for i := 0; i < n; i++ {
		for _, id := range h.ids() {
			if !h.down[id] {
				h.nodes[id].Tick()
			}
		}
		h.deliver(1 << 20)
		// DESIGN.md invariant 2, checked at every tick of every scenario.
		serving := 0
		for _, id := range h.ids() {
			if !h.down[id] && h.nodes[id].Serving() {
				serving++
			}
		}
		if serving > 1 {
			panic("two replicas serve at once:\n" + h.status())
		}
	}
}

// tickUntil ticks until cond holds, at most max ticks; it reports whether cond held.
func (h *harness) tickUntil(max int, cond func() bool) bool {
	for i := 0; i < max; i++ {
		if cond() {
			return true
		}
		h.tick(1)
	}
	return cond()
}

func (h *harness) leader() ID {
	for _, id := range h.ids() {
		if !h.down[id] && h.nodes[id].Serving() {
			return id
		}
	}
	return None
}

func (h *harness) crash(id ID) {
	h.down[id] = true
	// Drop what it had queued: a crashed process sends nothing more.
	q := h.queue[:0]
	for _, m := range h.queue {
		if m.From != id {
			q = append(q, m)
		}
	}
	h.queue = q
}

// lose crashes id and restarts it with an empty disk, placed with the membership of the
// replica with the highest commit point (as the root service places it from its leader's
// report): a server whose data directory was lost.
func (h *harness) lose(id ID) {
	h.crash(id)
	var conf Membership
	var commit uint64
	for _, x := range h.ids() {
		if st := h.nodes[x].Status(); x != id && !h.down[x] && st.Commit >= commit {
			conf, commit = st.Config, st.Commit
		}
	}
	h.disks[id] = &disk{snap: SnapshotMeta{Membership: conf}}
	h.applied[id] = nil
	h.start(id)
}

func (h *harness) isolate(id ID) {
	for _, o := range h.ids() {
		if o != id {
			h.cut[[2]ID{id, o}] = true
			h.cut[[2]ID{o, id}] = true
		}
	}
}

func (h *harness) heal() { h.cut = map[[2]ID]bool{} }

func (h *harness) propose(id ID, data string) (uint64, error) {
	n := h.nodes[id]
	st := n.Status()
	return n.Propose(Proposal{Version: st.MinVersion + 1, Data: []byte(data)})
}

// status renders every replica's state, one line each.
func (h *harness) status() string {
	var b strings.Builder
	for _, id := range h.ids() {
		n := h.nodes[id]
		s := n.Status()
		state := s.Role.String()
		if h.down[id] {
			state = "DOWN"
		} else if s.Serving {
			state += "*"
		}
		typ := "-"
		if s.Type != 0 {
			typ = s.Type.String()
		}
		fmt.Fprintf(&b, "%d %-8s %-10s ballot=%s leader=%d last=%d commit=%d applied=%d", id, typ, state, s.Ballot, s.Leader, s.Last, s.Commit, s.Applied)
		if s.Closed != (Closed{}) {
			fmt.Fprintf(&b, " closed=%d@%d", s.Closed.Version, s.Closed.Index)
		}
		if s.First > 1 {
			fmt.Fprintf(&b, " first=%d", s.First)
		}
		if s.Recovering {
			b.WriteString(" recovering")
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// logOf renders the entries of a replica's log.
func (h *harness) logOf(id ID) string {
	n := h.nodes[id]
	var parts []string
	for _, e := range n.log.entries {
		s := fmt.Sprintf("%d@%s", e.Index, e.Ballot)
		switch e.Type {
		case EntryBarrier:
			s += ":barrier"
		case EntryConfChange:
			cc, _ := decodeConfChange(e.Data)
			s += fmt.Sprintf(":%s(%d,%s)", cc.Type, cc.ID, cc.Replica)
		default:
			s += ":" + string(e.Data)
		}
		parts = append(parts, s)
	}
	if len(parts) == 0 {
		return "(empty)"
	}
	return strings.Join(parts, " ")
}

// appliedData renders the data of the normal entries a replica applied.
func (h *harness) appliedData(id ID) string {
	var parts []string
	for _, e := range h.applied[id] {
		if e.Type == EntryNormal {
			parts = append(parts, string(e.Data))
		}
	}
	return strings.Join(parts, ",")
}

func sortedKeys[V any](m map[string]V) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
