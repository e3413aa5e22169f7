// Package client is the Go client of obkv: it locates a table's partitions, hashes each key to
// its partition (tenant.PartitionOf), sends writes to the partition's leader and reads to the
// replica its read preference picks, and retries only what is safe.
//
//	cl, err := client.New(ctx, []string{"10.0.0.1:2882", "10.0.0.2:2882"},
//		client.WithZone("z1"), client.WithRegion("east"), client.WithReadPreference(client.Closest))
//	v, err := cl.Put(ctx, "t1", "users", key, value)
//	res, err := cl.Get(ctx, "t1", "users", key, client.MaxStaleness(5*time.Second))
//	// res.Meta says who served it: server, zone, type, role, read version, staleness, tries.
//
// # Routing
//
// Locate(tenant, table) answers the partition count and every partition's replicas (server,
// zone, region, address, type, leader flag, alive, readable version). The client caches it per
// table and fetches it again after WithLocationTTL, on "not leader", on NotFound (a replica
// moved) and after connection errors. One grpc.ClientConn per server address is shared by all
// calls, and on it one KV.Stream carries every Write and Get, batched while calls queue up (a
// unary RPC per call costs the server and the client several times the CPU; WithUnaryCalls
// turns this off, and a server without KV.Stream is served unary). Each Get and each
// partition of a Scan goes to the server of the replica the read preference orders first;
// ReadPreference documents every order and fallback, docs/reads.md
// the whole read model.
//
// Consistency: a strong read (the default) is linearizable, served by the leader or by a FULL
// follower through ReadIndex; READONLY replicas serve only weak reads and LOGONLY replicas no
// reads. A weak read is served at a replica's readable version; MaxStaleness bounds how old
// that may be, AtVersion pins it. The client remembers each replica's last-seen readable
// version (from Locate and from every read's meta) and tries replicas known to satisfy the
// bound first, without an extra round trip; a replica that answers "replica not readable" is
// followed by the next one the preference allows, and Meta.Tried counts the attempts.
//
// A weak Scan reads every partition at one snapshot version (the newest that a replica of every
// partition is known to have made readable), so it is one consistent cut. A strong Scan is a
// linearizable read per partition and per page, not one snapshot.
//
// # Errors and retries
//
// The contract with the server (server/kv.go), by gRPC status:
//
//   - FailedPrecondition "not leader[: ...][ (leader is SERVER)]": nothing was proposed, or (a
//     strong read) no serving leader confirmed the read index. Reads and writes refresh the
//     location and retry, going to SERVER first; without a SERVER, or when SERVER was found
//     down (a follower names a dead leader until its lease runs out), they wait for the election.
//   - FailedPrecondition "replica not readable": a weak read's replica is too stale or below
//     the snapshot version; the read tries the next replica. All refused: ErrNotReadable.
//   - NotFound: the server has no such tenant, table or replica: refresh and retry; from
//     Locate it means the table does not exist (ErrNotFound).
//   - Unavailable "the root service is not available ..." from Locate: the meta partition is
//     changing leader. A call with no location cached for its table asks the servers again
//     (50 ms doubling to 400 ms) for up to 3 s or its deadline; with one cached it goes on with
//     that. The server is not demoted.
//   - InvalidArgument: never retried (ErrInvalid).
//   - Unavailable: the server is down; it is demoted for WithFailureCooldown. A read tries the
//     next replica. A write is retried only when the connection was never established ("Error
//     while dialing", connection refused): the request cannot have been sent.
//   - Unknown or DeadlineExceeded ("write outcome unknown"): never retried.
//
// Reads are idempotent, so any replica error is retried on the next candidate, up to
// WithMaxAttempts attempts and a few location refreshes. A leader read that finds no leader (an
// election, servers just started), and a strong read refused "not leader" with no leader named,
// wait for one as a write does: 10 ms doubling to 50 ms between looks, up to about 5 s or its
// deadline, the refusals not counted as attempts. A write's outcome is UNKNOWN — the
// error wraps ErrOutcomeUnknown and the write may or may not be applied — when:
//
//   - the server answers Unknown or DeadlineExceeded ("write outcome unknown": proposed, not
//     known to be committed);
//   - the connection breaks after the request was written (Unavailable "transport is closing",
//     "error reading from server"), or the server itself answers Unavailable;
//   - the call's context ends (deadline or cancel) while the request is in flight;
//   - any other status the contract does not name.
//
// The client never retries these (a blind retry could apply a batch twice, at two versions).
// Read the keys back to learn the outcome. Writes refused with "not leader", NotFound,
// InvalidArgument or another FailedPrecondition were not applied.
//
// Errors are lowercase, name the tenant/table, key, partition and servers involved and the rule,
// and wrap the package's sentinels (ErrOutcomeUnknown, ErrNoReplica, ErrNotReadable,
// ErrCrossPartition, ErrInvalid, ErrNotFound, ErrNoServer, ErrClosed): test with errors.Is.
//
// # Invariants
//
//   - A write is sent only to a replica cached or named as leader, at most WithMaxAttempts
//     times, and re-sent only after an answer that proves it was not applied.
//   - An atomic batch is sent only when every key hashes to one partition.
//   - A strong read never goes to a READONLY or LOGONLY replica; a weak read never to LOGONLY.
//   - A weak scan's partitions are all read at the same snapshot version, one every chosen
//     replica is known to have made readable (readable versions never go back).
//   - The client starts no goroutine that outlives a call; Close releases every connection.
package client
