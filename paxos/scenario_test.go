package paxos

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
)

// TestScenarios runs the datadriven protocol scenarios in testdata/. Each file is a script of
// commands and the state they lead to; regenerate with `go test ./paxos -run Scenarios -rewrite`
// and review the diff.
//
// Commands (ids are replica IDs):
//
//	group F=1,2,3 L=4 R=5,6 up=6:5 [mutation=NAME] [fresh]   a new group; up=X:Y makes Y
//	                                                  feed X; fresh: replicas start as
//	                                                  Boot.Fresh when their disk is empty
//	prio id=N rank=R [healthy=false] [designated]     set a replica's election priority
//	tick [n=N]                                        tick every live replica N times
//	elect [max=N]                                     tick until a leader serves; print it
//	propose id=N data=a,b,c                           one Propose of several commands
//	conf id=N op=add|remove|set-type|set-upstream target=T [type=F|L|R] [up=U]
//	transfer id=N to=T                                TransferLeader
//	crash id=N | restart id=N | isolate id=N | heal | cut from=A to=B
//	lose id=N [established]                           crash, empty the disk, restart fresh
//	                                                  (with Config.Established)
//	compact id=N index=I                              Compact after a checkpoint
//	install                                           install every requested snapshot
//	read-index id=N req=R                             ReadIndex; answers print with `reads`
//	close id=N version=V                              CloseVersion
//	add-node id=N                                     start a replica not yet in the group
//	status | log id=N | applied | reads
//
// Every command but `status`, `log`, `applied` and `reads` prints its own result; `trace` as an
// argument prints the messages delivered while it ran. After every tick the harness asserts at
// most one replica serves.
func TestScenarios(t *testing.T) {
	datadriven.Walk(t, "testdata", func(t *testing.T, path string) {
		var h *harness
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			if d.Cmd != "group" && h == nil {
				d.Fatalf(t, "first command must be group")
			}
			var trace strings.Builder
			if d.HasArg("trace") {
				h.trace = &trace
				defer func() { h.trace = nil }()
			}
			out := runCommand(t, d, &h)
			if trace.Len() > 0 {
				out = trace.String() + out
			}
			return out
		})
	})
}

func argInt(t *testing.T, d *datadriven.TestData, key string, def int) int {
	for _, a := range d.CmdArgs {
		if a.Key == key {
			v, err := strconv.Atoi(a.Vals[0])
			if err != nil {
				d.Fatalf(t, "%s: %v", key, err)
			}
			return v
		}
	}
	return def
}

func argStr(d *datadriven.TestData, key, def string) string {
	for _, a := range d.CmdArgs {
		if a.Key == key {
			return strings.Join(a.Vals, ",")
		}
	}
	return def
}

func argIDs(t *testing.T, d *datadriven.TestData, key string) []ID {
	var ids []ID
	for _, a := range d.CmdArgs {
		if a.Key != key {
			continue
		}
		for _, v := range strings.Split(strings.Join(a.Vals, ","), ",") {
			n, err := strconv.Atoi(v)
			if err != nil {
				d.Fatalf(t, "%s: %v", key, err)
			}
			ids = append(ids, ID(n))
		}
	}
	return ids
}

func parseType(t *testing.T, d *datadriven.TestData, s string) ReplicaType {
	switch s {
	case "F":
		return Full
	case "L":
		return LogOnly
	case "R":
		return ReadOnly
	}
	d.Fatalf(t, "replica type %q is not F, L or R", s)
	return 0
}

func errOr(err error, ok string) string {
	if err != nil {
		return "error: " + err.Error() + "\n"
	}
	return ok
}

