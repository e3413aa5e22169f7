package bench

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// Limits of a Config, so a typo cannot ask for a billion goroutines or a gigabyte value.
const (
	MaxConcurrency = 4096
	MaxKeySize     = 1 << 10
	MaxValueSize   = 1 << 20
	MaxScanLength  = 10_000
	MaxRecords     = 100_000_000
	// MaxWorkerMemory bounds what the workers of one run hold together: each has a value
	// buffer and a histogram per operation kind in use plus one of them all (about 140 KB
	// each), so the two limits above cannot multiply into more memory than the machine has.
	MaxWorkerMemory = 2 << 30
)

// Config is one benchmark run.
type Config struct {
	Workload Workload
	// Tables the records are spread over: record i lives in Tables[i % len(Tables)].
	Tables []string
	// Records is the record count: what Load inserts and what reads and updates choose from.
	Records uint64
	// KeySize is the minimum key length (KeyName pads to it); ValueSize is every value's length.
	KeySize, ValueSize int
	// Concurrency is the number of workers, each with one operation in flight.
	Concurrency int
	// Duration bounds Run; MaxOps, when positive, also bounds it (the total operations started).
	Duration time.Duration
	MaxOps   int64
	// Distribution of the chosen records: "zipfian" or "uniform".
	Distribution string
	// ScanLength is the most rows a scan asks for; each scan asks for 1..ScanLength, uniformly.
	ScanLength int
	// Seed seeds every random source: worker w uses Seed+w.
	Seed uint64
	// ErrorBackoff is how long a worker waits after a failed operation (0: none), so a
	// partition without a leader is not hammered by retries that only count errors.
	ErrorBackoff time.Duration
	// ProgressInterval is how often Run and Load report progress (0: 1s).
	ProgressInterval time.Duration
	// Classify names the kind of a failed operation's error (nil: "error").
	Classify func(error) string
	// Now is the clock of latencies and elapsed time (nil: time.Now).
	Now func() time.Time
}

// Validate rejects a Config the runner cannot run, naming the field and the rule.
func (c *Config) Validate() error {
	switch {
	case len(c.Tables) == 0:
		return errors.New("tables: need at least one")
	case c.Records < 1 || c.Records > MaxRecords:
		return fmt.Errorf("records %d: want 1..%d", c.Records, MaxRecords)
	case c.KeySize < 0 || c.KeySize > MaxKeySize:
		return fmt.Errorf("key size %d: want 0..%d", c.KeySize, MaxKeySize)
	case c.ValueSize < 0 || c.ValueSize > MaxValueSize:
		return fmt.Errorf("value size %d: want 0..%d", c.ValueSize, MaxValueSize)
	case c.Concurrency < 1 || c.Concurrency > MaxConcurrency:
		return fmt.Errorf("concurrency %d: want 1..%d", c.Concurrency, MaxConcurrency)
	case c.Duration <= 0:
		return fmt.Errorf("duration %v: must be positive", c.Duration)
	case c.MaxOps < 0:
		return fmt.Errorf("max ops %d: must not be negative", c.MaxOps)
	case c.Workload.Mix[OpScan] > 0 && (c.ScanLength < 1 || c.ScanLength > MaxScanLength):
		return fmt.Errorf("scan length %d: want 1..%d", c.ScanLength, MaxScanLength)
	case c.ErrorBackoff < 0:
		return fmt.Errorf("error backoff %v: must not be negative", c.ErrorBackoff)
	case c.ProgressInterval < 0:
		return fmt.Errorf("progress interval %v: must not be negative", c.ProgressInterval)
	}
	if err := c.Workload.Validate(); err != nil {
		return err
	}
	if need := c.workerMemory(); need > MaxWorkerMemory {
		return fmt.Errorf("concurrency %d with value size %d: the workers would hold about %d MiB (a value buffer and %d latency histograms each); want at most %d MiB: lower either",
			c.Concurrency, c.ValueSize, need>>20, c.histsPerWorker(), MaxWorkerMemory>>20)
	}
	_, err := NewChooser(c.Distribution, 1)
	return err
}

// histsPerWorker is how many histograms each worker of Run keeps: one per kind of the mix and
// one of them all.
func (c *Config) histsPerWorker() int {
	n := 1
	for _, f := range c.Workload.Mix {
		if f > 0 {
			n++
		}
	}
	return n
}

// workerMemory estimates what the workers of Run hold together, in bytes.
func (c *Config) workerMemory() int64 {
	per := int64(c.ValueSize) + int64(c.histsPerWorker()*newHist().ByteSize())
	return int64(c.Concurrency) * per
}

func (c *Config) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c *Config) classify(err error) string {
	if c.Classify != nil {
		return c.Classify(err)
	}
	return "error"
}

func (c *Config) table(i uint64) string { return c.Tables[i%uint64(len(c.Tables))] }

