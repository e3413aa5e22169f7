//go:build unix

package faults

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"obkv/config"
	"obkv/test/internal/realcluster"
)

// The README's container cluster: docker-compose.yml at the repository root runs the servers of
// composeCluster, one container each, on the compose network at fixed addresses.
const (
	composeFile    = "docker-compose.yml"
	composeCluster = "test/faults/compose/cluster.yaml"
	// composeMount is where every container sees the cluster file (its observer's -c).
	composeMount = "/etc/obkv/cluster.yaml"
	// composeImage is the tag the README builds the image under and the file runs.
	composeImage = "obkv"
)

// composeSpec is the part of a compose file the README's cluster depends on.
type composeSpec struct {
	Services map[string]struct {
		Image    string   `yaml:"image"`
		Command  []string `yaml:"command"`
		Volumes  []string `yaml:"volumes"`
		Networks map[string]struct {
			IPv4 string `yaml:"ipv4_address"`
		} `yaml:"networks"`
	} `yaml:"services"`
	Networks map[string]struct {
		IPAM struct {
			Config []struct {
				Subnet string `yaml:"subnet"`
			} `yaml:"config"`
		} `yaml:"ipam"`
	} `yaml:"networks"`
	Volumes map[string]any `yaml:"volumes"`
}

// composeMismatches lists every way the compose file spec (as text) fails to run the cluster
// file cl: a server without its container, a container that runs another server or none, an
// address outside the network or not the server's, a cluster file or data directory not mounted
// where the server looks for it.
func composeMismatches(spec []byte, cl *config.Cluster) ([]string, error) {
	var c composeSpec
	if err := yaml.Unmarshal(spec, &c); err != nil {
		return nil, fmt.Errorf("parse %s: %w", composeFile, err)
	}
	var bad []string
	badf := func(format string, args ...any) { bad = append(bad, fmt.Sprintf(format, args...)) }
	for name := range c.Services {
		if _, ok := cl.Server(name); !ok {
			badf("service %s: no server %s in %s", name, name, composeCluster)
		}
	}
	for _, s := range cl.Servers {
		svc, ok := c.Services[s.Name]
		if !ok {
			badf("server %s: no service %s", s.Name, s.Name)
			continue
		}
		if svc.Image != composeImage {
			badf("service %s: image %q, want %q (the README builds that tag)", s.Name, svc.Image, composeImage)
		}
		if want := []string{"-c", composeMount, "--server", s.Name}; !slices.Equal(svc.Command, want) {
			badf("service %s: command %q, want %q", s.Name, svc.Command, want)
		}
		mounts := map[string]string{} // container path -> host path or volume
		for _, v := range svc.Volumes {
			parts := strings.Split(v, ":")
			if len(parts) < 2 {
				badf("service %s: volume %q is not SOURCE:TARGET", s.Name, v)
				continue
			}
			mounts[parts[1]] = parts[0]
		}
		if src := mounts[composeMount]; filepath.Clean(src) != filepath.Clean("./"+composeCluster) {
			badf("service %s: %s mounts %q, want ./%s", s.Name, composeMount, src, composeCluster)
		}
		dataMounted := false
		for target, src := range mounts {
			if rel, err := filepath.Rel(target, s.DataDir); err == nil && !strings.HasPrefix(rel, "..") {
				if _, named := c.Volumes[src]; !named {
					badf("service %s: %s (its data_dir %s) is on %q, not a named volume of the file", s.Name, target, s.DataDir, src)
				}
				dataMounted = true
			}
		}
		if !dataMounted {
			badf("service %s: its data_dir %s is on no volume (the data would die with the container)", s.Name, s.DataDir)
		}
		var ips []string
		for net, n := range svc.Networks {
			subnets := c.Networks[net].IPAM.Config
			if len(subnets) == 0 {
				badf("service %s: network %s has no subnet (the servers' addresses are fixed)", s.Name, net)
				continue
			}
			ip, err := netip.ParseAddr(n.IPv4)
			pfx, perr := netip.ParsePrefix(subnets[0].Subnet)
			if err != nil || perr != nil || !pfx.Contains(ip) {
				badf("service %s: ipv4_address %q is not in network %s's subnet %q", s.Name, n.IPv4, net, subnets[0].Subnet)
			}
			ips = append(ips, n.IPv4)
		}
		for _, addr := range []struct{ key, v string }{{"rpc_addr", s.RPCAddr}, {"gossip_addr", s.GossipAddr}} {
			host, _, _ := strings.Cut(addr.v, ":")
			if !slices.Contains(ips, host) {
				badf("server %s: %s %s is not the address of its container (%q)", s.Name, addr.key, addr.v, ips)
			}
		}
	}
	slices.Sort(bad)
	return bad, nil
}

