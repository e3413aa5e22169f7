package clog

import (
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"sync"
)

// MemFS is an in-memory FS that models what a crash keeps: a write is
// visible to reads at once but survives [MemFS.Crash] only after a Sync of
// its file. Namespace changes (create, rename, remove) are durable at once.
// It injects faults for tests: failing syncs ([MemFS.FailSyncs]) and torn
// writes (Crash keeps a random subset of the unsynced sectors). It is safe
// for concurrent use.
type MemFS struct {
	mu       sync.Mutex
	files    map[string]*memNode
	dirs     map[string]bool
	syncErr  error
	writeErr error
	syncs    int
	// held, when set, is closed by HoldSyncs' release: Syncs wait for it.
	held chan struct{}
}

var _ FS = (*MemFS)(nil)

// memSector is the granularity at which Crash tears unsynced writes.
const memSector = 512

type memNode struct {
	data    []byte // what reads see
	durable []byte // what a crash keeps
	dirty   []memSpan
}

type memSpan struct{ off, n int64 }

// NewMemFS returns an empty MemFS.
func NewMemFS() *MemFS {
	return &MemFS{files: map[string]*memNode{}, dirs: map[string]bool{}}
}

// FailSyncs makes every later Sync fail with err (nil: succeed again). A
// failed Sync makes nothing durable.
func (m *MemFS) FailSyncs(err error) {
	m.mu.Lock()
	m.syncErr = err
	m.mu.Unlock()
}

// FailWrites makes every later WriteAt write the first half of its bytes
// (a short write) and fail with err (nil: succeed again).
func (m *MemFS) FailWrites(err error) {
	m.mu.Lock()
	m.writeErr = err
	m.mu.Unlock()
}

// HoldSyncs makes every later Sync wait until release is called, as a disk that stalls.
func (m *MemFS) HoldSyncs() (release func()) {
	ch := make(chan struct{})
	m.mu.Lock()
	m.held = ch
	m.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			m.mu.Lock()
			if m.held == ch {
				m.held = nil
			}
			m.mu.Unlock()
			close(ch)
		})
	}
}

// Syncs returns how many file Syncs have succeeded.
func (m *MemFS) Syncs() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.syncs
}

// Crash simulates a power loss: every file goes back to what its syncs made
// durable, plus, for each 512-byte sector written since its last successful
// Sync, the new bytes with probability 1/2 (a torn write). Files open before
// the crash must no longer be used.
func (m *MemFS) Crash(rng *rand.Rand) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, n := range m.files {
		for _, s := range n.dirty {
			for sec := s.off / memSector * memSector; sec < s.off+s.n; sec += memSector {
				if rng.IntN(2) == 0 {
					continue
				}
				lo, hi := max(sec, s.off), min(sec+memSector, s.off+s.n, int64(len(n.data)))
				if lo < hi {
					copy(n.durable[lo:hi], n.data[lo:hi])
				}
			}
		}
		n.dirty = nil
		n.data = append(n.data[:0], n.durable...)
	}
}

// OpenFile implements FS.
func (m *MemFS) OpenFile(name string, flag int, _ os.FileMode) (File, error) {
	name = filepath.Clean(name)
	m.mu.Lock()
	defer m.mu.Unlock()
	n, ok := m.files[name]
	switch {
	case ok && flag&os.O_CREATE != 0 && flag&os.O_EXCL != 0:
		return nil, &os.PathError{Op: "open", Path: name, Err: os.ErrExist}
	case !ok && flag&os.O_CREATE == 0:
		return nil, &os.PathError{Op: "open", Path: name, Err: os.ErrNotExist}
	case !ok:
		if !m.dirs[filepath.Dir(name)] {
			return nil, &os.PathError{Op: "open", Path: name, Err: os.ErrNotExist}
		}
		n = &memNode{}
		m.files[name] = n
	}
	if flag&os.O_TRUNC != 0 {
		n.resize(0)
	}
	return &memFile{fs: m, name: name, n: n}, nil
}

// Remove implements FS.
func (m *MemFS) Remove(name string) error {
	name = filepath.Clean(name)
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.files[name]; !ok {
		return &os.PathError{Op: "remove", Path: name, Err: os.ErrNotExist}
	}
	delete(m.files, name)
	return nil
}

