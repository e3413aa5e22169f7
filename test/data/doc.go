// Package data holds end-to-end tests of the data path on real observer processes on loopback:
// linearizability of strong reads and writes while leaders move (SIGKILL and restart of the
// leaders' server, switch-leader), weak reads from READONLY and FULL followers checked for
// staleness and monotonic versions, every read preference of the client against tenants with
// and without a READONLY replica, with every server up and with the leaders' server down, and
// measurements (READONLY staleness, the spread of leader-and-follower reads, the cost of a
// ReadIndex read over a leader read) reported with t.Logf.
//
// The checkers are in obkv/test/check. The cluster harness (harness_test.go) is a lean copy of
// test/cluster's: TestMain builds cmd/observer and cmd/obctl once, without -race; each test
// writes its own cluster file with free loopback ports, starts servers in their own process
// groups and kills them at cleanup. Every wait polls a condition with a deadline.
//
// The package is skipped under -short.
package data
