package jsclient

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/dc2dc/dc2dc/tests/arangosim"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func copyFile(t *testing.T, name, dir string) {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestArangoJSRoundTrip(t *testing.T) {
	if testing.Short() {
		t.Skip("runs npm and node: skipped with -short")
	}
	node, errNode := exec.LookPath("node")
	npm, errNpm := exec.LookPath("npm")
	if errNode != nil || errNpm != nil {
		t.Skip("node and npm are needed for the arangojs check; install Node.js 20+ to run it")
	}
	dir := t.TempDir()
	for _, f := range []string{"package.json", "package-lock.json", "roundtrip.mjs"} {
		copyFile(t, f, dir)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	install := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund", "--prefer-offline")
	install.Dir = dir
	if out, err := install.CombinedOutput(); err != nil {
		if bytes.Contains(out, []byte("ENOTFOUND")) || bytes.Contains(out, []byte("EAI_AGAIN")) || bytes.Contains(out, []byte("ECONNREFUSED")) {
			t.Skipf("npm registry not reachable, arangojs cannot be installed: %s", lastLines(out))
		}
		t.Fatalf("npm ci: %v\n%s", err, out)
	}

	c, err := arangosim.Start(ctx, arangosim.Config{RootPassword: "js-secret"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	run := exec.CommandContext(ctx, node, "roundtrip.mjs")
	run.Dir = dir
	run.Env = append(os.Environ(), "ARANGO_URL="+c.Endpoint(), "ARANGO_USER=root", "ARANGO_PASSWORD=js-secret")
	out, err := run.CombinedOutput()
	if err != nil {
		t.Fatalf("arangojs round trip failed: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), `"ok":true`) {
		t.Fatalf("unexpected output:\n%s", out)
	}
	t.Logf("arangojs: %s", strings.TrimSpace(string(out)))
}

func lastLines(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 3 {
		lines = lines[len(lines)-3:]
	}
	return strings.Join(lines, " | ")
}
