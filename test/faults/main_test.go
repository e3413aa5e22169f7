//go:build unix

package faults

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"obkv/test/internal/realcluster"
)

// image is the Docker image TestMain built for this run ("" when Docker is unavailable), and
// noDocker says why it is not.
var image, noDocker string

// dockerTimeout bounds one docker command.
const dockerTimeout = 60 * time.Second

// TestMain builds static observer and obctl binaries once (CGO_ENABLED=0, so that the same files
// run on the host and in a FROM scratch image) and, when Docker is available, the image.
func TestMain(m *testing.M) {
	realcluster.SkipShort("test/faults", "builds observer and obctl and runs real clusters under faults")
	bins, err := realcluster.Build("faults", realcluster.BuildOptions{Static: true})
	if err != nil {
		fmt.Fprintln(os.Stderr, "test/faults:", err)
		os.Exit(1)
	}
	image, noDocker = buildImage(bins.Root, bins.Dir)
	code := m.Run()
	if image != "" {
		_, _ = docker(context.Background(), "rmi", "-f", image)
	}
	bins.Remove()
	os.Exit(code)
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
