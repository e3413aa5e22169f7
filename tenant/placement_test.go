package tenant

import (
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"

	"obkv/paxos"
)

// topo9 is three zones of three servers each.
func topo9() Topology {
	var t Topology
	for z := 1; z <= 3; z++ {
		zi := ZoneInfo{Name: fmt.Sprintf("z%d", z), Region: "r"}
		for s := 1; s <= 3; s++ {
			zi.Servers = append(zi.Servers, fmt.Sprintf("s%d%d", z, s))
		}
		t.Zones = append(t.Zones, zi)
	}
	return t
}

func TestPlaceUnits(t *testing.T) {
	topo := topo9()
	pool := Pool{Name: "p1", Unit: "u", UnitNum: 2, ZoneList: []string{"z2", "z1", "z3"}}
	got, err := PlaceUnits(pool, nil, topo, nil, nil)
	checkErr(t, err, nil, "")
	want := []UnitAssignment{
		{"p1", "z1", 0, "s11"}, {"p1", "z1", 1, "s12"},
		{"p1", "z2", 0, "s21"}, {"p1", "z2", 1, "s22"},
		{"p1", "z3", 0, "s31"}, {"p1", "z3", 1, "s32"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v\nwant %v", got, want)
	}
	// Another pool goes to the least loaded servers first.
	other, err := PlaceUnits(Pool{Name: "p2", UnitNum: 1, ZoneList: []string{"z1"}}, nil, topo, nil, got)
	checkErr(t, err, nil, "")
	if other[0].Server != "s13" {
		t.Errorf("p2 placed on %s, want the empty s13", other[0].Server)
	}
	// A dead server's unit moves; the others stay where they are.
	alive := map[string]bool{}
	for _, z := range topo.Zones {
		for _, s := range z.Servers {
			alive[s] = s != "s11"
		}
	}
	moved, err := PlaceUnits(pool, nil, topo, alive, append(slices.Clone(got), other...))
	checkErr(t, err, nil, "")
	if moved[0].Server == "s11" || moved[1].Server != "s12" || !reflect.DeepEqual(moved[2:], want[2:]) {
		t.Errorf("after s11 died: %v", moved)
	}
	if moved[0].Server != "s13" {
		t.Errorf("unit 0 moved to %s, want s13 (the only free alive server)", moved[0].Server)
	}
	// Errors.
	_, err = PlaceUnits(Pool{Name: "p3", UnitNum: 4, ZoneList: []string{"z1"}}, nil, topo, nil, nil)
	checkErr(t, err, ErrInvalid, `resource pool "p3": unit_num 4 exceeds the 3 servers in zone z1`)
	alive["s12"] = false
	_, err = PlaceUnits(pool, nil, topo, alive, nil)
	checkErr(t, err, ErrInvalid, `resource pool "p1": unit_num 2 exceeds the 1 alive server in zone z1`)
	_, err = PlaceUnits(Pool{Name: "p3", UnitNum: 1, ZoneList: []string{"z9"}}, nil, topo, nil, nil)
	checkErr(t, err, ErrNotFound, `resource pool "p3": zone z9 does not exist`)
	_, err = PlaceUnits(Pool{Name: "p3", UnitNum: 0, ZoneList: []string{"z1"}}, nil, topo, nil, nil)
	checkErr(t, err, ErrInvalid, `resource pool "p3": unit_num 0 is below 1`)
}

// TestPlaceUnitsProperties places many pools in a seeded random order, with servers dying and
// pools re-placed: never two units of one pool (so of one tenant) on a server, every unit on an
// alive server of its zone, load spread within one among pools of unit_num 1, and the same
// inputs in another order give the same result.
func TestPlaceUnitsProperties(t *testing.T) {
	topo := topo9()
	rng := rand.New(rand.NewPCG(1, 2))
	var all []UnitAssignment
	for i := range 30 {
		p := Pool{Name: fmt.Sprintf("p%d", i), UnitNum: 1 + rng.IntN(3), ZoneList: []string{"z1", "z2", "z3"}}
		if i < 12 {
			p.UnitNum = 1
		}
		got, err := PlaceUnits(p, nil, topo, nil, all)
		if err != nil {
			t.Fatal(err)
		}
		// Determinism, whatever the order of existing.
		shuffled := slices.Clone(all)
		rng.Shuffle(len(shuffled), func(a, b int) { shuffled[a], shuffled[b] = shuffled[b], shuffled[a] })
		again, _ := PlaceUnits(p, nil, topo, nil, shuffled)
		if !reflect.DeepEqual(got, again) {
			t.Fatalf("pool %s: order of existing changed the placement", p.Name)
		}
		checkOnePerServer(t, topo, got, nil)
		all = append(all, got...)
		if i == 11 { // 12 pools of one unit per zone over 3 servers: 4 each
			load := map[string]int{}
			for _, a := range all {
				load[a.Server]++
			}
			for s, n := range load {
				if n != 4 {
					t.Errorf("after 12 single-unit pools server %s has %d units, want 4", s, n)
				}
			}
		}
	}
	// Kill one server per zone and re-place every pool that still fits.
	alive := map[string]bool{}
	for _, z := range topo.Zones {
		for _, s := range z.Servers {
			alive[s] = s[len(s)-1] != '1'
		}
	}
	for i := range 30 {
		name := fmt.Sprintf("p%d", i)
		var mine []UnitAssignment
		unitNum := 0
		for _, a := range all {
			if a.Pool == name && a.Zone == "z1" {
				unitNum++
			}
		}
		got, err := PlaceUnits(Pool{Name: name, UnitNum: unitNum, ZoneList: []string{"z1", "z2", "z3"}}, nil, topo, alive, all)
		if unitNum == 3 {
			checkErr(t, err, ErrInvalid, fmt.Sprintf(`resource pool %q: unit_num 3 exceeds the 2 alive servers in zone z1`, name))
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		checkOnePerServer(t, topo, got, alive)
		for _, a := range all {
			if a.Pool == name {
				mine = append(mine, a)
			}
		}
		for _, a := range mine {
			if alive[a.Server] && !slices.Contains(got, a) {
				t.Errorf("pool %s: unit %v on an alive server moved", name, a)
			}
		}
	}
}

func checkOnePerServer(t *testing.T, topo Topology, units []UnitAssignment, alive map[string]bool) {
	t.Helper()
	seen := map[string]bool{}
	for _, a := range units {
		key := a.Pool + "@" + a.Server
		if seen[key] {
			t.Fatalf("two units of pool %s on server %s", a.Pool, a.Server)
		}
		seen[key] = true
		zi, _ := topo.Zone(a.Zone)
		if !slices.Contains(zi.Servers, a.Server) {
			t.Fatalf("unit %v on a server outside its zone", a)
		}
		if alive != nil && !alive[a.Server] {
			t.Fatalf("unit %v on a dead server", a)
		}
	}
}

func TestPlaceReplicas(t *testing.T) {
	loc := mustLoc(t, "F@z1,F@z2,R@z3")
	servers := map[string][]string{"z1": {"s13", "s11", "s12"}, "z2": {"s21", "s22", "s23"}, "z3": {"s31"}}
	perServer := map[string]int{}
	for p := range 12 {
		reps, err := PlaceReplicas(loc, servers, 0, p)
		if err != nil {
			t.Fatal(err)
		}
		if len(reps) != 3 || reps[0].Zone != "z1" || reps[2].Type != paxos.ReadOnly {
			t.Fatalf("partition %d: %v", p, reps)
		}
		for _, r := range reps {
			perServer[r.Server]++
		}
		again, _ := PlaceReplicas(loc, servers, 0, p)
		if !reflect.DeepEqual(reps, again) {
			t.Fatalf("not deterministic")
		}
	}
	for _, s := range []string{"s11", "s12", "s13", "s21", "s22", "s23"} {
		if perServer[s] != 4 {
			t.Errorf("server %s holds %d of 12 partitions, want 4", s, perServer[s])
		}
	}
	if perServer["s31"] != 12 {
		t.Errorf("s31 holds %d", perServer["s31"])
	}
	// Single-partition tables start at different servers.
	a, _ := PlaceReplicas(loc, servers, 7, 0)
	b, _ := PlaceReplicas(loc, servers, 8, 0)
	if a[0].Server == b[0].Server {
		t.Errorf("tables 7 and 8 both start on %s", a[0].Server)
	}
	_, err := PlaceReplicas(loc, map[string][]string{"z1": {"s11"}}, 0, 0)
	checkErr(t, err, ErrInvalid, `locality F@z1,F@z2,R@z3: zone z2 has no unit of the tenant`)
	_, err = PlaceReplicas(loc, servers, 0, -1)
	checkErr(t, err, ErrInvalid, `partition -1 is negative`)
	got := UnitServers([]UnitAssignment{{"p1", "z1", 0, "s12"}, {"p1", "z1", 1, "s11"}, {"p2", "z1", 0, "s13"}}, []string{"p1"})
	if !reflect.DeepEqual(got, map[string][]string{"z1": {"s11", "s12"}}) {
		t.Errorf("UnitServers = %v", got)
	}
}

func mustPZ(t testing.TB, s string) PrimaryZone {
	t.Helper()
	pz, err := ParsePrimaryZone(s)
	if err != nil {
		t.Fatal(err)
	}
	return pz
}

func zoneSet(zones ...string) map[string]bool {
	m := map[string]bool{}
	for _, z := range zones {
		m[z] = true
	}
	return m
}

func TestLeaderZones(t *testing.T) {
	loc := mustLoc(t, "F@z1,F@z2,F@z3,F@z4,R@z5")
	for _, tc := range []struct {
		pz    string
		alive map[string]bool
		want  []string
	}{
		{"z1,z2;z3", nil, []string{"z1", "z2"}},
		{"z1,z2;z3", zoneSet("z2", "z3", "z4"), []string{"z2"}},
		{"z1,z2;z3", zoneSet("z3", "z4"), []string{"z3"}},
		{"z1,z2;z3", zoneSet("z4", "z5"), []string{"z4"}}, // unlisted FULL zones are the last level
		{"z1,z2;z3", zoneSet("z5"), nil},                  // READONLY never leads
		{"RANDOM", nil, []string{"z1", "z2", "z3", "z4"}},
		{"RANDOM", zoneSet("z1", "z3", "z5"), []string{"z1", "z3"}},
		{"z5;z1", nil, []string{"z1"}}, // a listed zone without a FULL replica is skipped
	} {
		got := LeaderZones(mustPZ(t, tc.pz), loc, tc.alive)
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s alive %v: got %v, want %v", tc.pz, tc.alive, got, tc.want)
		}
	}
}

// partitionsOn places n partitions of loc over unit servers sN1..sN3 of each zone zN.
func partitionsOn(t testing.TB, loc Locality, n int) [][]ReplicaPlacement {
	servers := map[string][]string{}
	for _, r := range loc {
		for s := 1; s <= 3; s++ {
			servers[r.Zone] = append(servers[r.Zone], fmt.Sprintf("s%s%d", r.Zone[1:], s))
		}
	}
	var out [][]ReplicaPlacement
	for p := range n {
		reps, err := PlaceReplicas(loc, servers, 0, p)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, reps)
	}
	return out
}

