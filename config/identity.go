package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// IdentityFile names the file in a data_dir that says whose it is: the cluster, the server, its
// replica ID (its position in the cluster file) and its zone, written by the server at its
// first start. The cluster file is read afresh at every start, and an edit to it (a server
// renamed, inserted before others, two swapped, a zone changed, a data_dir pasted into another
// cluster's file) would otherwise make the directory's Paxos state run under another identity:
// the root service rewrote groups' memberships after a server was inserted at the front.
const IdentityFile = "SERVER"

// Identity is what IdentityFile records.
type Identity struct {
	Cluster, Server, Zone string
	ID                    uint64
}

func (i Identity) String() string {
	return fmt.Sprintf("server %q (id %d, zone %q) of cluster %q", i.Server, i.ID, i.Zone, i.Cluster)
}

// Encode is the file's text.
func (i Identity) Encode() string {
	return fmt.Sprintf("cluster=%s\nserver=%s\nid=%d\nzone=%s\n", i.Cluster, i.Server, i.ID, i.Zone)
}

// ReadIdentity reads dataDir's IdentityFile; ok is false when there is none (a data_dir never
// started, or from before the file existed).
func ReadIdentity(dataDir string) (id Identity, ok bool, err error) {
	path := filepath.Join(dataDir, IdentityFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return Identity{}, false, nil
	}
	if err != nil {
		return Identity{}, false, fmt.Errorf("server identity: %w", err)
	}
	id, err = decodeIdentity(path, string(b))
	return id, err == nil, err
}

func decodeIdentity(path, text string) (Identity, error) {
	var i Identity
	seen := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
		k, v, ok := strings.Cut(line, "=")
		if !ok || seen[k] {
			return Identity{}, fmt.Errorf("%s: line %q: the file is damaged (it records the cluster, server, id and zone this data directory belongs to)", path, line)
		}
		seen[k] = true
		switch k {
		case "cluster":
			i.Cluster = v
		case "server":
			i.Server = v
		case "zone":
			i.Zone = v
		case "id":
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil || n == 0 {
				return Identity{}, fmt.Errorf("%s: id %q is not a server id: the file is damaged", path, v)
			}
			i.ID = n
		default:
			return Identity{}, fmt.Errorf("%s: unknown key %q: the file is damaged, or written by a newer obkv", path, k)
		}
	}
	if len(seen) != 4 {
		return Identity{}, fmt.Errorf("%s: %d of the keys cluster, server, id and zone: the file is damaged", path, len(seen))
	}
	return i, nil
}
