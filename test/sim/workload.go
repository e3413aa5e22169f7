package sim

import (
	"fmt"
	"math"
	"os"
	"path/filepath"

	"github.com/anishathalye/porcupine"

	"obkv/paxos"
)

// opState is where a client operation stands.
type opState uint8

const (
	opPending opState = iota
	opOK
	// opFailed: it definitely did not happen (a put whose index got another value, a read that
	// was refused or lost); it is left out of the history.
	opFailed
)

// kvOp is one client operation of the strong history.
type kvOp struct {
	id     uint64 // unique; a put writes its id as the value
	client int
	put    bool
	key    int
	out    uint64 // get: the op id of the write it read (0: none)
	// call and ret are event-clock times; a put whose outcome is unknown returns "never"
	// (math.MaxInt64) in the history: it may or may not have happened.
	call, ret int64
	state     opState
	// node is where it was proposed or read (None once that replica crashed); index is the
	// put's proposed index.
	node  paxos.ID
	index uint64
	// readIndex is the strong read's ReadState index, once known.
	readIndex  uint64
	indexKnown bool
}

// client issues one operation at a time and gives up on it after a timeout (its outcome then
// stays whatever the cluster makes of it).
type client struct {
	op       *kvOp
	deadline uint64
}

const (
	numClients      = 4
	clientTimeout   = 150
	closeEverySteps = 12
)

// workload is the client side of a run: puts and strong gets recorded for porcupine, weak reads
// checked against the chosen log, closed versions, leader transfers and membership changes.
type workload struct {
	clients [numClients]client
	history []*kvOp
	weak    []WeakRead
	events  int64
	nextOp  uint64
	nextReq uint64
	nextID  paxos.ID
	// original types of the topology's replicas, for converting them back.
	original map[paxos.ID]paxos.ReplicaType
}

func (w *workload) init(s *Sim) {
	w.nextID = 11
	w.original = map[paxos.ID]paxos.ReplicaType{}
	for i, t := range s.topo.types {
		w.original[paxos.ID(i+1)] = t
	}
}

// clock returns the next event time: calls and returns are totally ordered by it.
func (w *workload) clock() int64 {
	w.events++
	return w.events
}

func (w *workload) step(s *Sim) {
	for c := range w.clients {
		cl := &w.clients[c]
		if cl.op != nil && (cl.op.state != opPending || s.now >= cl.deadline) {
			cl.op = nil
		}
		if cl.op != nil || s.rng.IntN(4) != 0 {
			continue
		}
		if s.rng.IntN(5) < 3 {
			l := s.servingLeader()
			if l == nil || s.rng.IntN(10) == 0 {
				l = s.randomUp(nil)
			}
			if l != nil {
				cl.op = w.put(s, l, s.rng.IntN(numKeys), c)
			}
		} else {
			cl.op = w.get(s, c)
		}
		if cl.op != nil {
			cl.deadline = s.now + clientTimeout
		}
		if s.err != nil {
			return
		}
	}
	if s.rng.IntN(3) == 0 {
		w.weakRead(s)
	}
	if l := s.servingLeader(); l != nil && !l.busy() && s.now%closeEverySteps == 0 {
		v := max((s.now+l.physOffset)*1000, l.hlc)
		if err := l.n.CloseVersion(v); err == nil {
			s.stats.ClosedPublished++
		}
		s.after(l)
	}
	if s.healed {
		return
	}
	if s.profile.transfers && s.rng.IntN(250) == 0 {
		w.transfer(s)
	}
	if s.profile.confChanges && s.rng.IntN(120) == 0 {
		w.confChange(s)
	}
}

// nextVersion is the replica's hybrid clock: physical time (skewed per replica), above every
// version it issued or applied and above the leader's floor (Status().MinVersion).
func (sn *simNode) nextVersion(now uint64) uint64 {
	v := max((now+sn.physOffset)*1000, sn.hlc+1, sn.sm.maxVersion+1, sn.n.Status().MinVersion+1)
	sn.hlc = v
	return v
}

// put proposes a write on sn. It returns nil when the proposal was refused (it did not happen).
func (w *workload) put(s *Sim, sn *simNode, key, c int) *kvOp {
	if sn.busy() {
		return nil // its requests wait for the write under way; this client tries again
	}
	w.nextOp++
	op := &kvOp{id: w.nextOp, client: c, put: true, key: key, node: sn.id}
	idx, err := sn.n.Propose(paxos.Proposal{Version: sn.nextVersion(s.now), Data: encodePut(op.id, key)})
	if err != nil {
		return nil
	}
	op.call, op.index, op.ret = w.clock(), idx, math.MaxInt64
	if c < 0 {
		op.client = numClients // the liveness write
	}
	w.history = append(w.history, op)
	if old := sn.pendingPuts[idx]; old != nil {
		// This replica proposed at idx before, under an earlier leadership whose entry there a
		// reconfirm dropped: its outcome is settled from the chosen log at the end (sim seed
		// 3824 waited on it forever).
		old.node = paxos.None
	}
	sn.pendingPuts[idx] = op
	s.after(sn)
	return op
}