func aliveServers(parts [][]ReplicaPlacement, aliveZones map[string]bool) map[string]bool {
	if aliveZones == nil {
		return nil
	}
	alive := map[string]bool{}
	for _, reps := range parts {
		for _, r := range reps {
			alive[r.Server] = aliveZones[r.Zone]
		}
	}
	return alive
}

func leaderCounts(parts [][]ReplicaPlacement, leaders []int) map[string]int {
	n := map[string]int{}
	for i, l := range leaders {
		if l >= 0 {
			n[parts[i][l].Zone]++
		}
	}
	return n
}

func TestAssignLeaders(t *testing.T) {
	loc := mustLoc(t, "F@z1,F@z2,F@z3")
	parts := partitionsOn(t, loc, 12)
	for _, tc := range []struct {
		pz    string
		alive map[string]bool
		want  map[string]int
	}{
		{"z1,z2;z3", nil, map[string]int{"z1": 6, "z2": 6}},
		{"z1;z2,z3", nil, map[string]int{"z1": 12}},
		{"z1;z2,z3", zoneSet("z2", "z3"), map[string]int{"z2": 6, "z3": 6}},
		{"RANDOM", nil, map[string]int{"z1": 4, "z2": 4, "z3": 4}},
		{"z1", zoneSet("z3"), map[string]int{"z3": 12}},
	} {
		leaders := AssignLeaders(parts, mustPZ(t, tc.pz), aliveServers(parts, tc.alive))
		if got := leaderCounts(parts, leaders); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s alive %v: got %v, want %v", tc.pz, tc.alive, got, tc.want)
		}
	}
	// A zone fails: only the leaderships it held move, spread over the others.
	rz := mustPZ(t, "RANDOM")
	all := AssignLeaders(parts, rz, nil)
	noZ1 := AssignLeaders(parts, rz, aliveServers(parts, zoneSet("z2", "z3")))
	for i, l := range all {
		if parts[i][l].Zone != "z1" && noZ1[i] != l {
			t.Errorf("z1 failed: partition %d's leader moved from %s to %s", i, parts[i][l].Zone, parts[i][noZ1[i]].Zone)
		}
	}
	if got := leaderCounts(parts, noZ1); !reflect.DeepEqual(got, map[string]int{"z2": 6, "z3": 6}) {
		t.Errorf("z1 failed: leaders %v, want 6 in z2 and z3 each", got)
	}
	// Nobody alive: no leader.
	leaders := AssignLeaders(parts, mustPZ(t, "RANDOM"), map[string]bool{})
	for i, l := range leaders {
		if l != -1 {
			t.Errorf("partition %d: leader %d with every server dead", i, l)
		}
	}
	// Leaders also spread over the servers of a zone.
	leaders = AssignLeaders(parts, mustPZ(t, "z1"), nil)
	perServer := map[string]int{}
	for i, l := range leaders {
		perServer[parts[i][l].Server]++
	}
	if !reflect.DeepEqual(perServer, map[string]int{"s11": 4, "s12": 4, "s13": 4}) {
		t.Errorf("leaders per server: %v", perServer)
	}
}

