package bench

import (
	"math/rand/v2"
	"testing"
)

func TestWorkloadMixProportions(t *testing.T) {
	const draws = 200_000
	for _, w := range Workloads {
		t.Run(w.Name, func(t *testing.T) {
			if err := w.Validate(); err != nil {
				t.Fatal(err)
			}
			r := rand.New(rand.NewPCG(7, 8))
			var counts [numOpKinds]int
			for i := 0; i < draws; i++ {
				counts[w.Pick(r)]++
			}
			for k, f := range w.Mix {
				got := float64(counts[k]) / draws
				if got < f-0.01 || got > f+0.01 {
					t.Errorf("%s: %s share %.3f, want %.3f within 0.01", w.Name, OpKind(k), got, f)
				}
				if f == 0 && counts[k] != 0 {
					t.Errorf("%s: %d %s operations, want none", w.Name, counts[k], OpKind(k))
				}
			}
		})
	}
}

func TestParseWorkload(t *testing.T) {
	w, err := ParseWorkload("a")
	if err != nil || w.Name != "A" || w.Mix[OpRead] != 0.5 {
		t.Errorf(`ParseWorkload("a") = %+v, %v`, w, err)
	}
	if _, err := ParseWorkload("Z"); err == nil || err.Error() != `workload "Z": want one of A, B, C, W, S` {
		t.Errorf(`ParseWorkload("Z") error = %v`, err)
	}
	bad := Workload{Name: "X", Mix: [numOpKinds]float64{OpRead: 0.5}}
	if err := bad.Validate(); err == nil || err.Error() != "workload X: fractions sum to 0.5, want 1" {
		t.Errorf("Validate = %v", err)
	}
}

func TestKeyName(t *testing.T) {
	for _, tc := range []struct {
		i    uint64
		size int
		want string
	}{
		{42, 0, "user42"},
		{42, 10, "user000042"},
		{1234567, 6, "user1234567"}, // never truncated
	} {
		if got := string(KeyName(tc.i, tc.size)); got != tc.want {
			t.Errorf("KeyName(%d, %d) = %q, want %q", tc.i, tc.size, got, tc.want)
		}
	}
	buf := make([]byte, 0, 32)
	if n := testing.AllocsPerRun(100, func() { buf = AppendKey(buf[:0], 99, 16) }); n != 0 {
		t.Errorf("AppendKey allocates %v times, want 0", n)
	}
}
