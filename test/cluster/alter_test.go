//go:build unix

package cluster

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"obkv/test/internal/realcluster"
)

// TestAlterPrimaryZoneAndSwitchLeader: altering primary_zone from "z1;z2,z3" to "z2;z1,z3"
// moves every leader to z2 (and is recorded as a job that finishes); switch-leader moves one partition's
// leader to the named server and leaves the others; switch-leader to a READONLY replica, to a
// server without a replica or to a partition out of range fails with a message that says why.
func TestAlterPrimaryZoneAndSwitchLeader(t *testing.T) {
	ctx := realcluster.Context(t, 60*time.Second)
	c := newCluster(t, realcluster.FourZones, nil)
	c.StartAll()
	c.waitReady(ctx)
	c.setupTenant(ctx, "t1", "p1", 1, "z1,z2,z3,z4", "F@z1,F@z2,F@z3,R@z4", "z1;z2,z3")
	c.MustCtl(ctx, nil, "create", "table", "t1.orders", "--partitions", "6")
	c.waitLeaders(ctx, "t1", "orders", 6, "z1")

	// The DDL result is the tenant as stored (resource_pool_list is a list here, where show
	// tenants joins it into a string), so decode it loosely.
	var altered map[string]any
	c.MustCtl(ctx, &altered, "alter", "tenant", "t1", "--primary-zone", "z2;z1,z3")
	if altered["primary_zone"] != "z2;z1,z3" {
		t.Errorf("alter tenant returned primary_zone %v, want z2;z1,z3", altered["primary_zone"])
	}
	d, _ := c.waitLeaders(ctx, "t1", "orders", 6, "z2")
	t.Logf("all leaders moved to z2 %v after alter tenant", d.Round(time.Millisecond))
	var tenants []tenantRow
	c.MustCtl(ctx, &tenants, "show", "tenants")
	for _, tn := range tenants {
		if tn.Name == "t1" && tn.PrimaryZone != "z2;z1,z3" {
			t.Errorf("show tenants: t1 primary_zone %q, want z2;z1,z3", tn.PrimaryZone)
		}
	}
	t.Run("job finishes", func(t *testing.T) { checkJobDone(ctx, t, c, "t1", "alter-primary-zone", 5*time.Second) })

	c.MustCtl(ctx, nil, "switch-leader", "t1.orders", "--partition", "2", "--to", "s3")
	d = c.WaitFor(ctx, "partition 2 led by s3, the others by s2", func(ctx context.Context) (bool, string) {
		rows, err := c.Replicas(ctx, "t1")
		if err != nil {
			return false, err.Error()
		}
		ls, msg := realcluster.Leaders(rows, "orders", 6)
		if msg != "" {
			return false, msg
		}
		for p, r := range ls {
			if want := map[bool]string{true: "s3", false: "s2"}[p == 2]; r.Server != want {
				return false, realcluster.Describe(rows, "orders")
			}
		}
		return true, ""
	})
	t.Logf("switch-leader moved partition 2 to s3 in %v", d.Round(time.Millisecond))

	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"to a READONLY replica", []string{"--partition", "1", "--to", "s4"},
			[]string{"switch leader to s4: its replica is READONLY; only FULL replicas lead"}},
		{"to an unknown server", []string{"--partition", "1", "--to", "s9"},
			[]string{"switch leader to s9: no such server in the cluster"}},
		{"to a partition out of range", []string{"--partition", "6", "--to", "s2"},
			[]string{"partition 6 of t1.orders: the table has partitions 0..5"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.Run(ctx, append([]string{"switch-leader", "t1.orders", "-o", "json"}, tc.args...)...)
			checkFailure(t, err, tc.want)
		})
	}
	_, err := c.Run(ctx, "switch-leader", "t1.nope", "--to", "s2")
	checkFailure(t, err, []string{"table t1.nope does not exist"})

	// The failed switches changed nothing.
	rows, err := c.Replicas(ctx, "t1")
	if err != nil {
		t.Fatal(err)
	}
	if ls, msg := realcluster.Leaders(rows, "orders", 6); msg != "" || ls[1].Server != "s2" || ls[2].Server != "s3" {
		t.Errorf("after failed switch-leader: %s %s", msg, realcluster.Describe(rows, "orders"))
	}
	if strings.Contains(realcluster.Describe(rows, "orders"), "s4/z4/R/LEADER") {
		t.Errorf("a READONLY replica leads: %s", realcluster.Describe(rows, "orders"))
	}
}

// checkJobDone waits, at most jobBound, for tenant's latest job of kind to be done, and fails
// if it failed or is not done in time. (It found a bug: the alter-primary-zone job once passed
// a map of live servers keyed by server name where zones were wanted, so it never finished.)
func checkJobDone(ctx context.Context, t *testing.T, c *testCluster, tenant, kind string, jobBound time.Duration) {
	ctx, cancel := context.WithTimeout(ctx, jobBound)
	defer cancel()
	last := ""
	for {
		var jobs []map[string]any
		if err := c.Ctl(ctx, &jobs, "show", "jobs"); err != nil {
			last = err.Error()
		} else {
			found, running := false, false
			last = fmt.Sprintf("no %s job of %s: %v", kind, tenant, jobs)
			for _, j := range jobs {
				if j["kind"] != kind || j["tenant"] != tenant {
					continue
				}
				found = true
				switch j["state"] {
				case "done":
				case "failed":
					t.Fatalf("%s job of %s failed: %v", kind, tenant, j)
				default:
					running = true
					last = fmt.Sprintf("%v", j)
				}
			}
			if found && !running {
				return
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s job of %s not done within %v: %s", kind, tenant, jobBound, last)
		case <-time.After(realcluster.PollInterval):
		}
	}
}
