//go:build unix

package cluster

import (
	"testing"
	"time"

	"obkv/test/internal/realcluster"
)

// Bounds of the SIGTERM test.
const (
	// handoverLease is the lease of the SIGTERM test's cluster: long, so that a leadership
	// that was not handed over (and has to wait for its lease to run out) cannot pass for one
	// that was.
	handoverLease = 3 * time.Second
	// afterExitBound is how soon after the terminated server exits every partition must lead
	// from elsewhere.
	afterExitBound = 2 * time.Second
)

// TestSigtermHandsOver: SIGTERM of the server leading every partition (and the meta partition)
// makes it hand its leaderships to the next zones before it exits, so every partition leads
// from z2 or z3 within afterExitBound of the exit, well under the cluster's 3 s lease. As the
// control, a SIGKILL of the same server afterwards (once leaders are back) cannot fail over
// before the lease runs out, which shows the bound would catch a missing handover.
func TestSigtermHandsOver(t *testing.T) {
	ctx := realcluster.Context(t, 60*time.Second)
	c := newCluster(t, realcluster.FourZones, map[string]string{"lease": handoverLease.String()})
	c.StartAll()
	c.waitReady(ctx)
	c.setupTenant(ctx, "t1", "p1", 1, "z1,z2,z3,z4", "F@z1,F@z2,F@z3,R@z4", "z1;z2,z3")
	c.MustCtl(ctx, nil, "create", "table", "t1.orders", "--partitions", "6")
	c.waitLeaders(ctx, "t1", "orders", 6, "z1")
	metaLeader(ctx, t, c, "s1")

	termAt := time.Now()
	p := c.Term("s1")
	select {
	case <-p.Done():
	case <-ctx.Done():
		t.Fatal("s1 did not exit after SIGTERM")
	}
	if p.Err() != nil {
		t.Errorf("s1 exited with %v after SIGTERM, want status 0", p.Err())
	}
	t.Logf("s1 exited %v after SIGTERM", p.ExitedAt().Sub(termAt).Round(time.Millisecond))
	elsewhere, even := c.waitMoved(ctx, p.ExitedAt(), "t1", "orders", 6, "z2", "z3")
	t.Logf("after s1's exit: every partition led from z2/z3 after %v, split evenly after %v (lease %v)",
		elsewhere.Round(time.Millisecond), even.Round(time.Millisecond), handoverLease)
	if elsewhere > afterExitBound {
		t.Errorf("partitions led from elsewhere only %v after s1 exited, want within %v: leaderships were not handed over", elsewhere, afterExitBound)
	}
	if metaLeader(ctx, t, c, "") == "s1" {
		t.Errorf("meta partition still led by the stopped s1")
	}

	// Control: leaders return to s1, then SIGKILL gives no chance to hand over.
	c.Start("s1")
	c.waitMoved(ctx, time.Now(), "t1", "orders", 6, "z1")
	metaLeader(ctx, t, c, "s1")
	killAt := time.Now()
	c.Kill("s1")
	killElsewhere, _ := c.waitMoved(ctx, killAt, "t1", "orders", 6, "z2", "z3")
	t.Logf("control: after SIGKILL of s1 every partition led from z2/z3 after %v", killElsewhere.Round(time.Millisecond))
	if killElsewhere <= afterExitBound {
		t.Errorf("after SIGKILL, partitions led from elsewhere in %v, within the %v bound: the lease (%v) did not hold the old leaders, so the SIGTERM check proves nothing",
			killElsewhere, afterExitBound, handoverLease)
	}
}
