package server

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"obkv/paxos"
)

// identityFile names the file in a data_dir that says whose it is: the cluster, the server, its
// replica ID (its position in the cluster file) and its zone, written at the server's first
// start. The cluster file is read afresh at every start, and an edit to it (a server renamed,
// inserted before others, two swapped, a zone changed, a data_dir pasted into another cluster's
// file) would otherwise make the directory's Paxos state run under another identity: the
// root service rewrote groups' memberships after a server was inserted at the front.
const identityFile = "SERVER"

// identity is what identityFile records.
type identity struct {
	cluster, server, zone string
	id                    paxos.ID
}

func (i identity) String() string {
	return fmt.Sprintf("server %q (id %d, zone %q) of cluster %q", i.server, i.id, i.zone, i.cluster)
}

func (i identity) encode() string {
	return fmt.Sprintf("cluster=%s\nserver=%s\nid=%d\nzone=%s\n", i.cluster, i.server, i.id, i.zone)
}

func decodeIdentity(path, text string) (identity, error) {
	var i identity
	seen := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
		k, v, ok := strings.Cut(line, "=")
		if !ok || seen[k] {
			return identity{}, fmt.Errorf("%s: line %q: the file is damaged (it records the cluster, server, id and zone this data directory belongs to)", path, line)
		}
		seen[k] = true
		switch k {
		case "cluster":
			i.cluster = v
		case "server":
			i.server = v
		case "zone":
			i.zone = v
		case "id":
			if _, err := fmt.Sscan(v, &i.id); err != nil || i.id == 0 {
				return identity{}, fmt.Errorf("%s: id %q is not a server id: the file is damaged", path, v)
			}
		default:
			return identity{}, fmt.Errorf("%s: unknown key %q: the file is damaged, or written by a newer obkv", path, k)
		}
	}
	if len(seen) != 4 {
		return identity{}, fmt.Errorf("%s: %d of the keys cluster, server, id and zone: the file is damaged", path, len(seen))
	}
	return i, nil
}

// checkIdentity makes sure dataDir belongs to want, writing want into a data_dir that has no
// identity yet (a new server, or one whose data_dir predates the file). Any difference is
// refused, naming the field.
func checkIdentity(dataDir string, want identity) error {
	path := filepath.Join(dataDir, identityFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return writeDurably(dataDir, identityFile, want.encode())
	}
	if err != nil {
		return fmt.Errorf("server identity: %w", err)
	}
	have, err := decodeIdentity(path, string(b))
	if err != nil {
		return err
	}
	var diff []string
	if have.cluster != want.cluster {
		diff = append(diff, fmt.Sprintf("cluster %q, not %q", have.cluster, want.cluster))
	}
	if have.server != want.server {
		diff = append(diff, fmt.Sprintf("server %q, not %q", have.server, want.server))
	}
	if have.id != want.id {
		diff = append(diff, fmt.Sprintf("id %d (position %d in the cluster file), not %d", have.id, have.id, want.id))
	}
	if have.zone != want.zone {
		diff = append(diff, fmt.Sprintf("zone %q, not %q", have.zone, want.zone))
	}
	if len(diff) == 0 {
		return nil
	}
	return fmt.Errorf("data_dir %s is %s (%s), but the cluster file makes it %s: %s. "+
		"Servers may be appended to a cluster file, never renamed, reordered, moved to another zone or into another cluster: "+
		"restore the file, or clear this data directory (and its clog_dir) to start the server afresh (its replicas then recover from their peers)",
		dataDir, have, path, want, strings.Join(diff, "; "))
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
