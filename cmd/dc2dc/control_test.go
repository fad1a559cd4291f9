package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
)

// TestControlConfigFiveMistakes: a config file with five mistakes gets one
// error listing all five, each naming the setting and the fix, exit code 2.
func TestControlConfigFiveMistakes(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "worker.json")
	if err := os.WriteFile(filepath.Join(dir, "key.pem"), []byte("key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg, []byte(`{
		"master.endpoint": ["master1:8629"],
		"server.port": 99999,
		"capacity": -1,
		"cluster.jwt-secret-file": "`+filepath.Join(dir, "missing-secret")+`",
		"tls.key": "`+filepath.Join(dir, "key.pem")+`"
	}`), 0o600); err != nil {
		t.Fatal(err)
	}
	root := newRootCmd()
	root.SetArgs([]string{"worker", "--config", cfg})
	root.SetOut(&bytes.Buffer{})
	err := root.Execute()
	var ec *exitCodeError
	if err == nil || !asExit(err, &ec) || ec.code != 2 {
		t.Fatalf("err %v, want exit code 2", err)
	}
	msg := err.Error()
	t.Logf("%s", msg)
	for _, want := range []struct{ setting, fix string }{
		{"--master.endpoint", "use e.g. http://master1:8629"},
		{"--server.port", "use 0..65535"},
		{"--capacity", "use 0 (unlimited) or a positive number"},
		{"--cluster.jwt-secret-file", "give a readable file"},
		{"--tls.cert", "give both --tls.cert and --tls.key"},
		{"--data-dir", "give a directory"},
		{"--cluster.endpoint", "list its Coordinators"},
	} {
		found := false
		for _, line := range strings.Split(msg, "\n") {
			if strings.Contains(line, want.setting) && strings.Contains(line, want.fix) {
				found = true
			}
		}
		if !found {
			t.Errorf("no line names %s with the fix %q", want.setting, want.fix)
		}
	}
	if n := strings.Count(msg, "\n  - "); n != 7 {
		t.Errorf("%d problems listed, want 7 (five in the file plus the missing --data-dir and --cluster.endpoint)", n)
	}
}

// asExit reports whether err itself (not something it wraps) is an
// *exitCodeError: the command must return it as is.
func asExit(err error, ec **exitCodeError) bool {
	e, ok := err.(*exitCodeError) //nolint:errorlint // deliberately strict: the command returns the *exitCodeError itself, unwrapped
	if ok {
		*ec = e
	}
	return ok
}

// TestControlSettingsPrecedence: flags override the environment, which
// overrides the file.
func TestControlSettingsPrecedence(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "m.json")
	if err := os.WriteFile(cfg, []byte(`{"cluster.endpoint": ["http://file:8529", "http://file2:8529"], "dc": "file-dc",
		"election.lease": "7s", "server.port": 1111, "auth.token": "file-token"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DC2DC_DC", "env-dc")
	t.Setenv("DC2DC_SERVER_PORT", "2222")
	t.Setenv("DC2DC_CLUSTER_JWT_SECRET", "env-secret")
	o := &controlOptions{role: "master"}
	cmd := &cobra.Command{Use: "master"}
	o.bind(cmd.Flags())
	if err := cmd.Flags().Parse([]string{"--config", cfg, "--server.port", "3333"}); err != nil {
		t.Fatal(err)
	}
	if err := o.load(cmd); err != nil {
		t.Fatal(err)
	}
	if o.serverPort != 3333 || o.dc != "env-dc" || o.clusterSecret != "env-secret" || o.authToken != "file-token" ||
		o.lease != 7*time.Second || strings.Join(o.clusterEndpoints, ",") != "http://file:8529,http://file2:8529" {
		t.Fatalf("settings %+v", o)
	}
	// A bad value in the environment names the variable.
	t.Setenv("DC2DC_ELECTION_RENEW", "soon")
	o2 := &controlOptions{role: "master"}
	cmd2 := &cobra.Command{Use: "master"}
	o2.bind(cmd2.Flags())
	_ = cmd2.Flags().Parse([]string{"--config", cfg})
	if err := o2.load(cmd2); err == nil || !strings.Contains(err.Error(), "DC2DC_ELECTION_RENEW") {
		t.Fatalf("bad env value: %v", err)
	}
}

func FuzzRawToFlag(f *testing.F) {
	for _, s := range []string{`"x"`, `1`, `true`, `["a", 2, false]`, `{"a":1}`, `null`, `[[1]]`, `1e400`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		s, err := rawToFlag(raw)
		if err == nil && bytes.HasPrefix(bytes.TrimSpace(raw), []byte("{")) {
			t.Fatalf("an object became %q", s)
		}
	})
}