// Load puts records 0..Records-1 with Concurrency workers and reports it as the "insert"
// operation of phase "load". A failed put is retried up to three times (each failure counts);
// the load goes on past records that still fail. progress, when not nil, is called about every
// ProgressInterval from one goroutine.
func Load(ctx context.Context, s Store, cfg Config, progress func(Progress)) (Report, error) {
	if err := cfg.Validate(); err != nil {
		return Report{}, err
	}
	var next atomic.Uint64
	body := func(ctx context.Context, w int, r *rand.Rand, rec *recorder) {
		var key []byte
		value := randomValue(r, cfg.ValueSize)
		for ctx.Err() == nil {
			i := next.Add(1) - 1
			if i >= cfg.Records {
				return
			}
			key = AppendKey(key[:0], i, cfg.KeySize)
			for attempt := 0; attempt < 4 && ctx.Err() == nil; attempt++ {
				start := cfg.now()
				err := s.Put(ctx, cfg.table(i), key, value)
				if err == nil {
					rec.ok(OpInsert, cfg.now().Sub(start), false)
					break
				}
				if ended(ctx) {
					return
				}
				rec.fail(OpInsert, cfg.classify(err), err)
				backoff(ctx, max(cfg.ErrorBackoff, 10*time.Millisecond))
			}
		}
	}
	return run(ctx, cfg, "load", 0, body, progress)
}

// Run runs the workload for Duration (or MaxOps operations, or until ctx ends) with
// Concurrency workers and reports each operation kind. progress, when not nil, is called about
// every ProgressInterval from one goroutine.
func Run(ctx context.Context, s Store, cfg Config, progress func(Progress)) (Report, error) {
	if err := cfg.Validate(); err != nil {
		return Report{}, err
	}
	chooser, err := NewChooser(cfg.Distribution, cfg.Records)
	if err != nil {
		return Report{}, err
	}
	var issued atomic.Int64
	var inserted atomic.Uint64
	body := func(ctx context.Context, w int, r *rand.Rand, rec *recorder) {
		var key []byte
		value := randomValue(r, cfg.ValueSize)
		for ctx.Err() == nil {
			if cfg.MaxOps > 0 && issued.Add(1) > cfg.MaxOps {
				return
			}
			op := cfg.Workload.Pick(r)
			var i uint64
			if op == OpInsert {
				i = cfg.Records + inserted.Add(1) - 1
			} else {
				i = chooser.Next(r)
			}
			key = AppendKey(key[:0], i, cfg.KeySize)
			table := cfg.table(i)
			var err error
			miss := false
			start := cfg.now()
			switch op {
			case OpRead:
				var found bool
				found, err = s.Get(ctx, table, key)
				miss = !found
			case OpUpdate, OpInsert:
				if len(value) >= 8 { // a different value each time, cheaply
					value[r.IntN(len(value))]++
				}
				err = s.Put(ctx, table, key, value)
			case OpScan:
				_, err = s.Scan(ctx, table, key, 1+r.IntN(cfg.ScanLength))
			}
			d := cfg.now().Sub(start)
			if err != nil {
				if ended(ctx) {
					return // cut short by the end of the run: not a sample
				}
				rec.fail(op, cfg.classify(err), err)
				backoff(ctx, cfg.ErrorBackoff)
				continue
			}
			rec.ok(op, d, miss)
		}
	}
	return run(ctx, cfg, "run", cfg.Duration, body, progress)
}

// ended reports whether the run is over: its context is done or its deadline has passed. An
// operation can fail from the deadline (the server's copy of it) a moment before ctx's own
// timer fires; such a failure is the end of the run, not an error of the store.
func ended(ctx context.Context) bool {
	if ctx.Err() != nil {
		return true
	}
	d, ok := ctx.Deadline()
	return ok && !time.Now().Before(d)
}

func randomValue(r *rand.Rand, n int) []byte {
	const letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	v := make([]byte, n)
	for i := range v {
		v[i] = letters[r.IntN(len(letters))]
	}
	return v
}

func backoff(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// run starts the workers and the progress ticker, waits for the workers (at most limit, when
// positive) and builds the report.
func run(ctx context.Context, cfg Config, phase string, limit time.Duration, body func(context.Context, int, *rand.Rand, *recorder), progress func(Progress)) (Report, error) {
	var kinds [numOpKinds]bool
	for k, f := range cfg.Workload.Mix {
		kinds[k] = f > 0
	}
	if phase == "load" {
		kinds = [numOpKinds]bool{OpInsert: true}
	}
	recs := make([]*recorder, cfg.Concurrency)
	for i := range recs {
		recs[i] = newRecorder(kinds)
	}
	if limit > 0 { // the clock starts once the histograms are ready
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, limit)
		defer cancel()
	}
	start := cfg.now()
	var wg sync.WaitGroup
	for w := range recs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			seed := cfg.Seed + uint64(w)
			body(ctx, w, rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), recs[w])
		}()
	}
	stop := make(chan struct{})
	var pwg sync.WaitGroup
	if progress != nil {
		interval := cfg.ProgressInterval
		if interval == 0 {
			interval = time.Second
		}
		pwg.Add(1)
		go func() {
			defer pwg.Done()
			t := time.NewTicker(interval)
			defer t.Stop()
			var lastOps int64
			lastAt := start
			for {
				select {
				case <-stop:
					return
				case <-t.C:
				}
				h, errs := mergeAll(recs)
				now := cfg.now()
				p := Progress{Phase: phase, Elapsed: now.Sub(start), Ops: h.TotalCount(), Errors: errs,
					P50: micros(h.ValueAtQuantile(50)), P99: micros(h.ValueAtQuantile(99))}
				if dt := now.Sub(lastAt); dt > 0 {
					p.OpsPerSec = float64(p.Ops-lastOps) / dt.Seconds()
				}
				lastOps, lastAt = p.Ops, now
				progress(p)
			}
		}()
	}
	wg.Wait()
	elapsed := cfg.now().Sub(start)
	close(stop)
	pwg.Wait()
	return buildReport(merge(recs), cfg.Workload.Name, phase, cfg.Concurrency, elapsed), nil
}
