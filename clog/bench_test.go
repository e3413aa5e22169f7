package clog

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// The append benchmarks compare, for 1, 16 and 64 concurrent appenders of
// 256-byte records, each append waiting until it is durable:
//
//	clog       this package on the OS file system
//	plainfile  the minimal baseline: one preallocated file, one flusher
//	           goroutine, one write and one fdatasync per batch, no checksum
//	           and no index
//	badger     badger/v4 with SyncWrites, one transaction per append
//
// They report appends/s and, where known, syncs/op (fdatasyncs per append).
//
//	go test -run '^$' -bench 'Append' -count 3 ./clog/

const benchRecordBytes = 256

var benchWriters = []int{1, 16, 64}

// runWriters runs b.N appends spread over w goroutines; appendFn is called
// with the writer and the writer's 1-based sequence number.
func runWriters(b *testing.B, w int, appendFn func(writer int, seq uint64) error) {
	b.Helper()
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, w)
	b.ReportAllocs()
	b.SetBytes(benchRecordBytes)
	b.ResetTimer()
	start := time.Now()
	for g := range w {
		wg.Go(func() {
			for seq := uint64(1); next.Add(1) <= int64(b.N); seq++ {
				if err := appendFn(g, seq); err != nil {
					errs[g] = err
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	for _, err := range errs {
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "appends/s")
}

// countingFS counts file syncs.
type countingFS struct {
	FS
	syncs atomic.Int64
}

func (c *countingFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	f, err := c.FS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return countingFile{File: f, c: c}, nil
}

type countingFile struct {
	File
	c *countingFS
}

func (f countingFile) Sync() error {
	f.c.syncs.Add(1)
	return f.File.Sync()
}

func BenchmarkAppend(b *testing.B) {
	for _, w := range benchWriters {
		b.Run(fmt.Sprintf("clog/writers=%d", w), func(b *testing.B) { benchClog(b, w) })
		b.Run(fmt.Sprintf("plainfile/writers=%d", w), func(b *testing.B) { benchPlain(b, w) })
		b.Run(fmt.Sprintf("badger/writers=%d", w), func(b *testing.B) { benchBadger(b, w) })
	}
}

func benchClog(b *testing.B, w int) {
	fs := &countingFS{FS: OSFS{}}
	opts := DefaultOptions()
	opts.FS = fs
	l, err := Open(b.TempDir(), opts)
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	ctx := context.Background()
	data := make([]byte, benchRecordBytes)
	// One reusable update per writer: Save does not keep it.
	ups := make([][1]Update, w)
	for g := range ups {
		ups[g][0] = Update{Partition: uint64(g), Entries: make([]Entry, 1)}
	}
	syncs0 := fs.syncs.Load()
	runWriters(b, w, func(g int, seq uint64) error {
		u := &ups[g]
		u[0].Entries[0] = Entry{Index: seq, Ballot: 1, Data: data}
		return l.Save(ctx, u[:]...)
	})
	b.ReportMetric(float64(fs.syncs.Load()-syncs0)/float64(b.N), "syncs/op")
}

// plainLog is the baseline: a preallocated file, a flusher goroutine, one
// write and one fdatasync per batch of whatever accumulated meanwhile.
type plainLog struct {
	f       *os.File
	mu      sync.Mutex
	wake    *sync.Cond
	buf     []byte
	spare   []byte
	done    chan struct{}
	err     error
	off     int64
	closing bool
	syncs   int64
	exited  chan struct{}
}

func openPlain(path string, prealloc int64) (*plainLog, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := fallocate(f, prealloc); err != nil {
		return nil, err
	}
	if err := fdatasync(f); err != nil {
		return nil, err
	}
	p := &plainLog{f: f, done: make(chan struct{}), exited: make(chan struct{})}
	p.wake = sync.NewCond(&p.mu)
	go p.flush()
	return p, nil
}

func (p *plainLog) append(data []byte) error {
	p.mu.Lock()
	p.buf = binary.LittleEndian.AppendUint32(p.buf, uint32(len(data)))
	p.buf = append(p.buf, data...)
	done := p.done
	p.wake.Signal()
	p.mu.Unlock()
	<-done
	return p.err // written before done was closed
}

func (p *plainLog) flush() {
	defer close(p.exited)
	p.mu.Lock()
	for {
		for len(p.buf) == 0 && !p.closing {
			p.wake.Wait()
		}
		if len(p.buf) == 0 {
			p.mu.Unlock()
			return
		}
		buf, done := p.buf, p.done
		p.buf, p.spare, p.done = p.spare[:0], nil, make(chan struct{})
		p.mu.Unlock()
		_, err := p.f.WriteAt(buf, p.off)
		if err == nil {
			err = fdatasync(p.f)
		}
		p.off += int64(len(buf))
		p.syncs++
		p.mu.Lock()
		if err != nil {
			p.err = err
		}
		p.spare = buf
		close(done)
	}
}

func (p *plainLog) close() error {
	p.mu.Lock()
	p.closing = true
	p.wake.Signal()
	p.mu.Unlock()
	<-p.exited
	return p.f.Close()
}

func benchPlain(b *testing.B, w int) {
	p, err := openPlain(filepath.Join(b.TempDir(), "plain.log"), int64(b.N)*(benchRecordBytes+4)+1<<20)
	if err != nil {
		b.Fatal(err)
	}
	data := make([]byte, benchRecordBytes)
	runWriters(b, w, func(int, uint64) error { return p.append(data) })
	if err := p.close(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(p.syncs)/float64(b.N), "syncs/op")
}

func benchBadger(b *testing.B, w int) {
	db, err := badger.Open(badger.DefaultOptions(b.TempDir()).WithSyncWrites(true).WithLogger(nil))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	data := make([]byte, benchRecordBytes)
	runWriters(b, w, func(g int, seq uint64) error {
		var key [16]byte
		binary.BigEndian.PutUint64(key[:], uint64(g))
		binary.BigEndian.PutUint64(key[8:], seq)
		return db.Update(func(txn *badger.Txn) error { return txn.Set(key[:], data) })
	})
}

// BenchmarkOpen1M measures recovery (Open) of a log holding one million
// 256-byte entries over 100 partitions (about 290 MB in five segments).
//
//	go test -run '^$' -bench 'Open1M' ./clog/
func BenchmarkOpen1M(b *testing.B) {
	const entriesTotal, partitions, perSave = 1_000_000, 100, 1000
	dir := b.TempDir()
	opts := DefaultOptions()
	l, err := Open(dir, opts)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	data := make([]byte, benchRecordBytes)
	es := make([]Entry, perSave)
	next := make([]uint64, partitions)
	for n := 0; n < entriesTotal; n += perSave {
		p := uint64(n / perSave % partitions)
		for k := range es {
			es[k] = Entry{Index: next[p] + 1 + uint64(k), Ballot: 1, Data: data}
		}
		next[p] += perSave
		if err := l.Save(ctx, Update{Partition: p, Entries: es, State: []byte("promised 1")}); err != nil {
			b.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		l, err := Open(dir, opts)
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		total := uint64(0)
		for p := range uint64(partitions) {
			first, last, _ := l.Range(p)
			total += last - first + 1
		}
		if total != entriesTotal {
			b.Fatalf("recovered %d entries, want %d", total, entriesTotal)
		}
		if err := l.Close(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/open")
}
