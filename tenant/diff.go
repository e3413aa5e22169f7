package tenant

import (
	"fmt"
	"slices"
	"strings"

	"obkv/paxos"
)

// StepOp is what one locality step does.
type StepOp uint8

const (
	// StepAdd adds a replica of type To in a zone that holds none.
	StepAdd StepOp = iota + 1
	// StepRemove removes the replica (of type From) of a zone.
	StepRemove
	// StepConvert changes a replica's type From -> To: F<->R or F<->L, the conversions the
	// Paxos layer supports (paxos.ConfSetType; it refuses L<->R, see DiffLocality).
	StepConvert
)

func (o StepOp) String() string {
	switch o {
	case StepAdd:
		return "add"
	case StepRemove:
		return "remove"
	case StepConvert:
		return "convert"
	}
	return fmt.Sprintf("StepOp(%d)", uint8(o))
}

// LocalityStep is one membership change of every partition of a tenant: the root service runs
// the steps of a locality change one at a time, each through the Paxos log, waiting for one to
// finish everywhere before the next.
type LocalityStep struct {
	Op   StepOp            `json:"op"`
	Zone string            `json:"zone"`
	From paxos.ReplicaType `json:"from,omitempty"` // StepRemove, StepConvert
	To   paxos.ReplicaType `json:"to,omitempty"`   // StepAdd, StepConvert
}

func (s LocalityStep) String() string {
	switch s.Op {
	case StepAdd:
		return "add " + shortType(s.To) + "@" + s.Zone
	case StepRemove:
		return "remove " + shortType(s.From) + "@" + s.Zone
	case StepConvert:
		return "convert " + s.Zone + " " + shortType(s.From) + "->" + shortType(s.To)
	}
	return s.Op.String()
}

// Paxos reports whether the step changes the Paxos member set or a member's vote: every step
// but adding or removing a READONLY replica. OceanBase calls READONLY replicas non-Paxos.
func (s LocalityStep) Paxos() bool {
	switch s.Op {
	case StepAdd:
		return s.To.IsVoter()
	case StepRemove:
		return s.From.IsVoter()
	}
	return true
}

// Apply returns l after the step, or an error if the step does not fit l. l is not changed.
func (l Locality) Apply(s LocalityStep) (Locality, error) {
	cur, has := l.Type(s.Zone)
	out := l.Clone()
	switch s.Op {
	case StepAdd:
		if has {
			return nil, errorf(ErrInvalid, "locality %q: cannot %s: zone %s already holds a %s replica", l.String(), s, s.Zone, cur)
		}
		if s.To < paxos.Full || s.To > paxos.ReadOnly {
			return nil, errorf(ErrInvalid, "locality %q: cannot add replica type %d", l.String(), uint8(s.To))
		}
		out = append(out, Replica{Zone: s.Zone, Type: s.To})
		slices.SortFunc(out, func(a, b Replica) int { return strings.Compare(a.Zone, b.Zone) })
	case StepRemove:
		if !has || cur != s.From {
			return nil, errorf(ErrInvalid, "locality %q: cannot %s: zone %s holds no such replica", l.String(), s, s.Zone)
		}
		out = slices.DeleteFunc(out, func(r Replica) bool { return r.Zone == s.Zone })
	case StepConvert:
		if !has || cur != s.From {
			return nil, errorf(ErrInvalid, "locality %q: cannot %s: zone %s holds no such replica", l.String(), s, s.Zone)
		}
		if s.From != paxos.Full && s.To != paxos.Full || s.From == s.To {
			return nil, errorf(ErrInvalid, "locality %q: cannot %s: only F<->R and F<->L conversions exist", l.String(), s)
		}
		for i := range out {
			if out[i].Zone == s.Zone {
				out[i].Type = s.To
			}
		}
	default:
		return nil, errorf(ErrInvalid, "locality %q: unknown step %s", l.String(), s)
	}
	return out, nil
}

// zoneChange is what one zone needs to go from old to new; 0 means no replica.
type zoneChange struct {
	zone     string
	from, to paxos.ReplicaType
}

func (c zoneChange) paxos() bool { return c.from.IsVoter() || c.to.IsVoter() }

