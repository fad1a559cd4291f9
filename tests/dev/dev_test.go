package dev_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/dc2dc/dc2dc/handlers/control/plan"
	"github.com/dc2dc/dc2dc/tests/harness"
)

// endpoints is the endpoints file as a user's tool reads it.
type endpoints struct {
	StateDir string `json:"state_dir"`
	Topics   struct {
		Data    string `json:"data"`
		CtlDown string `json:"ctl_down"`
	} `json:"topics"`
	A      datacenter `json:"a"`
	B      datacenter `json:"b"`
	Mirror struct {
		Metrics string `json:"metrics"`
	} `json:"mirror"`
	SyncID     string            `json:"sync_id"`
	AdminToken string            `json:"admin_token"`
	Logs       map[string]string `json:"logs"`
}

type datacenter struct {
	Coordinators []string `json:"coordinators"`
	DBServers    []string `json:"dbservers"`
	Username     string   `json:"username"`
	Password     string   `json:"password"`
	JWTSecret    string   `json:"jwt_secret"`
	KafkaBrokers []string `json:"kafka_brokers"`
	Masters      []string `json:"masters"`
	Workers      []string `json:"workers"`
}

type pidsFile struct {
	Dev      int `json:"dev"`
	Children []struct {
		Name string `json:"name"`
		PID  int    `json:"pid"`
	} `json:"children"`
}

// run starts `dc2dc dev --workload none` on stateDir and returns the process
// and the endpoints it wrote.
func run(t *testing.T, stateDir string, extra ...string) (*harness.Proc, endpoints) {
	t.Helper()
	epFile := filepath.Join(stateDir, "endpoints.json")
	_ = os.Remove(epFile)
	args := append([]string{"dev", "--workload", "none", "--state-dir", stateDir,
		"--arangosim", harness.Binary(t, "arangosim"), "--stop-timeout", "8s"}, extra...)
	p := harness.Start(t, harness.Spec{Name: "dc2dc-dev", Path: harness.Binary(t, "dc2dc"), Args: args})
	var eps endpoints
	harness.Eventually(t, 60*time.Second, 100*time.Millisecond, func() (bool, string) {
		select {
		case <-p.Exited():
			t.Fatalf("dc2dc dev exited before writing %s: %v\n%s", epFile, p.ExitErr(), p.Stderr())
		default:
		}
		b, err := os.ReadFile(epFile)
		if err != nil {
			return false, err.Error()
		}
		if err := json.Unmarshal(b, &eps); err != nil {
			return false, err.Error()
		}
		return true, ""
	})
	return p, eps
}

// get does an authenticated GET on a coordinator and decodes the JSON answer.
func get(t *testing.T, dc datacenter, path string, v any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, dc.Coordinators[0]+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(dc.Username, dc.Password)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s%s: HTTP %d: %s", dc.Coordinators[0], path, resp.StatusCode, b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("GET %s: %v: %s", path, err, b)
	}
}

func post(t *testing.T, dc datacenter, path, body string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, dc.Coordinators[0]+path, bytes.NewBufferString(body))
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(dc.Username, dc.Password)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		t.Fatalf("POST %s: HTTP %d: %s", path, resp.StatusCode, b)
	}
}

