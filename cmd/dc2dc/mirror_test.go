package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/dc2dc/dc2dc/pipeline/mirror"
)

func mirrorConfigFrom(t *testing.T, args ...string) (mirror.Config, error) {
	t.Helper()
	o := &mirrorOptions{}
	f := pflag.NewFlagSet("mirror", pflag.ContinueOnError)
	o.bindFlags(f)
	if err := f.Parse(args); err != nil {
		t.Fatal(err)
	}
	return o.config(f)
}

func TestMirrorConfigFromFlags(t *testing.T) {
	cfg, err := mirrorConfigFrom(t, "--from.brokers", "a1:9092,a2:9092", "--to.brokers", "b1:9092", "--sync-id", "s7",
		"--to.sasl.mechanism", "PLAIN", "--to.sasl.user", "u", "--to.sasl.password", "p", "--session-timeout", "6s")
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Clusters["A"].Brokers; len(got) != 2 || got[1] != "a2:9092" {
		t.Fatalf("A brokers %v", got)
	}
	if b := cfg.Clusters["B"]; b.SASL.Mechanism != "PLAIN" || b.SASL.Password != "p" {
		t.Fatalf("B %+v", b)
	}
	if len(cfg.Routes) != 2 || cfg.Routes[0].Topics[0] != "dc2dc.s7.data" || cfg.Routes[1].Topics[0] != "dc2dc.s7.ctl.down" {
		t.Fatalf("routes %+v", cfg.Routes)
	}
	if cfg.SessionTimeout.D() != 6*time.Second {
		t.Fatalf("session timeout %s", cfg.SessionTimeout.D())
	}
	cfg.EnsureDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}

	cfg, err = mirrorConfigFrom(t, "--from.brokers", "a:1", "--to.brokers", "b:1", "--sync-id", "s", "--topics", "x,y", "--reverse=false")
	if err != nil || len(cfg.Routes) != 1 || strings.Join(cfg.Routes[0].Topics, ",") != "x,y" {
		t.Fatalf("--topics/--reverse: %+v %v", cfg.Routes, err)
	}
	if _, err := mirrorConfigFrom(t, "--from.brokers", "a:1"); err == nil || !strings.Contains(err.Error(), "nothing to forward") {
		t.Fatalf("no routes: %v", err)
	}
}

func TestMirrorConfigExampleFile(t *testing.T) {
	cfg, err := mirrorConfigFrom(t, "--config", "../../pipeline/mirror/testdata/mirror.example.json",
		"--from.name", "dc-east", "--to.name", "dc-west", "--instance-id", "m2")
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Clusters) != 2 || len(cfg.Routes) != 2 || cfg.InstanceID != "m2" {
		t.Fatalf("config %+v", cfg)
	}
	cfg.EnsureDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestMirrorConfigFileWithFlagOverride(t *testing.T) {
	file := filepath.Join(t.TempDir(), "mirror.json")
	body := `{"clusters":{"east":{"brokers":["e:1"]},"west":{"brokers":["w:1"]}},
	  "routes":[{"from":"east","to":"west","topic_regex":"dc2dc\\..*\\.data"}],
	  "topic_refresh":"2s"}`
	if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := mirrorConfigFrom(t, "--config", file, "--from.name", "east", "--to.name", "west", "--to.brokers", "w:2")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Clusters["west"].Brokers[0] != "w:2" || cfg.Clusters["east"].Brokers[0] != "e:1" || cfg.TopicRefresh.D() != 2*time.Second {
		t.Fatalf("config %+v", cfg)
	}
	if len(cfg.Clusters) != 2 {
		t.Fatalf("flag defaults added clusters: %v", cfg.Clusters)
	}
	if err := os.WriteFile(file, []byte(`{"clusterz":{}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := mirrorConfigFrom(t, "--config", file); err == nil || !strings.Contains(err.Error(), "clusterz") {
		t.Fatalf("unknown field: %v", err)
	}
}

// TestMirrorCommandRuns runs `dc2dc mirror` in-process between two kfake
// clusters: ready line, /metrics, clean exit on cancel (forwarding is
// checked by the process test in tests/mirror).
func TestMirrorCommandRuns(t *testing.T) {
	newCluster := func(opts ...kfake.Opt) *kfake.Cluster {
		c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1)}, opts...)...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		return c
	}
	a := newCluster(kfake.SeedTopics(2, "dc2dc.s1.data", "dc2dc.s1.ctl.up"))
	b := newCluster(kfake.SeedTopics(1, "dc2dc.s1.ctl.down"))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	root := newRootCmd()
	pr, pw := io.Pipe()
	root.SetOut(pw)
	root.SetErr(io.Discard)
	root.SetArgs([]string{"mirror", "--from.brokers", a.ListenAddrs()[0], "--to.brokers", b.ListenAddrs()[0],
		"--sync-id", "s1", "--metrics.addr", "127.0.0.1:0", "--session-timeout", "6s"})
	done := make(chan error, 1)
	go func() {
		done <- root.ExecuteContext(ctx)
		_ = pw.Close()
	}()
	lines := make(chan string, 1)
	go func() {
		buf := make([]byte, 4096)
		n, _ := pr.Read(buf)
		lines <- string(buf[:n])
		_, _ = io.Copy(io.Discard, pr)
	}()
	var ready mirrorReady
	select {
	case l := <-lines:
		if err := json.Unmarshal(bytes.TrimSpace([]byte(l)), &ready); err != nil || !ready.Ready || ready.Metrics == "" {
			t.Fatalf("ready line %q: %v", l, err)
		}
	case err := <-done:
		t.Fatalf("mirror exited before ready: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("no ready line within 30s")
	}
	if strings.Join(ready.Routes, ",") != "A-to-B,B-to-A" {
		t.Fatalf("routes %v", ready.Routes)
	}
	resp, err := http.Get("http://" + ready.Metrics + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if !strings.Contains(string(body), "go_goroutines") {
		t.Fatalf("/metrics lacks the Go collector:\n%.500s", body)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("mirror exit after cancel: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("mirror did not stop within 30s of cancel")
	}
}

func TestMirrorExitCodes(t *testing.T) {
	if mirrorExit(nil) != nil {
		t.Fatal("nil error changed")
	}
	stop := &mirror.StopError{Code: mirror.CodeGap, Err: errors.New("x")}
	var ec *exitCodeError
	if err := mirrorExit(stop); !errors.As(err, &ec) || ec.code != exitMirrorStopped {
		t.Fatalf("StopError exit = %v", err)
	}
	if err := mirrorExit(errors.New("other")); errors.As(err, &ec) {
		t.Fatalf("other error got exit code %d", ec.code)
	}
}
