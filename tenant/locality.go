package tenant

import (
	"fmt"
	"slices"
	"strings"

	"obkv/paxos"
)

// Limits on locality strings, so a hostile or mistyped value is refused before any work.
const (
	// MaxLocalityLen bounds the length of a locality string in bytes.
	MaxLocalityLen = 4096
	// MaxLocalityReplicas bounds the replicas of one locality (one per zone).
	MaxLocalityReplicas = 32
)

// Replica is one entry of a locality: the replica a zone holds.
type Replica struct {
	Zone string            `json:"zone"`
	Type paxos.ReplicaType `json:"type"`
}

// Locality is where a tenant's partitions keep replicas: at most one replica per zone
// (DESIGN.md: "a partition has at most one Paxos replica per zone"), sorted by zone name.
//
// Invariant (of values from ParseLocality and Apply): sorted by Zone, zones unique, types valid.
type Locality []Replica

// shortType and longType are the two spellings OceanBase's locality syntax accepts for a type.
func shortType(t paxos.ReplicaType) string {
	switch t {
	case paxos.Full:
		return "F"
	case paxos.LogOnly:
		return "L"
	case paxos.ReadOnly:
		return "R"
	}
	return "?"
}

func parseType(s string) (paxos.ReplicaType, bool) {
	switch strings.ToUpper(s) {
	case "F", "FULL":
		return paxos.Full, true
	case "L", "LOGONLY":
		return paxos.LogOnly, true
	case "R", "READONLY":
		return paxos.ReadOnly, true
	}
	return 0, false
}

// ParseLocality parses a locality: replicas separated by ',', each TYPE@ZONE where TYPE is F, L,
// R, FULL, LOGONLY or READONLY (any case), optionally followed by OceanBase's count "{1}"
// (FULL{1}@z1). Spaces around every token are allowed, so both "F@z1,F@z2,R@z4" and
// SHOW CREATE TENANT's "FULL{1}@z1, FULL{1}@z2, READONLY{1}@z4" parse.
//
// It checks syntax and "one replica per zone" only; Validate checks the quorum rules. Counts
// other than 1 (F{2}@z1, R{ALL_SERVER}@z1) are refused: a zone holds at most one replica of a
// partition here.
func ParseLocality(s string) (Locality, error) {
	if len(s) > MaxLocalityLen {
		return nil, errorf(ErrInvalid, "locality: %d bytes exceed the maximum of %d", len(s), MaxLocalityLen)
	}
	if strings.TrimSpace(s) == "" {
		return nil, errorf(ErrInvalid, "locality %q: empty (name at least one FULL replica, e.g. F@z1)", s)
	}
	items := strings.Split(s, ",")
	if len(items) > MaxLocalityReplicas {
		return nil, errorf(ErrInvalid, "locality %q: %d replicas exceed the maximum of %d", s, len(items), MaxLocalityReplicas)
	}
	loc := make(Locality, 0, len(items))
	seen := make(map[string]paxos.ReplicaType, len(items))
	for i, raw := range items {
		item := strings.TrimSpace(raw)
		if item == "" {
			return nil, errorf(ErrInvalid, "locality %q: replica %d is empty", s, i+1)
		}
		at := strings.IndexByte(item, '@')
		if at < 0 || strings.Count(item, "@") != 1 {
			return nil, errorf(ErrInvalid, "locality %q: replica %q is not TYPE@ZONE", s, item)
		}
		typ := strings.TrimSpace(item[:at])
		zone := strings.TrimSpace(item[at+1:])
		if open := strings.IndexByte(typ, '{'); open >= 0 {
			count := typ[open:]
			typ = strings.TrimSpace(typ[:open])
			if !strings.HasSuffix(count, "}") {
				return nil, errorf(ErrInvalid, "locality %q: replica %q: count %q is not {N}", s, item, count)
			}
			n := strings.TrimSpace(count[1 : len(count)-1])
			if n != "1" {
				return nil, errorf(ErrInvalid, "locality %q: replica %q: count {%s} is not supported (a zone holds at most one replica)", s, item, n)
			}
		}
		t, ok := parseType(typ)
		if !ok {
			return nil, errorf(ErrInvalid, "locality %q: replica type %s is not F, L, R, FULL, LOGONLY or READONLY", s, typ)
		}
		if zone == "" {
			return nil, errorf(ErrInvalid, "locality %q: replica %q names no zone", s, item)
		}
		if !ValidZoneName(zone) {
			return nil, errorf(ErrInvalid, "locality %q: zone name %q is not valid: letters, digits, '_', '-' and '.' only (at most %d bytes)", s, zone, MaxNameLen)
		}
		if prev, dup := seen[zone]; dup {
			return nil, errorf(ErrInvalid, "locality %q: two replicas in zone %s (%s and %s; a zone holds at most one replica)", s, zone, shortType(prev), shortType(t))
		}
		seen[zone] = t
		loc = append(loc, Replica{Zone: zone, Type: t})
	}
	slices.SortFunc(loc, func(a, b Replica) int { return strings.Compare(a.Zone, b.Zone) })
	return loc, nil
}

