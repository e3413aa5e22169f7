// Package lint holds repository rules written as Go tests (as pebble does): they fail the build
// when a rule of ../shared/STYLE.md or DESIGN.md is broken, so the rules cannot silently rot.
package lint

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// purePackages are the packages DESIGN.md declares pure: no I/O, no goroutines, no clock,
// no global randomness. Paths are relative to the module root.
var purePackages = []string{"paxos", "tenant"}

// forbiddenImports may not appear in a non-test file of a pure package. An import path is
// forbidden if it equals an entry or lies below one ("net" forbids "net/http").
var forbiddenImports = []string{
	"time", "os", "net", "sync", "math/rand", "log", "io", "bufio", "syscall",
	"runtime", "unsafe", "crypto/rand", "path/filepath", "embed", "plugin",
}

func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the test directory")
		}
		dir = parent
	}
}

// checkPure parses every non-test Go file in dir and returns one message per violation.
func checkPure(dir string) ([]string, error) {
	fset := token.NewFileSet()
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var problems []string
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		path := filepath.Join(dir, name)
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return nil, err
		}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			for _, bad := range forbiddenImports {
				if p == bad || strings.HasPrefix(p, bad+"/") {
					problems = append(problems, fset.Position(imp.Pos()).String()+": imports "+strconv.Quote(p)+" (forbidden in a pure package)")
				}
			}
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if g, ok := n.(*ast.GoStmt); ok {
				problems = append(problems, fset.Position(g.Pos()).String()+": starts a goroutine (forbidden in a pure package)")
			}
			return true
		})
	}
	return problems, nil
}

func TestPurePackagesStayPure(t *testing.T) {
	root := moduleRoot(t)
	for _, pkg := range purePackages {
		problems, err := checkPure(filepath.Join(root, pkg))
		if err != nil {
			t.Fatalf("%s: %v", pkg, err)
		}
		for _, p := range problems {
			t.Error(p)
		}
	}
}

// TestPurityCheckBites proves the check fails on a package that breaks each rule.
func TestPurityCheckBites(t *testing.T) {
	dir := t.TempDir()
	src := `package bad

import (
	"os"
	"net/http"
	"time"
)

func f() { go func() {}(); _ = os.Args; _ = http.MethodGet; _ = time.Now }
`
	if err := os.WriteFile(filepath.Join(dir, "bad.go"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	// A test file may use anything.
	if err := os.WriteFile(filepath.Join(dir, "bad_test.go"), []byte("package bad\n\nimport \"sync\"\n\nvar _ sync.Mutex\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	problems, err := checkPure(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{`"os"`, `"net/http"`, `"time"`, "goroutine"}
	if len(problems) != len(want) {
		t.Fatalf("got %d problems, want %d: %q", len(problems), len(want), problems)
	}
	for i, w := range want {
		if !strings.Contains(problems[i], w) {
			t.Errorf("problem %d = %q, want it to mention %s", i, problems[i], w)
		}
	}
}
