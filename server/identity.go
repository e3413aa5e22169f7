package server

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"obkv/config"
)

// checkIdentity makes sure dataDir belongs to want, writing want into a data_dir that has no
// identity yet (a new server, or one whose data_dir predates the file). Any difference is
// refused, naming the field.
func checkIdentity(dataDir string, want config.Identity) error {
	have, ok, err := config.ReadIdentity(dataDir)
	if err != nil {
		return err
	}
	if !ok {
		return writeDurably(dataDir, config.IdentityFile, want.Encode())
	}
	var diff []string
	if have.Cluster != want.Cluster {
		diff = append(diff, fmt.Sprintf("cluster %q, not %q", have.Cluster, want.Cluster))
	}
	if have.Server != want.Server {
		diff = append(diff, fmt.Sprintf("server %q, not %q", have.Server, want.Server))
	}
	if have.ID != want.ID {
		diff = append(diff, fmt.Sprintf("id %d (position %d in the cluster file), not %d", have.ID, have.ID, want.ID))
	}
	if have.Zone != want.Zone {
		diff = append(diff, fmt.Sprintf("zone %q, not %q", have.Zone, want.Zone))
	}
	if len(diff) == 0 {
		return nil
	}
	return fmt.Errorf("data_dir %s is %s (%s), but the cluster file makes it %s: %s. "+
		"Servers may be appended to a cluster file, never renamed, reordered, moved to another zone or into another cluster: "+
		"restore the file, or clear this data directory (and its clog_dir) to start the server afresh (its replicas then recover from their peers)",
		dataDir, have, filepath.Join(dataDir, config.IdentityFile), want, strings.Join(diff, "; "))
}

// writeDurably writes name in dir with text: the file and its directory entry synced.
func writeDurably(dir, name, text string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	path := filepath.Join(dir, name)
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	_, err = f.WriteString(text)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err == nil {
		err = syncDir(dir)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