// checkEndpoints asks every endpoint of the file (the masters and workers
// when controlPlane).
func checkEndpoints(t *testing.T, eps endpoints, controlPlane bool) {
	t.Helper()
	for name, dc := range map[string]datacenter{"A": eps.A, "B": eps.B} {
		if len(dc.Coordinators) != 1 || dc.Password == "" || dc.JWTSecret == "" || len(dc.KafkaBrokers) != 1 {
			t.Fatalf("datacenter %s in the endpoints file: %+v", name, dc)
		}
		var v struct {
			Server  string `json:"server"`
			Version string `json:"version"`
		}
		get(t, dc, "/_api/version", &v)
		if v.Server != "arango" || !strings.HasPrefix(v.Version, "3.12") {
			t.Fatalf("cluster %s /_api/version = %+v", name, v)
		}
		want := map[string]int{"A": 3, "B": 2}[name]
		if len(dc.DBServers) != want {
			t.Fatalf("cluster %s has %d DB-Servers, want %d", name, len(dc.DBServers), want)
		}
		sc := sarama.NewConfig()
		sc.Net.DialTimeout = 5 * time.Second
		cl, err := sarama.NewClient(dc.KafkaBrokers, sc)
		if err != nil {
			t.Fatalf("Kafka %s %v: %v", name, dc.KafkaBrokers, err)
		}
		topics, err := cl.Topics()
		_ = cl.Close()
		if err != nil {
			t.Fatalf("Kafka %s metadata: %v", name, err)
		}
		if !contains(topics, eps.Topics.Data) || !contains(topics, eps.Topics.CtlDown) {
			t.Fatalf("Kafka %s topics %v lack the sync's %+v", name, topics, eps.Topics)
		}
		if !controlPlane {
			if len(dc.Masters) != 0 || len(dc.Workers) != 0 {
				t.Fatalf("datacenter %s: masters %v, workers %v with --plan standalone: want none", name, dc.Masters, dc.Workers)
			}
			continue
		}
		if len(dc.Masters) != 1 || len(dc.Workers) != 1 {
			t.Fatalf("datacenter %s: masters %v, workers %v: want one of each", name, dc.Masters, dc.Workers)
		}
		for _, ep := range append(dc.Masters, dc.Workers...) {
			resp, err := http.Get(ep + "/_api/version")
			if err != nil {
				t.Fatalf("control plane %s: %v", ep, err)
			}
			_ = resp.Body.Close()
		}
	}
	resp, err := http.Get(eps.Mirror.Metrics)
	if err != nil {
		t.Fatalf("mirror metrics: %v", err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("mirror metrics: HTTP %d", resp.StatusCode)
	}
}

// seenInB waits until B holds devtest/c/key with value v.
func seenInB(t *testing.T, b datacenter, key string, v int) {
	t.Helper()
	harness.Eventually(t, 30*time.Second, 100*time.Millisecond, func() (bool, string) {
		req, err := http.NewRequest(http.MethodGet, b.Coordinators[0]+"/_db/devtest/_api/document/c/"+key, nil)
		if err != nil {
			return false, err.Error()
		}
		req.SetBasicAuth(b.Username, b.Password)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false, err.Error()
		}
		defer func() { _ = resp.Body.Close() }()
		body, _ := io.ReadAll(resp.Body)
		var doc struct {
			V int `json:"v"`
		}
		if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &doc) != nil || doc.V != v {
			return false, fmt.Sprintf("B answers HTTP %d: %s", resp.StatusCode, body)
		}
		return true, ""
	})
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// readPIDs reads the pids file and checks it lists every child (9 with
// the control plane, 5 without).
func readPIDs(t *testing.T, p *harness.Proc, stateDir string, children int) pidsFile {
	t.Helper()
	var pf pidsFile
	b, err := os.ReadFile(filepath.Join(stateDir, "pids.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &pf); err != nil {
		t.Fatal(err)
	}
	if len(pf.Children) != children {
		t.Fatalf("pids.json lists %d children, want %d (2 clusters, 2 brokers, mirror, and with the control plane 2 masters, 2 workers): %+v",
			len(pf.Children), children, pf.Children)
	}
	if pf.Dev != p.Pid() {
		t.Fatalf("pids.json names dev pid %d, the process is %d", pf.Dev, p.Pid())
	}
	return pf
}

// allGone checks that no child of the pids file exists any more.
func allGone(t *testing.T, pf pidsFile) {
	t.Helper()
	for _, c := range pf.Children {
		if err := syscall.Kill(c.PID, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("%s (pid %d) still exists after dc2dc dev stopped (kill 0: %v)", c.Name, c.PID, err)
		}
	}
}

// stop sends SIGINT and checks that dc2dc dev exits 0 and that every child
// it recorded is gone.
func stop(t *testing.T, p *harness.Proc, stateDir string) {
	t.Helper()
	pf := readPIDs(t, p, stateDir, 9)
	if err := p.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.Exited():
	case <-time.After(30 * time.Second):
		t.Fatal("dc2dc dev did not exit within 30s of SIGINT")
	}
	if err := p.ExitErr(); err != nil {
		t.Fatalf("dc2dc dev after SIGINT: %v\n%s", err, p.Stderr())
	}
	allGone(t, pf)
}

