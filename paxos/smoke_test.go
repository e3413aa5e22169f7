package paxos

import "testing"

func TestSmokeElectAndCommit(t *testing.T) {
	h := newHarness([]Member{{ID: 1, Type: Full}, {ID: 2, Type: Full}, {ID: 3, Type: Full}}, false, nil)
	if !h.tickUntil(100, func() bool { return h.leader() != None }) {
		t.Fatalf("no leader:\n%s", h.status())
	}
	l := h.leader()
	for i := 0; i < 5; i++ {
		if _, err := h.propose(l, "x"); err != nil {
			t.Fatal(err)
		}
	}
	h.tick(5)
	t.Logf("\n%s", h.status())
	for _, id := range h.ids() {
		if got := h.appliedData(id); got != "x,x,x,x,x" {
			t.Errorf("replica %d applied %q", id, got)
		}
	}
}
