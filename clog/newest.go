package clog

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// newestFile names the file in the log's directory that records the newest segment created,
// written after each new segment is in place. The segments alone cannot tell a log whose
// newest segment was deleted (by hand, or lost by a file system check) from one that ended a
// segment earlier: the replicas would start from the older segment's state, having forgotten
// the entries they accepted and the ballots they promised since, and vote on as if they had
// not (Paxos's safety then rests on their peers). With the file, Open refuses such a log.
const newestFile = "NEWEST_SEGMENT"

// newestBytes is the file's size: the id (16 hex digits), a space, the CRC-32C of the id's
// digits (8 hex digits), a newline.
const newestBytes = 16 + 1 + 8 + 1

func encodeNewest(id uint64) []byte {
	digits := fmt.Sprintf("%016x", id)
	return fmt.Appendf(nil, "%s %08x\n", digits, checksum([]byte(digits)))
}

// writeNewest records id as the newest segment, durably (the file, then its directory entry).
func (l *Log) writeNewest(id uint64) error {
	path := filepath.Join(l.dir, newestFile)
	f, err := l.fs.OpenFile(path+".tmp", os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	_, err = f.WriteAt(encodeNewest(id), 0)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = l.fs.Rename(path+".tmp", path)
	}
	if err == nil {
		err = l.fs.SyncDir(l.dir)
	}
	if err != nil {
		return fmt.Errorf("clog: recording the newest segment in %s: %w", path, err)
	}
	return nil
}

// readNewest returns the newest segment id recorded in dir, 0 when none is (a log from before
// the file existed, or a new one).
func readNewest(fsys FS, dir string) (uint64, error) {
	path := filepath.Join(dir, newestFile)
	f, err := fsys.OpenFile(path, 0, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("clog: opening %s: %w", path, err)
	}
	defer f.Close()
	b := make([]byte, newestBytes+1)
	n, _ := f.ReadAt(b, 0)
	b = b[:n]
	var id uint64
	var sum uint32
	if n != newestBytes || b[16] != ' ' || b[newestBytes-1] != '\n' {
		return 0, fmt.Errorf("%w: %s: %d bytes %q, not a segment id and its checksum", ErrCorruption, path, n, b)
	}
	if _, err := fmt.Sscanf(string(b), "%016x %08x\n", &id, &sum); err != nil || checksum(b[:16]) != sum || id == 0 {
		return 0, fmt.Errorf("%w: %s: %q: the segment id does not match its checksum", ErrCorruption, path, b)
	}
	return id, nil
}
