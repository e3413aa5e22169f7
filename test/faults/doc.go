// Package faults holds fault-injection tests that run a mixed workload on a real four-zone
// cluster of observers (examples/cluster.yaml's shape) while a nemesis kills, pauses, restarts
// and partitions servers and changes a tenant's locality, then checks what the clients saw.
//
// Two backends run the same workload and the same checks:
//
//   - Docker (TestFaultsDocker): every server is a container of the project's image (Dockerfile,
//     FROM scratch, static binaries built by TestMain) on a network the test creates with its
//     own subnet. Network faults are Docker's own: `docker network disconnect`/`connect` cuts
//     and heals all of a container's links, `docker pause`/`unpause` freezes it.
//   - Loopback (TestFaultsLoopback): every server is a process on 127.0.0.1. Process faults only
//     (SIGKILL, SIGSTOP/SIGCONT, restart, locality change): there is no network fault here.
//
// The checks: the strong history is linearizable (test/check, porcupine; the visualisation's
// path is printed on failure), weak reads and weak scans return the latest write at their read
// version within their staleness bound (test/check), every acknowledged write is still there
// (read back strongly, inside the checked history), every partition's replicas converge to one
// applied index, and leaders return to the preferred zones.
//
// FAULTS_LONG=1 runs several seeded rounds of the faults with longer holds. docs/faults.md
// documents the suite, how to run it and what it does not cover.
package faults
