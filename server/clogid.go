package server

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"obkv/clog"
)

// clogIDFile names the file, in the data_dir and in the clog directory alike, that ties the two
// together: the same random id in both. The clog holds the server's Paxos promises and accepted
// entries; a server started on an empty clog beside a data_dir that ran before (clog_dir edited
// to a new place and the files not moved, a disk not mounted) would have forgotten them, and its
// votes could then let two values be chosen.
const clogIDFile = "CLOG_ID"

// checkClogID makes sure clogDir holds the clog that dataDir last ran with. Both without an id
// (a new server, or one from before clog_dir existed): both get a new one, the clog's first. The
// data_dir without one and the clog with one but no segment yet: a crash between the two writes;
// the data_dir takes the clog's. With segments, the clog ran beside a data directory that is not
// this one (lost, or replaced): refused. The data_dir with an id and the clog without it, or
// with another: refused.
func checkClogID(dataDir, clogDir string) error {
	dataID, err := readClogID(dataDir)
	if err != nil {
		return err
	}
	logID, err := readClogID(clogDir)
	if err != nil {
		return err
	}
	switch {
	case dataID != "" && logID == dataID:
		return nil
	case dataID != "" && logID == "":
		return fmt.Errorf("clog_dir %s holds no clog of this server: data_dir %s last ran with the clog whose %s file says %s; "+
			"if the clog was moved, set clog_dir to where it is now (starting on an empty clog would forget the server's Paxos promises)",
			clogDir, dataDir, clogIDFile, dataID)
	case dataID != "":
		return fmt.Errorf("clog_dir %s holds another server's clog (%s %s): data_dir %s last ran with clog %s; set clog_dir to where that clog is",
			clogDir, clogIDFile, logID, dataDir, dataID)
	}
	if logID != "" {
		segs, err := filepath.Glob(filepath.Join(clogDir, "*.clog"))
		if err != nil {
			return fmt.Errorf("clog id: %w", err)
		}
		if len(segs) > 0 {
			return fmt.Errorf("clog_dir %s holds a clog (%s %s, %d segments) but data_dir %s has no %s: the data directory is new or was lost; "+
				"clear clog_dir as well to start this server afresh (its replicas then recover from their peers), or set data_dir to where its data is",
				clogDir, clogIDFile, logID, len(segs), dataDir, clogIDFile)
		}
		return writeClogID(dataDir, logID)
	}
	b := make([]byte, 16)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	logID = hex.EncodeToString(b)
	if err := writeClogID(clogDir, logID); err != nil {
		return err
	}
	return writeClogID(dataDir, logID)
}

// readClogID returns dir's clog id, "" when it has none.
func readClogID(dir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, clogIDFile))
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("clog id: %w", err)
	}
	id := strings.TrimSpace(string(b))
	if len(id) != 32 || strings.Trim(id, "0123456789abcdef") != "" {
		return "", fmt.Errorf("clog id %s: %q is not 32 hex digits: the file is damaged (it ties data_dir and clog_dir: restore it from the other directory's)",
			filepath.Join(dir, clogIDFile), id)
	}
	return id, nil
}

// writeClogID writes dir's clog id durably (the file and its directory entry).
func writeClogID(dir, id string) error {
	if err := writeDurably(dir, clogIDFile, id+"\n"); err != nil {
		return fmt.Errorf("clog id: %w", err)
	}
	return nil
}

func syncDir(dir string) error { return clog.OSFS{}.SyncDir(dir) }