// get starts a strong read: on the serving leader (answered from its lease) or on a FULL
// follower (ReadIndex asks the leader).
func (w *workload) get(s *Sim, c int) *kvOp {
	sn := s.servingLeader()
	if sn == nil || s.rng.IntN(2) == 0 {
		sn = s.randomUp(func(st paxos.Status) bool { return st.Type == paxos.Full })
	}
	if sn == nil || sn.busy() {
		return nil
	}
	w.nextReq++
	if err := sn.n.ReadIndex(w.nextReq); err != nil {
		return nil
	}
	w.nextOp++
	op := &kvOp{id: w.nextOp, client: c, key: s.rng.IntN(numKeys), node: sn.id, call: w.clock(), ret: math.MaxInt64}
	w.history = append(w.history, op)
	sn.pendingReads[w.nextReq] = op
	s.after(sn)
	return op
}

// answerReads answers the strong reads whose ReadState index the replica has applied.
func (s *Sim) answerReads(sn *simNode) {
	for _, req := range sortedKeys(sn.pendingReads) {
		op := sn.pendingReads[req]
		if op.indexKnown && sn.sm.index >= op.readIndex {
			op.out, op.ret, op.state = sn.sm.latest(op.key), s.wl.clock(), opOK
			delete(sn.pendingReads, req)
		}
	}
}

// weakRead reads a random key on a FULL or READONLY replica at its readable version.
func (w *workload) weakRead(s *Sim) {
	sn := s.randomUp(func(st paxos.Status) bool { return st.Type == paxos.Full || st.Type == paxos.ReadOnly })
	if sn == nil {
		return
	}
	st := sn.n.Status()
	if st.Closed.Version == 0 || st.Applied < st.Closed.Index {
		return // not readable yet
	}
	key := s.rng.IntN(numKeys)
	w.weak = append(w.weak, WeakRead{Node: sn.id, Key: key, Version: st.Closed.Version, Got: sn.sm.readAt(key, st.Closed.Version), Step: s.now})
}

// transfer hands leadership to a random FULL member.
func (w *workload) transfer(s *Sim) {
	l := s.servingLeader()
	if l == nil || l.busy() {
		return
	}
	var fulls []paxos.ID
	for _, m := range l.n.Status().Config.Members {
		if m.Type == paxos.Full && m.ID != l.id {
			fulls = append(fulls, m.ID)
		}
	}
	if len(fulls) == 0 {
		return
	}
	to := fulls[s.rng.IntN(len(fulls))]
	if l.n.TransferLeader(to) == nil {
		s.stats.Transfers++
		s.tracef("transfer leadership %d -> %d", l.id, to)
	}
	s.after(l)
}

// confChange proposes one membership change on the serving leader: F->R and back, F<->L, add
// or remove a READONLY replica (possibly cascaded from another replica), or move a READONLY
// replica's upstream.
func (w *workload) confChange(s *Sim) {
	l := s.servingLeader()
	if l == nil || l.busy() || s.recovering() {
		return
	}
	conf := l.n.Status().Config
	var choices []paxos.ConfChange
	var ids []paxos.ID
	for _, m := range conf.Members {
		ids = append(ids, m.ID)
	}
	added := 0
	for _, m := range conf.Members {
		if s.nodes[m.ID] != nil && s.nodes[m.ID].added {
			added++
			choices = append(choices, paxos.ConfChange{Type: paxos.ConfRemove, ID: m.ID})
		}
		if m.ID == l.id {
			continue
		}
		switch m.Type {
		case paxos.Full:
			choices = append(choices, paxos.ConfChange{Type: paxos.ConfSetType, ID: m.ID, Replica: paxos.ReadOnly},
				paxos.ConfChange{Type: paxos.ConfSetType, ID: m.ID, Replica: paxos.LogOnly})
		case paxos.ReadOnly, paxos.LogOnly:
			if w.original[m.ID] != 0 {
				choices = append(choices, paxos.ConfChange{Type: paxos.ConfSetType, ID: m.ID, Replica: paxos.Full})
			}
		}
		if m.Type == paxos.ReadOnly {
			up := ids[s.rng.IntN(len(ids))]
			if up == m.ID {
				up = paxos.None
			}
			choices = append(choices, paxos.ConfChange{Type: paxos.ConfSetUpstream, ID: m.ID, Upstream: up})
		}
	}
	if added < 2 {
		up := paxos.None
		if s.rng.IntN(2) == 0 {
			up = ids[s.rng.IntN(len(ids))]
		}
		choices = append(choices, paxos.ConfChange{Type: paxos.ConfAdd, ID: w.nextID, Replica: paxos.ReadOnly, Upstream: up})
	}
	cc := choices[s.rng.IntN(len(choices))]
	if _, err := l.n.ProposeConfChange(cc); err != nil {
		s.after(l)
		return
	}
	s.stats.ConfChanges++
	s.tracef("replica %d proposes %s of %d (%s, upstream %d)", l.id, cc.Type, cc.ID, cc.Replica, cc.Upstream)
	if cc.Type == paxos.ConfAdd {
		sn := s.addNode(cc.ID, 9)
		sn.added = true
		sn.disk = disk{kv: newKVState(paxos.Membership{})}
		s.start(sn)
		w.nextID++
	}
	s.after(l)
}