// TestComposeFileRunsTheClusterFile checks, without Docker, that docker-compose.yml runs every
// server of its cluster file where the file puts it.
func TestComposeFileRunsTheClusterFile(t *testing.T) {
	spec, clusterText := composeFiles(t)
	cl, err := config.Parse(clusterText, composeCluster, "/")
	if err != nil {
		t.Fatal(err)
	}
	bad, err := composeMismatches(spec, cl)
	if err != nil {
		t.Fatal(err)
	}
	if len(bad) > 0 {
		t.Fatalf("%s does not run %s:\n%s", composeFile, composeCluster, strings.Join(bad, "\n"))
	}
	if len(cl.Servers) != 4 || len(cl.Zones()) != 4 {
		t.Fatalf("%s: %d servers in %d zones, want examples/cluster.yaml's four zones", composeCluster, len(cl.Servers), len(cl.Zones()))
	}

	// The check catches a broken file: each of these edits must be reported.
	breaks := []struct{ name, old, new, want string }{
		{"a server's address", "ipv4_address: 172.31.88.13", "ipv4_address: 172.31.88.23", "rpc_addr 172.31.88.13:2882 is not the address"},
		{"a server's name", `"--server", "s2"`, `"--server", "s3"`, "service s2: command"},
		{"a data volume", "- s4-data:/data", "- s4-data:/var/lib", "data_dir /data/s4 is on no volume"},
		{"the cluster file", "./test/faults/compose/cluster.yaml:/etc/obkv/cluster.yaml:ro\n      - s1-data",
			"./cluster.yaml:/etc/obkv/cluster.yaml:ro\n      - s1-data", "service s1: /etc/obkv/cluster.yaml mounts"},
		{"a service", "  s3:\n", "  s9:\n", "server s3: no service s3"},
	}
	for _, b := range breaks {
		broken := strings.Replace(string(spec), b.old, b.new, 1)
		if broken == string(spec) {
			t.Fatalf("break %q: %q is not in %s", b.name, b.old, composeFile)
		}
		got, err := composeMismatches([]byte(broken), cl)
		if err != nil {
			t.Fatalf("break %q: %v", b.name, err)
		}
		if !slices.ContainsFunc(got, func(s string) bool { return strings.Contains(s, b.want) }) {
			t.Errorf("break %q: mismatches %q, want one containing %q", b.name, got, b.want)
		}
	}
}

// composeFiles reads the repository's compose file and its cluster file.
func composeFiles(t *testing.T) (spec, cluster []byte) {
	t.Helper()
	root := realcluster.Bins().Root
	spec, err := os.ReadFile(filepath.Join(root, composeFile))
	if err != nil {
		t.Fatal(err)
	}
	cluster, err = os.ReadFile(filepath.Join(root, composeCluster))
	if err != nil {
		t.Fatal(err)
	}
	return spec, cluster
}

