package control_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dc2dc/dc2dc/handlers/control/api"
	"github.com/dc2dc/dc2dc/tests/harness"
)

const (
	clusterSecret = "control-test-cluster-secret"
	apiToken      = "control-test-token"
)

func startCluster(t *testing.T) string {
	t.Helper()
	sim := harness.Start(t, harness.Spec{Name: "arangosim", Path: harness.Binary(t, "arangosim"),
		Args: []string{"-jwt-secret", clusterSecret, "-dbservers", "2"}})
	r := sim.MustReady(30 * time.Second)
	ep := r.String("endpoint")
	if ep == "" {
		t.Fatalf("arangosim ready line %v has no endpoint", r)
	}
	return ep
}

type master struct {
	p        *harness.Proc
	endpoint string
	id       string
}

func startMaster(t *testing.T, name, cluster string) *master {
	t.Helper()
	p := harness.Start(t, harness.Spec{Name: name, Path: harness.Binary(t, "dc2dc"),
		Args: []string{"master", "--cluster.endpoint", cluster, "--server.host", "127.0.0.1", "--server.port", "0",
			"--server.id", name, "--dc", "A", "--log.level", "debug"},
		Env: []string{"DC2DC_CLUSTER_JWT_SECRET=" + clusterSecret, "DC2DC_AUTH_TOKEN=" + apiToken}})
	r := p.MustReady(30 * time.Second)
	if r.String("component") != "master" || r.String("id") != name {
		t.Fatalf("%s: ready line %v", name, r)
	}
	return &master{p: p, endpoint: r.String("endpoint"), id: name}
}

// leaders asks every live master directly (no forwarding) who leads: the
// leader answers GET /_api/masters, the followers 503.
func leaders(ctx context.Context, ms []*master) (leading []string, epoch uint64) {
	for _, m := range ms {
		select {
		case <-m.p.Exited():
			continue
		default:
		}
		cl, err := api.NewClient(api.ClientConfig{Endpoints: []string{m.endpoint}, Token: apiToken, NoForward: true, Timeout: 2 * time.Second})
		if err != nil {
			continue
		}
		got, err := cl.Masters(ctx)
		cl.Close()
		if err == nil {
			leading = append(leading, got.Leader)
			epoch = got.Epoch
		}
	}
	return leading, epoch
}

func TestMastersAndWorkersAsProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("process test, about 30 s")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cluster := startCluster(t)
	var masters []*master
	for i := 1; i <= 3; i++ {
		masters = append(masters, startMaster(t, fmt.Sprintf("master%d", i), cluster))
	}
	var eps []string
	for _, m := range masters {
		eps = append(eps, m.endpoint)
	}

	// Exactly one leader.
	var leader *master
	var epoch1 uint64
	harness.Eventually(t, 15*time.Second, 100*time.Millisecond, func() (bool, string) {
		ls, ep := leaders(ctx, masters)
		if len(ls) > 1 {
			t.Fatalf("two masters answer as leader: %v", ls)
		}
		if len(ls) == 1 {
			for _, m := range masters {
				if m.id == ls[0] {
					leader, epoch1 = m, ep
				}
			}
		}
		return leader != nil, fmt.Sprint(ls)
	})

	workers := map[string]*harness.Proc{}
	for i := 1; i <= 2; i++ {
		id := fmt.Sprintf("worker%d", i)
		args := []string{"worker", "--cluster.endpoint", cluster, "--server.host", "127.0.0.1", "--server.port", "0", "--server.id", id,
			"--data-dir", filepath.Join(t.TempDir(), id), "--dbserver", fmt.Sprintf("PRMR-%d", i), "--auth.token", apiToken}
		for _, ep := range eps {
			args = append(args, "--master.endpoint", ep)
		}
		p := harness.Start(t, harness.Spec{Name: id, Path: harness.Binary(t, "dc2dc"), Args: args, Env: []string{"DC2DC_CLUSTER_JWT_SECRET=" + clusterSecret}})
		r := p.MustReady(30 * time.Second)
		if r.String("id") != id {
			t.Fatalf("%s ready line %v", id, r)
		}
		workers[id] = p
	}

	// Any master answers for the leader (forwarding); the CLI shows the workers.
	cl, err := api.NewClient(api.ClientConfig{Endpoints: eps, Token: apiToken, Timeout: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	out := getJSON(t, ctx, "workers", eps)
	var ws api.Workers
	if err := json.Unmarshal(out, &ws); err != nil || len(ws.Workers) != 2 || !ws.Workers[0].Alive || !ws.Workers[1].Alive || ws.Epoch != epoch1 {
		t.Fatalf("get workers --json: %s (%v)", out, err)
	}
	harness.Eventually(t, 5*time.Second, 100*time.Millisecond, func() (bool, string) {
		ms, err := cl.Masters(ctx)
		alive := 0
		for _, m := range ms.Masters {
			if m.Alive {
				alive++
			}
		}
		return err == nil && alive == 3, fmt.Sprintf("%+v %v", ms, err)
	})
	table := getText(t, ctx, "masters", eps)
	if !strings.Contains(table, "leader: "+leader.id) {
		t.Fatalf("get masters:\n%s", table)
	}

	// kill -9 of the leader: a new leader within 10 s, with a higher epoch.
	killed := time.Now()
	leader.p.Kill9()
	var newLeader string
	var epoch2 uint64
	harness.Eventually(t, 10*time.Second, 100*time.Millisecond, func() (bool, string) {
		ls, ep := leaders(ctx, masters)
		if len(ls) > 1 {
			t.Fatalf("two masters answer as leader: %v", ls)
		}
		if len(ls) == 1 {
			newLeader, epoch2 = ls[0], ep
		}
		return len(ls) == 1, fmt.Sprintf("leaders %v", ls)
	})
	took := time.Since(killed)
	t.Logf("leader %s killed; %s leads with epoch %d after %v", leader.id, newLeader, epoch2, took)
	if newLeader == leader.id || epoch2 <= epoch1 {
		t.Fatalf("new leader %s epoch %d (old %s epoch %d)", newLeader, epoch2, leader.id, epoch1)
	}
	// The workers re-register with the new leader.
	harness.Eventually(t, 10*time.Second, 200*time.Millisecond, func() (bool, string) {
		ws, err := cl.Workers(ctx)
		alive := 0
		for _, w := range ws.Workers {
			if w.Alive {
				alive++
			}
		}
		return err == nil && ws.Epoch == epoch2 && alive == 2, fmt.Sprintf("%+v %v", ws, err)
	})

	// A paused leader (SIGSTOP, like a long GC pause or a frozen VM) is
	// replaced; once it resumes it does not act as leader any more: at no
	// point do two masters answer as leader.
	var paused *master
	for _, m := range masters {
		if m.id == newLeader {
			paused = m
		}
	}
	if err := syscall.Kill(paused.p.Pid(), syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	var epoch3 uint64
	var third string
	harness.Eventually(t, 10*time.Second, 100*time.Millisecond, func() (bool, string) {
		ls, ep := leaders(ctx, masters)
		if len(ls) > 1 {
			t.Fatalf("two masters answer as leader: %v", ls)
		}
		if len(ls) == 1 && ls[0] != paused.id {
			third, epoch3 = ls[0], ep
		}
		return third != "", fmt.Sprintf("leaders %v", ls)
	})
	t.Logf("%s paused; %s leads with epoch %d after %v", paused.id, third, epoch3, time.Since(stopped))
	if epoch3 <= epoch2 {
		t.Fatalf("epoch %d after the pause, was %d", epoch3, epoch2)
	}
	if err := syscall.Kill(paused.p.Pid(), syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	resumed := time.Now()
	for time.Since(resumed) < 3*time.Second {
		ls, _ := leaders(ctx, masters)
		if len(ls) > 1 {
			t.Fatalf("after the paused leader resumed, two masters answer as leader: %v", ls)
		}
		for _, l := range ls {
			if l == paused.id {
				t.Fatalf("the resumed master %s still answers as leader", paused.id)
			}
		}
	}
	harness.Eventually(t, 10*time.Second, 200*time.Millisecond, func() (bool, string) {
		ws, err := cl.Workers(ctx)
		alive := 0
		for _, w := range ws.Workers {
			if w.Alive {
				alive++
			}
		}
		return err == nil && ws.Epoch == epoch3 && alive == 2, fmt.Sprintf("%+v %v", ws, err)
	})

	// kill -9 of a worker: `get workers` shows it dead within 5 s.
	killed = time.Now()
	workers["worker2"].Kill9()
	harness.Eventually(t, 5*time.Second, 100*time.Millisecond, func() (bool, string) {
		var ws api.Workers
		out := getJSON(t, ctx, "workers", eps)
		if err := json.Unmarshal(out, &ws); err != nil {
			return false, err.Error()
		}
		for _, w := range ws.Workers {
			if w.ID == "worker2" {
				return !w.Alive, string(out)
			}
		}
		return false, string(out)
	})
	t.Logf("worker2 shown dead %v after kill -9", time.Since(killed))
	text := getText(t, ctx, "workers", eps)
	if !strings.Contains(text, "dead") || !strings.Contains(text, "alive") {
		t.Fatalf("get workers:\n%s", text)
	}

	// Clean stop: exit status 0 within the shutdown bound.
	for _, m := range masters {
		if m == leader {
			continue
		}
		if err := m.p.Stop(15 * time.Second); err != nil {
			t.Errorf("%s: %v", m.id, err)
		}
	}
	if err := workers["worker1"].Stop(15 * time.Second); err != nil {
		t.Errorf("worker1: %v", err)
	}
}

func dc2dc(t *testing.T, ctx context.Context, env []string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	cctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(cctx, harness.Binary(t, "dc2dc"), args...)
	cmd.Env = append(os.Environ(), env...)
	var o, e strings.Builder
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}

func getArgs(what string, eps []string, extra ...string) []string {
	args := []string{"get", what, "--auth.token", apiToken}
	for _, ep := range eps {
		args = append(args, "--master.endpoint", ep)
	}
	return append(args, extra...)
}

func getJSON(t *testing.T, ctx context.Context, what string, eps []string) []byte {
	t.Helper()
	out, errOut, err := dc2dc(t, ctx, nil, getArgs(what, eps, "--json")...)
	if err != nil {
		t.Fatalf("dc2dc get %s: %v\n%s", what, err, errOut)
	}
	return []byte(out)
}

func getText(t *testing.T, ctx context.Context, what string, eps []string) string {
	t.Helper()
	out, errOut, err := dc2dc(t, ctx, nil, getArgs(what, eps)...)
	if err != nil {
		t.Fatalf("dc2dc get %s: %v\n%s", what, err, errOut)
	}
	return out
}

// TestMasterStartupErrors: a bad configuration, a wrong cluster JWT secret
// and an unreachable cluster stop the master at once with a non-zero exit
// and an error naming the setting to fix.
func TestMasterStartupErrors(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cluster := startCluster(t)
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"cluster.endpoint": "coordinator:8529", "server.port": -5, "election.lease": "0s", "tls.client-ca": "/nonexistent/ca.pem", "colour": "blue"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		env  []string
		args []string
		code int
		want []string
	}{
		{"bad config", nil, []string{"master", "--config", bad}, 2, []string{
			`unknown setting "colour"`, "--cluster.endpoint", "--cluster.jwt-secret", "--server.port", "--election.lease", "--tls.client-ca"}},
		{"wrong JWT secret", []string{"DC2DC_CLUSTER_JWT_SECRET=wrong"}, []string{"master", "--cluster.endpoint", cluster, "--server.port", "0"}, 1, []string{
			"refused the credentials", "--cluster.jwt-secret"}},
		{"unreachable cluster", []string{"DC2DC_CLUSTER_JWT_SECRET=" + clusterSecret}, []string{"master", "--cluster.endpoint", "http://127.0.0.1:1", "--server.port", "0"}, 1, []string{
			"unreachable", "--cluster.endpoint"}},
		{"worker without masters", nil, []string{"worker", "--data-dir", dir}, 2, []string{"--master.endpoint", "missing"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			out, errOut, err := dc2dc(t, ctx, tc.env, tc.args...)
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != tc.code {
				t.Fatalf("exit %v, want code %d\nstdout %s\nstderr %s", err, tc.code, out, errOut)
			}
			for _, w := range tc.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr does not mention %q:\n%s", w, errOut)
				}
			}
			if strings.Contains(out, `"ready"`) {
				t.Errorf("printed a ready line: %s", out)
			}
			t.Logf("%s: exit %d after %v", tc.name, ee.ExitCode(), time.Since(start))
		})
	}
}
