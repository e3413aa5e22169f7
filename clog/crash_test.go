package clog

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The crash test runs a child process (this test binary, selected by
// CLOG_CRASH_DIR) that appends to a log from several goroutines and prints
// "ack ..." lines after Save returns; the parent SIGKILLs it at a random
// moment, reopens the log and checks every acknowledged record.

const (
	crashWriters    = 8
	crashPartitions = 16 // partition p is owned by writer p % crashWriters
)

func crashOptions() Options {
	return Options{
		FS:             OSFS{},
		SegmentBytes:   1 << 20,
		MaxBatchBytes:  256 << 10,
		MaxRecordBytes: 16 << 10,
		MaxStateBytes:  64,
		MaxPartitions:  crashPartitions,
	}
}

// TestCrashChild is the child: it only runs when CLOG_CRASH_DIR is set.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv("CLOG_CRASH_DIR")
	if dir == "" {
		t.Skip("the child of TestCrash; runs only when CLOG_CRASH_DIR is set")
	}
	round, _ := strconv.ParseUint(os.Getenv("CLOG_CRASH_ROUND"), 10, 64)
	seed, _ := strconv.ParseUint(os.Getenv("CLOG_CRASH_CHILD_SEED"), 10, 64)
	l, err := Open(dir, crashOptions())
	if err != nil {
		fmt.Fprintf(os.Stderr, "child: Open: %v\n", err)
		os.Exit(2)
	}
	fmt.Fprintln(os.Stdout, "ready")
	// One write per line: lines of different goroutines do not interleave.
	ack := func(format string, args ...any) {
		os.Stdout.WriteString(fmt.Sprintf("ack "+format+"\n", args...))
	}
	var wg sync.WaitGroup
	for w := range uint64(crashWriters) {
		wg.Go(func() {
			c, err := newCrashWriter(l, w, round, rand.New(rand.NewPCG(seed, w)))
			if err != nil {
				crashFail("%v", err)
			}
			for {
				if err := c.step(ack); err != nil {
					crashFail("%v", err)
				}
			}
		})
	}
	wg.Wait() // never: the parent kills the process
}

func crashFail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "child: "+format+"\n", args...)
	os.Exit(3)
}

// crashWriter appends to its partitions (those p with p % crashWriters ==
// w). Ballots of round r start at r*1e6 and grow at every truncation, so a
// later write at an index always has a higher ballot.
type crashWriter struct {
	l      *Log
	rng    *rand.Rand
	ballot uint64
	ids    []uint64
	ps     []*crashPart
}

type crashPart struct{ first, next, n uint64 }

func newCrashWriter(l *Log, w, round uint64, rng *rand.Rand) (*crashWriter, error) {
	c := &crashWriter{l: l, rng: rng, ballot: round * 1_000_000}
	for p := w; p < crashPartitions; p += crashWriters {
		first, last, ok := l.Range(p)
		s := &crashPart{first: first, next: last + 1}
		if !ok && first == 0 {
			s.first, s.next = 1, 1
		}
		if st, ok := l.State(p); ok {
			if _, err := fmt.Sscanf(string(st), "n=%d", &s.n); err != nil {
				return nil, fmt.Errorf("partition %d: state %q: %v", p, st, err)
			}
		}
		c.ps, c.ids = append(c.ps, s), append(c.ids, p)
	}
	return c, nil
}

// step does one random operation and acknowledges it once it is durable.
func (c *crashWriter) step(ack func(format string, args ...any)) error {
	ctx, rng := context.Background(), c.rng
	k := rng.IntN(len(c.ps))
	p, s := c.ids[k], c.ps[k]
	switch r := rng.IntN(100); {
	case r < 5: // hard state
		if err := c.l.Save(ctx, Update{Partition: p, State: fmt.Appendf(nil, "n=%d", s.n+1)}); err != nil {
			return err
		}
		s.n++
		ack("S %d %d", p, s.n)
	case r < 10 && s.next > s.first: // compaction; the intent is acknowledged first
		below := s.first + rng.Uint64N(s.next-s.first+1)
		ack("C %d %d", p, below)
		if err := c.l.Compact(ctx, p, below); err != nil {
			return err
		}
		s.first = max(s.first, below)
	default: // append, after a conflict 10% of the time
		lo, trunc := s.next, uint64(0)
		if r < 20 && s.next > s.first {
			c.ballot++
			lo = s.next - min(s.next-s.first, 1+rng.Uint64N(5))
			trunc = lo
		}
		n := 1 + rng.Uint64N(8)
		var es []Entry
		for i := lo; i < lo+n; i++ {
			es = append(es, Entry{Index: i, Ballot: c.ballot, Data: payload(p, i, c.ballot, 16+rng.IntN(500))})
		}
		if err := c.l.Save(ctx, Update{Partition: p, TruncateFrom: trunc, Entries: es}); err != nil {
			return err
		}
		s.next = lo + n
		ack("A %d %d %d %d", p, lo, lo+n, c.ballot)
	}
	return nil
}

