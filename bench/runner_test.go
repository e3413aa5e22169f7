package bench

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func testConfig(w string) Config {
	wl, err := ParseWorkload(w)
	if err != nil {
		panic(err)
	}
	return Config{Workload: wl, Tables: []string{"t0", "t1"}, Records: 500, KeySize: 12, ValueSize: 32,
		Concurrency: 8, Duration: time.Minute, MaxOps: 4000, Distribution: "zipfian", ScanLength: 10, Seed: 1}
}

func TestLoadInsertsEveryRecordAcrossTables(t *testing.T) {
	s := NewMapStore()
	cfg := testConfig("C")
	rep, err := Load(context.Background(), s, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Len("t0") + s.Len("t1"); got != 500 {
		t.Errorf("store holds %d records, want 500", got)
	}
	if s.Len("t0") != 250 {
		t.Errorf("t0 holds %d records, want 250 (record i in table i %% 2)", s.Len("t0"))
	}
	ins, ok := rep.Op("insert")
	if !ok || ins.Count != 500 || ins.Errors != 0 {
		t.Errorf("load report insert = %+v, want 500 and no errors", ins)
	}
	if rep.Phase != "load" {
		t.Errorf("phase %q, want load", rep.Phase)
	}
}

func TestRunCountsAddUpAndFollowTheMix(t *testing.T) {
	s := NewMapStore()
	cfg := testConfig("A")
	if _, err := Load(context.Background(), s, cfg, nil); err != nil {
		t.Fatal(err)
	}
	rep, err := Run(context.Background(), s, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	total, _ := rep.Op("total")
	if total.Count != 4000 {
		t.Fatalf("total count %d, want MaxOps 4000", total.Count)
	}
	read, _ := rep.Op("read")
	upd, _ := rep.Op("update")
	if read.Count+upd.Count != 4000 || read.Count < 1800 || upd.Count < 1800 {
		t.Errorf("reads %d, updates %d: want about 2000 each", read.Count, upd.Count)
	}
	if read.NotFound != 0 {
		t.Errorf("%d reads found nothing after a load, want 0", read.NotFound)
	}
	if _, ok := rep.Op("scan"); ok {
		t.Error("workload A reported scans")
	}
	if read.P50 <= 0 || read.Max < read.P99 || read.P99 < read.P50 {
		t.Errorf("read latencies not ordered: %+v", read)
	}
}

func TestRunScanMixInsertsFreshKeys(t *testing.T) {
	s := NewMapStore()
	cfg := testConfig("S")
	cfg.MaxOps = 2000
	if _, err := Load(context.Background(), s, cfg, nil); err != nil {
		t.Fatal(err)
	}
	rep, err := Run(context.Background(), s, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ins, _ := rep.Op("insert")
	scan, _ := rep.Op("scan")
	if ins.Count+scan.Count != 2000 || ins.Count < 50 || ins.Count > 160 {
		t.Errorf("inserts %d, scans %d: want about 100 and 1900", ins.Count, scan.Count)
	}
	if got := int64(s.Len("t0") + s.Len("t1")); got != 500+ins.Count {
		t.Errorf("store holds %d records, want 500 loaded + %d inserted (fresh keys)", got, ins.Count)
	}
}

var errNoLeader = errors.New("not leader")

func TestRunClassifiesErrors(t *testing.T) {
	s := NewMapStore()
	var n atomic.Int64
	s.Hook = func(ctx context.Context, op, table string, key []byte) error {
		if op == "put" && n.Add(1)%4 == 0 {
			return errNoLeader
		}
		return nil
	}
	cfg := testConfig("W")
	cfg.Classify = func(err error) string {
		if errors.Is(err, errNoLeader) {
			return "not_leader"
		}
		return "other"
	}
	rep, err := Run(context.Background(), s, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	upd, _ := rep.Op("update")
	if upd.Count+upd.Errors != 4000 || upd.ErrorKinds["not_leader"] != upd.Errors || upd.Errors != 1000 {
		t.Errorf("update = count %d errors %d kinds %v, want 3000 + 1000 not_leader", upd.Count, upd.Errors, upd.ErrorKinds)
	}
	var b strings.Builder
	if err := rep.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "errors of update: not_leader 1000") {
		t.Errorf("table does not list the error kinds:\n%s", b.String())
	}
	if got := upd.ErrorExamples["not_leader"]; got != errNoLeader.Error() || len(upd.ErrorExamples) != 1 {
		t.Errorf("error examples %q, want not_leader: %q", upd.ErrorExamples, errNoLeader)
	}
	if !strings.Contains(b.String(), "  e.g. not_leader: not leader\n") {
		t.Errorf("table does not show an example of the error:\n%s", b.String())
	}
}

func TestRunStopsAtDurationAndReportsProgress(t *testing.T) {
	s := NewMapStore()
	s.Hook = func(ctx context.Context, op, table string, key []byte) error {
		select { // a slow store: every call takes 1ms or until the run ends
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Millisecond):
			return nil
		}
	}
	cfg := testConfig("W")
	cfg.MaxOps = 0
	cfg.Duration = 300 * time.Millisecond
	cfg.ProgressInterval = 50 * time.Millisecond
	var lines atomic.Int64
	rep, err := Run(context.Background(), s, cfg, func(p Progress) {
		lines.Add(1)
		if !strings.HasPrefix(p.String(), "run ") {
			t.Errorf("progress line %q", p.String())
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	upd, _ := rep.Op("update")
	if upd.Errors != 0 {
		t.Errorf("%d errors: operations cut by the end of the run must not count (%v)", upd.Errors, upd.ErrorKinds)
	}
	if upd.Count == 0 || rep.Elapsed < 250*time.Millisecond || rep.Elapsed > 5*time.Second {
		t.Errorf("count %d elapsed %v", upd.Count, rep.Elapsed)
	}
	if lines.Load() < 2 {
		t.Errorf("%d progress lines in 300ms at 50ms, want several", lines.Load())
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		edit func(*Config)
		want string
	}{
		{func(c *Config) { c.Tables = nil }, "tables: need at least one"},
		{func(c *Config) { c.Records = 0 }, "records 0: want 1..100000000"},
		{func(c *Config) { c.Concurrency = 0 }, "concurrency 0: want 1..4096"},
		{func(c *Config) { c.ValueSize = -1 }, "value size -1: want 0..1048576"},
		{func(c *Config) { c.Duration = 0 }, "duration 0s: must be positive"},
		{func(c *Config) { c.Distribution = "x" }, `key distribution "x": want zipfian or uniform`},
		{func(c *Config) { c.Workload, _ = ParseWorkload("S"); c.ScanLength = 0 }, "scan length 0: want 1..10000"},
		// Each limit alone is fine; together they would hold 4 GiB of values alone.
		{func(c *Config) { c.Concurrency, c.ValueSize = MaxConcurrency, MaxValueSize },
			"concurrency 4096 with value size 1048576: the workers would hold about 5728 MiB (a value buffer and 3 latency histograms each); want at most 2048 MiB: lower either"},
	} {
		cfg := testConfig("A")
		tc.edit(&cfg)
		if _, err := Run(context.Background(), NewMapStore(), cfg, nil); err == nil || err.Error() != tc.want {
			t.Errorf("Run = %v, want %q", err, tc.want)
		}
	}
}

// deadlineOnly is a context whose deadline is set but whose timer has not fired yet.
type deadlineOnly struct {
	context.Context
	d time.Time
}

func (c deadlineOnly) Deadline() (time.Time, bool) { return c.d, true }

// An operation failing from the run's deadline a moment before the context's timer fires is
// the end of the run, not an error of the store.
func TestEndedAtDeadlineBeforeTimerFires(t *testing.T) {
	bg := context.Background()
	if !ended(deadlineOnly{bg, time.Now().Add(-time.Millisecond)}) {
		t.Error("a passed deadline is not the end of the run")
	}
	if ended(deadlineOnly{bg, time.Now().Add(time.Hour)}) {
		t.Error("a future deadline ended the run")
	}
	if ended(bg) {
		t.Error("a context without deadline ended the run")
	}
	ctx, cancel := context.WithCancel(bg)
	cancel()
	if !ended(ctx) {
		t.Error("a cancelled context did not end the run")
	}
}