func (c zoneChange) String() string {
	switch {
	case c.from == 0:
		return "add " + shortType(c.to) + "@" + c.zone
	case c.to == 0:
		return "remove " + shortType(c.from) + "@" + c.zone
	}
	return "convert " + c.zone + " " + shortType(c.from) + "->" + shortType(c.to)
}

// steps turns a zone change into locality steps. L<->R has no direct conversion (the Paxos
// layer refuses it), so it becomes a removal and an add in the same zone.
func (c zoneChange) steps() []LocalityStep {
	switch {
	case c.from == 0:
		return []LocalityStep{{Op: StepAdd, Zone: c.zone, To: c.to}}
	case c.to == 0:
		return []LocalityStep{{Op: StepRemove, Zone: c.zone, From: c.from}}
	case c.from == paxos.Full || c.to == paxos.Full:
		return []LocalityStep{{Op: StepConvert, Zone: c.zone, From: c.from, To: c.to}}
	}
	return []LocalityStep{{Op: StepRemove, Zone: c.zone, From: c.from}, {Op: StepAdd, Zone: c.zone, To: c.to}}
}

func zoneChanges(old, new Locality) []zoneChange {
	var out []zoneChange
	i, j := 0, 0
	for i < len(old) || j < len(new) {
		switch {
		case j == len(new) || (i < len(old) && old[i].Zone < new[j].Zone):
			out = append(out, zoneChange{zone: old[i].Zone, from: old[i].Type})
			i++
		case i == len(old) || new[j].Zone < old[i].Zone:
			out = append(out, zoneChange{zone: new[j].Zone, to: new[j].Type})
			j++
		default:
			if old[i].Type != new[j].Type {
				out = append(out, zoneChange{zone: old[i].Zone, from: old[i].Type, to: new[j].Type})
			}
			i++
			j++
		}
	}
	return out
}

// DiffLocality returns the steps that take every partition from old to new, one replica at a
// time, in an order that keeps every intermediate locality valid. It accepts what OceanBase
// accepts in one ALTER TENANT ... LOCALITY: each ALTER adds, removes or modifies one Paxos
// replica in one zone, while non-Paxos (READONLY) replica changes may go along in any number
// (OceanBase 2.2 locality management, translated:
// https://www.iquanku.com/read/oceanbase-2.2.50-zh/049656dfb655be2f.md; 4.x keeps "You can
// perform only one action at a time ... you must add zone4 first and then remove zone3",
// https://en.oceanbase.com/docs/common-oceanbase-database-10000000000871701). A change that
// needs more Paxos changes is refused with the first ALTER to run instead (see PlanLocality).
//
// Order: READONLY adds in zones that hold nothing, then the READONLY removals that free a zone
// for a new LOGONLY replica, then the one Paxos change, then READONLY adds in zones it freed,
// then READONLY removals: readers gain capacity before they lose any. An L<->R change is a
// removal then an add in the same zone (the Paxos layer has no L<->R conversion).
func DiffLocality(old, new Locality) ([]LocalityStep, error) {
	if err := old.Validate(); err != nil {
		return nil, err
	}
	if err := new.Validate(); err != nil {
		return nil, err
	}
	changes := zoneChanges(old, new)
	var px []zoneChange
	for _, c := range changes {
		if c.paxos() {
			px = append(px, c)
		}
	}
	if len(px) > 1 {
		names := make([]string, len(px))
		for i, c := range px {
			names[i] = c.String()
		}
		msg := fmt.Sprintf("locality change %s -> %s: %d Paxos replica changes (%s); one ALTER changes at most one Paxos replica (READONLY changes may go along)",
			old, new, len(px), strings.Join(names, ", "))
		if plan, err := PlanLocality(old, new); err == nil && len(plan) > 0 {
			msg += fmt.Sprintf(": alter to %s first", plan[0])
		}
		return nil, errorf(ErrInvalid, "%s", msg)
	}
	var steps []LocalityStep
	for _, c := range changes { // READONLY adds into empty zones
		if !c.paxos() && c.from == 0 {
			steps = append(steps, c.steps()...)
		}
	}
	for _, c := range changes { // READONLY removed to make room for a LOGONLY replica
		if c.paxos() && c.from == paxos.ReadOnly && c.to == paxos.LogOnly {
			steps = append(steps, c.steps()[0])
		}
	}
	var after []LocalityStep
	for _, c := range px {
		s := c.steps()
		switch {
		case c.from == paxos.ReadOnly && c.to == paxos.LogOnly:
			steps = append(steps, s[1]) // removal already queued above
		case c.from == paxos.LogOnly && c.to == paxos.ReadOnly:
			steps = append(steps, s[0])
			after = append(after, s[1])
		default:
			steps = append(steps, s...)
		}
	}
	steps = append(steps, after...)
	for _, c := range changes { // READONLY removals last
		if !c.paxos() && c.to == 0 {
			steps = append(steps, c.steps()...)
		}
	}
	// Assert what the order promises: each intermediate is valid and the last is new.
	cur := old
	for _, s := range steps {
		next, err := cur.Apply(s)
		if err != nil {
			return nil, err
		}
		if err := next.Validate(); err != nil {
			return nil, errorf(ErrInvalid, "locality change %s -> %s: step %s leaves an invalid locality: %v", old, new, s, err)
		}
		cur = next
	}
	if cur.String() != new.String() {
		return nil, errorf(ErrInvalid, "locality change %s -> %s: steps end at %s", old, new, cur)
	}
	return steps, nil
}

