package check

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"
)

// Sentinel errors of History.Check.
var (
	// ErrNotLinearizable: no order of the operations respects real time and the register model.
	ErrNotLinearizable = errors.New("check: history is not linearizable")
	// ErrCheckTimeout: porcupine did not decide within the timeout (the history is too large or
	// too concurrent); the outcome is unknown, not a pass.
	ErrCheckTimeout = errors.New("check: linearizability check timed out")
)

// OpKind is the kind of a key-value operation.
type OpKind uint8

// Operation kinds.
const (
	OpGet OpKind = iota + 1
	OpPut
	OpDelete
)

func (k OpKind) String() string {
	switch k {
	case OpGet:
		return "get"
	case OpPut:
		return "put"
	case OpDelete:
		return "delete"
	}
	return fmt.Sprintf("op(%d)", uint8(k))
}

// Input is what a client asked: a Get of Key, a Put of Key=Value or a Delete of Key.
type Input struct {
	Kind  OpKind
	Key   string
	Value string
}

// Output is what a client saw. For a Get, Found and Value are the result; writes have no
// output the model looks at. Unknown marks a write recorded as possibly applied. Note is free
// text shown in the visualisation (which replica served, at which version).
type Output struct {
	Found   bool
	Value   string
	Unknown bool
	Note    string
}

// register is the model's state of one key.
type register struct {
	found bool
	value string
}

// KVModel is the porcupine specification of the store under strong operations: one register
// per key (the history is partitioned by key, so the state is one key's), set by Put, cleared
// by Delete, returned by Get.
var KVModel = porcupine.Model{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[string][]porcupine.Operation{}
		var keys []string
		for _, op := range history {
			k := op.Input.(Input).Key
			if _, ok := byKey[k]; !ok {
				keys = append(keys, k)
			}
			byKey[k] = append(byKey[k], op)
		}
		sort.Strings(keys) // deterministic order of partitions in the visualisation
		out := make([][]porcupine.Operation, 0, len(keys))
		for _, k := range keys {
			out = append(out, byKey[k])
		}
		return out
	},
	Init: func() any { return register{} },
	Step: func(state, input, output any) (bool, any) {
		st, in := state.(register), input.(Input)
		switch in.Kind {
		case OpPut:
			return true, register{found: true, value: in.Value}
		case OpDelete:
			return true, register{}
		}
		out := output.(Output)
		return out.Found == st.found && (!st.found || out.Value == st.value), st
	},
	DescribeOperation: func(input, output any) string {
		in, out := input.(Input), output.(Output)
		var s string
		switch in.Kind {
		case OpPut:
			s = fmt.Sprintf("put(%s, %s)", in.Key, in.Value)
		case OpDelete:
			s = fmt.Sprintf("delete(%s)", in.Key)
		default:
			s = fmt.Sprintf("get(%s) -> none", in.Key)
			if out.Found {
				s = fmt.Sprintf("get(%s) -> %s", in.Key, out.Value)
			}
		}
		if out.Unknown {
			s += " (outcome unknown)"
		}
		if out.Note != "" {
			s += " [" + out.Note + "]"
		}
		return s
	},
	DescribeState: func(state any) string {
		if st := state.(register); st.found {
			return st.value
		}
		return "none"
	},
}

// History records the strong operations of concurrent clients for a linearizability check.
// Times come from one monotonic clock (NewHistory) or an injected one (NewHistoryClock).
type History struct {
	now func() int64

	mu  sync.Mutex
	ops []*Pending
}

// Pending is one operation of a History between its call and its return. Exactly one of
// Return, Fail and Unknown should end it; an operation never ended counts as Unknown.
type Pending struct {
	h      *History
	client int
	in     Input
	call   int64

	// Guarded by h.mu.
	state pendingState
	ret   int64
	out   Output
	note  string // Annotate's note, kept whatever the outcome
}

type pendingState uint8

const (
	pendingOpen pendingState = iota
	pendingOK
	pendingFailed
	pendingUnknown
)

// NewHistory returns an empty history timed by the monotonic clock, from now.
func NewHistory() *History {
	start := time.Now()
	return NewHistoryClock(func() int64 { return int64(time.Since(start)) })
}

