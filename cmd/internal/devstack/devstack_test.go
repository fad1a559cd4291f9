package devstack

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestValidateListsEveryProblem(t *testing.T) {
	err := Config{SyncID: "bad id!", DataPartitions: -1, StateDir: "/"}.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"no dc2dc binary", "no arangosim binary", "sync id", "partitions", "state dir is /"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	cfg := Config{DC2DC: "/bin/sh", Arangosim: "/bin/sh"}.WithDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	if !filepath.IsAbs(cfg.StateDir) || cfg.EndpointsFile != filepath.Join(cfg.StateDir, "endpoints.json") || cfg.SyncID != "a-to-b" {
		t.Fatalf("defaults: %+v", cfg)
	}
}

func TestIsReadyLine(t *testing.T) {
	for line, want := range map[string]bool{
		`{"ready":true,"component":"mirror"}`: true,
		`{"brokers":["127.0.0.1:1"],"pid":1}`: true,
		`{"ready":false}`:                     false,
		`time=... level=INFO`:                 false,
		`{not json`:                           false,
		``:                                    false,
	} {
		if got := IsReadyLine([]byte(line)); got != want {
			t.Errorf("IsReadyLine(%q) = %v, want %v", line, got, want)
		}
	}
}

func FuzzIsReadyLine(f *testing.F) {
	f.Add([]byte(`{"ready":true}`))
	f.Add([]byte(`{"brokers":[]}`))
	f.Add([]byte(`{"ready":"yes"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if IsReadyLine(b) && b[0] != '{' {
			t.Fatalf("%q is a ready line but no JSON object", b)
		}
	})
}

func TestTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	var b strings.Builder
	for i := range 100 {
		b.WriteString(strings.Repeat("x", i) + "\n")
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	got := strings.Split(Tail(path, 3), "\n")
	if len(got) != 3 || len(got[2]) != 99 || len(got[0]) != 97 {
		t.Fatalf("Tail = %q", got)
	}
	if Tail(filepath.Join(t.TempDir(), "missing"), 3) != "" {
		t.Fatal("Tail of a missing file")
	}
}

func TestLockIsExclusive(t *testing.T) {
	dir := t.TempDir()
	release, err := lockState(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lockState(dir); err == nil || !strings.Contains(err.Error(), "in use by another dc2dc dev") {
		t.Fatalf("second lock: %v", err)
	}
	release()
	release2, err := lockState(dir)
	if err != nil {
		t.Fatalf("lock after release: %v", err)
	}
	release2()
}

func TestPortsAndSecretsAreRemembered(t *testing.T) {
	dir := t.TempDir()
	p1, err := loadPorts(dir)
	if err != nil {
		t.Fatal(err)
	}
	p2, err := loadPorts(dir)
	if err != nil {
		t.Fatal(err)
	}
	if p1 != p2 {
		t.Fatalf("ports not remembered: %+v then %+v", p1, p2)
	}
	all := map[int]bool{}
	for _, b := range []struct{ base, n int }{{p1.A, serversA}, {p1.B, serversB}, {p1.KafkaA, 1}, {p1.KafkaB, 1}, {p1.Mirror, 1}} {
		for i := range b.n {
			if all[b.base+i] {
				t.Fatalf("port %d given twice: %+v", b.base+i, p1)
			}
			all[b.base+i] = true
		}
	}
	s1, err := loadSecrets(dir)
	if err != nil {
		t.Fatal(err)
	}
	s2, err := loadSecrets(dir)
	if err != nil {
		t.Fatal(err)
	}
	if s1 != s2 || s1.JWTSecretA == s1.JWTSecretB || len(s1.RootPassword) < 16 {
		t.Fatalf("secrets %+v then %+v", s1, s2)
	}
	if st, err := os.Stat(filepath.Join(dir, "secrets.json")); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("secrets.json: %v %v", st.Mode(), err)
	}
}

// A child that ignores SIGTERM is killed after the timeout, and its
// process group (a grandchild) goes with it.
func TestStopEscalatesToSIGKILLForTheWholeGroup(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "grandchild")
	script := `trap "" TERM; sleep 300 & echo $! > ` + pidFile + `; echo '{"ready":true}'; wait`
	c, err := startChild("stubborn", "/bin/sh", []string{"-c", script}, filepath.Join(dir, "log"), nil)
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := c.waitReady(10*time.Second, nil, &v); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	grandchild, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	c.stopping.Store(true)
	start := time.Now()
	killed := stopGroup([]*child{c}, 300*time.Millisecond)
	if len(killed) != 1 || time.Since(start) < 300*time.Millisecond {
		// sleep dies of SIGTERM, sh ignores it: sh must have been killed
		t.Fatalf("killed %v after %v", killed, time.Since(start))
	}
	deadline := time.Now().Add(5 * time.Second)
	for syscall.Kill(grandchild, 0) == nil {
		if time.Now().After(deadline) {
			t.Fatalf("grandchild %d survives", grandchild)
		}
		time.Sleep(10 * time.Millisecond) // polling a pid: no event to wait on
	}
}

func TestExitBeforeReadyShowsTheLog(t *testing.T) {
	dir := t.TempDir()
	c, err := startChild("broken", "/bin/sh", []string{"-c", "echo 'config is wrong: fix X' >&2; exit 3"}, filepath.Join(dir, "log"), nil)
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	err = c.waitReady(10*time.Second, nil, &v)
	if err == nil || !strings.Contains(err.Error(), "config is wrong: fix X") || !strings.Contains(err.Error(), "exit status 3") {
		t.Fatalf("waitReady: %v", err)
	}
}

// writeScript writes an executable shell script.
func writeScript(t *testing.T, dir, name, body string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// When a child fails during start-up, Start returns an error with the end
// of its log and stops what it had started already.
func TestStartFailingHalfWayStopsWhatItStarted(t *testing.T) {
	dir := t.TempDir()
	// "dc2dc" answers every subcommand with a ready line and then waits.
	dc2dc := writeScript(t, dir, "dc2dc", `echo '{"brokers":["127.0.0.1:1"],"ready":true}'; exec sleep 300`)
	sim := writeScript(t, dir, "arangosim", `echo "arangosim: port already in use: give another --port" >&2; exit 1`)
	state := filepath.Join(dir, "state")
	_, err := Start(t.Context(), Config{StateDir: state, DC2DC: dc2dc, Arangosim: sim, StartTimeout: 10 * time.Second, StopTimeout: 2 * time.Second})
	if err == nil || !strings.Contains(err.Error(), "arangosim-a exited before it was ready") ||
		!strings.Contains(err.Error(), "port already in use: give another --port") {
		t.Fatalf("Start: %v", err)
	}
	var pf PIDsFile
	if ok, err := readJSON(filepath.Join(state, "pids.json"), &pf); !ok || err != nil {
		t.Fatalf("pids.json: %v %v", ok, err)
	}
	if len(pf.Children) != 4 {
		t.Fatalf("pids.json lists %+v, want the 2 clusters and the 2 brokers", pf.Children)
	}
	for _, c := range pf.Children {
		if err := syscall.Kill(c.PID, 0); err == nil {
			t.Errorf("%s (pid %d) still runs after the failed Start", c.Name, c.PID)
		}
	}
	// The lock was released: a second Start gets as far again.
	if _, err := Start(t.Context(), Config{StateDir: state, DC2DC: dc2dc, Arangosim: sim, StartTimeout: 10 * time.Second}); err == nil || strings.Contains(err.Error(), "in use by another dc2dc dev") {
		t.Fatalf("second Start: %v", err)
	}
}
