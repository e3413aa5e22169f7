package server

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"obkv/config"
)

// TestCheckIdentity: a data_dir takes the identity of the server first started on it, and is
// refused under any other (naming what differs); a damaged identity file is refused too.
func TestCheckIdentity(t *testing.T) {
	dir := t.TempDir()
	me := config.Identity{Cluster: "c", Server: "s3", ID: 3, Zone: "z3"}
	if err := checkIdentity(dir, me); err != nil {
		t.Fatalf("first start: %v", err)
	}
	if err := checkIdentity(dir, me); err != nil {
		t.Fatalf("second start, same file: %v", err)
	}
	for _, tc := range []struct {
		what string
		edit func(*config.Identity)
		want string
	}{
		{"cluster renamed", func(i *config.Identity) { i.Cluster = "other" }, `cluster "c", not "other"`},
		{"server renamed", func(i *config.Identity) { i.Server = "s3x" }, `server "s3", not "s3x"`},
		{"a server inserted before it", func(i *config.Identity) { i.ID = 4 }, "id 3 (position 3 in the cluster file), not 4"},
		{"zone moved", func(i *config.Identity) { i.Zone = "z4" }, `zone "z3", not "z4"`},
	} {
		other := me
		tc.edit(&other)
		err := checkIdentity(dir, other)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), dir) {
			t.Errorf("%s: %v; want a refusal naming the data_dir and %q", tc.what, err, tc.want)
		}
	}
	path := filepath.Join(dir, config.IdentityFile)
	for _, damaged := range []string{"", "cluster=c\nserver=s3\n", "cluster=c\nserver=s3\nid=x\nzone=z3\n", "cluster=c\ncluster=d\nid=3\nzone=z3\n", "garbage"} {
		if err := os.WriteFile(path, []byte(damaged), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := checkIdentity(dir, me); err == nil || !strings.Contains(err.Error(), "damaged") {
			t.Errorf("identity file %q: %v; want it refused as damaged", damaged, err)
		}
	}
}
