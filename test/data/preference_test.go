//go:build unix

package data

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"obkv/client"
	"obkv/test/internal/realcluster"
)

// want is the expected outcome of one read of the preference matrix: an error wrapping err, or
// a replica of role and typ ("" for any), in zone if set, never on server notOn.
type want struct {
	err        error
	role, typ  string
	zone       string
	anyOfRoles bool // leader-and-follower: any FULL replica
}

func (w want) String() string {
	if w.err != nil {
		return "error " + w.err.Error()
	}
	s := fmt.Sprintf("%s %s", w.typ, w.role)
	if w.zone != "" {
		s += " in " + w.zone
	}
	return s
}

// TestReadPreferenceMatrix: every read preference, for strong and weak reads, from a client in
// z2 (region r1), against a tenant with a READONLY replica (F@z1,F@z2,F@z3,R@z4) and one
// without (F@z1,F@z2,F@z3), both with primary_zone z1;z3;z2, first with every server up (s1
// leads) and then with the leaders' server s1 down (s3 leads). Each read must be served by the
// kind of replica client.ReadPreference documents (locality order: same zone, then same
// region, then the rest; READONLY never for strong reads; a down server never) or fail with
// the documented error: readonly-only is ErrInvalid for a strong read and ErrNoReplica without
// a READONLY replica. Every case uses a new client so that no case inherits another's view of
// replica health or staleness.
func TestReadPreferenceMatrix(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a real cluster")
	}
	ctx := realcluster.Context(t, 120*time.Second)
	c := newCluster(t, realcluster.FourZones, nil)
	c.StartAll()
	c.waitReady(ctx)
	// primary_zone z1;z3;z2: led from s1, and from s3 alone once s1 is down, so that every
	// expectation names one replica (with z2,z3 at one level the leader balancer picks either,
	// and may move it after the failover).
	c.setupTenant(ctx, "tr", "pr", 1, "z1,z2,z3,z4", "F@z1,F@z2,F@z3,R@z4", "z1;z3;z2")
	c.setupTenant(ctx, "tf", "pf", 1, "z1,z2,z3", "F@z1,F@z2,F@z3", "z1;z3;z2")
	for _, tn := range []string{"tr", "tf"} {
		c.MustCtl(ctx, nil, "create", "table", tn+".kv", "--partitions", "1")
	}
	k := c.dialKV()
	addrs := c.Addrs()
	w := c.newClient(ctx, addrs)
	for _, tn := range []string{"tr", "tf"} {
		c.waitLeaders(ctx, tn, "kv", 1, "in z1", inZones("z1"))
		if _, err := w.Put(ctx, tn, "kv", []byte("key"), []byte("value")); err != nil {
			t.Fatalf("put into %s.kv: %v", tn, err)
		}
		c.waitWeakReadable(ctx, k, tn, "kv", 1)
	}

	// Expectations with every server up: the leader is s1 (z1); the client is in z2.
	leader := want{role: "LEADER", typ: "FULL", zone: "z1"}
	fullZ2 := want{role: "FOLLOWER", typ: "FULL", zone: "z2"}
	readonly := want{role: "FOLLOWER", typ: "READONLY", zone: "z4"}
	anyFull := want{typ: "FULL", anyOfRoles: true}
	up := map[string]map[client.ReadPreference]want{
		"strong": {
			client.Leader: leader, client.Follower: fullZ2, client.FollowerPreferred: fullZ2,
			client.LeaderAndFollower: anyFull, client.PreferLeader: leader, client.Closest: fullZ2,
			client.ClosestAdaptive: leader, client.ReadonlyFirst: fullZ2, client.ReadonlyOnly: {err: client.ErrInvalid},
		},
		"weak": {
			client.Leader: leader, client.Follower: fullZ2, client.FollowerPreferred: fullZ2,
			client.LeaderAndFollower: anyFull, client.PreferLeader: leader, client.Closest: fullZ2,
			client.ClosestAdaptive: leader, client.ReadonlyFirst: readonly, client.ReadonlyOnly: readonly,
		},
	}
	// Which replica serves when the tenant has no READONLY replica, where it differs.
	noReadonly := map[string]map[client.ReadPreference]want{
		"weak": {client.ReadonlyFirst: fullZ2, client.ReadonlyOnly: {err: client.ErrNoReplica}},
	}
	runMatrix(ctx, t, "all up", addrs, up, noReadonly, "")

	c.Kill("s1")
	for _, tn := range []string{"tr", "tf"} {
		// Wait until Locate, which the client routes by, names s3 too.
		c.waitLeaders(ctx, tn, "kv", 1, "on s3", func(r realcluster.ReplicaRow) bool { return r.Server == "s3" })
		c.waitLocatedLeader(ctx, k, tn, "kv", "s3")
		c.waitWeakReadable(ctx, k, tn, "kv", 1, "s2", "s3")
	}
	// With s1 down and s3 leading, the client in z2 has its FULL follower s2 in its zone.
	newLeader := want{role: "LEADER", typ: "FULL", zone: "z3"}
	follower := fullZ2
	inZ2 := fullZ2
	down := map[string]map[client.ReadPreference]want{
		"strong": {
			client.Leader: newLeader, client.Follower: follower, client.FollowerPreferred: follower,
			client.LeaderAndFollower: anyFull, client.PreferLeader: newLeader, client.Closest: inZ2,
			client.ClosestAdaptive: newLeader, client.ReadonlyFirst: follower, client.ReadonlyOnly: {err: client.ErrInvalid},
		},
		"weak": {
			// follower: locality order puts s2 (z2) or, when s2 leads, s3 (same region) before s4.
			client.Leader: newLeader, client.Follower: follower, client.FollowerPreferred: follower,
			client.LeaderAndFollower: anyFull, client.PreferLeader: newLeader, client.Closest: inZ2,
			client.ClosestAdaptive: newLeader, client.ReadonlyFirst: readonly, client.ReadonlyOnly: readonly,
		},
	}
	noReadonlyDown := map[string]map[client.ReadPreference]want{
		"weak": {client.ReadonlyFirst: follower, client.ReadonlyOnly: {err: client.ErrNoReplica}},
	}
	runMatrix(ctx, t, "s1 down", addrs, down, noReadonlyDown, "s1")
}

