package check

import (
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
)

// step is one event of a scripted history: client calls in at the current tick, or ends its
// open operation.
type step struct {
	client int
	in     *Input  // a call
	out    *Output // a return with this output
	fail   bool    // a failure
	unk    bool    // an unknown outcome
}

func put(c int, k, v string) step { return step{client: c, in: &Input{Kind: OpPut, Key: k, Value: v}} }
func del(c int, k string) step    { return step{client: c, in: &Input{Kind: OpDelete, Key: k}} }
func get(c int, k string) step    { return step{client: c, in: &Input{Kind: OpGet, Key: k}} }
func ok(c int) step               { return step{client: c, out: &Output{}} }
func got(c int, v string) step    { return step{client: c, out: &Output{Found: true, Value: v}} }
func none(c int) step             { return step{client: c, out: &Output{}} }
func failed(c int) step           { return step{client: c, fail: true} }
func unknown(c int) step          { return step{client: c, unk: true} }

// replay records steps in a History whose clock advances one tick per step.
func replay(t *testing.T, steps []step) *History {
	t.Helper()
	var tick int64
	h := NewHistoryClock(func() int64 { return tick })
	open := map[int]*Pending{}
	for i, s := range steps {
		tick = int64(i)
		switch {
		case s.in != nil:
			if open[s.client] != nil {
				t.Fatalf("step %d: client %d already has an open operation", i, s.client)
			}
			open[s.client] = h.Call(s.client, *s.in)
			continue
		case open[s.client] == nil:
			t.Fatalf("step %d: client %d has no open operation", i, s.client)
		case s.out != nil:
			open[s.client].Return(*s.out)
		case s.fail:
			open[s.client].Fail()
		case s.unk:
			open[s.client].Unknown()
		}
		delete(open, s.client)
	}
	return h
}

func TestLinearizableHistories(t *testing.T) {
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"empty", nil},
		{"sequential", []step{put(0, "x", "1"), ok(0), get(1, "x"), got(1, "1"), del(0, "x"), ok(0), get(1, "x"), none(1)}},
		{"read concurrent with a put may see either value", []step{
			put(0, "x", "1"), ok(0),
			put(0, "x", "2"), get(1, "x"), get(2, "x"), got(1, "2"), got(2, "1"), ok(0)}},
		{"concurrent reads agree on an order", []step{
			put(0, "x", "1"), put(1, "x", "2"), ok(0), ok(1),
			get(2, "x"), got(2, "2"), get(3, "x"), got(3, "2")}},
		{"a failed put never happened", []step{
			put(0, "x", "1"), ok(0), put(0, "x", "2"), failed(0), get(1, "x"), got(1, "1")}},
		{"an unknown put may have happened late", []step{
			put(0, "x", "1"), ok(0), put(0, "x", "2"), unknown(0),
			get(1, "x"), got(1, "1"), get(1, "x"), got(1, "2"), get(1, "x"), got(1, "2")}},
		{"an unknown put may never happen", []step{
			put(0, "x", "1"), unknown(0), get(1, "x"), none(1), get(1, "x"), none(1)}},
		{"a failed read is left out", []step{put(0, "x", "1"), ok(0), get(1, "x"), failed(1)}},
		{"keys are independent", []step{
			put(0, "x", "1"), put(1, "y", "1"), ok(0), ok(1), get(2, "y"), got(2, "1"), get(2, "x"), got(2, "1")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := replay(t, tc.steps)
			if path, err := h.Check(0); err != nil {
				t.Fatalf("Check: %v (visualisation %q); want linearizable", err, path)
			}
		})
	}
}

// TestNotLinearizableHistories: the checker must be able to fail (STYLE.md rule 4).
func TestNotLinearizableHistories(t *testing.T) {
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"stale read after an acknowledged put", []step{
			put(0, "x", "1"), ok(0), put(0, "x", "2"), ok(0), get(1, "x"), got(1, "1")}},
		{"lost write: read finds nothing after an acknowledged put", []step{
			put(0, "x", "1"), ok(0), get(1, "x"), none(1)}},
		{"a failed put is seen", []step{
			put(0, "x", "1"), failed(0), get(1, "x"), got(1, "1")}},
		{"a value nobody wrote", []step{put(0, "x", "1"), ok(0), get(1, "x"), got(1, "7")}},
		{"reads go back in time", []step{
			put(0, "x", "1"), ok(0), put(0, "x", "2"), get(1, "x"), got(1, "2"), get(2, "x"), got(2, "1"), ok(0)}},
		{"an unknown put seen, then unseen", []step{
			put(0, "x", "1"), ok(0), put(0, "x", "2"), unknown(0),
			get(1, "x"), got(1, "2"), get(1, "x"), got(1, "1")}},
		{"read of a deleted key", []step{
			put(0, "x", "1"), ok(0), del(0, "x"), ok(0), get(1, "x"), got(1, "1")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := replay(t, tc.steps)
			path, err := h.Check(0)
			if !errors.Is(err, ErrNotLinearizable) {
				t.Fatalf("Check: %v; want ErrNotLinearizable", err)
			}
			if path == "" || !strings.Contains(err.Error(), path) {
				t.Fatalf("Check returned path %q and error %q; want the visualisation's path in both", path, err)
			}
			defer os.Remove(path)
			b, rerr := os.ReadFile(path)
			if rerr != nil {
				t.Fatal(rerr)
			}
			if !strings.Contains(string(b), "<html") || !strings.Contains(string(b), "get(x)") {
				t.Errorf("visualisation %s (%d bytes) has no HTML or no operation descriptions", path, len(b))
			}
			defer os.Remove(path + ".txt")
			r, rerr := os.ReadFile(path + ".txt")
			if rerr != nil {
				t.Fatal(rerr)
			}
			if !strings.Contains(err.Error(), "keys [x]") || !strings.HasPrefix(string(r), "key x\n") {
				t.Errorf("error %q and report %q: want key x named in both", err, r)
			}
		})
	}
}

