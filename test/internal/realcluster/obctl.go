package realcluster

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// CtlError is a failed obctl run: its exit code and stderr.
type CtlError struct {
	Args   []string
	Code   int
	Stderr string
}

func (e *CtlError) Error() string {
	return fmt.Sprintf("obctl %s: exit %d: %s", strings.Join(e.Args, " "), e.Code, strings.TrimSpace(e.Stderr))
}

// Run runs obctl with args against the cluster file file, and returns its stdout. A non-zero
// exit is a *CtlError.
func Run(ctx context.Context, file string, args ...string) (string, error) {
	all := append([]string{"-c", file, "--timeout", ObctlTimeout.String()}, args...)
	cmd := exec.CommandContext(ctx, Bins().Obctl, all...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return out.String(), &CtlError{Args: args, Code: ee.ExitCode(), Stderr: errb.String()}
	}
	if err != nil {
		return out.String(), fmt.Errorf("obctl %s: %w", strings.Join(args, " "), err)
	}
	return out.String(), nil
}

// Ctl runs obctl with args and -o json against the cluster file file and decodes its output
// into v (if not nil).
func Ctl(ctx context.Context, file string, v any, args ...string) error {
	out, err := Run(ctx, file, append(args, "-o", "json")...)
	if err != nil {
		return err
	}
	if v == nil {
		return nil
	}
	if err := json.Unmarshal([]byte(out), v); err != nil {
		return fmt.Errorf("obctl %s -o json: decode %q: %w", strings.Join(args, " "), out, err)
	}
	return nil
}

// Run is Run against c's cluster file.
func (c *Cluster) Run(ctx context.Context, args ...string) (string, error) {
	return Run(ctx, c.File, args...)
}

// Ctl is Ctl against c's cluster file.
func (c *Cluster) Ctl(ctx context.Context, v any, args ...string) error {
	return Ctl(ctx, c.File, v, args...)
}

// MustCtl is Ctl that fails the test on error.
func (c *Cluster) MustCtl(ctx context.Context, v any, args ...string) {
	c.t.Helper()
	if err := c.Ctl(ctx, v, args...); err != nil {
		c.t.Fatal(err)
	}
}

// WaitFor polls cond every PollInterval until it holds, and fails t if ctx ends first, with
// what cond last said about the state, or as soon as exited (if not nil) describes a server that
// exited on its own. It returns how long the wait took.
func WaitFor(ctx context.Context, t interface {
	Helper()
	Fatalf(string, ...any)
}, what string, exited func() string, cond func(ctx context.Context) (bool, string)) time.Duration {
	t.Helper()
	start := time.Now()
	last := "never checked"
	for {
		if exited != nil {
			if msg := exited(); msg != "" {
				t.Fatalf("waiting for %s: %s; see its log below", what, msg)
			}
		}
		ok, state := cond(ctx)
		if ok {
			return time.Since(start)
		}
		// A check cut short by the deadline says only that (an obctl killed mid-call): keep
		// what the one before it saw.
		if ctx.Err() == nil || last == "never checked" {
			last = state
		}
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: gave up after %v: %s", what, time.Since(start).Round(time.Millisecond), last)
		case <-time.After(PollInterval):
		}
	}
}

// WaitFor is WaitFor that also fails when one of c's observers exited on its own.
func (c *Cluster) WaitFor(ctx context.Context, what string, cond func(ctx context.Context) (bool, string)) time.Duration {
	c.t.Helper()
	return WaitFor(ctx, c.t, what, c.Unexpected, cond)
}

// Context returns a context that ends after d or when the test ends.
func Context(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
