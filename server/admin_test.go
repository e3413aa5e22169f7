package server

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"obkv/replica"
	"obkv/rootservice"
	"obkv/tenant"
)

// TestAdminStatusCodes: an admin error's code says what a client may do with it, whatever
// words its message holds (a tenant named "Unavailable" once made obctl retry its "does not
// exist" for the whole --timeout).
func TestAdminStatusCodes(t *testing.T) {
	wrap := func(sentinel error, msg string) error { return fmt.Errorf("%s: %w", msg, sentinel) }
	for _, tc := range []struct {
		err  error
		code codes.Code
	}{
		{wrap(tenant.ErrNotFound, `tenant "Unavailable" does not exist`), codes.NotFound},
		{wrap(tenant.ErrInvalid, `locality "not leader": replica "not leader" is not TYPE@ZONE`), codes.InvalidArgument},
		{wrap(tenant.ErrExists, `unit "u" already exists`), codes.AlreadyExists},
		{wrap(tenant.ErrInUse, `unit "u" is used by resource pools p1`), codes.FailedPrecondition},
		{wrap(rootservice.ErrBadArgs, "create-unit: json"), codes.InvalidArgument},
		{wrap(rootservice.ErrUnknownOp, `"frob"`), codes.InvalidArgument},
		{rootservice.ErrNotLeading, codes.Unavailable},
		{wrap(replica.ErrNotLeader, "save meta"), codes.Unavailable},
		{wrap(replica.ErrOutcomeUnknown, "save meta"), codes.Unknown},
		{wrap(context.DeadlineExceeded, "save meta"), codes.DeadlineExceeded},
		{status.Error(codes.Unavailable, "forwarded"), codes.Unavailable},
		{errors.New("something else"), codes.Unknown},
	} {
		got := adminStatus(tc.err)
		if status.Code(got) != tc.code {
			t.Errorf("adminStatus(%v) = %v; want code %v", tc.err, got, tc.code)
		}
		if _, isStatus := status.FromError(tc.err); !isStatus && status.Convert(got).Message() != tc.err.Error() {
			t.Errorf("adminStatus(%v) says %q; want the message unchanged", tc.err, status.Convert(got).Message())
		}
	}
}