// NewHistoryClock returns an empty history timed by now, which must never go back.
func NewHistoryClock(now func() int64) *History {
	return &History{now: now}
}

// Call records that client invoked in, now, and returns the operation to end.
func (h *History) Call(client int, in Input) *Pending {
	h.mu.Lock()
	defer h.mu.Unlock()
	p := &Pending{h: h, client: client, in: in, call: h.now()}
	h.ops = append(h.ops, p)
	return p
}

func (p *Pending) end(s pendingState, out Output) {
	p.h.mu.Lock()
	defer p.h.mu.Unlock()
	if p.state != pendingOpen {
		panic(fmt.Sprintf("check: %s(%s) of client %d ended twice", p.in.Kind, p.in.Key, p.client))
	}
	p.state, p.ret, p.out = s, p.h.now(), out
	if p.note != "" && p.out.Note == "" {
		p.out.Note = p.note
	}
}

// Annotate attaches note (which server answered, the error) to the operation, whatever its
// outcome: it is shown in the visualisation and in the failure report of Check, which also
// lists the failed operations porcupine never sees. It returns p, for op.Annotate(s).Fail().
func (p *Pending) Annotate(note string) *Pending {
	p.h.mu.Lock()
	defer p.h.mu.Unlock()
	p.note = note
	return p
}

// Return records that the operation completed with out, now.
func (p *Pending) Return(out Output) { p.end(pendingOK, out) }

// Fail records that the operation certainly had no effect: a read that returned an error, or a
// write the store refused before it could be applied (not leader, aborted). It is left out of
// the check.
func (p *Pending) Fail() { p.end(pendingFailed, Output{}) }

// Unknown records that the operation may or may not have taken effect: a write that timed out
// or whose server died ("there is no way to guarantee whether the write succeeded"). A write is
// kept as possibly applied, returning at the end of the history; a read is left out, as it
// changes nothing.
func (p *Pending) Unknown() { p.end(pendingUnknown, Output{Unknown: true}) }

// Counts says how many operations the history holds by outcome.
type Counts struct {
	OK, Failed, Unknown, Reads, Writes int
}

func (c Counts) String() string {
	return fmt.Sprintf("%d ops (%d reads, %d writes): %d ok, %d failed, %d unknown",
		c.OK+c.Failed+c.Unknown, c.Reads, c.Writes, c.OK, c.Failed, c.Unknown)
}

// Counts returns the history's operations by outcome; operations not ended count as unknown.
func (h *History) Counts() Counts {
	h.mu.Lock()
	defer h.mu.Unlock()
	var c Counts
	for _, p := range h.ops {
		if p.in.Kind == OpGet {
			c.Reads++
		} else {
			c.Writes++
		}
		switch p.state {
		case pendingOK:
			c.OK++
		case pendingFailed:
			c.Failed++
		default:
			c.Unknown++
		}
	}
	return c
}

// Operations returns the history as porcupine operations: completed operations as they were,
// writes of unknown outcome (and operations still open) returning after everything else, and
// failed operations and reads of unknown outcome left out.
//
// A write of unknown outcome whose effect no completed read observed (a put whose value no
// read of its key returned; a delete when no read of its key found nothing) is left out too:
// it can always be placed after every other operation, where it changes nothing, and a history
// is linearizable with it exactly when it is without it. Each unknown write left in multiplies
// the orders porcupine must try, so this keeps histories with many of them (a killed leader)
// checkable.
func (h *History) Operations() []porcupine.Operation {
	h.mu.Lock()
	defer h.mu.Unlock()
	end := h.now()
	type seen struct {
		key, value string
		found      bool
	}
	observed := map[seen]bool{}
	for _, p := range h.ops {
		end = max(end, p.ret)
		if p.state == pendingOK && p.in.Kind == OpGet {
			observed[seen{p.in.Key, p.out.Value, p.out.Found}] = true
		}
	}
	end++
	ops := make([]porcupine.Operation, 0, len(h.ops))
	for _, p := range h.ops {
		op := porcupine.Operation{ClientId: p.client, Input: p.in, Call: p.call, Output: p.out, Return: p.ret}
		switch {
		case p.state == pendingFailed:
			continue
		case p.state == pendingOK:
		case p.in.Kind == OpGet:
			continue
		case p.in.Kind == OpPut && !observed[seen{p.in.Key, p.in.Value, true}]:
			continue
		case p.in.Kind == OpDelete && !observed[seen{p.in.Key, "", false}]:
			continue
		default:
			op.Output, op.Return = Output{Unknown: true}, end
		}
		ops = append(ops, op)
	}
	return ops
}

