package check

import (
	"fmt"
	"sort"
	"strings"
)

// Write is a write as its client saw it.
type Write struct {
	Key   string
	Value string
	// Delete marks a delete of Key (Value is ignored).
	Delete bool
	// Version is the commit version the store returned; 0 when Unknown.
	Version uint64
	// Unknown marks a write whose outcome the client could not learn (timeout, server gone): it
	// may exist, at a version nobody knows. A write the store refused (not leader, aborted) is
	// not a Write at all: it certainly does not exist.
	Unknown bool
}

// WeakRead is one weak Get as its client saw it.
type WeakRead struct {
	// Client identifies the reader; Seq orders its reads as the client issued them, one after
	// the other (a client's reads do not overlap).
	Client, Seq int
	// Partition is the partition of Key: read versions are compared within one partition.
	Partition int
	Key       string
	Found     bool
	Value     string
	// ReadVersion and StalenessMs are the response's ReadMeta.
	ReadVersion uint64
	StalenessMs int64
	// MaxStalenessMs is the bound the read asked for (0: none).
	MaxStalenessMs int64
	// SentUnixMicro, when not 0, is the client's wall clock when it sent the read. It lets the
	// checker verify the bound without trusting the server's StalenessMs: the server measures
	// staleness against its own clock, read after SentUnixMicro, so a read within the bound has
	// ReadVersion >= SentUnixMicro - (MaxStalenessMs+1) ms. Valid only when the client and the
	// servers share a clock (one machine, as on loopback).
	SentUnixMicro int64
	// ServedBy names the replica that answered, for messages only.
	ServedBy string
}

// ViolationKind classifies what a weak read got wrong.
type ViolationKind string

// Violation kinds.
const (
	// NotLatest: the read did not return the latest write at or below its read version: it
	// returned an older value, nothing, a value written only above its version, or a value no
	// write produced.
	NotLatest ViolationKind = "not the latest write at its version"
	// OverBound: the read was staler than its max_staleness bound.
	OverBound ViolationKind = "staler than its bound"
	// WentBack: the read's version is below that of an earlier read of the same client on the
	// same partition.
	WentBack ViolationKind = "read version went back"
	// SameVersion: two acknowledged writes of one key returned the same version with different
	// effects, so no read can tell which is latest.
	SameVersion ViolationKind = "two writes of a key at one version"
)

// Violation is one broken rule.
type Violation struct {
	Kind   ViolationKind
	Read   WeakRead // zero for SameVersion
	Detail string
}

func (v Violation) String() string {
	if v.Kind == SameVersion {
		return fmt.Sprintf("%s: %s", v.Kind, v.Detail)
	}
	r := v.Read
	got := "none"
	if r.Found {
		got = fmt.Sprintf("%q", r.Value)
	}
	return fmt.Sprintf("%s: client %d read #%d of %q (partition %d) from %s at version %d (%d ms stale, bound %d ms) -> %s: %s",
		v.Kind, r.Client, r.Seq, r.Key, r.Partition, r.ServedBy, r.ReadVersion, r.StalenessMs, r.MaxStalenessMs, got, v.Detail)
}

// keyWrites are the writes of one key: the acknowledged ones by ascending version, and the
// effects the unknown ones may have had.
type keyWrites struct {
	acked          []Write
	unknownValues  map[string]bool
	unknownDeletes bool
}

