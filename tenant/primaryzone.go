package tenant

import (
	"slices"
	"strings"
)

// Random is the primary_zone that makes every zone with a FULL replica equal, OceanBase's
// default ("primary_zone=RANDOM" in SHOW CREATE TENANT when none was given,
// https://github.com/oceanbase/oceanbase/issues/486).
const Random = "RANDOM"

// MaxPrimaryZoneLen bounds the length of a primary_zone string in bytes.
const MaxPrimaryZoneLen = 4096

// PrimaryZone is a parsed primary_zone: levels of descending priority, each a set of zones of
// equal priority. OceanBase: "zones separated by semicolons (;) are arranged in descending
// order of priorities, and zones separated by commas (,) have the same priority"
// (https://en.oceanbase.com/docs/enterprise-oceanbase-database-en-10000000000851317).
//
// Invariant: Levels is nil for RANDOM; otherwise no level is empty, zones within a level are
// sorted, and no zone appears twice.
type PrimaryZone struct {
	Levels [][]string `json:"levels,omitempty"`
}

// ParsePrimaryZone parses "RANDOM" (any case) or levels separated by ';' of zones separated by
// ',' ("z1;z2,z3"); spaces around tokens are allowed.
func ParsePrimaryZone(s string) (PrimaryZone, error) {
	if len(s) > MaxPrimaryZoneLen {
		return PrimaryZone{}, errorf(ErrInvalid, "primary_zone: %d bytes exceed the maximum of %d", len(s), MaxPrimaryZoneLen)
	}
	t := strings.TrimSpace(s)
	if t == "" {
		return PrimaryZone{}, errorf(ErrInvalid, "primary_zone %q: empty (name zones, e.g. z1;z2,z3, or RANDOM)", s)
	}
	if strings.EqualFold(t, Random) {
		return PrimaryZone{}, nil
	}
	seen := make(map[string]bool)
	var levels [][]string
	for i, lv := range strings.Split(t, ";") {
		if strings.TrimSpace(lv) == "" {
			return PrimaryZone{}, errorf(ErrInvalid, "primary_zone %q: level %d is empty", s, i+1)
		}
		var level []string
		for _, raw := range strings.Split(lv, ",") {
			z := strings.TrimSpace(raw)
			switch {
			case z == "":
				return PrimaryZone{}, errorf(ErrInvalid, "primary_zone %q: level %d has an empty zone", s, i+1)
			case strings.EqualFold(z, Random):
				return PrimaryZone{}, errorf(ErrInvalid, "primary_zone %q: RANDOM cannot be combined with zones", s)
			case !ValidZoneName(z):
				return PrimaryZone{}, errorf(ErrInvalid, "primary_zone %q: zone name %q is not valid: letters, digits, '_', '-' and '.' only (at most %d bytes)", s, z, MaxNameLen)
			case seen[z]:
				return PrimaryZone{}, errorf(ErrInvalid, "primary_zone %q: zone %s is listed twice", s, z)
			}
			seen[z] = true
			level = append(level, z)
		}
		slices.Sort(level)
		levels = append(levels, level)
	}
	return PrimaryZone{Levels: levels}, nil
}

// IsRandom reports whether p is RANDOM.
func (p PrimaryZone) IsRandom() bool { return len(p.Levels) == 0 }

// String is the normalized form: "RANDOM", or levels joined by ';' with the zones of a level
// sorted and joined by ','.
func (p PrimaryZone) String() string {
	if p.IsRandom() {
		return Random
	}
	parts := make([]string, len(p.Levels))
	for i, lv := range p.Levels {
		parts[i] = strings.Join(lv, ",")
	}
	return strings.Join(parts, ";")
}

// Zones returns every listed zone, in level order.
func (p PrimaryZone) Zones() []string {
	var out []string
	for _, lv := range p.Levels {
		out = append(out, lv...)
	}
	return out
}

// Rank returns the priority level of zone: 0 is the highest. For RANDOM every zone ranks 0 (the
// caller applies it to zones with a FULL replica; only those can lead). A zone that is not
// listed ranks after every listed level (rank = number of levels) and ok is false.
func (p PrimaryZone) Rank(zone string) (rank uint32, ok bool) {
	if p.IsRandom() {
		return 0, true
	}
	for i, lv := range p.Levels {
		if slices.Contains(lv, zone) {
			return uint32(i), true
		}
	}
	return uint32(len(p.Levels)), false
}

// levels returns the leader levels over the given FULL zones: the listed levels restricted to
// them (empty levels dropped), then one last level of the FULL zones not listed, which lead only
// when every listed zone is down. For RANDOM it is one level of all of them.
func (p PrimaryZone) levels(fullZones []string) [][]string {
	full := slices.Clone(fullZones)
	slices.Sort(full)
	full = slices.Compact(full)
	if p.IsRandom() {
		if len(full) == 0 {
			return nil
		}
		return [][]string{full}
	}
	var out [][]string
	listed := make(map[string]bool)
	for _, lv := range p.Levels {
		var l []string
		for _, z := range lv {
			listed[z] = true
			if slices.Contains(full, z) {
				l = append(l, z)
			}
		}
		if len(l) > 0 {
			out = append(out, l)
		}
	}
	var rest []string
	for _, z := range full {
		if !listed[z] {
			rest = append(rest, z)
		}
	}
	if len(rest) > 0 {
		out = append(out, rest)
	}
	return out
}
