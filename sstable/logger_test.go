package sstable

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

// Badger's errors and warnings reach the server's log; of its informational lines only long
// compactions (as figures, without badger's table lists) and level-0 stalls do.
func TestSlogLoggerKeepsWhatAnOperatorNeeds(t *testing.T) {
	var buf bytes.Buffer
	l := SlogLogger(slog.New(slog.NewTextHandler(&buf, nil)))
	lines := func() []string {
		s := strings.TrimSpace(buf.String())
		buf.Reset()
		if s == "" {
			return nil
		}
		return strings.Split(s, "\n")
	}

	l.Errorf("Failure while flushing memtable to disk: %v. Retrying...\n", "disk full")
	l.Warningf("Block cache might be too small.\n")
	got := lines()
	if len(got) != 2 || !strings.Contains(got[0], "level=ERROR") || !strings.Contains(got[0], "disk full. Retrying...") ||
		!strings.Contains(got[1], "level=WARN") || !strings.Contains(got[1], "Block cache might be too small") {
		t.Fatalf("errors and warnings: %q", got)
	}

	// The line badger v4 prints for a compaction over two seconds (levels.go).
	l.Infof("[%d]%s LOG Compact %d->%d (%d, %d -> %d tables with %d splits). [%s] -> [%s], took %v\n, deleted %d bytes",
		1, " [E]", 0, 6, 8, 3, 12, 2, "00001 00002 00003", "00010 00011", "4.512s", 123456)
	l.Infof("L0 was stalled for %s\n", "1.2s")
	got = lines()
	if len(got) != 2 {
		t.Fatalf("a long compaction and a stall: %q", got)
	}
	for _, want := range []string{"badger compaction took long", "from_level=0", "to_level=6", "tables_in=11", "tables_out=12",
		"splits=2", "took=4.512s", "freed_bytes=123456"} {
		if !strings.Contains(got[0], want) {
			t.Errorf("compaction line %q lacks %q", got[0], want)
		}
	}
	if strings.Contains(got[0], "00001") {
		t.Errorf("compaction line %q lists badger's tables", got[0])
	}
	if !strings.Contains(got[1], "level=WARN") || !strings.Contains(got[1], "for=1.2s") {
		t.Errorf("stall line %q", got[1])
	}

	// A compaction line in other words (another badger version) is kept, its table lists cut.
	l.Infof("LOG Compact L0 into L6: [%s]\n", strings.Repeat("00001 ", 200))
	if got := lines(); len(got) != 1 || !strings.Contains(got[0], "badger compaction") || len(got[0]) > maxBadgerLine+200 {
		t.Fatalf("a compaction line badger wrote otherwise: %q", got)
	}

	l.Infof("All %d tables opened in %s\n", 12, "3ms")
	l.Debugf("Replaying file id: %d at offset: %d\n", 1, 0)
	if got := lines(); got != nil {
		t.Fatalf("routine lines logged: %q", got)
	}
}