// crashModel is what the parent knows was acknowledged.
type crashModel struct {
	entries  [crashPartitions]map[uint64]uint64 // index -> ballot of the last acknowledged write
	state    [crashPartitions]uint64
	compact  [crashPartitions]uint64 // the highest compaction the child meant to do
	acks     int
	maxIndex [crashPartitions]uint64
}

func (m *crashModel) apply(line string) error {
	f := strings.Fields(line)
	if len(f) < 3 || f[0] != "ack" {
		return fmt.Errorf("unexpected child output %q", line)
	}
	var v []uint64
	for _, s := range f[2:] {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return fmt.Errorf("child output %q: %v", line, err)
		}
		v = append(v, n)
	}
	p := v[0]
	if p >= crashPartitions {
		return fmt.Errorf("child output %q: partition out of range", line)
	}
	m.acks++
	switch {
	case f[1] == "S" && len(v) == 2:
		m.state[p] = max(m.state[p], v[1])
	case f[1] == "C" && len(v) == 2:
		m.compact[p] = max(m.compact[p], v[1])
	case f[1] == "A" && len(v) == 4:
		lo, hi, b := v[1], v[2], v[3]
		for i := range m.entries[p] {
			if i >= hi {
				delete(m.entries[p], i) // discarded by the acknowledged truncation
			}
		}
		for i := lo; i < hi; i++ {
			m.entries[p][i] = b
		}
	default:
		return fmt.Errorf("unexpected child output %q", line)
	}
	return nil
}

// check opens the log and verifies it against the model.
func (m *crashModel) check(dir string, opts Options) error {
	l, err := Open(dir, opts)
	if err != nil {
		return fmt.Errorf("Open after the crash: %w", err)
	}
	defer l.Close()
	for p := range uint64(crashPartitions) {
		first, last, ok := l.Range(p)
		if allowed := max(1, m.compact[p]); first > allowed && len(m.entries[p]) > 0 {
			return fmt.Errorf("partition %d: first retained index %d, but nothing was compacted above %d", p, first, allowed)
		}
		var es []Entry
		if ok {
			if es, err = l.Entries(p, first, last+1, 0); err != nil {
				return fmt.Errorf("partition %d: reading [%d, %d]: %w", p, first, last, err)
			}
		}
		for _, e := range es {
			if string(e.Data) != string(payload(p, e.Index, e.Ballot, len(e.Data))) {
				return fmt.Errorf("partition %d: entry %d (ballot %d) has wrong data", p, e.Index, e.Ballot)
			}
		}
		for i, b := range m.entries[p] {
			if i < first {
				continue // compacted (the child meant to compact up to m.compact)
			}
			if !ok || i > last {
				// Only a later truncation may have discarded it, and that
				// wrote an entry of a higher ballot (whose acknowledgement
				// the kill may have cut off).
				if ok && es[len(es)-1].Ballot > b {
					continue
				}
				return fmt.Errorf("partition %d: acknowledged entry %d (ballot %d) is missing; the log retains [%d, %d]", p, i, b, first, last)
			}
			if e := es[i-first]; e.Index != i || e.Ballot < b {
				return fmt.Errorf("partition %d: acknowledged entry %d has ballot %d, want at least %d", p, i, e.Ballot, b)
			}
		}
		st, has := l.State(p)
		var n uint64
		if has {
			if _, err := fmt.Sscanf(string(st), "n=%d", &n); err != nil {
				return fmt.Errorf("partition %d: state %q: %v", p, st, err)
			}
		}
		if n < m.state[p] {
			return fmt.Errorf("partition %d: state n=%d, acknowledged n=%d", p, n, m.state[p])
		}
	}
	return l.Close()
}

func TestCrash(t *testing.T) {
	if os.Getenv("CLOG_CRASH_DIR") != "" {
		t.Skip("in the child")
	}
	rounds := 50
	if s := os.Getenv("CLOG_CRASH_ROUNDS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("CLOG_CRASH_ROUNDS=%q is not a positive number", s)
		}
		rounds = n
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("CLOG_CRASH_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("CLOG_CRASH_SEED=%q: %v", s, err)
		}
		seed = n
	}
	t.Logf("seed %d (CLOG_CRASH_SEED=%d reruns the same kill schedule; the kill moments still race the child)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	dir := t.TempDir()
	m := newCrashModel()
	start := time.Now()
	for round := 1; round <= rounds; round++ {
		if err := crashRound(t, dir, m, uint64(round), rng); err != nil {
			t.Fatalf("seed %d round %d: %v", seed, round, err)
		}
	}
	t.Logf("%d rounds, %d acknowledged operations checked, %v", rounds, m.acks, time.Since(start).Round(time.Millisecond))
}

