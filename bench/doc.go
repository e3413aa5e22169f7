// Package bench is the engine of `obctl bench`: YCSB-like workloads against a key-value store,
// latency histograms, reports, and the bookkeeping of the failover benchmark.
//
// It knows nothing of obkv's client: the runner drives a Store, a three-method interface the
// caller adapts its client to (cmd/obctl/bench.go adapts client.Client; MapStore is the
// in-memory twin used by the tests). So everything here is testable without a cluster.
//
// # Workloads
//
// As YCSB's core workloads (Cooper et al., "Benchmarking Cloud Serving Systems with YCSB",
// SoCC 2010), with W and S added:
//
//	A  50% read, 50% update          (YCSB A)
//	B  95% read,  5% update          (YCSB B)
//	C  100% read                     (YCSB C)
//	W  100% update                   (write-only)
//	S  95% short scan, 5% insert     (YCSB E)
//
// Record i is key KeyName(i, keySize) in table Tables[i % len(Tables)]. The load phase puts
// records 0..Records-1; inserts of workload S take fresh indexes after them. Reads, updates
// and scan starts pick a record by the key distribution: zipfian (YCSB's default, theta 0.99,
// scrambled by an FNV hash so the hot records are spread over the key space and partitions, as
// YCSB's ScrambledZipfianGenerator) or uniform.
//
// # Measurement
//
// Every worker records the latency of each successful operation, in microseconds, in its own
// HDR histogram per operation type (1 µs to 60 s, 3 significant digits); they are merged for
// the progress line and the report. A failed operation is not a latency sample: it is counted
// by its kind (Config.Classify). Operations cut short by the end of the run are not counted.
//
// # Invariants
//
//   - Every random source is seeded from Config.Seed (worker w uses Seed+w), so a run's operation
//     sequence per worker is reproducible; time comes from Config.Now.
//   - The runner starts exactly Config.Concurrency workers and no goroutine outlives Run or Load.
//   - The counts of a report add up: per operation, Count + Errors is every operation attempted
//     and completed before the end of the run.
package bench
