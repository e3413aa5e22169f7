//go:build unix

package faults

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// bins are the binaries TestMain builds once, static (CGO_ENABLED=0) so that the same files run
// on the host and in a FROM scratch image. They are built without -race even when the tests are:
// race builds of four servers would slow elections and leases past what a CI machine keeps up with.
var bins struct {
	dir, observer, obctl string
}

// image is the Docker image TestMain built for this run ("" when Docker is unavailable), and
// noDocker says why it is not.
var image, noDocker string

// dockerTimeout bounds one docker command.
const dockerTimeout = 60 * time.Second

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		fmt.Println("test/faults: skipped under -short (builds observer and obctl and runs real clusters under faults)")
		os.Exit(0)
	}
	dir, err := os.MkdirTemp("", "obkv-faults-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "test/faults:", err)
		os.Exit(1)
	}
	code := 1
	root, err := build(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "test/faults:", err)
	} else {
		bins.dir = dir
		bins.observer = filepath.Join(dir, "build", "observer")
		bins.obctl = filepath.Join(dir, "build", "obctl")
		image, noDocker = buildImage(root, dir)
		code = m.Run()
		if image != "" {
			_, _ = docker(context.Background(), "rmi", "-f", image)
		}
	}
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// build compiles static cmd/observer and cmd/obctl into dir/build/ (the layout the Dockerfile
// copies from) and returns the module's root.
func build(dir string) (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("go env GOMOD: not inside the obkv module")
	}
	root := filepath.Dir(gomod)
	cmd := exec.Command("go", "build", "-o", filepath.Join(dir, "build")+string(filepath.Separator), "./cmd/observer", "./cmd/obctl")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("CGO_ENABLED=0 go build ./cmd/observer ./cmd/obctl: %v\n%s", err, buf.String())
	}
	return root, nil
}

// buildImage builds the project's Dockerfile over dir (which holds build/observer and
// build/obctl) under a tag unique to this run. It returns the tag, or "" and why Docker cannot
// be used.
func buildImage(root, dir string) (tag, why string) {
	if _, err := exec.LookPath("docker"); err != nil {
		return "", "no docker command on PATH"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if out, err := docker(ctx, "info", "--format", "{{.ServerVersion}}"); err != nil {
		return "", fmt.Sprintf("docker info: %v %s", err, strings.TrimSpace(out))
	}
	df, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		return "", fmt.Sprintf("read the project's Dockerfile: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), df, 0o644); err != nil {
		return "", err.Error()
	}
	tag = fmt.Sprintf("obkv-faults:%d-%d", os.Getpid(), time.Now().UnixNano()%1e6)
	bctx, bcancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer bcancel()
	if out, err := docker(bctx, "build", "-q", "-t", tag, dir); err != nil {
		return "", fmt.Sprintf("docker build: %v %s", err, strings.TrimSpace(out))
	}
	return tag, ""
}

// docker runs the docker command with args and returns its combined output.
func docker(ctx context.Context, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, dockerTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker", args...)
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	err := cmd.Run()
	if err != nil {
		return buf.String(), fmt.Errorf("docker %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(buf.String()))
	}
	return buf.String(), nil
}
