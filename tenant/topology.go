package tenant

import (
	"slices"
	"strings"
)

// ZoneInfo is one zone of the cluster as the cluster file and membership describe it.
type ZoneInfo struct {
	Name    string   `json:"name"`
	Region  string   `json:"region"`
	Servers []string `json:"servers"`
}

// Topology is the cluster's zones and servers. It is an input to every check and placement
// here; this package never discovers it.
type Topology struct {
	Zones []ZoneInfo `json:"zones"`
	// Capacity is what each server offers resource units, by server name; a server missing here
	// declared nothing (see Capacity).
	Capacity map[string]Capacity `json:"capacity,omitempty"`
}

// Zone returns the zone with the given name.
func (t Topology) Zone(name string) (ZoneInfo, bool) {
	for _, z := range t.Zones {
		if z.Name == name {
			return z, true
		}
	}
	return ZoneInfo{}, false
}

// ZoneNames returns the zone names, sorted.
func (t Topology) ZoneNames() []string {
	out := make([]string, 0, len(t.Zones))
	for _, z := range t.Zones {
		out = append(out, z.Name)
	}
	slices.Sort(out)
	return out
}

// Validate rejects a topology with a badly named or repeated zone, or a server that is empty,
// holds a space or comma, or appears twice (a server is in exactly one zone).
func (t Topology) Validate() error {
	zones := make(map[string]bool, len(t.Zones))
	servers := make(map[string]string)
	for _, z := range t.Zones {
		if !ValidZoneName(z.Name) {
			return errorf(ErrInvalid, "topology: zone name %q is not valid: letters, digits, '_', '-' and '.' only (at most %d bytes)", z.Name, MaxNameLen)
		}
		if zones[z.Name] {
			return errorf(ErrInvalid, "topology: zone %s is listed twice", z.Name)
		}
		zones[z.Name] = true
		for _, s := range z.Servers {
			if s == "" || len(s) > 255 || strings.ContainsAny(s, " \t\n,;") {
				return errorf(ErrInvalid, "topology: server %q in zone %s is not a valid address", s, z.Name)
			}
			if other, ok := servers[s]; ok {
				if other == z.Name {
					return errorf(ErrInvalid, "topology: server %s is listed twice in zone %s", s, z.Name)
				}
				return errorf(ErrInvalid, "topology: server %s is in zones %s and %s (a server is in one zone)", s, other, z.Name)
			}
			servers[s] = z.Name
		}
	}
	return nil
}
