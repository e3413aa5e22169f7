package tenant

import (
	"fmt"
	"strings"
	"testing"

	"obkv/paxos"
)

func TestParseLocality(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		long     string
	}{
		{in: "F@z1,F@z2,L@z3,R@z4", want: "F@z1,F@z2,L@z3,R@z4", long: "FULL{1}@z1, FULL{1}@z2, LOGONLY{1}@z3, READONLY{1}@z4"},
		{in: "R@z4, F@z2 ,F@z1", want: "F@z1,F@z2,R@z4"},
		{in: "FULL{1}@z1, FULL{1}@z2, READONLY{1}@z4", want: "F@z1,F@z2,R@z4"},
		{in: " full { 1 } @ z1 , logonly@z2", want: "F@z1,L@z2"},
		{in: "f@cn-hangzhou-h", want: "F@cn-hangzhou-h"},
	} {
		loc, err := ParseLocality(tc.in)
		if err != nil {
			t.Fatalf("%q: %v", tc.in, err)
		}
		if got := loc.String(); got != tc.want {
			t.Errorf("%q: String = %q, want %q", tc.in, got, tc.want)
		}
		if tc.long != "" && loc.LongString() != tc.long {
			t.Errorf("%q: LongString = %q, want %q", tc.in, loc.LongString(), tc.long)
		}
		// Both forms round-trip.
		for _, s := range []string{loc.String(), loc.LongString()} {
			again, err := ParseLocality(s)
			if err != nil || again.String() != loc.String() {
				t.Errorf("%q: round trip through %q gave %v, %v", tc.in, s, again, err)
			}
		}
	}
}

func TestParseLocalityErrors(t *testing.T) {
	for _, tc := range []struct{ in, msg string }{
		{"", `locality "": empty (name at least one FULL replica, e.g. F@z1)`},
		{"  ", `locality "  ": empty (name at least one FULL replica, e.g. F@z1)`},
		{"F@z1,X@z2", `locality "F@z1,X@z2": replica type X is not F, L, R, FULL, LOGONLY or READONLY`},
		{"F@z1,,F@z2", `locality "F@z1,,F@z2": replica 2 is empty`},
		{"F z1", `locality "F z1": replica "F z1" is not TYPE@ZONE`},
		{"F@z1@z2", `locality "F@z1@z2": replica "F@z1@z2" is not TYPE@ZONE`},
		{"F@", `locality "F@": replica "F@" names no zone`},
		{"@z1", `locality "@z1": replica type  is not F, L, R, FULL, LOGONLY or READONLY`},
		{"F@z 1", `locality "F@z 1": zone name "z 1" is not valid: letters, digits, '_', '-' and '.' only (at most 64 bytes)`},
		{"F@z1,R@z1", `locality "F@z1,R@z1": two replicas in zone z1 (F and R; a zone holds at most one replica)`},
		{"FULL{2}@z1", `locality "FULL{2}@z1": replica "FULL{2}@z1": count {2} is not supported (a zone holds at most one replica)`},
		{"READONLY{ALL_SERVER}@z1", `locality "READONLY{ALL_SERVER}@z1": replica "READONLY{ALL_SERVER}@z1": count {ALL_SERVER} is not supported (a zone holds at most one replica)`},
		{"FULL{1@z1", `locality "FULL{1@z1": replica "FULL{1@z1": count "{1" is not {N}`},
		{"F,R@z1", `locality "F,R@z1": replica "F" is not TYPE@ZONE`},
		{strings.Repeat("F@z1,", 40), `locality "` + strings.Repeat("F@z1,", 40) + `": 41 replicas exceed the maximum of 32`},
		{strings.Repeat("x", 5000), `locality: 5000 bytes exceed the maximum of 4096`},
	} {
		_, err := ParseLocality(tc.in)
		checkErr(t, err, ErrInvalid, tc.msg)
	}
}

