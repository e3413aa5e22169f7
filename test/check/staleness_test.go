package check

import (
	"strings"
	"testing"
)

// writes of the staleness tests: key x at versions 100, 200, 300 (a delete), 400; key y at 150;
// an unknown-outcome write of x = "u" and an unknown delete of y.
var stalenessWrites = []Write{
	{Key: "x", Value: "a", Version: 100},
	{Key: "x", Value: "c", Version: 400},
	{Key: "x", Value: "b", Version: 200},
	{Key: "x", Delete: true, Version: 300},
	{Key: "y", Value: "p", Version: 150},
	{Key: "x", Value: "u", Unknown: true},
	{Key: "y", Delete: true, Unknown: true},
}

func read(client, seq int, key string, found bool, value string, version uint64) WeakRead {
	return WeakRead{Client: client, Seq: seq, Key: key, Found: found, Value: value, ReadVersion: version, ServedBy: "s4"}
}

func TestWeakReadsGood(t *testing.T) {
	bounded := read(1, 2, "x", true, "c", 1_000_400)
	bounded.StalenessMs, bounded.MaxStalenessMs, bounded.SentUnixMicro = 1000, 1000, 2_000_000
	otherPartition := read(0, 9, "y", true, "p", 160)
	otherPartition.Partition = 1
	reads := []WeakRead{
		read(0, 0, "x", false, "", 50),        // before any write
		read(0, 1, "x", true, "a", 100),       // exactly at a write's version
		read(0, 2, "x", true, "a", 199),       // between writes
		read(0, 3, "x", true, "b", 250),       // the next write
		read(0, 4, "x", false, "", 300),       // deleted
		read(0, 5, "x", true, "c", 400),       // exactly at the latest
		read(0, 6, "x", true, "c", 1000),      // above the latest
		read(0, 7, "x", true, "u", 1000),      // an unknown write may exist at any version
		read(0, 8, "y", false, "", 1000),      // an unknown delete may too
		otherPartition,                        // a lower version on another partition is no going back
		read(0, 10, "z", false, "", 1000),     // a key nobody wrote
		read(1, 0, "x", true, "c", 5000),      // other clients have their own order
		read(1, 1, "x", true, "c", 5000),      // the same version again is not going back
		bounded,                               // within the bound by both clocks
		read(2, 0, "x", true, "u", 120),       // an unknown value, early
		read(2, 1, "y", false, "", 120),       // y not written yet
		read(3, 0, "x", true, "c", 5_000_000), // no bound: any staleness
	}
	if v := CheckWeakReads(stalenessWrites, reads); len(v) != 0 {
		t.Fatalf("violations in a good history:\n%s", join(v))
	}
}

// TestWeakReadsBad: the checker must be able to fail (STYLE.md rule 4): each case plants one
// wrong read and expects exactly one violation of its kind.
func TestWeakReadsBad(t *testing.T) {
	overClaimed := read(0, 0, "x", true, "c", 500)
	overClaimed.StalenessMs, overClaimed.MaxStalenessMs = 1200, 1000
	overHidden := read(0, 0, "x", true, "c", 500_000)
	overHidden.StalenessMs, overHidden.MaxStalenessMs, overHidden.SentUnixMicro = 10, 1000, 2_000_000
	for _, tc := range []struct {
		name   string
		writes []Write
		reads  []WeakRead
		kind   ViolationKind
		detail string
	}{
		{"stale read: older value than the latest at its version", stalenessWrites,
			[]WeakRead{read(0, 0, "x", true, "a", 250)}, NotLatest, `latest at or below the read version is "b"@200`},
		{"lost write: nothing found after an acknowledged write", stalenessWrites,
			[]WeakRead{read(0, 0, "x", false, "", 250)}, NotLatest, `found nothing, but "b"@200`},
		{"read from the future", stalenessWrites,
			[]WeakRead{read(0, 0, "x", true, "c", 399)}, NotLatest, "written at version(s) 400"},
		{"a value no write produced", stalenessWrites,
			[]WeakRead{read(0, 0, "x", true, "zz", 1000)}, NotLatest, "no write of the key produced"},
		{"a deleted value", stalenessWrites,
			[]WeakRead{read(0, 0, "x", true, "b", 350)}, NotLatest, "delete@300"},
		{"a value before any write", stalenessWrites,
			[]WeakRead{read(0, 0, "x", true, "a", 99)}, NotLatest, "nothing (no acknowledged write"},
		{"over the bound by the server's word", stalenessWrites,
			[]WeakRead{overClaimed}, OverBound, "the server says so"},
		{"over the bound by the client's clock", stalenessWrites,
			[]WeakRead{overHidden}, OverBound, "sent at 2000000 us"},
		{"a read that goes back", stalenessWrites,
			[]WeakRead{read(0, 0, "x", true, "c", 900), read(0, 1, "x", true, "c", 500), read(1, 0, "x", true, "c", 400)}, WentBack, "was at version 900"},
		{"going back across keys of one partition", stalenessWrites,
			[]WeakRead{read(0, 0, "y", true, "p", 900), read(0, 1, "x", true, "b", 250)}, WentBack, `#0 of "y"`},
		{"two writes of a key at one version", []Write{{Key: "x", Value: "a", Version: 7}, {Key: "x", Value: "b", Version: 7}},
			nil, SameVersion, `"a"@7 and "b"@7`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := CheckWeakReads(tc.writes, tc.reads)
			if len(v) != 1 || v[0].Kind != tc.kind || !strings.Contains(v[0].String(), tc.detail) {
				t.Fatalf("got %d violations:\n%s\nwant one %q containing %q", len(v), join(v), tc.kind, tc.detail)
			}
		})
	}
}

// TestWeakReadsOrder: violations come out by client, then by the client's order, whatever
// the order of the input.
func TestWeakReadsOrder(t *testing.T) {
	reads := []WeakRead{read(1, 1, "x", true, "a", 90), read(0, 1, "x", true, "a", 95), read(1, 0, "x", true, "a", 100), read(0, 0, "x", true, "a", 100)}
	v := CheckWeakReads(stalenessWrites, reads)
	type key struct {
		client, seq int
		kind        ViolationKind
	}
	want := []key{{0, 1, NotLatest}, {0, 1, WentBack}, {1, 1, NotLatest}, {1, 1, WentBack}}
	if len(v) != len(want) {
		t.Fatalf("got %d violations, want %d:\n%s", len(v), len(want), join(v))
	}
	for i, x := range v {
		if got := (key{x.Read.Client, x.Read.Seq, x.Kind}); got != want[i] {
			t.Errorf("violation %d is %+v, want %+v", i, got, want[i])
		}
	}
}

func join(v []Violation) string {
	var b strings.Builder
	for _, x := range v {
		b.WriteString("  " + x.String() + "\n")
	}
	return b.String()
}
