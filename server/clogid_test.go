package server

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"obkv/config"
)

// openOnly opens a server's directories, clog and sstable as New does, without running it;
// close releases them.
func openOnly(t *testing.T, dir, clogDir string) (*Server, error) {
	t.Helper()
	line := fmt.Sprintf("  - {name: s1, zone: z1, rpc_addr: 127.0.0.1:1, gossip_addr: 127.0.0.1:2, data_dir: %s", filepath.Join(dir, "data"))
	if clogDir != "" {
		line += ", clog_dir: " + clogDir
	}
	cl, err := config.Parse([]byte("cluster: c\nregions: [{name: r1, zones: [z1]}]\nservers:\n"+line+"}\n"), "c.yaml", dir)
	if err != nil {
		t.Fatal(err)
	}
	return New(cl, "s1", nil)
}

func closeOnly(t *testing.T, s *Server) {
	t.Helper()
	if err := errors.Join(s.clog.Close(), s.store.Close()); err != nil {
		t.Fatal(err)
	}
	s.unlock()
}

// A clog_dir elsewhere holds the clog; a server whose clog_dir points at an empty directory
// (the clog moved, its files not) refuses to start rather than forget its promises, and starts
// again once clog_dir points at the clog; two servers never share one clog.
func TestClogDirHoldsTheClog(t *testing.T) {
	dir := t.TempDir()
	logs := filepath.Join(dir, "disk2", "s1")
	s, err := openOnly(t, dir, logs)
	if err != nil {
		t.Fatal(err)
	}
	segs, _ := filepath.Glob(filepath.Join(logs, "*.clog"))
	if len(segs) == 0 {
		t.Fatalf("no clog segment in clog_dir %s", logs)
	}
	if _, err := os.Stat(filepath.Join(dir, "data", "clog")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("data_dir/clog exists beside a clog_dir elsewhere: %v", err)
	}
	if _, err := openOnly(t, t.TempDir(), logs); err == nil || !strings.Contains(err.Error(), "is in use by another observer") {
		t.Fatalf("a second server on the same clog_dir: %v, want it refused", err)
	}
	closeOnly(t, s)

	moved := filepath.Join(dir, "disk3", "s1")
	_, err = openOnly(t, dir, moved)
	if err == nil || !strings.Contains(err.Error(), "holds no clog of this server") {
		t.Fatalf("start on an empty clog_dir after a run: %v, want it refused", err)
	}
	// The refused start left an empty directory (and its lock file) there; the clog moves in.
	if err := os.RemoveAll(moved); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(logs, moved); err != nil {
		t.Fatal(err)
	}
	s, err = openOnly(t, dir, moved)
	if err != nil {
		t.Fatalf("start with clog_dir where the clog was moved: %v", err)
	}
	closeOnly(t, s)

	other := t.TempDir()
	s, err = openOnly(t, other, "")
	if err != nil {
		t.Fatal(err)
	}
	closeOnly(t, s)
	_, err = openOnly(t, other, moved)
	if err == nil || !strings.Contains(err.Error(), "holds another server's clog") {
		t.Fatalf("start on another server's clog: %v, want it refused", err)
	}
}

// The ids: new on both sides, kept, adopted by a data_dir that lacks one beside a clog that has
// no segment yet (a crash between the two writes), refused beside a clog that ran, refused when
// damaged.
func TestCheckClogID(t *testing.T) {
	data, logs := t.TempDir(), t.TempDir()
	if err := checkClogID(data, logs); err != nil {
		t.Fatal(err)
	}
	id, _ := readClogID(data)
	if lid, _ := readClogID(logs); id == "" || lid != id {
		t.Fatalf("ids after the first start: data %q, clog %q", id, lid)
	}
	if err := checkClogID(data, logs); err != nil {
		t.Fatalf("second start: %v", err)
	}
	if err := os.Remove(filepath.Join(data, clogIDFile)); err != nil {
		t.Fatal(err)
	}
	if err := checkClogID(data, logs); err != nil {
		t.Fatalf("start after a crash between the writes: %v", err)
	}
	if got, _ := readClogID(data); got != id {
		t.Fatalf("data_dir's id after the crash %q, want the clog's %q", got, id)
	}
	// A data directory lost (or new) beside a clog that ran: refused.
	if err := os.WriteFile(filepath.Join(logs, "0000000000000001.clog"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(data, clogIDFile)); err != nil {
		t.Fatal(err)
	}
	if err := checkClogID(data, logs); err == nil || !strings.Contains(err.Error(), "the data directory is new or was lost") {
		t.Fatalf("a new data_dir beside a clog that ran: %v, want it refused", err)
	}
	if err := os.WriteFile(filepath.Join(logs, clogIDFile), []byte("nonsense\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := checkClogID(data, logs); err == nil || !strings.Contains(err.Error(), "is not 32 hex digits") {
		t.Fatalf("a damaged id: %v", err)
	}
}