// TestHistoryOperations: open operations count as unknown; unknown writes return after every
// other operation; failed ones, unknown reads and unknown writes no read observed are dropped.
func TestHistoryOperations(t *testing.T) {
	var tick int64
	h := NewHistoryClock(func() int64 { tick++; return tick })
	h.Call(0, Input{Kind: OpPut, Key: "x", Value: "1"}).Return(Output{})
	h.Call(1, Input{Kind: OpPut, Key: "x", Value: "2"}).Unknown()
	h.Call(2, Input{Kind: OpPut, Key: "x", Value: "3"}).Fail()
	h.Call(3, Input{Kind: OpGet, Key: "x"}).Unknown()
	h.Call(4, Input{Kind: OpPut, Key: "x", Value: "5"}) // never ended
	h.Call(5, Input{Kind: OpGet, Key: "x"}).Return(Output{Found: true, Value: "1"})
	h.Call(5, Input{Kind: OpGet, Key: "x"}).Return(Output{Found: true, Value: "2"})
	h.Call(5, Input{Kind: OpGet, Key: "x"}).Return(Output{Found: true, Value: "5"})
	h.Call(6, Input{Kind: OpPut, Key: "x", Value: "6"}).Unknown() // never read: dropped
	h.Call(6, Input{Kind: OpDelete, Key: "x"}).Unknown()          // nothing read as missing: dropped
	h.Call(6, Input{Kind: OpPut, Key: "y", Value: "2"}).Unknown() // "2" was read from x, not y: dropped
	ops := h.Operations()
	var clients []int
	var maxDone int64
	for _, op := range ops {
		clients = append(clients, op.ClientId)
		if !op.Output.(Output).Unknown {
			maxDone = max(maxDone, op.Return)
		}
	}
	if want := []int{0, 1, 4, 5, 5, 5}; !equalInts(clients, want) {
		t.Fatalf("operations of clients %v, want %v", clients, want)
	}
	for _, op := range ops {
		if op.Output.(Output).Unknown && op.Return <= maxDone {
			t.Errorf("unknown write of client %d returns at %d, not after every completed operation (last %d)", op.ClientId, op.Return, maxDone)
		}
	}
	if c := h.Counts(); c.OK != 4 || c.Failed != 1 || c.Unknown != 6 || c.Reads != 4 || c.Writes != 7 {
		t.Errorf("Counts() = %+v", c)
	}
	if _, err := h.Check(0); err != nil {
		t.Errorf("Check: %v", err)
	}
}

// TestHistoryConcurrentUse records from many goroutines (run with -race).
func TestHistoryConcurrentUse(t *testing.T) {
	h := NewHistory()
	var wg sync.WaitGroup
	for c := 0; c < 8; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				h.Call(c, Input{Kind: OpPut, Key: "x", Value: "v"}).Return(Output{})
				h.Call(c, Input{Kind: OpGet, Key: "x"}).Return(Output{Found: true, Value: "v"})
			}
		}()
	}
	wg.Wait()
	if c := h.Counts(); c.OK != 800 {
		t.Fatalf("Counts() = %+v, want 800 ok", c)
	}
	if _, err := h.Check(0); err != nil {
		t.Fatal(err)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestReportNamesOnlyFailingKeys: the failure report lists the keys that are not linearizable,
// not the others, with failed operations and their notes, which porcupine never sees.
func TestReportNamesOnlyFailingKeys(t *testing.T) {
	var tick int64
	h := NewHistoryClock(func() int64 { tick++; return tick })
	h.Call(0, Input{Kind: OpPut, Key: "y", Value: "1"}).Return(Output{})
	h.Call(1, Input{Kind: OpGet, Key: "y"}).Return(Output{Found: true, Value: "1"})
	h.Call(0, Input{Kind: OpPut, Key: "x", Value: "1"}).Annotate("not leader").Fail()
	h.Call(1, Input{Kind: OpGet, Key: "x"}).Return(Output{Found: true, Value: "1", Note: "s1 leader v9"})
	path, err := h.Check(0)
	if !errors.Is(err, ErrNotLinearizable) {
		t.Fatalf("Check: %v; want ErrNotLinearizable", err)
	}
	defer os.Remove(path)
	defer os.Remove(path + ".txt")
	r, rerr := os.ReadFile(path + ".txt")
	if rerr != nil {
		t.Fatal(rerr)
	}
	report := string(r)
	if !strings.Contains(err.Error(), "keys [x]") || strings.Contains(report, "key y") {
		t.Errorf("error %q, report:\n%s\nwant only key x named", err, report)
	}
	for _, want := range []string{"FAILED", "put(x, 1) [not leader]", "get(x) -> 1 [s1 leader v9]"} {
		if !strings.Contains(report, want) {
			t.Errorf("report lacks %q:\n%s", want, report)
		}
	}
}