// Rename implements FS.
func (m *MemFS) Rename(oldname, newname string) error {
	oldname, newname = filepath.Clean(oldname), filepath.Clean(newname)
	m.mu.Lock()
	defer m.mu.Unlock()
	n, ok := m.files[oldname]
	if !ok {
		return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: os.ErrNotExist}
	}
	delete(m.files, oldname)
	m.files[newname] = n
	return nil
}

// ReadDir implements FS.
func (m *MemFS) ReadDir(dir string) ([]string, error) {
	dir = filepath.Clean(dir)
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.dirs[dir] {
		return nil, &os.PathError{Op: "readdir", Path: dir, Err: os.ErrNotExist}
	}
	var names []string
	for name := range m.files {
		if filepath.Dir(name) == dir {
			names = append(names, filepath.Base(name))
		}
	}
	sort.Strings(names)
	return names, nil
}

// MkdirAll implements FS.
func (m *MemFS) MkdirAll(dir string, _ os.FileMode) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		m.dirs[d] = true
		if d == filepath.Dir(d) {
			return nil
		}
	}
}

// SyncDir implements FS: namespace changes are durable at once.
func (m *MemFS) SyncDir(string) error { return nil }

// resize sets the size of both the visible and the durable bytes (size
// changes are metadata and durable at once in this model).
func (n *memNode) resize(size int64) {
	n.data = resizeBytes(n.data, size)
	n.durable = resizeBytes(n.durable, size)
	for i := range n.dirty {
		if n.dirty[i].off+n.dirty[i].n > size {
			n.dirty[i].n = max(0, size-n.dirty[i].off)
		}
	}
}

func resizeBytes(b []byte, size int64) []byte {
	if int64(len(b)) >= size {
		return b[:size]
	}
	return append(b, make([]byte, size-int64(len(b)))...)
}

type memFile struct {
	fs     *MemFS
	name   string
	n      *memNode
	closed bool
}

var _ File = (*memFile)(nil)

func (f *memFile) check(op string) error {
	if f.closed {
		return &os.PathError{Op: op, Path: f.name, Err: os.ErrClosed}
	}
	return nil
}

func (f *memFile) ReadAt(p []byte, off int64) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check("read"); err != nil {
		return 0, err
	}
	if off < 0 {
		return 0, &os.PathError{Op: "read", Path: f.name, Err: errors.New("negative offset")}
	}
	if off >= int64(len(f.n.data)) {
		return 0, io.EOF
	}
	k := copy(p, f.n.data[off:])
	if k < len(p) {
		return k, io.EOF
	}
	return k, nil
}

func (f *memFile) WriteAt(p []byte, off int64) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check("write"); err != nil {
		return 0, err
	}
	if off < 0 {
		return 0, &os.PathError{Op: "write", Path: f.name, Err: errors.New("negative offset")}
	}
	werr := f.fs.writeErr
	if werr != nil {
		p = p[:len(p)/2]
	}
	if end := off + int64(len(p)); end > int64(len(f.n.data)) {
		f.n.resize(end)
	}
	copy(f.n.data[off:], p)
	f.n.dirty = append(f.n.dirty, memSpan{off: off, n: int64(len(p))})
	if werr != nil {
		return len(p), &os.PathError{Op: "write", Path: f.name, Err: werr}
	}
	return len(p), nil
}

func (f *memFile) Sync() error {
	f.fs.mu.Lock()
	held := f.fs.held
	f.fs.mu.Unlock()
	if held != nil {
		<-held
	}
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check("sync"); err != nil {
		return err
	}
	if f.fs.syncErr != nil {
		return &os.PathError{Op: "fdatasync", Path: f.name, Err: f.fs.syncErr}
	}
	for _, s := range f.n.dirty {
		copy(f.n.durable[s.off:s.off+s.n], f.n.data[s.off:s.off+s.n])
	}
	f.n.dirty = f.n.dirty[:0]
	f.fs.syncs++
	return nil
}

func (f *memFile) Truncate(size int64) error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check("truncate"); err != nil {
		return err
	}
	f.n.resize(size)
	return nil
}

func (f *memFile) Preallocate(size int64) error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check("fallocate"); err != nil {
		return err
	}
	if size > int64(len(f.n.data)) {
		f.n.resize(size)
	}
	return nil
}

func (f *memFile) Size() (int64, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check("stat"); err != nil {
		return 0, err
	}
	return int64(len(f.n.data)), nil
}

func (f *memFile) Close() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check("close"); err != nil {
		return err
	}
	f.closed = true
	return nil
}