func crashRound(t *testing.T, dir string, m *crashModel, round uint64, rng *rand.Rand) error {
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$")
	cmd.Env = append(os.Environ(),
		"CLOG_CRASH_DIR="+dir,
		fmt.Sprintf("CLOG_CRASH_ROUND=%d", round),
		fmt.Sprintf("CLOG_CRASH_CHILD_SEED=%d", rng.Uint64()))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	var once sync.Once
	kill := func() { once.Do(func() { cmd.Process.Signal(syscall.SIGKILL) }) }
	defer kill()
	// Kill after a random number of acknowledgements, or after a random
	// delay once the child is appending (the timer picks the moment; it
	// waits for nothing).
	killAfter := -1
	var delay time.Duration
	if rng.IntN(2) == 0 {
		killAfter = 1 + rng.IntN(1500)
	} else {
		delay = time.Duration(rng.IntN(150_000)) * time.Microsecond
	}
	r := bufio.NewReader(out)
	ready, acks := false, 0
	var lines []string
	for {
		line, err := r.ReadString('\n')
		if errors.Is(err, io.EOF) {
			break // a fragment without a newline was not acknowledged
		}
		if err != nil {
			return err
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "ready":
			ready = true
			if killAfter < 0 {
				time.AfterFunc(delay, kill)
			}
		case strings.HasPrefix(line, "ack "):
			lines = append(lines, line)
			acks++
			if acks == killAfter {
				kill()
			}
		}
	}
	werr := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(werr, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		return fmt.Errorf("child ended by itself (%v), not by the kill; stderr:\n%s", werr, stderr.String())
	}
	if !ready {
		return fmt.Errorf("child killed before it opened the log; stderr:\n%s", stderr.String())
	}
	for _, line := range lines {
		if err := m.apply(line); err != nil {
			return err
		}
	}
	return m.check(dir, crashOptions())
}

func newCrashModel() *crashModel {
	m := &crashModel{}
	for p := range m.entries {
		m.entries[p] = map[uint64]uint64{}
	}
	return m
}

// TestPowerLoss is the crash test in process and deterministic: on MemFS,
// the writers run seeded random operations, then the power goes during a
// batch (its sync fails and a random subset of its sectors reaches the
// disk), the log is reopened and checked, and the next round continues.
// CLOG_POWERLOSS_SEEDS=N runs N seeds (default 8).
func TestPowerLoss(t *testing.T) {
	seeds := uint64(8)
	if s := os.Getenv("CLOG_POWERLOSS_SEEDS"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil || n < 1 {
			t.Fatalf("CLOG_POWERLOSS_SEEDS=%q is not a positive number", s)
		}
		seeds = n
	}
	for seed := range seeds {
		rng := rand.New(rand.NewPCG(seed, 99))
		fs := NewMemFS()
		opts := crashOptions()
		opts.FS = fs
		opts.SegmentBytes = 512 << 10
		opts.MaxBatchBytes = 64 << 10
		m := newCrashModel()
		ack := func(format string, args ...any) {
			if err := m.apply(fmt.Sprintf("ack "+format, args...)); err != nil {
				t.Fatal(err)
			}
		}
		for round := uint64(1); round <= 12; round++ {
			l, err := Open("/log", opts)
			if err != nil {
				t.Fatalf("seed %d round %d: Open after a power loss: %v", seed, round, err)
			}
			var ws []*crashWriter
			for w := range uint64(crashWriters) {
				c, err := newCrashWriter(l, w, round, rand.New(rand.NewPCG(rng.Uint64(), w)))
				if err != nil {
					t.Fatal(err)
				}
				ws = append(ws, c)
			}
			for range rng.IntN(400) {
				if err := ws[rng.IntN(len(ws))].step(ack); err != nil {
					t.Fatalf("seed %d round %d: %v", seed, round, err)
				}
			}
			fs.FailSyncs(errors.New("power lost"))
			if err := ws[rng.IntN(len(ws))].step(ack); !errors.Is(err, ErrFailed) {
				t.Fatalf("seed %d round %d: operation during the power loss = %v, want ErrFailed", seed, round, err)
			}
			l.Close()
			fs.Crash(rng)
			fs.FailSyncs(nil)
			if err := m.check("/log", opts); err != nil {
				t.Fatalf("seed %d round %d: %v", seed, round, err)
			}
		}
	}
}