// TestAssignLeadersProperties checks, over seeded random localities, primary zones and failures:
// every leader is an alive FULL replica in LeaderZones; leader counts over those zones differ by
// at most one; no leader exactly when LeaderZones is empty; a partition whose leader with every
// server alive is alive keeps it; same input, same output.
func TestAssignLeadersProperties(t *testing.T) {
	zones := []string{"z1", "z2", "z3", "z4", "z5"}
	var valid []Locality
	for _, l := range allLocalities(zones) {
		if l.Validate() == nil {
			valid = append(valid, l)
		}
	}
	rng := rand.New(rand.NewPCG(7, 7))
	for iter := range 500 {
		loc := valid[rng.IntN(len(valid))]
		// A random primary_zone over a random subset of the FULL zones, in random levels.
		pzs := "RANDOM"
		full := loc.ZonesOf(paxos.Full)
		rng.Shuffle(len(full), func(a, b int) { full[a], full[b] = full[b], full[a] })
		if k := rng.IntN(len(full) + 1); k > 0 {
			pzs = ""
			for i, z := range full[:k] {
				if i > 0 {
					pzs += []string{",", ";"}[rng.IntN(2)]
				}
				pzs += z
			}
		}
		pz := mustPZ(t, pzs)
		aliveZones := map[string]bool{}
		for _, z := range zones {
			aliveZones[z] = rng.IntN(3) > 0
		}
		n := 1 + rng.IntN(40)
		parts := partitionsOn(t, loc, n)
		alive := aliveServers(parts, aliveZones)
		leaders := AssignLeaders(parts, pz, alive)
		if again := AssignLeaders(parts, pz, alive); !reflect.DeepEqual(leaders, again) {
			t.Fatalf("iter %d: not deterministic", iter)
		}
		ideal := AssignLeaders(parts, pz, nil)
		for i, l := range ideal {
			if l >= 0 && alive[parts[i][l].Server] && leaders[i] != l {
				t.Fatalf("iter %d (%s, %s, alive %v): partition %d's leader moved from %v, alive, to %v",
					iter, loc, pz, aliveZones, i, parts[i][l], parts[i][leaders[i]])
			}
		}
		want := LeaderZones(pz, loc, aliveZones)
		counts := leaderCounts(parts, leaders)
		for i, l := range leaders {
			if l < 0 {
				if len(want) > 0 {
					t.Fatalf("iter %d (%s, %s): partition %d has no leader, zones %v", iter, loc, pz, i, want)
				}
				continue
			}
			r := parts[i][l]
			if r.Type != paxos.Full || !alive[r.Server] || !slices.Contains(want, r.Zone) {
				t.Fatalf("iter %d (%s, %s, alive %v): leader %v outside %v", iter, loc, pz, aliveZones, r, want)
			}
		}
		if len(want) > 0 {
			lo, hi := math.MaxInt, 0
			for _, z := range want {
				lo, hi = min(lo, counts[z]), max(hi, counts[z])
			}
			if hi-lo > 1 {
				t.Fatalf("iter %d (%s, %s): leader counts %v over %v", iter, loc, pz, counts, want)
			}
		}
	}
}

