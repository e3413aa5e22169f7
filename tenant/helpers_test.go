package tenant

import (
	"errors"
	"testing"
)

// checkErr asserts err matches kind with errors.Is and, when msg is not empty, has exactly that
// text. A nil kind asserts no error.
func checkErr(t *testing.T, err error, kind error, msg string) {
	t.Helper()
	if kind == nil {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("want error %q (%v), got nil", msg, kind)
	}
	if !errors.Is(err, kind) {
		t.Errorf("error %q does not match %v", err, kind)
	}
	for _, other := range []error{ErrInvalid, ErrNotFound, ErrExists, ErrInUse} {
		if other != kind && errors.Is(err, other) {
			t.Errorf("error %q also matches %v", err, other)
		}
	}
	if msg != "" && err.Error() != msg {
		t.Errorf("error text\n got: %s\nwant: %s", err, msg)
	}
}

// topo3 is three zones with two servers each, plus a fourth zone z4 with one server.
func testTopology() Topology {
	return Topology{Zones: []ZoneInfo{
		{Name: "z1", Region: "r1", Servers: []string{"s1a", "s1b"}},
		{Name: "z2", Region: "r1", Servers: []string{"s2a", "s2b"}},
		{Name: "z3", Region: "r2", Servers: []string{"s3a", "s3b"}},
		{Name: "z4", Region: "r2", Servers: []string{"s4a"}},
	}}
}
