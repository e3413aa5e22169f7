package clog

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"sort"
)

// FS is the file system the log lives on: the few operations clog needs.
// OSFS is the real one; MemFS is an in-memory twin with fault injection for
// tests.
type FS interface {
	// OpenFile opens (flag os.O_CREATE: creates) the named file for reading
	// and writing.
	OpenFile(name string, flag int, perm os.FileMode) (File, error)
	Remove(name string) error
	Rename(oldname, newname string) error
	// ReadDir returns the names of the entries of dir, sorted.
	ReadDir(dir string) ([]string, error)
	MkdirAll(dir string, perm os.FileMode) error
	// SyncDir makes the directory's entries (creations, renames) durable.
	SyncDir(dir string) error
}

// File is an open file of an FS.
type File interface {
	io.ReaderAt
	io.WriterAt
	// Sync makes the data written so far durable (fdatasync on Linux).
	Sync() error
	// Truncate sets the size; bytes added read as zeros.
	Truncate(size int64) error
	// Preallocate makes the file at least size bytes long, reserving the
	// blocks where the file system can (fallocate on Linux); bytes added read
	// as zeros.
	Preallocate(size int64) error
	Size() (int64, error)
	Close() error
}

// OSFS is the operating system's file system.
type OSFS struct{}

var _ FS = OSFS{}

// OpenFile implements FS.
func (OSFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	f, err := os.OpenFile(name, flag|os.O_RDWR, perm)
	if err != nil {
		return nil, err
	}
	return &osFile{f: f}, nil
}

// Remove implements FS.
func (OSFS) Remove(name string) error { return os.Remove(name) }

// Rename implements FS.
func (OSFS) Rename(oldname, newname string) error { return os.Rename(oldname, newname) }

// MkdirAll implements FS.
func (OSFS) MkdirAll(dir string, perm os.FileMode) error { return os.MkdirAll(dir, perm) }

// ReadDir implements FS.
func (OSFS) ReadDir(dir string) ([]string, error) {
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(des))
	for _, de := range des {
		names = append(names, de.Name())
	}
	sort.Strings(names)
	return names, nil
}

// SyncDir implements FS.
func (OSFS) SyncDir(dir string) error {
	d, err := os.Open(filepath.Clean(dir))
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

type osFile struct{ f *os.File }

var _ File = (*osFile)(nil)

func (o *osFile) ReadAt(p []byte, off int64) (int, error)  { return o.f.ReadAt(p, off) }
func (o *osFile) WriteAt(p []byte, off int64) (int, error) { return o.f.WriteAt(p, off) }
func (o *osFile) Sync() error                              { return fdatasync(o.f) }
func (o *osFile) Truncate(size int64) error                { return o.f.Truncate(size) }
func (o *osFile) Close() error                             { return o.f.Close() }

func (o *osFile) Size() (int64, error) {
	st, err := o.f.Stat()
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}

// Preallocate uses fallocate where the platform and file system have it and
// falls back to extending the file with ftruncate (a sparse file: the blocks
// are then allocated by the appends themselves).
func (o *osFile) Preallocate(size int64) error {
	err := fallocate(o.f, size)
	if err == nil {
		return nil
	}
	if !errors.Is(err, errNoFallocate) {
		return err
	}
	cur, err := o.Size()
	if err != nil {
		return err
	}
	if cur >= size {
		return nil
	}
	return o.f.Truncate(size)
}
