package rootservice

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"

	"obkv/paxos"
	"obkv/replica"
)

// fakeMeta is a meta replica whose leadership and document the test sets.
type fakeMeta struct {
	ballot  paxos.Ballot
	serving bool
	doc     []byte
	reads   int
}

func (f *fakeMeta) Leading() (paxos.Ballot, bool)       { return f.ballot, f.serving }
func (f *fakeMeta) ReadIndex(ctx context.Context) error { f.reads++; return nil }
func (f *fakeMeta) Get(key []byte, version uint64) ([]byte, bool, error) {
	return f.doc, f.doc != nil, nil
}
func (f *fakeMeta) Write(ctx context.Context, b replica.Batch) (uint64, error) {
	return 0, errors.New("fakeMeta: read only")
}

// TestCachedMetaIsOfThisLeadership: the cached meta document serves only the leadership it
// was read in; a lost lead fails, and a lead regained under another ballot rereads the
// document (another root service may have changed it meanwhile).
func TestCachedMetaIsOfThisLeadership(t *testing.T) {
	ctx := context.Background()
	doc := func(partitions int) []byte {
		var m Meta
		for i := 0; i < partitions; i++ {
			m.Partitions = append(m.Partitions, Partition{ID: uint64(i + 1)})
		}
		return m.encode()
	}
	f := &fakeMeta{ballot: paxos.Ballot{Round: 1, Node: 1}, serving: true, doc: doc(1)}
	s := New(f, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err := s.current(ctx); err != nil || len(s.meta.Partitions) != 1 {
		t.Fatalf("first load: %v, %d partitions; want 1", err, len(s.meta.Partitions))
	}
	if err := s.current(ctx); err != nil || f.reads != 1 {
		t.Fatalf("same leadership: %v after %d reads; want the cached document (1 read)", err, f.reads)
	}
	f.serving = false
	if err := s.current(ctx); !errors.Is(err, errNotLeading) {
		t.Fatalf("not leading: %v; want errNotLeading", err)
	}
	// Another root service placed a partition; this replica leads again under a new ballot.
	f.doc, f.ballot, f.serving = doc(2), paxos.Ballot{Round: 3, Node: 1}, true
	if err := s.current(ctx); err != nil || len(s.meta.Partitions) != 2 {
		t.Fatalf("new leadership: %v, %d partitions; want the document reread (2)", err, len(s.meta.Partitions))
	}
}
