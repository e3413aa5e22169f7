package tenant

import (
	"strings"
	"testing"
)

func TestParsePrimaryZone(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"RANDOM", "RANDOM"},
		{" random ", "RANDOM"},
		{"z1", "z1"},
		{"z1;z2,z3", "z1;z2,z3"},
		{"z3 , z2 ; z1", "z2,z3;z1"},
		{"hz1,hz2;sh1,sh2;sz1", "hz1,hz2;sh1,sh2;sz1"},
	} {
		pz, err := ParsePrimaryZone(tc.in)
		if err != nil {
			t.Fatalf("%q: %v", tc.in, err)
		}
		if got := pz.String(); got != tc.want {
			t.Errorf("%q: String = %q, want %q", tc.in, got, tc.want)
		}
		again, err := ParsePrimaryZone(pz.String())
		if err != nil || again.String() != pz.String() {
			t.Errorf("%q: round trip gave %v, %v", tc.in, again, err)
		}
	}
}

func TestParsePrimaryZoneErrors(t *testing.T) {
	for _, tc := range []struct{ in, msg string }{
		{"", `primary_zone "": empty (name zones, e.g. z1;z2,z3, or RANDOM)`},
		{"z1;;z2", `primary_zone "z1;;z2": level 2 is empty`},
		{"z1;", `primary_zone "z1;": level 2 is empty`},
		{"z1,,z2", `primary_zone "z1,,z2": level 1 has an empty zone`},
		{"z1;z2,z1", `primary_zone "z1;z2,z1": zone z1 is listed twice`},
		{"z1;RANDOM", `primary_zone "z1;RANDOM": RANDOM cannot be combined with zones`},
		{"z1;z 2", `primary_zone "z1;z 2": zone name "z 2" is not valid: letters, digits, '_', '-' and '.' only (at most 64 bytes)`},
		{strings.Repeat("z", 5000), `primary_zone: 5000 bytes exceed the maximum of 4096`},
	} {
		_, err := ParsePrimaryZone(tc.in)
		checkErr(t, err, ErrInvalid, tc.msg)
	}
}

func TestPrimaryZoneRank(t *testing.T) {
	pz, _ := ParsePrimaryZone("z1;z2,z3")
	for _, tc := range []struct {
		zone   string
		rank   uint32
		listed bool
	}{
		{"z1", 0, true}, {"z2", 1, true}, {"z3", 1, true}, {"z4", 2, false},
	} {
		r, ok := pz.Rank(tc.zone)
		if r != tc.rank || ok != tc.listed {
			t.Errorf("Rank(%s) = %d, %v; want %d, %v", tc.zone, r, ok, tc.rank, tc.listed)
		}
	}
	random, _ := ParsePrimaryZone("RANDOM")
	for _, z := range []string{"z1", "z9"} {
		if r, ok := random.Rank(z); r != 0 || !ok {
			t.Errorf("RANDOM Rank(%s) = %d, %v", z, r, ok)
		}
	}
}

func FuzzParsePrimaryZone(f *testing.F) {
	for _, s := range []string{"RANDOM", "z1;z2,z3", ";", ",", "z1;;", "random;z1", " "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		pz, err := ParsePrimaryZone(s)
		if err != nil {
			return
		}
		again, err := ParsePrimaryZone(pz.String())
		if err != nil || again.String() != pz.String() {
			t.Fatalf("%q -> %q -> %v, %v", s, pz, again, err)
		}
		for _, z := range pz.Zones() {
			if _, ok := pz.Rank(z); !ok {
				t.Fatalf("%q: listed zone %s has no rank", s, z)
			}
		}
	})
}
