package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

var (
	buildOnce sync.Once
	buildDir  string
	buildBin  string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		_ = os.RemoveAll(buildDir)
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// binary returns $ARANGOSIM_BIN or builds the command once into a temporary folder.
func binary(t *testing.T) string {
	if p := os.Getenv("ARANGOSIM_BIN"); p != "" {
		return p
	}
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "arangosim-bin")
		if buildErr != nil {
			return
		}
		buildBin = filepath.Join(buildDir, "arangosim")
		cmd := exec.Command("go", "build", "-o", buildBin, ".")
		cmd.Stderr = os.Stderr
		buildErr = cmd.Run()
	})
	if buildErr != nil {
		t.Fatalf("go build: %v", buildErr)
	}
	return buildBin
}

// proc is a running arangosim process.
type proc struct {
	cmd   *exec.Cmd
	done  chan error
	ready readyLine
}

func startProc(t *testing.T, bin string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(bin, args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, done: make(chan error, 1)}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		err := <-p.done
		p.done <- err
	})
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<16), 1<<20)
		if sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		p.done <- cmd.Wait()
	}()
	var line string
	select {
	case line = <-lines:
	case <-time.After(60 * time.Second):
		t.Fatal("no ready line within 60s")
	}
	if err := json.Unmarshal([]byte(line), &p.ready); err != nil {
		t.Fatalf("ready line %q: %v", line, err)
	}
	return p
}

// stop sends SIGTERM and waits for a clean exit.
func (p *proc) stop(t *testing.T) {
	t.Helper()
	http.DefaultClient.CloseIdleConnections()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.done:
		p.done <- err
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("did not exit after SIGTERM")
	}
}

func TestProcessKeepsDataDirAcrossRestarts(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := binary(t)
	dir := t.TempDir()
	p := startProc(t, bin, "--port", "0", "--data-dir", dir)
	ep := p.ready.Endpoint
	for _, req := range []struct{ path, body string }{
		{"/_api/collection", `{"name":"keep","numberOfShards":2}`},
		{"/_api/document/keep", `[{"_key":"a"},{"_key":"b"}]`},
	} {
		resp, err := http.Post(ep+req.path, "application/json", strings.NewReader(req.body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	ids := p.ready.Servers
	p.stop(t)

	p2 := startProc(t, bin, "--port", "0", "--data-dir", dir)
	for i, s := range p2.ready.Servers {
		if s.ID != ids[i].ID {
			t.Fatalf("server %d id %s, want %s", i, s.ID, ids[i].ID)
		}
	}
	resp, err := http.Get(p2.ready.Endpoint + "/_api/document/keep/b")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("document after restart: %d", resp.StatusCode)
	}
	p2.stop(t)
}

func TestProcessPrintsReadyLineAndStopsOnSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	p := startProc(t, binary(t), "--coordinators", "2", "--dbservers", "3", "--port", "0", "--jwt-secret", "x")
	ready := p.ready
	if len(ready.Servers) != 5 || ready.Servers[0].Role != "coordinator" || ready.Servers[4].Role != "dbserver" {
		t.Fatalf("servers = %+v", ready.Servers)
	}
	for _, s := range ready.Servers {
		resp, err := http.Get(s.Endpoint + "/_api/version")
		if err != nil {
			t.Fatalf("%s: %v", s.ShortName, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("Server") != "ArangoDB" {
			t.Fatalf("%s: status %d server %q", s.ShortName, resp.StatusCode, resp.Header.Get("Server"))
		}
	}
	p.stop(t)
}