// randomUp returns a random live replica accepted by ok (nil: any live replica).
func (s *Sim) randomUp(ok func(paxos.Status) bool) *simNode {
	var c []*simNode
	for _, id := range s.ids {
		sn := s.nodes[id]
		if sn.up && (ok == nil || ok(sn.n.Status())) {
			c = append(c, sn)
		}
	}
	if len(c) == 0 {
		return nil
	}
	return c[s.rng.IntN(len(c))]
}

// kvInput and the model below are the porcupine specification of one key: a register written
// by puts and read by gets.
type kvInput struct {
	put   bool
	key   int
	value uint64
}

var kvModel = porcupine.Model{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		var byKey [numKeys][]porcupine.Operation
		for _, op := range history {
			k := op.Input.(kvInput).key
			byKey[k] = append(byKey[k], op)
		}
		var out [][]porcupine.Operation
		for _, ops := range byKey {
			if len(ops) > 0 {
				out = append(out, ops)
			}
		}
		return out
	},
	Init: func() any { return uint64(0) },
	Step: func(state, input, output any) (bool, any) {
		in := input.(kvInput)
		if in.put {
			return true, in.value
		}
		return output.(uint64) == state.(uint64), state
	},
	DescribeOperation: func(input, output any) string {
		in := input.(kvInput)
		if in.put {
			return fmt.Sprintf("put(k%d, %d)", in.key, in.value)
		}
		return fmt.Sprintf("get(k%d) -> %d", in.key, output.(uint64))
	},
	DescribeState: func(state any) string { return fmt.Sprintf("%d", state.(uint64)) },
}

// operations turns the history into porcupine operations. A put still pending is settled from
// the chosen log: if another value was chosen at its index it never happened and is left out;
// otherwise it may have happened and never returns. Refused and lost reads are left out.
func (w *workload) operations(chk *Checker) []porcupine.Operation {
	var ops []porcupine.Operation
	for _, op := range w.history {
		if op.state == opFailed || (!op.put && op.state != opOK) {
			continue
		}
		if op.put && op.state == opPending {
			if v, ok := chk.Chosen(op.index); ok {
				if got, _, isPut := decodePut([]byte(v.Data)); v.Type != paxos.EntryNormal || !isPut || got != op.id {
					op.state = opFailed
					continue
				}
			}
		}
		in := kvInput{put: op.put, key: op.key, value: op.id}
		ops = append(ops, porcupine.Operation{ClientId: op.client, Input: in, Call: op.call, Output: op.out, Return: op.ret})
	}
	return ops
}

// checkLinearizable checks the strong history with porcupine. When it is not linearizable the
// history is written as HTML under dir and its path returned with the error.
func (w *workload) checkLinearizable(chk *Checker, dir, name string) (string, error) {
	return checkHistory(kvModel, w.operations(chk), dir, name)
}

func checkHistory(model porcupine.Model, ops []porcupine.Operation, dir, name string) (string, error) {
	res, info := porcupine.CheckOperationsVerbose(model, ops, 0)
	if res == porcupine.Ok {
		return "", nil
	}
	if dir == "" {
		dir = os.TempDir()
	}
	path := filepath.Join(dir, "sim-"+name+"-history.html")
	if err := porcupine.VisualizePath(model, info, path); err != nil {
		return "", fmt.Errorf("%w (%d operations; writing the visualisation failed: %v)", errNotLinearizable, len(ops), err)
	}
	return path, fmt.Errorf("%w (%d operations; see %s)", errNotLinearizable, len(ops), path)
}