func TestPriority(t *testing.T) {
	pz := mustPZ(t, "z1;z2,z3")
	f := func(zone string, typ paxos.ReplicaType) ReplicaPlacement {
		return ReplicaPlacement{Zone: zone, Server: "s", Type: typ}
	}
	for _, tc := range []struct {
		r    ReplicaPlacement
		rank uint32
	}{
		{f("z1", paxos.Full), 0}, {f("z2", paxos.Full), 1}, {f("z3", paxos.Full), 1},
		{f("z4", paxos.Full), 2}, {f("z1", paxos.ReadOnly), math.MaxUint32}, {f("z1", paxos.LogOnly), math.MaxUint32},
	} {
		if p := Priority(tc.r, pz, false, true); p.ZoneRank != tc.rank || !p.Healthy || p.Designated {
			t.Errorf("%v: %+v, want rank %d", tc.r, p, tc.rank)
		}
	}
	if p := Priority(f("z4", paxos.Full), mustPZ(t, "RANDOM"), true, false); p.ZoneRank != 0 || p.Healthy || !p.Designated {
		t.Errorf("RANDOM: %+v", p)
	}
	// The election prefers the primary zone, then the designated replica over it, health first.
	z1 := Priority(f("z1", paxos.Full), pz, false, true)
	z2 := Priority(f("z2", paxos.Full), pz, false, true)
	z2d := Priority(f("z2", paxos.Full), pz, true, true)
	z1sick := Priority(f("z1", paxos.Full), pz, true, false)
	if !z1.Better(z2) || !z2d.Better(z1) || !z2.Better(z1sick) {
		t.Errorf("priority order broken: %+v %+v %+v %+v", z1, z2, z2d, z1sick)
	}
}