// String is the normalized short form: "F@z1,F@z2,L@z3,R@z4", sorted by zone.
func (l Locality) String() string {
	var b strings.Builder
	for i, r := range l {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(shortType(r.Type))
		b.WriteByte('@')
		b.WriteString(r.Zone)
	}
	return b.String()
}

// LongString is OceanBase's display form, as SHOW CREATE TENANT prints it:
// "FULL{1}@z1, FULL{1}@z2, READONLY{1}@z4".
func (l Locality) LongString() string {
	var b strings.Builder
	for i, r := range l {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s{1}@%s", r.Type, r.Zone)
	}
	return b.String()
}

// Type returns the type of the replica in zone, if the zone holds one.
func (l Locality) Type(zone string) (paxos.ReplicaType, bool) {
	for _, r := range l {
		if r.Zone == zone {
			return r.Type, true
		}
	}
	return 0, false
}

// Zones returns the zones that hold a replica, sorted.
func (l Locality) Zones() []string {
	out := make([]string, len(l))
	for i, r := range l {
		out[i] = r.Zone
	}
	return out
}

// ZonesOf returns the zones holding a replica of type t, sorted.
func (l Locality) ZonesOf(t paxos.ReplicaType) []string {
	var out []string
	for _, r := range l {
		if r.Type == t {
			out = append(out, r.Zone)
		}
	}
	return out
}

// Count returns how many replicas have type t.
func (l Locality) Count(t paxos.ReplicaType) int {
	n := 0
	for _, r := range l {
		if r.Type == t {
			n++
		}
	}
	return n
}

// Clone returns a copy that shares nothing with l.
func (l Locality) Clone() Locality { return slices.Clone(l) }

// Validate checks the rules every locality must keep, whatever the tenant:
//
//   - it is sorted by zone with one replica per zone and known types (true of parsed values);
//   - at least one FULL replica: only FULL replicas can lead (DESIGN.md, replica types);
//   - LOGONLY replicas do not outnumber FULL ones (L <= F). With V = F + L voters a majority has
//     V/2+1 members; L <= F is exactly the condition that every majority holds a FULL replica,
//     so whatever majority survives holds the data and can elect a leader. (F=1, L=1: quorum 2,
//     both needed, fine; F=1, L=2: the two L replicas are a majority without data.)
//
// READONLY replicas never vote and change neither rule.
func (l Locality) Validate() error {
	if len(l) == 0 {
		return errorf(ErrInvalid, "locality %q: empty (name at least one FULL replica, e.g. F@z1)", "")
	}
	if len(l) > MaxLocalityReplicas {
		return errorf(ErrInvalid, "locality %q: %d replicas exceed the maximum of %d", l.String(), len(l), MaxLocalityReplicas)
	}
	for i, r := range l {
		if r.Type < paxos.Full || r.Type > paxos.ReadOnly {
			return errorf(ErrInvalid, "locality %q: zone %s has unknown replica type %d", l.String(), r.Zone, uint8(r.Type))
		}
		if !ValidZoneName(r.Zone) {
			return errorf(ErrInvalid, "locality %q: zone name %q is not valid: letters, digits, '_', '-' and '.' only (at most %d bytes)", l.String(), r.Zone, MaxNameLen)
		}
		if i > 0 {
			switch c := strings.Compare(l[i-1].Zone, r.Zone); {
			case c == 0:
				return errorf(ErrInvalid, "locality %q: two replicas in zone %s (a zone holds at most one replica)", l.String(), r.Zone)
			case c > 0:
				return errorf(ErrInvalid, "locality %q: not sorted by zone (%s before %s)", l.String(), l[i-1].Zone, r.Zone)
			}
		}
	}
	f, lo := l.Count(paxos.Full), l.Count(paxos.LogOnly)
	if f == 0 {
		return errorf(ErrInvalid, "locality %q: no FULL replica (only a FULL replica can lead)", l.String())
	}
	if lo > f {
		return errorf(ErrInvalid, "locality %q: %s outnumber the %s (every majority of the %d voters must include a FULL replica)",
			l.String(), plural(lo, "LOGONLY replica", "LOGONLY replicas"), plural(f, "FULL replica", "FULL replicas"), f+lo)
	}
	return nil
}
