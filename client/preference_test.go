package client

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestParseReadPreference(t *testing.T) {
	for i, name := range preferenceNames {
		p, err := ParseReadPreference(strings.ToUpper(name))
		if err != nil || p != ReadPreference(i) || p.String() != name {
			t.Errorf("ParseReadPreference(%q) = %v, %v; want %s", name, p, err, name)
		}
	}
	if p, err := ParseReadPreference(""); err != nil || p != Leader {
		t.Errorf(`ParseReadPreference("") = %v, %v; want leader`, p, err)
	}
	_, err := ParseReadPreference("nearest")
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), `"nearest"`) {
		t.Errorf("ParseReadPreference(nearest) error = %v; want ErrInvalid naming the value", err)
	}
}

// replicas of the planner tests: the client is in zone z3, region r2.
func planReplicas() []candidate {
	mk := func(server, zone, region, typ string, leader bool) candidate {
		return candidate{replica: replica{server: server, zone: zone, region: region, typ: typ, leader: leader, alive: true}, fresh: true, healthy: true}
	}
	return []candidate{
		mk("s1", "z1", "r1", typeFull, true),
		mk("s2", "z2", "r1", typeFull, false),
		mk("s3", "z3", "r2", typeFull, false),
		mk("s4", "z4", "r2", typeReadonly, false),
		mk("s5", "z5", "r2", typeLogonly, false),
		mk("s7", "z7", "r3", typeReadonly, false),
	}
}

func servers(cs []candidate) string {
	var out []string
	for _, c := range cs {
		out = append(out, c.server)
	}
	return strings.Join(out, ",")
}

func TestPlanOrders(t *testing.T) {
	tests := []struct {
		pref   ReadPreference
		weak   bool
		size   int
		modify func([]candidate)
		want   string
		err    error
	}{
		{pref: Leader, want: "s1"},
		{pref: Leader, weak: true, want: "s1"},
		{pref: Follower, want: "s3,s2"},
		{pref: Follower, weak: true, want: "s3,s4,s2,s7"},
		{pref: FollowerPreferred, want: "s3,s2,s1"},
		{pref: FollowerPreferred, weak: true, want: "s3,s4,s2,s7,s1"},
		{pref: LeaderAndFollower, want: "s1,s2,s3"},
		{pref: LeaderAndFollower, weak: true, want: "s1,s2,s3,s4,s7"},
		{pref: PreferLeader, want: "s1,s3,s2"},
		{pref: PreferLeader, weak: true, want: "s1,s3,s4,s2,s7"},
		{pref: Closest, want: "s3,s1,s2"},
		{pref: Closest, weak: true, want: "s3,s4,s1,s2,s7"},
		{pref: ClosestAdaptive, size: 100, want: "s1,s3,s2"},
		{pref: ClosestAdaptive, size: 4096, want: "s3,s1,s2"},
		{pref: ReadonlyFirst, weak: true, want: "s4,s7,s3,s2,s1"},
		{pref: ReadonlyFirst, want: "s3,s2,s1"},
		{pref: ReadonlyOnly, weak: true, want: "s4,s7"},
		{pref: ReadonlyOnly, err: ErrInvalid},
		// No follower can serve: follower errs, follower-preferred falls back to the leader.
		{pref: Follower, modify: onlyLeader, err: ErrNoReplica},
		{pref: FollowerPreferred, modify: onlyLeader, want: "s1"},
		{pref: ReadonlyOnly, weak: true, modify: onlyLeader, err: ErrNoReplica},
		{pref: Leader, modify: func(cs []candidate) { cs[0].leader = false }, err: ErrNoReplica},
		// prefer-leader skips a failed leader, and a slow one.
		{pref: PreferLeader, modify: func(cs []candidate) { cs[0].healthy = false }, want: "s3,s2,s1"},
		{pref: PreferLeader, modify: latencies(5000, 1000), want: "s3,s2,s1"},
		{pref: PreferLeader, modify: latencies(2000, 1000), want: "s1,s3,s2"},
		// Known-stale replicas go after fresh ones, unhealthy ones last; order kept within.
		{pref: Closest, weak: true, modify: func(cs []candidate) { cs[2].fresh = false; cs[3].healthy = false }, want: "s1,s2,s7,s3,s4"},
		{pref: Leader, modify: func(cs []candidate) { cs[0].healthy = false }, want: "s1"},
	}
	for _, tt := range tests {
		cs := planReplicas()
		if tt.modify != nil {
			tt.modify(cs)
		}
		in := planInput{pref: tt.pref, zone: "z3", region: "r2", replicas: cs, sizeBytes: tt.size, threshold: 4096, slowFactor: 3}
		if tt.weak {
			in.consistency = WeakConsistency
		}
		got, err := plan(in)
		name := tt.pref.String() + "/" + in.consistency.String()
		if tt.err != nil {
			if !errors.Is(err, tt.err) || !strings.Contains(err.Error(), "read preference") {
				t.Errorf("%s: err = %v; want %v naming the rule", name, err, tt.err)
			}
			continue
		}
		if err != nil || servers(got) != tt.want {
			t.Errorf("%s: plan = %s, %v; want %s", name, servers(got), err, tt.want)
		}
		if slices.ContainsFunc(got, func(c candidate) bool { return c.typ == typeLogonly }) {
			t.Errorf("%s: a LOGONLY replica is a candidate", name)
		}
	}
}

func onlyLeader(cs []candidate) {
	for i := range cs {
		if !cs[i].leader {
			cs[i].typ = typeLogonly
		}
	}
}

func latencies(leader, followers float64) func([]candidate) {
	return func(cs []candidate) {
		for i := range cs {
			cs[i].samples = minLatencySamples
			cs[i].latency = followers
		}
		cs[0].latency = leader
	}
}

func TestPlanLeaderAndFollowerRotates(t *testing.T) {
	counts := map[string]int{}
	for rr := range uint64(300) {
		got, err := plan(planInput{pref: LeaderAndFollower, replicas: planReplicas(), rr: rr})
		if err != nil {
			t.Fatal(err)
		}
		counts[got[0].server]++
	}
	if counts["s1"] != 100 || counts["s2"] != 100 || counts["s3"] != 100 {
		t.Errorf("first choices = %v; want 100 each of s1, s2, s3", counts)
	}
}