func runCommand(t *testing.T, d *datadriven.TestData, hp **harness) string {
	h := *hp
	id := ID(argInt(t, d, "id", 0))
	switch d.Cmd {
	case "group":
		var members []Member
		for _, k := range []string{"F", "L", "R"} {
			for _, x := range argIDs(t, d, k) {
				members = append(members, Member{ID: x, Type: parseType(t, d, k)})
			}
		}
		for _, a := range d.CmdArgs {
			if a.Key != "up" {
				continue
			}
			for _, v := range strings.Split(strings.Join(a.Vals, ","), ",") {
				var x, y int
				if _, err := fmt.Sscanf(v, "%d:%d", &x, &y); err != nil {
					d.Fatalf(t, "up=%s: %v", v, err)
				}
				for i := range members {
					if members[i].ID == ID(x) {
						members[i].Upstream = ID(y)
					}
				}
			}
		}
		var mut Mutation
		if name := argStr(d, "mutation", ""); name != "" {
			m, err := ParseMutation(name)
			if err != nil {
				d.Fatalf(t, "%v", err)
			}
			mut = m
		}
		*hp = newHarness(members, d.HasArg("fresh"), func(c *Config) { c.Mutation = mut })
		return (*hp).status()
	case "prio":
		p := Priority{Healthy: argStr(d, "healthy", "true") == "true", Designated: d.HasArg("designated"), ZoneRank: uint32(argInt(t, d, "rank", 0))}
		h.nodes[id].SetPriority(p)
		return "ok\n"
	case "tick":
		h.tick(argInt(t, d, "n", 1))
		return h.status()
	case "elect":
		max := argInt(t, d, "max", 200)
		start := h.nodes[h.ids()[0]].now
		for _, x := range h.ids() {
			if !h.down[x] {
				start = h.nodes[x].now
				break
			}
		}
		if !h.tickUntil(max, func() bool { return h.leader() != None }) {
			return "no leader after " + strconv.Itoa(max) + " ticks\n" + h.status()
		}
		now := start
		for _, x := range h.ids() {
			if !h.down[x] {
				now = h.nodes[x].now
				break
			}
		}
		return fmt.Sprintf("leader %d after %d ticks\n", h.leader(), now-start) + h.status()
	case "propose":
		var ps []Proposal
		min := h.nodes[id].Status().MinVersion
		if got := h.nodes[id].MinVersion(); got != min {
			t.Fatalf("node %d: MinVersion() = %d, Status().MinVersion = %d", id, got, min)
		}
		for i, s := range strings.Split(argStr(d, "data", ""), ",") {
			ps = append(ps, Proposal{Version: min + uint64(i) + 1, Data: []byte(s)})
		}
		if v := argInt(t, d, "version", 0); v != 0 {
			for i := range ps {
				ps[i].Version = uint64(v + i)
			}
		}
		first, err := h.nodes[id].Propose(ps...)
		h.deliver(1 << 20)
		return errOr(err, fmt.Sprintf("index %d\n", first))
	case "conf":
		cc := ConfChange{ID: ID(argInt(t, d, "target", 0)), Upstream: ID(argInt(t, d, "up", 0))}
		switch argStr(d, "op", "") {
		case "add":
			cc.Type = ConfAdd
		case "remove":
			cc.Type = ConfRemove
		case "set-type":
			cc.Type = ConfSetType
		case "set-upstream":
			cc.Type = ConfSetUpstream
		default:
			d.Fatalf(t, "op must be add, remove, set-type or set-upstream")
		}
		if ty := argStr(d, "type", ""); ty != "" {
			cc.Replica = parseType(t, d, ty)
		}
		idx, err := h.nodes[id].ProposeConfChange(cc)
		h.deliver(1 << 20)
		return errOr(err, fmt.Sprintf("index %d\n", idx))
	case "transfer":
		err := h.nodes[id].TransferLeader(ID(argInt(t, d, "to", 0)))
		h.deliver(1 << 20)
		return errOr(err, "ok\n")
	case "force-recover":
		return errOr(h.nodes[id].ForceEndRecovery(), "ok\n")
	case "crash":
		h.crash(id)
		return "ok\n"
	case "restart":
		h.start(id)
		return "ok\n"
	case "lose":
		if d.HasArg("established") {
			c := h.cfgs[id]
			c.Established = true
			h.cfgs[id] = c
		}
		h.lose(id)
		return "ok\n"
	case "isolate":
		h.isolate(id)
		return "ok\n"
	case "heal":
		h.heal()
		return "ok\n"
	case "cut":
		h.cut[[2]ID{ID(argInt(t, d, "from", 0)), ID(argInt(t, d, "to", 0))}] = true
		return "ok\n"
	case "compact":
		idx := uint64(argInt(t, d, "index", 0))
		err := h.nodes[id].Compact(idx)
		if err == nil {
			dk := h.disks[id]
			n := h.nodes[id]
			var rest []Entry
			for _, e := range dk.entries {
				if e.Index > idx {
					rest = append(rest, e)
				}
			}
			dk.entries = rest
			dk.snap = SnapshotMeta{Index: idx, Ballot: n.log.offsetBallot, Version: n.log.offsetVersion, Membership: n.log.conf.base.clone(), Closed: n.closed}
		}
		return errOr(err, "ok\n")
	case "install":
		var b strings.Builder
		for _, x := range h.ids() {
			for _, f := range h.snaps[x] {
				fmt.Fprintf(&b, "%d installs snapshot %d from %d\n", x, f.Meta.Index, f.From)
				h.nodes[x].InstallSnapshot(f.Meta)
				h.disks[x].snap = f.Meta
				h.disks[x].entries = nil
				h.disks[x].applied = f.Meta.Index
				// The data comes from the sender's applied state through the snapshot index.
				var es []Entry
				for _, e := range h.applied[f.From] {
					if e.Index <= f.Meta.Index {
						es = append(es, e)
					}
				}
				h.applied[x] = es
			}
			h.snaps[x] = nil
		}
		h.deliver(1 << 20)
		return b.String()
	case "read-index":
		err := h.nodes[id].ReadIndex(uint64(argInt(t, d, "req", 0)))
		h.deliver(1 << 20)
		return errOr(err, "ok\n")
	case "close":
		err := h.nodes[id].CloseVersion(uint64(argInt(t, d, "version", 0)))
		h.deliver(1 << 20)
		return errOr(err, "ok\n")
	case "add-node":
		h.addNode(id)
		return "ok\n"
	case "status":
		return h.status()
	case "log":
		return h.logOf(id) + "\n"
	case "applied":
		var b strings.Builder
		for _, x := range h.ids() {
			fmt.Fprintf(&b, "%d: %s\n", x, h.appliedData(x))
		}
		return b.String()
	case "reads":
		var b strings.Builder
		for _, x := range h.ids() {
			for _, r := range h.reads[x] {
				fmt.Fprintf(&b, "%d: req=%d index=%d rejected=%t\n", x, r.RequestID, r.Index, r.Rejected)
			}
			h.reads[x] = nil
		}
		return b.String()
	}
	d.Fatalf(t, "unknown command %q", d.Cmd)
	return ""
}