// planRank orders the Paxos changes PlanLocality makes: first those that add a FULL replica,
// then those that take a LOGONLY replica away, then new LOGONLY replicas, then F->L, then those
// that take a FULL replica away. Adding FULL replicas and removing LOGONLY ones can never break
// "F >= 1 and L <= F"; doing them first leaves room for the rest.
func planRank(c zoneChange) int {
	switch {
	case c.to == paxos.Full:
		return 0
	case c.from == paxos.LogOnly:
		return 1
	case c.to == paxos.LogOnly && c.from != paxos.Full:
		return 2
	case c.from == paxos.Full && c.to == paxos.LogOnly:
		return 3
	}
	return 4
}

// PlanLocality returns the sequence of localities (the targets of successive ALTERs) that goes
// from old to new when one ALTER cannot: each consecutive pair differs by at most one Paxos
// replica change, so DiffLocality accepts it, and every locality on the way is valid. The last
// element is new. READONLY changes ride along with the last ALTER. An empty result means old
// and new are equal.
func PlanLocality(old, new Locality) ([]Locality, error) {
	if err := old.Validate(); err != nil {
		return nil, err
	}
	if err := new.Validate(); err != nil {
		return nil, err
	}
	var plan []Locality
	cur := old.Clone()
	for range MaxLocalityReplicas*2 + 2 { // each pass makes one of at most 2*MaxLocalityReplicas zone changes
		changes := zoneChanges(cur, new)
		var px []zoneChange
		for _, c := range changes {
			if c.paxos() {
				px = append(px, c)
			}
		}
		if len(px) <= 1 {
			if len(changes) > 0 {
				plan = append(plan, new.Clone())
			}
			return plan, nil
		}
		slices.SortStableFunc(px, func(a, b zoneChange) int { return planRank(a) - planRank(b) })
		moved := false
		for _, c := range px {
			next := applyZoneChange(cur, c)
			if next.Validate() == nil {
				plan = append(plan, next)
				cur = next
				moved = true
				break
			}
		}
		if !moved {
			break
		}
	}
	return nil, errorf(ErrInvalid, "locality change %s -> %s: no order of single Paxos replica changes keeps every step valid", old, new)
}

// applyZoneChange sets the zone of c to its target (no replica when c.to is 0).
func applyZoneChange(l Locality, c zoneChange) Locality {
	out := slices.DeleteFunc(l.Clone(), func(r Replica) bool { return r.Zone == c.zone })
	if c.to != 0 {
		out = append(out, Replica{Zone: c.zone, Type: c.to})
		slices.SortFunc(out, func(a, b Replica) int { return strings.Compare(a.Zone, b.Zone) })
	}
	return out
}
