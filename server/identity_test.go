package server

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckIdentity: a data_dir takes the identity of the server first started on it, and is
// refused under any other (naming what differs); a damaged identity file is refused too.
func TestCheckIdentity(t *testing.T) {
	dir := t.TempDir()
	me := identity{cluster: "c", server: "s3", id: 3, zone: "z3"}
	if err := checkIdentity(dir, me); err != nil {
		t.Fatalf("first start: %v", err)
	}
	if err := checkIdentity(dir, me); err != nil {
		t.Fatalf("second start, same file: %v", err)
	}
	for _, tc := range []struct {
		what string
		edit func(*identity)
		want string
	}{
		{"cluster renamed", func(i *identity) { i.cluster = "other" }, `cluster "c", not "other"`},
		{"server renamed", func(i *identity) { i.server = "s3x" }, `server "s3", not "s3x"`},
		{"a server inserted before it", func(i *identity) { i.id = 4 }, "id 3 (position 3 in the cluster file), not 4"},
		{"zone moved", func(i *identity) { i.zone = "z4" }, `zone "z3", not "z4"`},
	} {
		other := me
		tc.edit(&other)
		err := checkIdentity(dir, other)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), dir) {
			t.Errorf("%s: %v; want a refusal naming the data_dir and %q", tc.what, err, tc.want)
		}
	}
	path := filepath.Join(dir, identityFile)
	for _, damaged := range []string{"", "cluster=c\nserver=s3\n", "cluster=c\nserver=s3\nid=x\nzone=z3\n", "cluster=c\ncluster=d\nid=3\nzone=z3\n", "garbage"} {
		if err := os.WriteFile(path, []byte(damaged), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := checkIdentity(dir, me); err == nil || !strings.Contains(err.Error(), "damaged") {
			t.Errorf("identity file %q: %v; want it refused as damaged", damaged, err)
		}
	}
}