func TestPartitionOf(t *testing.T) {
	// The hash is FNV-1a 64: check against the standard library.
	rng := rand.New(rand.NewPCG(3, 4))
	for range 1000 {
		key := make([]byte, rng.IntN(40))
		for i := range key {
			key[i] = byte(rng.IntN(256))
		}
		n := 1 + rng.IntN(MaxPartitions)
		h := fnv.New64a()
		h.Write(key)
		if got, want := PartitionOf(key, n), int(h.Sum64()%uint64(n)); got != want {
			t.Fatalf("PartitionOf(%x, %d) = %d, want %d", key, n, got, want)
		}
	}
	// Golden values: where data lives must never change.
	for _, tc := range []struct {
		key  string
		n    int
		want int
	}{
		{"", 12, 5}, {"a", 12, 4}, {"user:1", 12, 3}, {"user:2", 1024, 670}, {"anything", 1, 0}, {"anything", 0, 0},
	} {
		if got := PartitionOf([]byte(tc.key), tc.n); got != tc.want {
			t.Errorf("PartitionOf(%q, %d) = %d, want %d", tc.key, tc.n, got, tc.want)
		}
	}
	// Spread: 12000 keys over 12 partitions, every partition within 15% of 1000.
	counts := make([]int, 12)
	for i := range 12000 {
		counts[PartitionOf(fmt.Appendf(nil, "key%d", i), 12)]++
	}
	for p, c := range counts {
		if c < 850 || c > 1150 {
			t.Errorf("partition %d got %d of 12000 keys", p, c)
		}
	}
	if n := testing.AllocsPerRun(100, func() { PartitionOf([]byte("user:1"), 12) }); n != 0 {
		t.Errorf("PartitionOf allocates %v times", n)
	}
}

