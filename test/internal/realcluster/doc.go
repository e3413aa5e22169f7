// Package realcluster is the harness shared by the suites that run real observer processes on
// loopback (test/cluster, test/data and the loopback backend of test/faults).
//
// Contract:
//
//   - Binaries: a suite's TestMain calls Main (or Build and Binaries.Remove) once; it compiles
//     cmd/observer and cmd/obctl of this module into a fresh temporary directory, without -race
//     even when the tests are (race builds of four to six servers slow elections and leases past
//     what two cores keep up with). Every other function reads the result through Bins and must
//     not run before Build has succeeded.
//   - Ports: FreePorts hands out distinct loopback ports free for both TCP and UDP at the moment
//     of the call, below the kernel's ephemeral range. It cannot reserve them: a port can still
//     be taken between the call and the observer's bind.
//   - Clusters: New writes a cluster file into t.TempDir() and starts nothing. Each server runs
//     in its own process group with stdout and stderr appended to data_dir/observer.log. Every
//     process a Cluster starts is killed (SIGKILL to the group) and reaped by the cleanup New
//     registers; when the test failed, that cleanup also logs the tail of every server's log.
//     Methods that fail call t.Fatal, so they must run on the test's goroutine.
//   - Proxies: NewProxied gives every server an address of its own in 127.0.0.0/8 and puts
//     fault-injecting proxies (test/internal/faultproxy) in front of its rpc_addr and
//     gossip_addr; the observer listens behind them (--rpc-listen, --gossip-listen) and dials
//     its peers from its own address. Isolate and Heal cut and restore every link of a server;
//     Net cuts single directions. Clients and obctl go through the proxies as node Client.
//     SetArgs gives a server extra observer flags (--clock-offset) for its next starts.
//   - obctl: Run and Ctl run obctl with the cluster file and --timeout ObctlTimeout; Ctl adds
//     -o json and decodes stdout. A non-zero exit is a *CtlError.
//   - Waiting: no helper sleeps for a fixed time to wait for something; WaitFor polls a
//     condition every PollInterval until a context's deadline, and fails at once if a server
//     exited without the test stopping it.
//
// The package is not a test package so that the three suites share one copy; it imports
// "testing" and is only ever linked into test binaries.
package realcluster