func TestLocalityValidate(t *testing.T) {
	for _, tc := range []struct{ in, msg string }{
		{"F@z1", ""},
		{"F@z1,L@z2", ""},                // voters 2, quorum 2: both needed, one is FULL
		{"F@z1,F@z2,L@z3,L@z4", ""},      // L == F
		{"F@z1,F@z2,L@z3,R@z4,R@z5", ""}, // READONLY replicas do not count
		{"R@z1", `locality "R@z1": no FULL replica (only a FULL replica can lead)`},
		{"L@z1,R@z2", `locality "L@z1,R@z2": no FULL replica (only a FULL replica can lead)`},
		{"F@z1,L@z2,L@z3", `locality "F@z1,L@z2,L@z3": 2 LOGONLY replicas outnumber the 1 FULL replica (every majority of the 3 voters must include a FULL replica)`},
		{"F@z1,F@z2,L@z3,L@z4,L@z5", `locality "F@z1,F@z2,L@z3,L@z4,L@z5": 3 LOGONLY replicas outnumber the 2 FULL replicas (every majority of the 5 voters must include a FULL replica)`},
	} {
		loc, err := ParseLocality(tc.in)
		if err != nil {
			t.Fatalf("%q: %v", tc.in, err)
		}
		err = loc.Validate()
		if tc.msg == "" {
			checkErr(t, err, nil, "")
		} else {
			checkErr(t, err, ErrInvalid, tc.msg)
		}
	}
	// Hand-built values are checked too.
	checkErr(t, Locality{}.Validate(), ErrInvalid, `locality "": empty (name at least one FULL replica, e.g. F@z1)`)
	checkErr(t, Locality{{"z2", paxos.Full}, {"z1", paxos.Full}}.Validate(), ErrInvalid, `locality "F@z2,F@z1": not sorted by zone (z2 before z1)`)
	checkErr(t, Locality{{"z1", paxos.Full}, {"z1", paxos.Full}}.Validate(), ErrInvalid, `locality "F@z1,F@z1": two replicas in zone z1 (a zone holds at most one replica)`)
	checkErr(t, Locality{{"z1", 9}}.Validate(), ErrInvalid, `locality "?@z1": zone z1 has unknown replica type 9`)
}

// TestLogOnlyRuleIsMajorityRule checks that "L <= F" is exactly "every majority of voters holds
// a FULL replica" for every small F and L.
func TestLogOnlyRuleIsMajorityRule(t *testing.T) {
	for f := 1; f <= 6; f++ {
		for l := 0; l <= 6; l++ {
			quorum := (f+l)/2 + 1
			everyMajorityHasF := l < quorum
			if everyMajorityHasF != (l <= f) {
				t.Errorf("F=%d L=%d: quorum %d, majority rule %v, L<=F %v", f, l, quorum, everyMajorityHasF, l <= f)
			}
		}
	}
}

