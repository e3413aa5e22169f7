package sstable

import (
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// SlogLogger passes badger's log lines to log: its errors and warnings as they are, and of its
// informational lines the two an operator needs: compactions that took more than two seconds
// (badger logs only those; the long ones starve a server's other work of CPU and disk,
// docs/performance.md, eighteenth session) and stalls of writes into level 0 (dumps wait
// meanwhile). The rest (table opening, replay, debug) is dropped.
func SlogLogger(log *slog.Logger) badger.Logger { return badgerLog{log} }

type badgerLog struct{ log *slog.Logger }

func (b badgerLog) Errorf(format string, args ...any) {
	b.log.Error("badger: " + clean(fmt.Sprintf(format, args...)))
}

func (b badgerLog) Warningf(format string, args ...any) {
	b.log.Warn("badger: " + clean(fmt.Sprintf(format, args...)))
}

func (b badgerLog) Debugf(string, ...any) {}

// compactLine matches badger's line for a long compaction (levels.go, "LOG Compact"), whose
// middle lists every table in and out: only the figures are kept.
var compactLine = regexp.MustCompile(`LOG Compact (\d+)->(\d+) \((\d+), (\d+) -> (\d+) tables with (\d+) splits\)\..*took ([^\s,]+)\s*, deleted (-?\d+) bytes`)

func (b badgerLog) Infof(format string, args ...any) {
	line := fmt.Sprintf(format, args...)
	switch {
	case strings.Contains(line, "LOG Compact"):
		m := compactLine.FindStringSubmatch(strings.ReplaceAll(line, "\n", " "))
		if m == nil {
			// Another badger version's wording: keep the line, but not its table lists.
			if line = clean(line); len(line) > maxBadgerLine {
				line = line[:maxBadgerLine] + "..."
			}
			b.log.Info("badger compaction", "line", line)
			return
		}
		took, _ := time.ParseDuration(m[7])
		freed, _ := strconv.ParseInt(m[8], 10, 64)
		b.log.Info("badger compaction took long", "from_level", m[1], "to_level", m[2],
			"tables_in", atoi(m[3])+atoi(m[4]), "tables_out", atoi(m[5]), "splits", atoi(m[6]),
			"took", took, "freed_bytes", freed)
	case strings.HasPrefix(line, "L0 was stalled for "):
		b.log.Warn("badger stalled writes into level 0 (dumps waited for compactions)",
			"for", strings.TrimSpace(strings.TrimPrefix(line, "L0 was stalled for ")))
	}
}

// maxBadgerLine bounds a compaction line kept as badger wrote it: badger lists every table the
// compaction read and wrote, hundreds for a large one.
const maxBadgerLine = 300

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

// clean makes one log line of badger's text: no trailing newline, inner ones as spaces.
func clean(s string) string { return strings.ReplaceAll(strings.TrimSpace(s), "\n", " ") }
