package harness

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// commands maps the names Binary knows to their package and environment
// variable.
var commands = map[string]struct{ pkg, env string }{
	"dc2dc":     {"./cmd/dc2dc", "DC2DC_BIN"},
	"arangosim": {"./cmd/arangosim", "ARANGOSIM_BIN"},
}

type buildResult struct {
	once sync.Once
	path string
	err  error
}

var (
	buildMu  sync.Mutex
	builds   = map[string]*buildResult{}
	buildDir string
)

// Binary returns the path of the named program ("dc2dc" or "arangosim"):
// the file named by its environment variable ($DC2DC_BIN, $ARANGOSIM_BIN)
// when set, else a binary built once per test binary.
func Binary(t testing.TB, name string) string {
	t.Helper()
	c, ok := commands[name]
	if !ok {
		t.Fatalf("harness: unknown program %q: use dc2dc or arangosim, or Build a package", name)
	}
	if p := os.Getenv(c.env); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("harness: $%s=%s: %v", c.env, p, err)
		}
		return p
	}
	return Build(t, c.pkg)
}

// Build builds the main package pkg (a path relative to the module root,
// such as "./cmd/dc2dc") once per test binary and returns the binary's path.
func Build(t testing.TB, pkg string) string {
	t.Helper()
	buildMu.Lock()
	b := builds[pkg]
	if b == nil {
		b = &buildResult{}
		builds[pkg] = b
	}
	buildMu.Unlock()
	b.once.Do(func() { b.path, b.err = build(pkg) })
	if b.err != nil {
		t.Fatalf("harness: %v", b.err)
	}
	return b.path
}

func build(pkg string) (string, error) {
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	buildMu.Lock()
	if buildDir == "" {
		buildDir, err = os.MkdirTemp("", "dc2dc-harness-bin-")
	}
	dir := buildDir
	buildMu.Unlock()
	if err != nil {
		return "", err
	}
	// One subdirectory per package keeps the binary's own name.
	sub := strings.NewReplacer("/", "_", ".", "_").Replace(strings.Trim(pkg, "./"))
	if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
		return "", err
	}
	out := filepath.Join(dir, sub, filepath.Base(strings.TrimSuffix(pkg, "/")))
	args := []string{"build", "-o", out}
	if os.Getenv("DC2DC_HARNESS_RACE") != "" {
		args = append(args, "-race")
	}
	// No cancellation: the build is shared by every test of the binary.
	cmd := exec.CommandContext(context.Background(), "go", append(args, pkg)...)
	cmd.Dir = root
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %w\n%s", pkg, err, msg)
	}
	return out, nil
}

// RemoveBuilds deletes the binaries Build made. Call it when the test binary
// ends, e.g. goleak.VerifyTestMain(m, goleak.Cleanup(func(int) { harness.RemoveBuilds() })).
func RemoveBuilds() {
	buildMu.Lock()
	defer buildMu.Unlock()
	if buildDir != "" {
		_ = os.RemoveAll(buildDir)
		buildDir = ""
	}
	builds = map[string]*buildResult{}
}

// ModuleRoot returns the directory holding the module's go.mod, searched
// upwards from the working directory (a test runs in its package directory).
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the working directory")
		}
		dir = parent
	}
}