func mustLoc(t testing.TB, s string) Locality {
	t.Helper()
	l, err := ParseLocality(s)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestDiffLocality(t *testing.T) {
	for _, tc := range []struct {
		old, new string
		steps    string // steps joined by "; "
		msg      string
	}{
		{old: "F@z1,F@z2,F@z3", new: "F@z1,F@z2,F@z3", steps: ""},
		{old: "F@z1,F@z2,F@z3", new: "F@z1,F@z2,F@z3,F@z4", steps: "add F@z4"},
		{old: "F@z1,F@z2,F@z3,F@z4", new: "F@z1,F@z2,F@z3", steps: "remove F@z4"},
		{old: "F@z1,F@z2,F@z3", new: "F@z1,F@z2,R@z3", steps: "convert z3 F->R"},
		{old: "F@z1,F@z2,L@z3", new: "F@z1,F@z2,F@z3", steps: "convert z3 L->F"},
		{old: "F@z1,F@z2,L@z3", new: "F@z1,F@z2,R@z3", steps: "remove L@z3; add R@z3"},
		{old: "F@z1,F@z2,R@z3", new: "F@z1,F@z2,L@z3", steps: "remove R@z3; add L@z3"},
		// READONLY changes go along with one Paxos change: adds first, removals last.
		{old: "F@z1,F@z2,R@z3", new: "F@z1,F@z2,F@z4,R@z5", steps: "add R@z5; add F@z4; remove R@z3"},
		{old: "F@z1,R@z2,R@z3", new: "F@z1,R@z4,R@z5", steps: "add R@z4; add R@z5; remove R@z2; remove R@z3"},
		{old: "F@z1,F@z2,R@z3", new: "F@z1,F@z2,L@z3,R@z4", steps: "add R@z4; remove R@z3; add L@z3"},
		// Two Paxos changes in one ALTER are refused, with the first ALTER to run instead.
		{old: "F@z1,F@z2,F@z3", new: "F@z1,F@z2,F@z4",
			msg: `locality change F@z1,F@z2,F@z3 -> F@z1,F@z2,F@z4: 2 Paxos replica changes (remove F@z3, add F@z4); one ALTER changes at most one Paxos replica (READONLY changes may go along): alter to F@z1,F@z2,F@z3,F@z4 first`},
		{old: "F@z1,F@z2,F@z3", new: "F@z1,L@z2,L@z3",
			msg: `locality "F@z1,L@z2,L@z3": 2 LOGONLY replicas outnumber the 1 FULL replica (every majority of the 3 voters must include a FULL replica)`},
		{old: "F@z1", new: "R@z1", msg: `locality "R@z1": no FULL replica (only a FULL replica can lead)`},
	} {
		steps, err := DiffLocality(mustLoc(t, tc.old), mustLoc(t, tc.new))
		if tc.msg != "" {
			checkErr(t, err, ErrInvalid, tc.msg)
			continue
		}
		if err != nil {
			t.Fatalf("%s -> %s: %v", tc.old, tc.new, err)
		}
		var names []string
		for _, s := range steps {
			names = append(names, s.String())
		}
		if got := strings.Join(names, "; "); got != tc.steps {
			t.Errorf("%s -> %s:\n got %s\nwant %s", tc.old, tc.new, got, tc.steps)
		}
	}
}

// allLocalities enumerates every locality over the given zones (each zone: nothing, F, L or R).
func allLocalities(zones []string) []Locality {
	var out []Locality
	n := 1
	for range zones {
		n *= 4
	}
	types := []paxos.ReplicaType{0, paxos.Full, paxos.LogOnly, paxos.ReadOnly}
	for code := range n {
		var l Locality
		c := code
		for _, z := range zones {
			if t := types[c%4]; t != 0 {
				l = append(l, Replica{Zone: z, Type: t})
			}
			c /= 4
		}
		out = append(out, l)
	}
	return out
}

// TestLocalityChangesOverAllPairs walks every pair of localities over four zones: DiffLocality
// accepts exactly the pairs with at most one Paxos change, every intermediate locality of its
// steps is valid and the steps end at the target; PlanLocality finds a valid route for every
// pair of valid localities, each hop acceptable to DiffLocality.
func TestLocalityChangesOverAllPairs(t *testing.T) {
	all := allLocalities([]string{"z1", "z2", "z3", "z4"})
	var valid []Locality
	for _, l := range all {
		if l.Validate() == nil {
			valid = append(valid, l)
		}
	}
	if len(valid) < 50 {
		t.Fatalf("only %d valid localities", len(valid))
	}
	pairs, accepted := 0, 0
	for _, a := range valid {
		for _, b := range valid {
			pairs++
			paxosChanges := 0
			for _, c := range zoneChanges(a, b) {
				if c.paxos() {
					paxosChanges++
				}
			}
			steps, err := DiffLocality(a, b)
			if (err == nil) != (paxosChanges <= 1) {
				t.Fatalf("%s -> %s: %d Paxos changes, err %v", a, b, paxosChanges, err)
			}
			if err == nil {
				accepted++
				cur := a
				nPaxos := 0
				for _, s := range steps {
					if s.Paxos() {
						nPaxos++
					}
					next, err := cur.Apply(s)
					if err != nil {
						t.Fatalf("%s -> %s: step %s: %v", a, b, s, err)
					}
					if err := next.Validate(); err != nil {
						t.Fatalf("%s -> %s: step %s leaves %s: %v", a, b, s, next, err)
					}
					cur = next
				}
				if cur.String() != b.String() {
					t.Fatalf("%s -> %s: steps end at %s", a, b, cur)
				}
				if nPaxos > 2 { // an L<->R change is two steps, one of them Paxos
					t.Fatalf("%s -> %s: %d Paxos steps", a, b, nPaxos)
				}
			}
			plan, err := PlanLocality(a, b)
			if err != nil {
				t.Fatalf("%s -> %s: plan: %v", a, b, err)
			}
			cur := a
			for _, hop := range plan {
				if _, err := DiffLocality(cur, hop); err != nil {
					t.Fatalf("%s -> %s: plan hop %s -> %s: %v", a, b, cur, hop, err)
				}
				cur = hop
			}
			if cur.String() != b.String() {
				t.Fatalf("%s -> %s: plan ends at %s", a, b, cur)
			}
		}
	}
	t.Logf("%d valid localities, %d pairs, %d changeable in one ALTER", len(valid), pairs, accepted)
}

func TestApplyRejectsMisfits(t *testing.T) {
	l := mustLoc(t, "F@z1,L@z2")
	for _, tc := range []struct {
		s   LocalityStep
		msg string
	}{
		{LocalityStep{Op: StepAdd, Zone: "z1", To: paxos.ReadOnly}, `locality "F@z1,L@z2": cannot add R@z1: zone z1 already holds a FULL replica`},
		{LocalityStep{Op: StepRemove, Zone: "z3", From: paxos.Full}, `locality "F@z1,L@z2": cannot remove F@z3: zone z3 holds no such replica`},
		{LocalityStep{Op: StepConvert, Zone: "z2", From: paxos.LogOnly, To: paxos.ReadOnly}, `locality "F@z1,L@z2": cannot convert z2 L->R: only F<->R and F<->L conversions exist`},
		{LocalityStep{Op: 9, Zone: "z2"}, `locality "F@z1,L@z2": unknown step StepOp(9)`},
	} {
		_, err := l.Apply(tc.s)
		checkErr(t, err, ErrInvalid, tc.msg)
	}
	if l.String() != "F@z1,L@z2" {
		t.Errorf("Apply changed its receiver: %s", l)
	}
}

func FuzzParseLocality(f *testing.F) {
	for _, s := range []string{"F@z1,F@z2,L@z3,R@z4", "FULL{1}@z1, READONLY{1}@z4", "", "@", "{", "F{@z", "F@z1,,", "X@z1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		loc, err := ParseLocality(s)
		if err != nil {
			return
		}
		// A parsed locality prints and parses back to itself, in both forms.
		for _, form := range []string{loc.String(), loc.LongString()} {
			again, err := ParseLocality(form)
			if err != nil {
				t.Fatalf("%q -> %q: %v", s, form, err)
			}
			if again.String() != loc.String() {
				t.Fatalf("%q -> %q -> %q", s, form, again)
			}
		}
		_ = loc.Validate()
	})
}

func ExampleDiffLocality() {
	old, _ := ParseLocality("F@z1,F@z2,F@z3")
	new, _ := ParseLocality("F@z1,F@z2,F@z4")
	if _, err := DiffLocality(old, new); err != nil {
		fmt.Println(err)
	}
	plan, _ := PlanLocality(old, new)
	cur := old
	for _, hop := range plan {
		steps, _ := DiffLocality(cur, hop)
		fmt.Println(hop, steps)
		cur = hop
	}
	// Output:
	// locality change F@z1,F@z2,F@z3 -> F@z1,F@z2,F@z4: 2 Paxos replica changes (remove F@z3, add F@z4); one ALTER changes at most one Paxos replica (READONLY changes may go along): alter to F@z1,F@z2,F@z3,F@z4 first
	// F@z1,F@z2,F@z3,F@z4 [add F@z4]
	// F@z1,F@z2,F@z4 [remove F@z3]
}
