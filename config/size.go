package config

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// ErrSize is wrapped by every error of ParseSize.
var ErrSize = errors.New("invalid size")

// Size is a number of bytes. Its text form is an integer with an optional
// binary unit: B, KiB, MiB, GiB, TiB (1024-based). OceanBase's single-letter
// forms K, M, G, T are accepted with the same binary meaning (its capacity
// parameters, e.g. memory_limit '4G', are 1024-based). Units are
// case-insensitive. KB, MB, GB and TB are rejected: whether they mean 1000 or
// 1024 differs between tools, and a wrong guess is off by 7% at GB.
//
// *Size implements the flag.Value and pflag.Value interfaces (Set, String,
// Type), so a CLI can take --memory-size 4GiB directly.
type Size int64

// Binary size units.
const (
	Byte Size = 1
	KiB  Size = 1 << 10
	MiB  Size = 1 << 20
	GiB  Size = 1 << 30
	TiB  Size = 1 << 40
)

// sizeUnits maps the accepted (lower-cased) units to their multiplier.
var sizeUnits = map[string]Size{
	"": Byte, "b": Byte,
	"k": KiB, "kib": KiB,
	"m": MiB, "mib": MiB,
	"g": GiB, "gib": GiB,
	"t": TiB, "tib": TiB,
}

// ParseSize parses a size: a non-negative decimal integer, optionally
// followed by a unit (see Size), with optional spaces between them:
// "1048576", "64MiB", "4 GiB", "4G". Fractions, signs and values above
// math.MaxInt64 bytes are rejected.
func ParseSize(s string) (Size, error) {
	n, rule := parseSize(s)
	if rule != "" {
		return 0, fmt.Errorf("%w %q: %s", ErrSize, s, rule)
	}
	return n, nil
}

// parseSize is ParseSize with the rule broken as a string ("" when s is
// valid), for callers that name the field themselves.
func parseSize(s string) (Size, string) {
	t := strings.TrimSpace(s)
	i := 0
	for i < len(t) && t[i] >= '0' && t[i] <= '9' {
		i++
	}
	if i == 0 {
		return 0, "must start with a non-negative integer number of bytes, e.g. 64MiB"
	}
	unit := strings.TrimSpace(t[i:])
	mult, ok := sizeUnits[strings.ToLower(unit)]
	if !ok {
		switch strings.ToLower(unit) {
		case "kb", "mb", "gb", "tb":
			return 0, fmt.Sprintf("unit %s is ambiguous (1000- or 1024-based): write %siB for 1024-based units", unit, strings.ToUpper(unit[:1]))
		}
		if strings.HasPrefix(unit, ".") {
			return 0, "must be a whole number: use a smaller unit"
		}
		return 0, fmt.Sprintf("unknown unit %q (known: B, KiB, MiB, GiB, TiB)", unit)
	}
	n, err := strconv.ParseInt(t[:i], 10, 64)
	if err != nil || n > math.MaxInt64/int64(mult) {
		return 0, fmt.Sprintf("above the largest size, %d bytes", int64(math.MaxInt64))
	}
	return Size(n) * mult, ""
}

// Bytes returns s as a plain number of bytes.
func (s Size) Bytes() int64 { return int64(s) }

// String formats s with the largest binary unit that divides it exactly:
// 64MiB, 1GiB, 1000B. ParseSize(s.String()) == s for every s >= 0.
func (s Size) String() string {
	if s < 0 {
		return strconv.FormatInt(int64(s), 10) + "B"
	}
	for _, u := range []struct {
		name string
		mult Size
	}{{"TiB", TiB}, {"GiB", GiB}, {"MiB", MiB}, {"KiB", KiB}} {
		if s != 0 && s%u.mult == 0 {
			return strconv.FormatInt(int64(s/u.mult), 10) + u.name
		}
	}
	return strconv.FormatInt(int64(s), 10) + "B"
}

// Set parses v into s (flag.Value).
func (s *Size) Set(v string) error {
	n, err := ParseSize(v)
	if err != nil {
		return err
	}
	*s = n
	return nil
}

// Type names the value's type in CLI help (pflag.Value).
func (s *Size) Type() string { return "size" }
