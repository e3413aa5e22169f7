package api

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// waitDone fails the test unless ctx is done within 10 s.
func waitDone(t *testing.T, ctx context.Context, what string) {
	t.Helper()
	select {
	case <-ctx.Done():
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: not done after 10 s", what)
	}
}

func TestLazyDeadlineEndsAtItsDeadline(t *testing.T) {
	l := withLazyDeadline(context.Background(), 20*time.Millisecond)
	defer l.release()
	if err := l.Err(); err != nil {
		t.Fatalf("Err before the deadline: %v", err)
	}
	waitDone(t, l, "a 20 ms deadline passed")
	if !errors.Is(l.Err(), context.DeadlineExceeded) {
		t.Errorf("Err after the deadline: %v; want DeadlineExceeded", l.Err())
	}
}

func TestLazyDeadlineFollowsItsParent(t *testing.T) {
	type key struct{}
	parent, cancel := context.WithCancel(context.WithValue(context.Background(), key{}, "v"))
	l := withLazyDeadline(parent, time.Hour)
	defer l.release()
	if l.Value(key{}) != "v" {
		t.Errorf("Value = %v; want the parent's", l.Value(key{}))
	}
	child, childCancel := context.WithCancel(l) // as a callee deriving its own context would
	defer childCancel()
	cancel()
	waitDone(t, child, "the parent canceled, the child of the lazy context")
	if !errors.Is(l.Err(), context.Canceled) {
		t.Errorf("Err after the parent's cancel: %v; want Canceled", l.Err())
	}

	// The earlier deadline wins.
	early, cancelEarly := context.WithTimeout(context.Background(), time.Minute)
	defer cancelEarly()
	l2 := withLazyDeadline(early, time.Hour)
	defer l2.release()
	if d, ok := l2.Deadline(); !ok || time.Until(d) > time.Minute {
		t.Errorf("Deadline = %v, %v; want the parent's, within a minute", d, ok)
	}
	l3 := withLazyDeadline(early, time.Second)
	defer l3.release()
	if d, ok := l3.Deadline(); !ok || time.Until(d) > time.Second {
		t.Errorf("Deadline = %v, %v; want its own, within a second", d, ok)
	}
}

// A context released before anyone looked (the common case: a weak read) reads as canceled to
// a late look, as one from context.WithDeadline does after its cancel; one looked at and
// released is canceled too. Concurrent looks and the release race cleanly (-race).
func TestLazyDeadlineRelease(t *testing.T) {
	l := withLazyDeadline(context.Background(), time.Hour)
	l.release()
	select {
	case <-l.Done():
	default:
		t.Fatal("Done of a released, never used context is not closed")
	}
	if !errors.Is(l.Err(), context.Canceled) {
		t.Errorf("Err after release: %v; want Canceled", l.Err())
	}

	for range 100 {
		l := withLazyDeadline(context.Background(), time.Hour)
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-l.Done() // closed by the release below, whoever made the real context
			}()
		}
		l.release()
		wg.Wait()
		if !errors.Is(l.Err(), context.Canceled) {
			t.Fatalf("Err after release with concurrent looks: %v; want Canceled", l.Err())
		}
	}
}