// composeCommand returns how to run Docker Compose here (the docker compose plugin or the
// docker-compose command), or nil and why neither works.
func composeCommand() ([]string, string) {
	if image == "" {
		return nil, noDocker
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := docker(ctx, "compose", "version"); err == nil {
		return []string{"docker", "compose"}, ""
	}
	if p, err := exec.LookPath("docker-compose"); err == nil {
		if err := exec.CommandContext(ctx, p, "version").Run(); err == nil {
			return []string{p}, ""
		}
	}
	return nil, "neither the docker compose plugin nor docker-compose works"
}

// TestComposeCluster runs the README's container cluster: docker-compose.yml as it is, on this
// run's image and a free subnet (the only two things changed in copies of the compose and
// cluster files, so that a cluster a user started from the file keeps running), then a YCSB-A
// load through every server and a weak read from the READONLY replica in the other region.
func TestComposeCluster(t *testing.T) {
	compose, why := composeCommand()
	if compose == nil {
		t.Skipf("Docker Compose is not usable here (%s): the README's container cluster is checked where it is", why)
	}
	spec, clusterText := composeFiles(t)
	dir := t.TempDir()
	project := fmt.Sprintf("obkv-compose-%d-%06d", os.Getpid(), rand.IntN(1e6))
	const fileNet = "172.31.88."
	if !strings.Contains(string(spec), "subnet: "+fileNet+"0/24") {
		t.Fatalf("%s: no subnet %s0/24 (the test moves the cluster off it)", composeFile, fileNet)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	run := func(ctx context.Context, args ...string) (string, error) {
		full := append(append(compose[1:len(compose):len(compose)], "-p", project, "-f", filepath.Join(dir, composeFile)), args...)
		cmd := exec.CommandContext(ctx, compose[0], full...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			return string(out), fmt.Errorf("%s %s: %w: %s", strings.Join(compose, " "), strings.Join(args, " "), err, strings.TrimSpace(string(out)))
		}
		return string(out), nil
	}
	t.Cleanup(func() {
		dctx, dcancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer dcancel()
		if t.Failed() {
			out, _ := run(dctx, "logs", "--no-color", "--tail", "40")
			t.Logf("--- last lines of the containers' logs:\n%s", out)
		}
		if out, err := run(dctx, "down", "-v", "--timeout", "5"); err != nil {
			t.Errorf("compose down: %v\n%s", err, out)
		}
	})
	// A free /24 for this run: Docker refuses a network overlapping another, so draw again.
	var netPrefix string
	for attempt := 0; ; attempt++ {
		netPrefix = fmt.Sprintf("10.%d.%d.", 100+rand.IntN(150), rand.IntN(256))
		files := map[string]string{
			composeFile:    strings.ReplaceAll(strings.Replace(string(spec), "image: "+composeImage+"\n", "image: "+image+"\n", 1), fileNet, netPrefix),
			composeCluster: strings.ReplaceAll(string(clusterText), fileNet, netPrefix),
		}
		for name, text := range files {
			p := filepath.Join(dir, name)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		out, err := run(ctx, "up", "-d")
		if err == nil {
			break
		}
		if attempt == 10 || !strings.Contains(out, "overlap") {
			t.Fatalf("compose up: %v", err)
		}
		_, _ = run(ctx, "down", "-v")
	}
	c := &testCluster{t: t, file: filepath.Join(dir, composeCluster)}
	cl, err := config.Load(c.file)
	if err != nil {
		t.Fatal(err)
	}
	// Checked on every poll of a wait: the docker command (compose labels its containers with
	// the project) answers in milliseconds, docker-compose's own ps in about a second.
	exited := func() string {
		out, err := docker(ctx, "ps", "-a", "--filter", "label=com.docker.compose.project="+project,
			"--filter", "status=exited", "--format", "{{.Names}}")
		if err != nil {
			return ""
		}
		if s := strings.TrimSpace(out); s != "" {
			return "containers exited: " + strings.ReplaceAll(s, "\n", ", ")
		}
		return ""
	}
	took := realcluster.WaitFor(ctx, t, "the compose cluster to be ready", exited, func(ctx context.Context) (bool, string) {
		return realcluster.Ready(ctx, c.file, len(cl.Servers))
	})
	t.Logf("four servers ACTIVE and the meta partition led %v after compose up", took.Round(time.Millisecond))

	var reports []struct {
		Phase string `json:"phase"`
		Ops   []struct {
			Op     string           `json:"op"`
			Count  int64            `json:"count"`
			Errors int64            `json:"errors"`
			Kinds  map[string]int64 `json:"error_kinds"`
		} `json:"ops"`
	}
	c.mustCtl(ctx, &reports, "bench", "--workload", "A", "--keys", "1000", "--concurrency", "8", "--duration", "3s")
	for _, r := range reports {
		for _, o := range r.Ops {
			if o.Op == "total" && (o.Count == 0 || o.Errors > 0) {
				t.Errorf("bench %s phase: %d operations, %d errors %v", r.Phase, o.Count, o.Errors, o.Kinds)
			}
		}
	}
	if len(reports) != 2 {
		t.Errorf("bench: %d reports, want the load and the run phase", len(reports))
	}

	// The bench tenant's default locality puts a READONLY replica in z4 (region r2).
	var put struct {
		Version uint64 `json:"version"`
	}
	c.mustCtl(ctx, &put, "put", "bench.usertable", "compose-check", "v1")
	realcluster.WaitFor(ctx, t, "a weak read of the READONLY replica", exited, func(ctx context.Context) (bool, string) {
		var got struct {
			Found       bool   `json:"found"`
			Value       string `json:"value"`
			ReadVersion uint64 `json:"read_version"`
			ServedBy    struct {
				Server, Zone, Type string
			} `json:"served_by"`
		}
		if err := c.ctl(ctx, &got, "get", "bench.usertable", "compose-check", "--max-staleness", "5s", "--read-preference", "readonly-only"); err != nil {
			return false, err.Error()
		}
		if got.ServedBy.Type != "READONLY" || got.ServedBy.Zone != "z4" {
			t.Fatalf("readonly-only read served by %+v, want the READONLY replica in z4", got.ServedBy)
		}
		if got.ReadVersion < put.Version {
			return false, fmt.Sprintf("read at %d, before the put at %d", got.ReadVersion, put.Version)
		}
		if !got.Found || got.Value != "v1" {
			t.Fatalf("weak read at %d after the put at %d: found %v value %q, want v1", got.ReadVersion, put.Version, got.Found, got.Value)
		}
		return true, ""
	})
}
