//go:build unix

package data

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

// bins are the binaries TestMain builds once for every test of the package.
var bins struct {
	observer, obctl string
}

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		fmt.Println("test/data: skipped under -short (builds observer and obctl and runs real clusters on loopback)")
		os.Exit(0)
	}
	dir, err := os.MkdirTemp("", "obkv-data-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "test/data:", err)
		os.Exit(1)
	}
	code := 1
	if err := build(dir); err != nil {
		fmt.Fprintln(os.Stderr, "test/data:", err)
	} else {
		bins.observer = filepath.Join(dir, "observer")
		bins.obctl = filepath.Join(dir, "obctl")
		code = m.Run()
	}
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// build compiles cmd/observer and cmd/obctl of this module into dir. They are built without
// -race even when the tests are: the tests check behaviour across processes, and race builds of
// four to six servers would slow elections and leases past what two cores can keep up with.
func build(dir string) error {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return fmt.Errorf("go env GOMOD: not inside the obkv module")
	}
	cmd := exec.Command("go", "build", "-o", dir+string(filepath.Separator), "./cmd/observer", "./cmd/obctl")
	cmd.Dir = filepath.Dir(gomod)
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build ./cmd/observer ./cmd/obctl: %v\n%s", err, buf.String())
	}
	return nil
}
