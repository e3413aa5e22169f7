// Package check holds the checkers that end-to-end tests run over what their clients saw:
//
//   - Linearizability of strong operations (DESIGN.md invariant 5, first half): a [History]
//     records concurrent Puts, Deletes and Gets with their call and return times, and
//     [History.Check] runs porcupine (github.com/anishathalye/porcupine) over it with [KVModel],
//     a register per key. A write whose outcome is unknown (timeout, "write outcome unknown", a
//     server that died mid-call) is recorded as possibly applied: its return time is the end of
//     the history, so the checker may place it anywhere after its call, including after every
//     other operation, where it has no visible effect. A read that failed is left out. When the
//     history is not linearizable, Check writes porcupine's HTML visualisation to a temporary
//     file and returns its path.
//   - Weak reads (invariant 5, second half): [CheckWeakReads] takes every acknowledged write
//     (key, value, version) and every weak read (key, result, read version, staleness, bound,
//     client, client order) and reports each read that returns something other than the latest
//     write at or below its read version, that is staler than its bound, or whose read version
//     is below that of an earlier read of the same client on the same partition.
//
// Each checker has tests that feed it known-bad histories and expect them to be caught
// (STYLE.md rule 4), next to tests of good histories it must accept.
//
// The package is a normal (non-test) package so that test packages anywhere can use it; it
// starts no goroutines and holds no global state. History is safe for concurrent use.
package check
