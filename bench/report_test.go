package bench

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func sampleReport() Report {
	ms := time.Millisecond
	return Report{Workload: "A", Phase: "run", Concurrency: 64, Elapsed: 10 * time.Second, Ops: []OpReport{
		{Op: "read", Count: 100000, OpsPerSec: 10000, P50: 412 * time.Microsecond, P90: ms, P99: 3 * ms, P999: 9 * ms, Max: 25 * ms, ErrorKinds: map[string]int64{}},
		{Op: "update", Count: 99000, OpsPerSec: 9900, P50: 2 * ms, P90: 4 * ms, P99: 8 * ms, P999: 20 * ms, Max: 1500 * ms,
			Errors: 12, ErrorKinds: map[string]int64{"outcome_unknown": 2, "not_leader": 10},
			ErrorExamples: map[string]string{"not_leader": "put k1: not leader: leader is s2", "outcome_unknown": "put k7: write outcome unknown"}},
		{Op: "total", Count: 199000, OpsPerSec: 19900, P50: ms, P90: 3 * ms, P99: 7 * ms, P999: 18 * ms, Max: 1500 * ms, Errors: 12},
	}}
}

func TestWriteTable(t *testing.T) {
	var b strings.Builder
	if err := sampleReport().WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	want := `workload A, run phase, 64 clients, 10s
      OP   COUNT  OPS/S      P50      P90      P99     P99.9         MAX  ERRORS  NOT FOUND
    read  100000  10000  0.412ms  1.000ms  3.000ms   9.000ms    25.000ms       0          0
  update   99000   9900  2.000ms  4.000ms  8.000ms  20.000ms  1500.000ms      12          0
   total  199000  19900  1.000ms  3.000ms  7.000ms  18.000ms  1500.000ms      12          0
errors of update: not_leader 10, outcome_unknown 2
  e.g. not_leader: put k1: not leader: leader is s2
  e.g. outcome_unknown: put k7: write outcome unknown
`
	if b.String() != want {
		t.Errorf("table:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestReportJSON(t *testing.T) {
	b, err := json.Marshal(sampleReport())
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Workload string  `json:"workload"`
		Elapsed  float64 `json:"elapsed_s"`
		Ops      []struct {
			Op         string            `json:"op"`
			P50        int64             `json:"p50_us"`
			Max        int64             `json:"max_us"`
			ErrorKinds map[string]int64  `json:"error_kinds"`
			Examples   map[string]string `json:"error_examples"`
		} `json:"ops"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if got.Workload != "A" || got.Elapsed != 10 || len(got.Ops) != 3 || got.Ops[0].P50 != 412 || got.Ops[1].Max != 1500000 ||
		got.Ops[1].ErrorKinds["not_leader"] != 10 || got.Ops[2].ErrorKinds == nil ||
		got.Ops[1].Examples["not_leader"] != "put k1: not leader: leader is s2" || got.Ops[2].Examples == nil {
		t.Errorf("json %s decodes to %+v", b, got)
	}
}

func TestProgressLine(t *testing.T) {
	p := Progress{Phase: "run", Elapsed: 3 * time.Second, Ops: 45000, OpsPerSec: 15000.4, P50: 3 * time.Millisecond, P99: 12500 * time.Microsecond, Errors: 2}
	want := "run   3.0s      45000 ops     15000 ops/s  p50 3.000ms  p99 12.500ms  errors 2"
	if p.String() != want {
		t.Errorf("progress %q, want %q", p.String(), want)
	}
}

func TestErrorExamplesKeepTheFirstAndCutLongOnes(t *testing.T) {
	r := newRecorder([numOpKinds]bool{OpRead: true})
	r.fail(OpRead, "timeout", errors.New("first"))
	r.fail(OpRead, "timeout", errors.New("second"))
	r.fail(OpRead, "other", errors.New(strings.Repeat("x", 1000)))
	rep := buildReport(merge([]*recorder{r}), "C", "run", 1, time.Second)
	read, _ := rep.Op("read")
	if read.ErrorExamples["timeout"] != "first" {
		t.Errorf("timeout example %q, want the first message", read.ErrorExamples["timeout"])
	}
	if got := read.ErrorExamples["other"]; len(got) != maxExampleBytes+3 || !strings.HasSuffix(got, "...") {
		t.Errorf("long example of %d bytes, want %d cut with ...", len(got), maxExampleBytes+3)
	}
	total, _ := rep.Op("total")
	if len(total.ErrorExamples) != 2 || total.Errors != 3 {
		t.Errorf("total: %d errors, examples %q", total.Errors, total.ErrorExamples)
	}
}
