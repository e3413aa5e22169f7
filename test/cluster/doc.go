// Package cluster holds end-to-end tests that run real observer processes on loopback and drive
// them with the obctl binary (`-o json`): bootstrap and full restart, DDL validation messages,
// leader placement per primary_zone, failover after SIGKILL and return after restart, primary
// zone changes and switch-leader, and the leadership handover on SIGTERM.
//
// TestMain builds cmd/observer and cmd/obctl once (without -race) into a temporary directory;
// each test writes its own cluster file with free loopback ports into t.TempDir(), starts the
// servers in their own process groups and kills them on cleanup. Every wait polls a condition
// with a deadline; a failing test prints the tail of each server's observer.log.
//
// The package is skipped under -short.
package cluster