// TestPlaceUnitsCapacity: units go only to servers whose declared capacity still holds them,
// undeclared resources are not checked, and a zone without room says which server lacks what.
func TestPlaceUnitsCapacity(t *testing.T) {
	topo := topo9()
	topo.Capacity = map[string]Capacity{
		"s11": {CPU: 4, Memory: 8 * GiB},  // log disk undeclared
		"s12": {CPU: 2, Memory: 64 * GiB}, // little CPU
		"s13": {CPU: 64, Memory: 4 * GiB, LogDisk: 100 * GiB},
	}
	big := Unit{Name: "big", MaxCPU: 4, MinCPU: 3, MemorySize: 6 * GiB}.WithDefaults() // 18GiB log disk
	small := Unit{Name: "small", MaxCPU: 1, MemorySize: 1 * GiB}.WithDefaults()
	sizes := UnitSizes{"pbig": big, "psmall": small, "pbig2": big}
	z1 := []string{"z1"}

	// big fits s11 only (s12: 2 CPUs; s13: 4GiB of memory).
	got, err := PlaceUnits(Pool{Name: "pbig", Unit: "big", UnitNum: 1, ZoneList: z1}, sizes, topo, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got[0].Server != "s11" {
		t.Fatalf("big unit on %s, want s11 (the only server with 3 CPUs and 6GiB free)", got[0].Server)
	}
	all := got
	// A second big unit has no room left anywhere in z1.
	_, err = PlaceUnits(Pool{Name: "pbig2", Unit: "big", UnitNum: 1, ZoneList: z1}, sizes, topo, nil, all)
	checkErr(t, err, ErrInvalid, `resource pool "pbig2": no alive server in zone z1 has room for unit 1 of 1 of "big" (min_cpu 3, memory_size 6GiB, log_disk_size 18GiB): `+
		`s11: cpu 1 of 4 free, memory 2GiB of 8GiB free; s12: cpu 2 of 2 free; s13: memory 4GiB of 4GiB free`)
	// Three small units: s11 has one CPU left, s12 two, s13 plenty; one unit per server.
	got, err = PlaceUnits(Pool{Name: "psmall", Unit: "small", UnitNum: 3, ZoneList: z1}, sizes, topo, nil, all)
	if err != nil {
		t.Fatal(err)
	}
	all = append(all, got...)
	checkFits(t, topo, sizes, all)
	// Undeclared capacity (zones z2, z3) holds anything.
	if _, err := PlaceUnits(Pool{Name: "pbig2", Unit: "big", UnitNum: 3, ZoneList: []string{"z2", "z3"}}, sizes, topo, nil, all); err != nil {
		t.Fatal(err)
	}
	// A capacity lowered below what stays does not evict: re-placing pbig keeps s11.
	topo.Capacity["s11"] = Capacity{CPU: 1}
	again, err := PlaceUnits(Pool{Name: "pbig", Unit: "big", UnitNum: 1, ZoneList: z1}, sizes, topo, nil, all)
	if err != nil || again[0].Server != "s11" {
		t.Fatalf("re-placing pbig after s11's capacity shrank: %v, %v; want it kept on s11", again, err)
	}
	// But a unit moving off a dead server needs room where it goes.
	alive := map[string]bool{"s11": false, "s12": true, "s13": true}
	_, err = PlaceUnits(Pool{Name: "pbig", Unit: "big", UnitNum: 1, ZoneList: z1}, sizes, topo, alive, all)
	checkErr(t, err, ErrInvalid, `resource pool "pbig": no alive server in zone z1 has room for unit 1 of 1 of "big" (min_cpu 3, memory_size 6GiB, log_disk_size 18GiB): `+
		`s12: cpu 1 of 2 free; s13: memory 3GiB of 4GiB free`)
}

// TestPlaceUnitsCapacityProperties places pools of random sizes on servers of random capacity:
// whatever is placed fits every server's declared capacity, and a pool refused for room is
// refused only when some zone truly lacks enough servers with room.
func TestPlaceUnitsCapacityProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for round := range 50 {
		topo := topo9()
		topo.Capacity = map[string]Capacity{}
		for _, z := range topo.Zones {
			for _, s := range z.Servers {
				if rng.IntN(4) > 0 {
					topo.Capacity[s] = Capacity{CPU: float64(1 + rng.IntN(16)), Memory: int64(1+rng.IntN(32)) * GiB, LogDisk: int64(1+rng.IntN(96)) * GiB}
				}
			}
		}
		sizes := UnitSizes{}
		var all []UnitAssignment
		for i := range 20 {
			name := fmt.Sprintf("p%d", i)
			u := Unit{Name: "u" + name, MaxCPU: float64(1 + rng.IntN(4)), MemorySize: int64(1+rng.IntN(8)) * GiB}.WithDefaults()
			sizes[name] = u
			p := Pool{Name: name, Unit: u.Name, UnitNum: 1 + rng.IntN(2), ZoneList: []string{"z1", "z2", "z3"}}
			got, err := PlaceUnits(p, sizes, topo, nil, all)
			if err != nil {
				// Refused: some zone has fewer than unit_num servers with room.
				assigned := Assigned(all, sizes, "")
				short := false
				for _, z := range topo.Zones {
					room := 0
					for _, s := range z.Servers {
						if Lacks(topo.Capacity[s], assigned[s], u.Demand()) == "" {
							room++
						}
					}
					short = short || room < p.UnitNum
				}
				if !short {
					t.Fatalf("round %d: pool %s refused although every zone has room: %v", round, name, err)
				}
				continue
			}
			all = append(all, got...)
			checkFits(t, topo, sizes, all)
		}
	}
}

