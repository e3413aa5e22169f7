package realcluster

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Binaries are the observer and obctl built for one test binary.
type Binaries struct {
	// Dir is the temporary directory Build created; the binaries are in Dir/build/ (the layout
	// the project's Dockerfile copies from).
	Dir string
	// Root is the module's root directory.
	Root            string
	Observer, Obctl string
}

// bins is set once by Build, before any test runs, and only read afterwards.
var bins Binaries

// Bins returns the binaries Build made. It panics if Build has not succeeded: a test that runs
// without them is a wiring bug in the suite's TestMain.
func Bins() Binaries {
	if bins.Observer == "" {
		panic("realcluster: Bins called before Build (call realcluster.Main or Build from TestMain)")
	}
	return bins
}

// BuildOptions say how Build compiles the binaries.
type BuildOptions struct {
	// Static builds with CGO_ENABLED=0, so that the same files run on the host and in a FROM
	// scratch image.
	Static bool
}

// Build compiles cmd/observer and cmd/obctl of this module into a new temporary directory named
// after suite, and records them for Bins. The caller removes them with Binaries.Remove.
func Build(suite string, opts BuildOptions) (Binaries, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return Binaries{}, fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return Binaries{}, fmt.Errorf("go env GOMOD: not inside the obkv module")
	}
	dir, err := os.MkdirTemp("", "obkv-"+suite+"-bin-")
	if err != nil {
		return Binaries{}, err
	}
	b := Binaries{Dir: dir, Root: filepath.Dir(gomod),
		Observer: filepath.Join(dir, "build", "observer"),
		Obctl:    filepath.Join(dir, "build", "obctl")}
	cmd := exec.Command("go", "build", "-o", filepath.Join(dir, "build")+string(filepath.Separator), "./cmd/observer", "./cmd/obctl")
	cmd.Dir = b.Root
	what := "go build ./cmd/observer ./cmd/obctl"
	if opts.Static {
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		what = "CGO_ENABLED=0 " + what
	}
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Run(); err != nil {
		_ = os.RemoveAll(dir)
		return Binaries{}, fmt.Errorf("%s: %v\n%s", what, err, buf.String())
	}
	bins = b
	return b, nil
}

// Remove deletes the binaries' directory.
func (b Binaries) Remove() { _ = os.RemoveAll(b.Dir) }

// SkipShort exits the test binary with success, printing why, when it runs under -short. suite
// is the package's path ("test/cluster"), what says what it would have done.
func SkipShort(suite, what string) {
	if !flag.Parsed() {
		flag.Parse()
	}
	if testing.Short() {
		fmt.Printf("%s: skipped under -short (%s)\n", suite, what)
		os.Exit(0)
	}
}

// Main is a whole TestMain for a suite that needs only the binaries: it skips under -short,
// builds them, runs the tests, removes them and exits with the tests' code.
func Main(m *testing.M, suite string) {
	SkipShort(suite, "builds observer and obctl and runs real clusters on loopback")
	b, err := Build(filepath.Base(suite), BuildOptions{})
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", suite, err)
		os.Exit(1)
	}
	code := m.Run()
	b.Remove()
	os.Exit(code)
}
