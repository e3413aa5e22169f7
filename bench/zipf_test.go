package bench

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestZipfianMatchesTheory(t *testing.T) {
	const n, draws = 1000, 400_000
	z, err := NewZipfian(n, ZipfianTheta)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	counts := make([]int, n)
	for i := 0; i < draws; i++ {
		v := z.Next(r)
		if v >= n {
			t.Fatalf("Next = %d, want < %d", v, n)
		}
		counts[v]++
	}
	// The two most popular items are exact in Gray's algorithm: p(i) = 1/((i+1)^theta * zeta(n)).
	for i := 0; i < 2; i++ {
		want := 1 / (math.Pow(float64(i+1), ZipfianTheta) * z.zetan)
		got := float64(counts[i]) / draws
		if math.Abs(got-want) > 0.1*want {
			t.Errorf("p(%d) = %.4f, want %.4f within 10%%", i, got, want)
		}
	}
	// Skew: the top 10% of items take well over half the draws (about 70% at theta 0.99).
	top := 0
	for i := 0; i < n/10; i++ {
		top += counts[i]
	}
	if f := float64(top) / draws; f < 0.6 || f > 0.8 {
		t.Errorf("top 10%% of items drew %.2f of the requests, want 0.6..0.8", f)
	}
	if counts[0] <= counts[10] || counts[10] <= counts[500] {
		t.Errorf("popularity not decreasing: count[0]=%d count[10]=%d count[500]=%d", counts[0], counts[10], counts[500])
	}
}

func TestScrambledSpreadsHotKeys(t *testing.T) {
	c, err := NewChooser("zipfian", 1000)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(3, 4))
	counts := make([]int, 1000)
	for i := 0; i < 100_000; i++ {
		counts[c.Next(r)]++
	}
	// Still skewed: the hottest record gets far more than the uniform 0.1%...
	best := 0
	for i, n := range counts {
		if n > counts[best] {
			best = i
		}
	}
	if counts[best] < 5000 {
		t.Errorf("hottest record drew %d of 100000, want a zipfian skew (>5000)", counts[best])
	}
	// ...but it is not record 0: the hash moved it.
	if best == 0 {
		t.Errorf("hottest record is 0: scrambling did not move it")
	}
}

func TestUniformIsFlat(t *testing.T) {
	c, err := NewChooser("uniform", 10)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(5, 6))
	counts := make([]int, 10)
	for i := 0; i < 100_000; i++ {
		counts[c.Next(r)]++
	}
	for i, n := range counts {
		if n < 9000 || n > 11000 {
			t.Errorf("uniform: record %d drew %d of 100000, want about 10000", i, n)
		}
	}
}

func TestChooserRejectsBadInput(t *testing.T) {
	for _, tc := range []struct {
		dist string
		n    uint64
		want string
	}{
		{"pareto", 10, `key distribution "pareto": want zipfian or uniform`},
		{"zipfian", 0, "zipfian over 0 items: need at least 1"},
		{"uniform", 0, "uniform over 0 items: need at least 1"},
	} {
		_, err := NewChooser(tc.dist, tc.n)
		if err == nil || err.Error() != tc.want {
			t.Errorf("NewChooser(%q, %d) = %v, want %q", tc.dist, tc.n, err, tc.want)
		}
	}
	if _, err := NewZipfian(10, 1); err == nil {
		t.Error("NewZipfian(theta 1) succeeded, want an error")
	}
}

func TestZipfianNextDoesNotAllocate(t *testing.T) {
	z, _ := NewZipfian(1000, ZipfianTheta)
	c := Scrambled{z}
	r := rand.New(rand.NewPCG(1, 1))
	if n := testing.AllocsPerRun(1000, func() { _ = c.Next(r) }); n != 0 {
		t.Errorf("Next allocates %v times, want 0", n)
	}
}