// CheckWeakReads checks weak reads against the writes they could have seen (DESIGN.md
// invariant 5) and returns every violation, in a deterministic order:
//
//   - a read at version v returns the latest acknowledged write of its key with version <= v
//     (nothing if there is none, or if it is a delete). A write of unknown outcome may exist at
//     any version, so a read may also return its value (or nothing, for an unknown delete);
//     this accepts some wrong reads (one that returns an unknown write's value it could not
//     have seen) but flags no right one;
//   - with a bound, StalenessMs <= MaxStalenessMs, and, when SentUnixMicro is known,
//     ReadVersion >= SentUnixMicro - (MaxStalenessMs+1) ms (see WeakRead.SentUnixMicro);
//   - a client's successive reads of one partition never read at a lower version.
//
// writes must hold every write acknowledged to any client (a missing one makes reads of it
// look wrong) and every write of unknown outcome.
func CheckWeakReads(writes []Write, reads []WeakRead) []Violation {
	var out []Violation
	byKey := map[string]*keyWrites{}
	for _, w := range writes {
		kw := byKey[w.Key]
		if kw == nil {
			kw = &keyWrites{unknownValues: map[string]bool{}}
			byKey[w.Key] = kw
		}
		switch {
		case !w.Unknown:
			kw.acked = append(kw.acked, w)
		case w.Delete:
			kw.unknownDeletes = true
		default:
			kw.unknownValues[w.Value] = true
		}
	}
	keys := make([]string, 0, len(byKey))
	for k, kw := range byKey {
		keys = append(keys, k)
		sort.SliceStable(kw.acked, func(i, j int) bool { return kw.acked[i].Version < kw.acked[j].Version })
	}
	sort.Strings(keys)
	for _, k := range keys {
		acked := byKey[k].acked
		for i := 1; i < len(acked); i++ {
			a, b := acked[i-1], acked[i]
			if a.Version == b.Version && (a.Delete != b.Delete || !a.Delete && a.Value != b.Value) {
				out = append(out, Violation{Kind: SameVersion, Detail: fmt.Sprintf("key %q: %s and %s both at version %d", k, describeWrite(a), describeWrite(b), a.Version)})
			}
		}
	}

	sorted := append([]WeakRead(nil), reads...)
	sort.SliceStable(sorted, func(i, j int) bool {
		a, b := sorted[i], sorted[j]
		if a.Client != b.Client {
			return a.Client < b.Client
		}
		return a.Seq < b.Seq
	})
	type clientPartition struct{ client, partition int }
	last := map[clientPartition]WeakRead{}
	for _, r := range sorted {
		if detail := checkValue(byKey[r.Key], r); detail != "" {
			out = append(out, Violation{Kind: NotLatest, Read: r, Detail: detail})
		}
		if r.MaxStalenessMs > 0 {
			if r.StalenessMs > r.MaxStalenessMs {
				out = append(out, Violation{Kind: OverBound, Read: r, Detail: "the server says so itself"})
			} else if floor := r.SentUnixMicro - (r.MaxStalenessMs+1)*1000; r.SentUnixMicro != 0 && int64(r.ReadVersion) < floor {
				out = append(out, Violation{Kind: OverBound, Read: r, Detail: fmt.Sprintf(
					"sent at %d us, so a version within the bound is at least %d, %d ms more than this one; the server claimed %d ms",
					r.SentUnixMicro, floor, (floor-int64(r.ReadVersion))/1000, r.StalenessMs)})
			}
		}
		cp := clientPartition{r.Client, r.Partition}
		if prev, ok := last[cp]; ok && r.ReadVersion < prev.ReadVersion {
			out = append(out, Violation{Kind: WentBack, Read: r, Detail: fmt.Sprintf(
				"the client's previous read of partition %d (#%d of %q from %s) was at version %d", r.Partition, prev.Seq, prev.Key, prev.ServedBy, prev.ReadVersion)})
		}
		if prev, ok := last[cp]; !ok || r.ReadVersion >= prev.ReadVersion {
			last[cp] = r
		}
	}
	return out
}

// checkValue says what is wrong with r's result given its key's writes, or "".
func checkValue(kw *keyWrites, r WeakRead) string {
	if kw == nil {
		kw = &keyWrites{}
	}
	// latest is the last acknowledged write at or below the read version, if any.
	n := sort.Search(len(kw.acked), func(i int) bool { return kw.acked[i].Version > r.ReadVersion })
	var latest *Write
	if n > 0 {
		latest = &kw.acked[n-1]
	}
	if !r.Found {
		if latest == nil || latest.Delete || kw.unknownDeletes {
			return ""
		}
		return fmt.Sprintf("found nothing, but %s is acknowledged at or below it", describeWrite(*latest))
	}
	if latest != nil && !latest.Delete && latest.Value == r.Value || kw.unknownValues[r.Value] {
		return ""
	}
	want := "nothing (no acknowledged write at or below it)"
	if latest != nil {
		want = describeWrite(*latest)
	}
	var also []string
	for _, w := range kw.acked {
		if !w.Delete && w.Value == r.Value {
			also = append(also, fmt.Sprint(w.Version))
		}
	}
	if len(also) == 0 {
		return fmt.Sprintf("no write of the key produced this value; want %s", want)
	}
	return fmt.Sprintf("the value was written at version(s) %s, but the latest at or below the read version is %s", strings.Join(also, ","), want)
}

func describeWrite(w Write) string {
	if w.Delete {
		return fmt.Sprintf("delete@%d", w.Version)
	}
	return fmt.Sprintf("%q@%d", w.Value, w.Version)
}