// checkFits fails when the units on any server reserve more than it declared (overCapacity).
func checkFits(t *testing.T, topo Topology, sizes UnitSizes, all []UnitAssignment) {
	t.Helper()
	if err := overCapacity(topo, sizes, all); err != nil {
		t.Fatal(err)
	}
}

func overCapacity(topo Topology, sizes UnitSizes, all []UnitAssignment) error {
	for s, used := range Assigned(all, sizes, "") {
		if why := Lacks(topo.Capacity[s], Capacity{}, used); why != "" {
			return fmt.Errorf("server %s holds units reserving %+v beyond its capacity %+v (%s)", s, used, topo.Capacity[s], why)
		}
	}
	return nil
}

// TestOverCapacityCatchesOverflow: the capacity checker of the tests above catches a server
// holding more than it offers.
func TestOverCapacityCatchesOverflow(t *testing.T) {
	topo := Topology{Capacity: map[string]Capacity{"s1": {CPU: 2}}}
	sizes := UnitSizes{"a": Unit{Name: "u", MaxCPU: 2, MemorySize: GiB}, "b": Unit{Name: "u", MaxCPU: 1, MemorySize: GiB}}
	if err := overCapacity(topo, sizes, []UnitAssignment{{Pool: "a", Server: "s1"}}); err != nil {
		t.Fatalf("2 CPUs of units on a 2-CPU server: %v", err)
	}
	if err := overCapacity(topo, sizes, []UnitAssignment{{Pool: "a", Server: "s1"}, {Pool: "b", Server: "s1"}}); err == nil {
		t.Fatal("overCapacity accepted 3 CPUs of units on a 2-CPU server")
	}
}

// Sums of reservations saturate instead of wrapping: a server's assigned bytes near int64's top
// plus a unit still lack room (a wrapped, negative sum passed the check once; units are bounded
// now, so only corrupt or very many units could come close).
func TestLacksDoesNotWrap(t *testing.T) {
	capacity := Capacity{CPU: 4, Memory: 8 * GiB, LogDisk: 8 * GiB}
	assigned := Capacity{Memory: math.MaxInt64 - GiB, LogDisk: math.MaxInt64 - GiB}
	need := Capacity{CPU: 1, Memory: 2 * GiB, LogDisk: 2 * GiB}
	if why := Lacks(capacity, assigned, need); !strings.Contains(why, "memory") || !strings.Contains(why, "log_disk") {
		t.Errorf("Lacks near int64's top = %q; want memory and log_disk lacking", why)
	}
	if got := assigned.add(need); got.Memory != math.MaxInt64 || got.LogDisk != math.MaxInt64 {
		t.Errorf("add near int64's top = %+v; want both saturated at MaxInt64", got)
	}
}
