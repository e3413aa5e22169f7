package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"obkv/client"
)

// The failover benchmark's errors are counted per kill by kind, with one message of each, and a
// take starts over (the errors before a kill are not that kill's).
func TestKillErrorsTake(t *testing.T) {
	var e killErrors
	e.add(fmt.Errorf("write k1 to s1: %w", client.ErrOutcomeUnknown))
	if n, _, _ := e.take(); n != 1 {
		t.Fatalf("first take: %d errors; want 1", n)
	}
	e.add(fmt.Errorf("write k2 to s1: %w", client.ErrOutcomeUnknown))
	e.add(fmt.Errorf("write k3 to s1: %w", client.ErrOutcomeUnknown))
	e.add(fmt.Errorf("write k4: %w", context.DeadlineExceeded))
	n, kinds, examples := e.take()
	if n != 3 || kinds["outcome_unknown"] != 2 || kinds["timeout"] != 1 {
		t.Errorf("second take: %d errors, kinds %v; want 3: outcome_unknown 2, timeout 1", n, kinds)
	}
	if examples["outcome_unknown"] != "write k2 to s1: client: write outcome unknown" || examples["timeout"] != "write k4: context deadline exceeded" {
		t.Errorf("examples %q; want the first message of each kind since the last take", examples)
	}
	if n, kinds, _ := e.take(); n != 0 || kinds != nil {
		t.Errorf("take with nothing new: %d errors, kinds %v", n, kinds)
	}
}

// Bad bench flags are refused, naming the flag, the value and the rule, before the cluster is
// contacted: the cluster file's servers do not run here, so any error but the expected one (a
// refused connection, a timeout) fails the case.
func TestBenchRefusesBadFlags(t *testing.T) {
	refusedBeforeContact(t, []refusal{
		{[]string{"bench", "--tenant", "bad name!"}, `--tenant "bad name!": want a letter or '_', then letters, digits and '_', at most 59 bytes`},
		{[]string{"bench", "--tenant", strings.Repeat("t", 60)}, `at most 59 bytes (the bench adds _unit and _pool`},
		{[]string{"bench", "--locality", "garbage"}, `--locality: `},
		{[]string{"bench", "--locality", "F@z1,F@nosuch"}, `--locality "F@z1,F@nosuch": zone "nosuch" is not a zone of `},
		{[]string{"bench", "--primary-zone", "z1;nosuch"}, `--primary-zone "z1;nosuch": zone "nosuch" is not a zone of `},
		{[]string{"bench", "--primary-zone", ""}, `--primary-zone: `},
		{[]string{"bench", "--workload", "C", "--read-preference", "readonly-only"}, `--read-preference readonly-only: needs --consistency weak`},
		{[]string{"bench", "--max-staleness", "5s", "--consistency", "strong"}, `--max-staleness 5s: conflicts with --consistency strong`},
		{[]string{"bench", "--read-preference", "bogus"}, `--read-preference: read preference "bogus": not one of`},
		{[]string{"bench", "--scan-length", "-1"}, `--scan-length -1: want 1..10000`},
		{[]string{"bench", "--scan-length", "5", "--workload", "W"}, `--scan-length 5: only workload S scans (--workload W)`},
		{[]string{"bench", "--duration", "1ns"}, `--duration 1ns: want at least 100ms`},
		{[]string{"bench", "--tables", "64", "--partitions", "1024"}, `--tables 64 with --partitions 1024: 65536 partitions`},
		{[]string{"bench", "--distribution", "latest"}, `--distribution "latest": want zipfian or uniform`},
		// Accepted (enum flags ignore case): the run gets as far as contacting the cluster.
		{[]string{"bench", "--distribution", "Uniform", "--consistency", "Weak"}, `no server of the cluster completed it`},
		{[]string{"bench", "--concurrency", "4096", "--value-size", "1048576"}, `--concurrency 4096 with --value-size 1048576: the workers would hold about 5728 MiB`},
		{[]string{"bench", "--zone", "nosuch", "--read-preference", "closest"}, `--zone "nosuch": not a zone of ../../examples/cluster.yaml`},
		{[]string{"bench", "--explain"}, `unknown flag: --explain`},
		{[]string{"bench", "--version", "5"}, `unknown flag: --version`},
		{[]string{"bench", "failover", "--recover-timeout", "1ns"}, `--recover-timeout 1ns: want at least 1s`},
		{[]string{"bench", "failover", "--concurrency", "4096", "--value-size", "1048576"}, `--concurrency 4096 with --value-size 1048576: the writers would hold 4096 MiB of values`},
		{[]string{"bench", "failover", "--locality", "F@z1,X@z2"}, `--locality: `},
		{[]string{"bench", "failover", "--locality", "F@z1,F@z2,R@z3"}, `--locality: locality F@z1,F@z2,R@z3 has 2 voting replicas (2 FULL); failover needs at least 3`},
		{[]string{"bench", "failover", "--locality", "F@z1,L@z2,L@z3"}, `has 3 voting replicas (1 FULL); failover needs`},
	})
}

// With --skip-load the bench creates nothing: a missing tenant or table is an error naming it
// (an empty table made now would answer "not found" to every read), and no DDL is sent.
func TestBenchSkipLoadNeedsTheLoadedTables(t *testing.T) {
	for _, tc := range []struct {
		rows map[string]string
		want string
	}{
		{map[string]string{}, "--skip-load: tenant b does not exist"},
		{map[string]string{"tenants": `[{"name": "b", "locality": "F@z1,F@z2,F@z3"}]`,
			"tables": `[{"tenant": "b", "name": "usertable0", "partitions": 2}]`},
			"--skip-load: table b.usertable1 does not exist"},
	} {
		f := &fakeAdmin{rows: tc.rows}
		serveFake(t, f)
		s := benchSchema{tenant: "b", tables: 2, partitions: 2, primaryZone: "RANDOM", locality: "F@z1,F@z2,F@z3"}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second) // a regression creates, then waits for leaders
		_, err := s.ensure(ctx, true)
		cancel()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ensure with %v: %v; want an error containing %q", tc.rows, err, tc.want)
		}
		if f.calls != 0 {
			t.Errorf("ensure with %v sent %d DDL statements; want none", tc.rows, f.calls)
		}
	}
}
