package rootservice

import (
	"testing"

	"obkv/paxos"
)

func TestNextChange(t *testing.T) {
	F, L, R := paxos.Full, paxos.LogOnly, paxos.ReadOnly
	m := func(pairs ...any) []paxos.Member {
		var out []paxos.Member
		for i := 0; i < len(pairs); i += 2 {
			out = append(out, paxos.Member{ID: paxos.ID(pairs[i].(int)), Type: pairs[i+1].(paxos.ReplicaType)})
		}
		return out
	}
	yes := func(paxos.ID) bool { return true }
	no := func(paxos.ID) bool { return false }
	for _, tc := range []struct {
		name              string
		desired, actual   []paxos.Member
		caughtUp, hasData func(paxos.ID) bool
		want              *paxos.ConfChange
	}{
		{"converged", m(1, F, 2, F, 3, F), m(1, F, 2, F, 3, F), yes, yes, nil},
		{"a new voter joins as a listener", m(1, F, 2, F, 4, F), m(1, F, 2, F, 3, F), yes, yes,
			&paxos.ConfChange{Type: paxos.ConfAdd, ID: 4, Replica: R}},
		{"a listener that has not caught up waits", m(1, F, 2, F, 4, F), m(1, F, 2, F, 3, F, 4, R), no, yes, nil},
		{"a caught-up listener is promoted", m(1, F, 2, F, 4, F), m(1, F, 2, F, 3, F, 4, R), yes, yes,
			&paxos.ConfChange{Type: paxos.ConfSetType, ID: 4, Replica: F}},
		{"then the replaced replica goes", m(1, F, 2, F, 4, F), m(1, F, 2, F, 3, F, 4, F), yes, yes,
			&paxos.ConfChange{Type: paxos.ConfRemove, ID: 3}},
		{"a READONLY replica is added directly", m(1, F, 2, F, 3, F, 4, R), m(1, F, 2, F, 3, F), no, yes,
			&paxos.ConfChange{Type: paxos.ConfAdd, ID: 4, Replica: R}},
		{"F to L in place", m(1, F, 2, F, 3, L), m(1, F, 2, F, 3, F), yes, yes,
			&paxos.ConfChange{Type: paxos.ConfSetType, ID: 3, Replica: L}},
		{"L with data back to F in place", m(1, F, 2, F, 3, F), m(1, F, 2, F, 3, L), yes, yes,
			&paxos.ConfChange{Type: paxos.ConfSetType, ID: 3, Replica: F}},
		{"L without data to F is rebuilt", m(1, F, 2, F, 3, F), m(1, F, 2, F, 3, L), yes, no,
			&paxos.ConfChange{Type: paxos.ConfRemove, ID: 3}},
		{"L to R is rebuilt", m(1, F, 2, F, 3, R), m(1, F, 2, F, 3, L), yes, yes,
			&paxos.ConfChange{Type: paxos.ConfRemove, ID: 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := nextChange(tc.desired, tc.actual, tc.caughtUp, tc.hasData)
			switch {
			case got == nil && tc.want == nil:
			case got == nil || tc.want == nil || *got != *tc.want:
				t.Fatalf("nextChange = %+v, want %+v", got, tc.want)
			}
		})
	}
}
