// Package faults holds fault-injection tests that run a mixed workload on a real four-zone
// cluster of observers (examples/cluster.yaml's shape) while a nemesis skews clocks, kills,
// pauses, restarts and partitions servers, loses one server's packets one way and changes a
// tenant's locality, then checks what the clients saw.
//
// Two backends run the same workload, faults and checks:
//
//   - Docker (TestFaultsDocker): every server is a container of the project's image (Dockerfile,
//     FROM scratch, static binaries built by TestMain) on a network the test creates with its
//     own subnet, its data on a volume of its own. `docker network disconnect`/`connect` cuts and
//     heals all of a container's links, `docker pause`/`unpause` freezes it, an iptables rule in
//     its network namespace (nsenter) loses what it sends to some peers.
//   - Loopback (TestFaultsLoopback): every server is a process on an address of its own in
//     127.0.0.0/8 behind fault-injecting TCP and UDP proxies (test/internal/faultproxy,
//     realcluster.NewProxied), which cut links per direction; SIGSTOP/SIGCONT pause it.
//
// The checks: the strong history is linearizable (test/check, porcupine; the visualisation's
// path is printed on failure), weak reads and weak scans return the latest write at their read
// version within their staleness bound (test/check), every acknowledged write is still there
// (read back strongly, inside the checked history), every partition's replicas converge to one
// applied index, and leaders return to the preferred zones.
//
// FAULTS_LONG=1 runs several seeded rounds of the faults with longer holds; FAULTS_ONLY=text
// runs only the faults whose name contains text. docs/faults.md documents the suite, how to run
// it and what it does not cover.
package faults