func TestDevStartsEverythingAndStopsEverything(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the whole development stack")
	}
	stateDir := filepath.Join(t.TempDir(), "state")

	p, eps := run(t, stateDir)
	checkEndpoints(t, eps, true)
	if eps.StateDir != stateDir || len(eps.Logs) != 9 || eps.AdminToken == "" {
		t.Fatalf("endpoints file: state dir %q, logs %v, admin token %q", eps.StateDir, eps.Logs, eps.AdminToken)
	}
	for name, log := range eps.Logs {
		if _, err := os.Stat(log); err != nil {
			t.Errorf("log of %s: %v", name, err)
		}
	}
	post(t, eps.A, "/_api/database", `{"name":"devtest"}`)
	post(t, eps.A, "/_db/devtest/_api/collection", `{"name":"c","numberOfShards":3}`)
	post(t, eps.A, "/_db/devtest/_api/document/c", `{"_key":"k1","v":1}`)
	seenInB(t, eps.B, "k1", 1)
	// Replicated by the control plane: B's master knows the sync and its shards.
	syncRunning(t, eps, "devtest/c", 3)
	// Users too (A's master runs with --sync.replicate-users).
	post(t, eps.A, "/_api/user", `{"user":"devuser","passwd":"devpw"}`)
	harness.Eventually(t, 30*time.Second, 200*time.Millisecond, func() (bool, string) {
		// devuser has no database rights: it can only log in (POST /_open/auth).
		resp, err := http.Post(eps.B.Coordinators[0]+"/_open/auth", "application/json",
			strings.NewReader(`{"username":"devuser","password":"devpw"}`))
		if err != nil {
			return false, err.Error()
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK, fmt.Sprintf("devuser logs in to B: HTTP %d", resp.StatusCode)
	})
	stop(t, p, stateDir)

	// The second run reuses the data (same ports, same credentials).
	p2, eps2 := run(t, stateDir)
	checkEndpoints(t, eps2, true)
	if eps2.A.Password != eps.A.Password || eps2.A.Coordinators[0] != eps.A.Coordinators[0] {
		t.Fatalf("second run: A %+v, first run: A %+v", eps2.A, eps.A)
	}
	var doc struct {
		V int `json:"v"`
	}
	get(t, eps2.A, "/_db/devtest/_api/document/c/k1", &doc)
	if doc.V != 1 {
		t.Fatalf("document of the first run: %+v", doc)
	}
	post(t, eps2.A, "/_db/devtest/_api/document/c", `{"_key":"k2","v":2}`)
	seenInB(t, eps2.B, "k2", 2)
	// The second run kept the sync (no second configure).
	syncRunning(t, eps2, "devtest/c", 3)
	stop(t, p2, stateDir)

	// --fresh wipes it; --plan standalone replicates inside dc2dc dev,
	// without masters and workers.
	p3, eps3 := run(t, stateDir, "--fresh", "--plan", "standalone")
	checkEndpoints(t, eps3, false)
	var dbs struct {
		Result []string `json:"result"`
	}
	get(t, eps3.A, "/_api/database", &dbs)
	if contains(dbs.Result, "devtest") {
		t.Fatalf("--fresh kept database devtest: %v", dbs.Result)
	}
	post(t, eps3.A, "/_api/database", `{"name":"devtest"}`)
	post(t, eps3.A, "/_db/devtest/_api/collection", `{"name":"c","numberOfShards":3}`)
	post(t, eps3.A, "/_db/devtest/_api/document/c", `{"_key":"k3","v":3}`)
	seenInB(t, eps3.B, "k3", 3)

	// A child that dies is reported with its log, and everything else stops.
	pf := readPIDs(t, p3, stateDir, 5)
	var mirror int
	for _, c := range pf.Children {
		if c.Name == "mirror" {
			mirror = c.PID
		}
	}
	if err := syscall.Kill(mirror, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p3.Exited():
	case <-time.After(30 * time.Second):
		t.Fatal("dc2dc dev did not stop within 30s of its mirror's death")
	}
	if p3.ExitErr() == nil {
		t.Fatal("dc2dc dev exited 0 after its mirror died")
	}
	if msg := p3.Stderr(); !strings.Contains(msg, fmt.Sprintf("mirror (pid %d) exited unexpectedly", mirror)) ||
		!strings.Contains(msg, eps3.Logs["mirror"]) {
		t.Fatalf("stderr does not report the mirror's death with its log %s:\n%s", eps3.Logs["mirror"], msg)
	}
	allGone(t, pf)
}

// syncRunning waits until B's master (GET /_api/status with the endpoints
// file's admin token) shows the sync running as target with at least
// shards shards of collection (database/name) running.
func syncRunning(t *testing.T, eps endpoints, collection string, shards int) {
	t.Helper()
	harness.Eventually(t, 30*time.Second, 200*time.Millisecond, func() (bool, string) {
		req, err := http.NewRequest(http.MethodGet, eps.B.Masters[0]+"/_api/status", nil)
		if err != nil {
			return false, err.Error()
		}
		req.Header.Set("Authorization", "Bearer "+eps.AdminToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false, err.Error()
		}
		defer func() { _ = resp.Body.Close() }()
		body, _ := io.ReadAll(resp.Body)
		var st plan.Status
		if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &st) != nil {
			return false, fmt.Sprintf("HTTP %d: %s", resp.StatusCode, body)
		}
		for _, sy := range st.Syncs {
			if sy.ID != eps.SyncID || sy.Role != plan.RoleTarget || sy.State != plan.StateRunning {
				continue
			}
			n := 0
			for _, sh := range sy.Shards {
				if sh.Collection == collection && sh.Phase == plan.ShardRunning {
					n++
				}
			}
			return n >= shards, fmt.Sprintf("%d of %d shards of %s running: %s", n, shards, collection, body)
		}
		return false, fmt.Sprintf("no running sync %s in %s", eps.SyncID, body)
	})
}