// Check checks the history against KVModel, giving porcupine at most timeout (0: no limit).
// When it is not linearizable it writes the visualisation to a temporary HTML file and returns
// its path with an error wrapping ErrNotLinearizable. The error also names the keys whose
// histories are not linearizable and a text report (the HTML's path + ".txt") listing every
// operation on them, failed ones included, in call order: a large history's HTML is tens of
// megabytes, the report is what a person reads first.
func (h *History) Check(timeout time.Duration) (string, error) {
	ops := h.Operations()
	path, err := CheckOperations(KVModel, ops, timeout)
	if !errors.Is(err, ErrNotLinearizable) {
		return path, err
	}
	keys := failingKeys(ops, timeout)
	report := path + ".txt"
	if werr := os.WriteFile(report, []byte(h.report(keys)), 0o644); werr != nil {
		return path, fmt.Errorf("%w; keys %v (no report: %v)", err, keys, werr)
	}
	return path, fmt.Errorf("%w; keys %v; report %s", err, keys, report)
}

// failingKeys returns the keys whose own histories are not linearizable (KVModel partitions by
// key, so a history fails exactly when one of its keys does).
func failingKeys(ops []porcupine.Operation, timeout time.Duration) []string {
	var keys []string
	for _, part := range KVModel.Partition(ops) {
		if porcupine.CheckOperationsTimeout(KVModel, part, timeout) == porcupine.Illegal {
			keys = append(keys, part[0].Input.(Input).Key)
		}
	}
	return keys
}

// report lists every operation on keys, in call order, with times in milliseconds from the
// history's first call.
func (h *History) report(keys []string) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "key %s\n", k)
		var ops []*Pending
		for _, p := range h.ops {
			if p.in.Key == k {
				ops = append(ops, p)
			}
		}
		sort.SliceStable(ops, func(i, j int) bool { return ops[i].call < ops[j].call })
		for _, p := range ops {
			ret := "open"
			if p.state != pendingOpen {
				ret = fmt.Sprintf("%10.3f", float64(p.ret)/1e6)
			}
			what := KVModel.DescribeOperation(p.in, p.out)
			if p.in.Kind == OpGet && p.state != pendingOK {
				what = fmt.Sprintf("get(%s) [%s]", p.in.Key, p.note)
			}
			fmt.Fprintf(&b, "  %10.3f %10s  client %-4d %-8s %s\n", float64(p.call)/1e6, ret, p.client,
				[...]string{"open", "ok", "FAILED", "unknown"}[p.state], what)
		}
	}
	return b.String()
}

// CheckOperations checks ops against model; see History.Check.
func CheckOperations(model porcupine.Model, ops []porcupine.Operation, timeout time.Duration) (string, error) {
	res, info := porcupine.CheckOperationsVerbose(model, ops, timeout)
	switch res {
	case porcupine.Ok:
		return "", nil
	case porcupine.Unknown:
		return "", fmt.Errorf("%w after %v (%d operations)", ErrCheckTimeout, timeout, len(ops))
	}
	f, err := os.CreateTemp("", "obkv-linearizability-*.html")
	if err != nil {
		return "", fmt.Errorf("%w (%d operations; no visualisation: %v)", ErrNotLinearizable, len(ops), err)
	}
	path := f.Name()
	_ = f.Close()
	if err := porcupine.VisualizePath(model, info, path); err != nil {
		return "", fmt.Errorf("%w (%d operations; writing the visualisation to %s failed: %v)", ErrNotLinearizable, len(ops), path, err)
	}
	return path, fmt.Errorf("%w (%d operations; see %s)", ErrNotLinearizable, len(ops), path)
}