// waitLocatedLeader waits until Locate names server as the leader of every partition of
// tenant.table.
func (c *testCluster) waitLocatedLeader(ctx context.Context, k *kvConns, tenantName, table, server string) {
	c.t.Helper()
	c.WaitFor(ctx, fmt.Sprintf("Locate to name %s the leader of %s.%s", server, tenantName, table), func(ctx context.Context) (bool, string) {
		resp, err := k.locate(ctx, tenantName, table)
		if err != nil {
			return false, err.Error()
		}
		for _, l := range resp.Locations {
			for _, r := range l.Replicas {
				if r.Leader != (r.Server == server) {
					return false, fmt.Sprintf("partition %d: %v", l.Index, resp.Locations)
				}
			}
		}
		return true, ""
	})
}

// runMatrix reads "key" once per preference, consistency and tenant with a new client in z2.
func runMatrix(ctx context.Context, t *testing.T, state string, addrs []string, withR, withoutR map[string]map[client.ReadPreference]want, downServer string) {
	t.Helper()
	for _, tn := range []string{"tr", "tf"} {
		for _, cons := range []string{"strong", "weak"} {
			for p := client.Leader; p <= client.ReadonlyOnly; p++ {
				w := withR[cons][p]
				if o, ok := withoutR[cons][p]; ok && tn == "tf" {
					w = o
				}
				t.Run(fmt.Sprintf("%s/%s/%s/%v", state, tn, cons, p), func(t *testing.T) {
					cl, err := client.New(ctx, addrs, client.WithZone("z2"), client.WithRegion("r1"), client.WithTimeout(rpcTimeout))
					if err != nil {
						t.Fatal(err)
					}
					defer cl.Close()
					opts := []client.ReadOption{client.Prefer(p)}
					if cons == "weak" {
						opts = append(opts, client.Weak())
					}
					res, err := cl.Get(ctx, tn, "kv", []byte("key"), opts...)
					checkServed(t, w, res, err, downServer)
				})
			}
		}
	}
}

func checkServed(t *testing.T, w want, res client.Result, err error, downServer string) {
	t.Helper()
	m := res.Meta
	got := fmt.Sprintf("%s/%s/%s/%s (tried %d)", m.Server, m.Zone, m.Type, m.Role, m.Tried)
	if w.err != nil {
		if !errors.Is(err, w.err) {
			t.Fatalf("got %v, %s; want an error wrapping %v", err, got, w.err)
		}
		return
	}
	if err != nil {
		t.Fatalf("got error %v; want %s", err, w)
	}
	if !res.Found || string(res.Value) != "value" {
		t.Errorf("read found=%v value=%q, want the value written before", res.Found, res.Value)
	}
	if m.Type != w.typ || (!w.anyOfRoles && m.Role != w.role) || (w.zone != "" && m.Zone != w.zone) || m.Server == downServer {
		t.Errorf("served by %s; want %s", got, w)
	}
}
