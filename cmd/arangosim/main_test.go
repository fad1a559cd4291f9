package main

import (
	"bufio"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// binary returns $ARANGOSIM_BIN or builds the command into a temporary folder.
func binary(t *testing.T) string {
	if p := os.Getenv("ARANGOSIM_BIN"); p != "" {
		return p
	}
	out := filepath.Join(t.TempDir(), "arangosim")
	cmd := exec.Command("go", "build", "-o", out, ".")
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("go build: %v", err)
	}
	return out
}

func TestProcessPrintsReadyLineAndStopsOnSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	cmd := exec.Command(binary(t), "--coordinators", "2", "--dbservers", "3", "--port", "0", "--jwt-secret", "x")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
	})
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<16), 1<<20)
		if sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		done <- cmd.Wait()
	}()
	var line string
	select {
	case line = <-lines:
	case <-time.After(60 * time.Second):
		t.Fatal("no ready line within 60s")
	}
	var ready readyLine
	if err := json.Unmarshal([]byte(line), &ready); err != nil {
		t.Fatalf("ready line %q: %v", line, err)
	}
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
	http.DefaultClient.CloseIdleConnections()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		done <- err
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("did not exit after SIGTERM")
	}
}
