package client

import (
	"errors"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Sentinel errors. Every error the client returns names its subject (tenant/table, key,
// partition, server) and the rule that failed, and wraps one or more of these; test them with
// errors.Is.
var (
	// ErrOutcomeUnknown: a write may or may not have been applied (the request may have reached
	// the leader before the error). The client never retries such a write; read the key back
	// to find out.
	ErrOutcomeUnknown = errors.New("client: write outcome unknown")
	// ErrNoReplica: no replica that the read preference allows could serve the request
	// (none exists, or every one tried failed).
	ErrNoReplica = errors.New("client: no replica can serve")
	// ErrNotReadable: every replica tried refused a weak read because its readable version is
	// staler than max_staleness or below the snapshot version.
	ErrNotReadable = errors.New("client: replica not readable")
	// ErrCrossPartition: an atomic batch names keys of more than one partition.
	ErrCrossPartition = errors.New("client: batch spans partitions")
	// ErrInvalid: a bad argument or option, or a request the server rejected as invalid
	// (InvalidArgument); never retried.
	ErrInvalid = errors.New("client: invalid request")
	// ErrNotFound: the tenant or table does not exist.
	ErrNotFound = errors.New("client: not found")
	// ErrNoServer: New could reach none of the given addresses.
	ErrNoServer = errors.New("client: no server reachable")
	// ErrClosed: the client was closed.
	ErrClosed = errors.New("client: closed")
)

// errClass is what the client does with a server error. The contract with server/kv.go is
// in doc.go ("Errors and retries").
type errClass int

const (
	classOther       errClass = iota // unclassified: retry a read elsewhere; a write's outcome is unknown
	classNotLeader                   // FailedPrecondition "not leader": nothing was proposed
	classNotReadable                 // FailedPrecondition "replica not readable"
	classNotFound                    // NotFound: the location cache is wrong
	classInvalid                     // InvalidArgument: never retry
	classUndelivered                 // Unavailable before a connection existed: never delivered
	classDown                        // Unavailable after the request may have been delivered
	classUnknown                     // "write outcome unknown" from the server, or a deadline
	classRejected                    // another FailedPrecondition: the server refused it
	classContext                     // the caller's context ended
)

func classify(err error) errClass {
	st, ok := status.FromError(err)
	if !ok {
		return classOther
	}
	msg := st.Message()
	switch st.Code() {
	case codes.FailedPrecondition:
		switch {
		case strings.HasPrefix(msg, "not leader"):
			return classNotLeader
		case strings.HasPrefix(msg, "replica not readable"):
			return classNotReadable
		}
		return classRejected
	case codes.NotFound:
		return classNotFound
	case codes.InvalidArgument:
		return classInvalid
	case codes.Unavailable:
		if undelivered(msg) {
			return classUndelivered
		}
		return classDown
	case codes.Unknown, codes.DeadlineExceeded:
		return classUnknown
	case codes.Canceled:
		return classContext
	}
	return classOther
}

// undelivered reports whether an Unavailable message from grpc-go says the connection was
// never established, so the request cannot have reached the server. grpc-go words every
// dial failure "transport: Error while dialing" (internal/transport/http2_client.go); a
// connection that breaks after the request was written reads "transport is closing" or
// "error reading from server", which are not in this list on purpose.
func undelivered(msg string) bool {
	for _, s := range []string{"Error while dialing", "connect: connection refused", "produced zero addresses", notSentMsg} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// leaderHint extracts SERVER from a "not leader: leader is SERVER" message, or "".
func leaderHint(err error) string {
	st, ok := status.FromError(err)
	if !ok {
		return ""
	}
	msg := st.Message()
	const marker = "leader is "
	i := strings.LastIndex(msg, marker)
	if i < 0 {
		return ""
	}
	s := msg[i+len(marker):]
	if j := strings.IndexAny(s, " ,;)"); j >= 0 {
		s = s[:j]
	}
	return s
}

// statusText is the message of a gRPC error without the "rpc error: code = X desc =" frame.
func statusText(err error) string {
	if st, ok := status.FromError(err); ok {
		return st.Code().String() + ": " + st.Message()
	}
	return err.Error()
}
