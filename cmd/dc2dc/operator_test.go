package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/dc2dc/dc2dc/handlers/control/api"
	"github.com/dc2dc/dc2dc/handlers/control/api/apitest"
	"github.com/dc2dc/dc2dc/handlers/control/plan"
)

// runCLI runs a command line like main does and returns stdout, stderr
// (with the error) and the exit code.
func runCLI(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	root := newRootCmd()
	var out, errb bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errb)
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	code := 0
	if err != nil {
		code = 1
		var ec *exitCodeError
		if errors.As(err, &ec) {
			code = ec.code
		}
		errb.WriteString("dc2dc: " + err.Error())
	}
	return out.String(), errb.String(), code
}

// operatorMaster starts a leading master with a fake manager and the
// sample status; commands reach it with the returned flags.
func operatorMaster(t *testing.T) (*apitest.Syncs, []string) {
	t.Helper()
	fake := apitest.NewSyncs(apitest.SampleStatus(time.Now()))
	m := apitest.NewMaster(t, api.Config{DC: "B", Syncs: fake, Auth: api.AuthConfig{Token: "tok"}}, true)
	return fake, []string{"--master.endpoint", m.URL, "--auth.token", "tok"}
}

func expect(t *testing.T, what string, code, want int, out, errs string, contains ...string) {
	t.Helper()
	if code != want {
		t.Errorf("%s: exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", what, code, want, out, errs)
	}
	for _, c := range contains {
		if !strings.Contains(out+errs, c) {
			t.Errorf("%s: the output lacks %q\nstdout:\n%s\nstderr:\n%s", what, c, out, errs)
		}
	}
}

func TestGetStatusCommand(t *testing.T) {
	_, flags := operatorMaster(t)
	out, errs, code := runCLI(t, append([]string{"get", "status"}, flags...)...)
	expect(t, "get status", code, 0, out, errs, "datacenter B, leader master m1 (epoch 3)", "a-to-b", "target", "running",
		"5 (1 failed, 1 initial-sync, 1 pending, 2 running)", "95.0s")
	if strings.Contains(out, "shop/1001/0") {
		t.Errorf("get status without -v lists shards:\n%s", out)
	}
	out, errs, code = runCLI(t, append([]string{"get", "status", "-v"}, flags...)...)
	expect(t, "get status -v", code, 0, out, errs, "COLLECTION", "shop/payments", "shop/1020/0", "failed",
		"a-worker-1 tailing 2", "b-worker-2 tailing", "DC2DC-E2006 apply-rejected", "5200")
	if n := strings.Count(out, "shop/10"); n != 5 {
		t.Errorf("get status -v: %d shard rows, want 5:\n%s", n, out)
	}
	out, errs, code = runCLI(t, append([]string{"get", "status", "--output", "json"}, flags...)...)
	var st plan.Status
	if code != 0 || json.Unmarshal([]byte(out), &st) != nil || len(st.Syncs) != 1 || len(st.Syncs[0].Shards) != 5 {
		t.Errorf("get status --output json: %d %s %s", code, out, errs)
	}
	out, errs, code = runCLI(t, append([]string{"get", "status", "--output", "yaml"}, flags...)...)
	expect(t, "get status --output yaml", code, 2, out, errs, "use table or json")
	// The older get commands keep working with the shared flags.
	out, errs, code = runCLI(t, append([]string{"get", "masters"}, flags...)...)
	expect(t, "get masters", code, 0, out, errs, "leader: m1")
}

func TestConfigureSyncCommand(t *testing.T) {
	fake, flags := operatorMaster(t)
	out, errs, code := runCLI(t, append([]string{"configure", "sync", "--source.dc", "C", "--data-partitions", "6", "--message-timeout", "2h"}, flags...)...)
	expect(t, "configure sync", code, 0, out, errs, "sync c-to-b configured", "follows C", "topics dc2dc.c-to-b.", "6 data partitions",
		"message timeout 2h0m0s", "dc2dc mirror --sync-id c-to-b")
	if c := fake.Calls(); len(c) != 1 || c[0].Arg.(plan.ConfigureRequest).MessageTimeoutMillis != 7200000 {
		t.Fatalf("calls %+v", c)
	}
	out, errs, code = runCLI(t, append([]string{"configure", "sync", "--source.dc", "C"}, flags...)...)
	expect(t, "configure sync twice", code, 1, out, errs, "exists already")
	out, errs, code = runCLI(t, append([]string{"configure", "sync", "--source.dc", "B"}, flags...)...)
	expect(t, "configure sync of itself", code, 2, out, errs, "refused the request", "is this datacenter")
	out, errs, code = runCLI(t, append([]string{"configure", "sync", "--data-partitions", "-3"}, flags...)...)
	expect(t, "configure sync without a source", code, 2, out, errs, "--source.dc: missing", "--data-partitions -3")
	out, errs, code = runCLI(t, append([]string{"configure", "sync", "--source.dc", "D", "--output", "json"}, flags...)...)
	var sy plan.Sync
	if code != 0 || json.Unmarshal([]byte(out), &sy) != nil || sy.ID != "d-to-b" {
		t.Fatalf("configure --output json: %d %s %s", code, out, errs)
	}
}

func TestStopSyncCommand(t *testing.T) {
	fake, flags := operatorMaster(t)
	fake.StopPolls = 3
	out, errs, code := runCLI(t, append([]string{"stop", "sync", "--poll-interval", "10ms"}, flags...)...)
	expect(t, "stop sync", code, 0, out, errs, "stopping the sync (ensure in sync: true, timeout 2m0s)", "stopping: 1 of 5 shards in sync", "sync a-to-b stopped")
	c := fake.Calls()
	if len(c) != 1 || c[0].Method != "Stop" || !c[0].Arg.(plan.StopRequest).EnsureInSync || c[0].Arg.(plan.StopRequest).TimeoutMillis != 120000 {
		t.Fatalf("calls %+v", c)
	}
	// Stopped already: the manager refuses (409), exit 1.
	out, errs, code = runCLI(t, append([]string{"stop", "sync", "--sync-id", "a-to-b", "--ensure-in-sync=false"}, flags...)...)
	expect(t, "stop a stopped sync", code, 1, out, errs, "nothing to stop")

	// A leader election while the stop runs (the masters answer 503 for a
	// while): the command waits for the new leader.
	fakeE, flagsE := operatorMaster(t)
	fakeE.StopPolls, fakeE.StatusUnavailable = 2, 3
	out, errs, code = runCLI(t, append([]string{"stop", "sync", "--poll-interval", "10ms"}, flagsE...)...)
	expect(t, "stop sync through an election", code, 0, out, errs, "sync a-to-b stopped")
	if !strings.Contains(errs, "masters not answering yet") {
		t.Errorf("stop sync through an election: no retry note in %q", errs)
	}

	// A stop that does not finish in time.
	fake2, flags2 := operatorMaster(t)
	fake2.StopPolls = 1 << 30
	start := time.Now()
	out, errs, code = runCLI(t, append([]string{"stop", "sync", "--timeout", "300ms", "--poll-interval", "20ms"}, flags2...)...)
	expect(t, "stop sync timeout", code, 1, out, errs, "did not stop within 300ms", "dc2dc abort sync")
	if time.Since(start) > 10*time.Second {
		t.Errorf("the timed out stop took %v", time.Since(start))
	}
	// The masters give the stop up at the deadline: the sync runs again
	// with the reason, which the command reports.
	fake3, flags3 := operatorMaster(t)
	fake3.StopPolls, fake3.StopGivesUp = 2, "stop sync timed out before every shard was in sync"
	out, errs, code = runCLI(t, append([]string{"stop", "sync", "--timeout", "20s", "--poll-interval", "10ms"}, flags3...)...)
	expect(t, "stop sync given up", code, 1, out, errs, "running again: the stop was given up: stop sync timed out before every shard was in sync")

	out, errs, code = runCLI(t, append([]string{"stop", "sync", "--sync-id", "nope"}, flags2...)...)
	expect(t, "stop an unknown sync", code, 2, out, errs, `sync "nope"`, "dc2dc get status")
}

func TestAbortCommands(t *testing.T) {
	fake, flags := operatorMaster(t)
	out, errs, code := runCLI(t, append([]string{"abort", "sync", "--sync-id", "a-to-b"}, flags...)...)
	expect(t, "abort sync", code, 0, out, errs, "sync a-to-b aborted", "dc2dc abort outgoing sync")
	out, errs, code = runCLI(t, append([]string{"abort", "outgoing", "sync"}, flags...)...)
	expect(t, "abort outgoing sync", code, 0, out, errs, "outgoing the sync aborted")
	c := fake.Calls()
	if len(c) != 2 || c[0].Method != "Abort" || c[0].Sync != "a-to-b" || c[1].Method != "AbortOutgoing" || c[1].Sync != "" {
		t.Fatalf("calls %+v", c)
	}
	out, errs, code = runCLI(t, "abort", "outgoing")
	expect(t, "abort outgoing", code, 2, out, errs, "needs a subcommand: `dc2dc abort outgoing sync`")
}

func TestCheckSyncCommand(t *testing.T) {
	fake, flags := operatorMaster(t)
	equal := plan.CheckReport{Sync: "a-to-b", InSync: true, Shards: []plan.ShardCheck{
		{Shard: "shop/1001/0", Collection: "shop/customers", SourceCount: 3, TargetCount: 3, Equal: true}}}
	differ := plan.CheckReport{Sync: "a-to-b", Shards: []plan.ShardCheck{
		{Shard: "shop/1001/0", Collection: "shop/customers", SourceCount: 3, TargetCount: 3, Equal: true},
		{Shard: "shop/1010/0", Collection: "shop/orders", SourceCount: 10, TargetCount: 9},
		{Shard: "shop/1010/1", Collection: "shop/orders", SourceCount: 4, TargetCount: 4, SourceHash: 1, TargetHash: 2},
		{Shard: "shop/1020/0", Collection: "shop/payments", Error: "the source shard does not answer"},
	}}
	fake.SetCheck("a-to-b", equal)
	out, errs, code := runCLI(t, append([]string{"check", "sync"}, flags...)...)
	expect(t, "check sync equal", code, 0, out, errs, "The whole data is the same.", "shop/customers")

	fake.SetCheck("a-to-b", differ)
	out, errs, code = runCLI(t, append([]string{"check", "sync"}, flags...)...)
	expect(t, "check sync differ", code, 1, out, errs, "10 documents in the source, 9 in the target", "checksum 0000000000000001 in the source",
		"error: the source shard does not answer", "3 of 4 shards differ: shop/1010/0, shop/1010/1, shop/1020/0")
	if strings.Contains(out, "The whole data is the same") {
		t.Errorf("differing shards called the same:\n%s", out)
	}

	fake.SetCheck("a-to-b", differ, differ, equal)
	out, errs, code = runCLI(t, append([]string{"check", "sync", "--wait", "--poll-interval", "10ms"}, flags...)...)
	expect(t, "check sync --wait", code, 0, out, errs, "not in sync yet: 3 of 4 shards differ", "The whole data is the same.")
	if n := strings.Count(out, "not in sync yet"); n != 2 {
		t.Errorf("%d rounds reported, want 2:\n%s", n, out)
	}

	fake.SetCheck("a-to-b", differ)
	out, errs, code = runCLI(t, append([]string{"check", "sync", "--wait", "--timeout", "200ms", "--poll-interval", "20ms", "-o", "json"}, flags...)...)
	expect(t, "check sync --wait timeout", code, 1, out, errs, `"sync": "a-to-b"`, "3 of 4 shards differ")
}

func TestResetFailedShardCommand(t *testing.T) {
	fake, flags := operatorMaster(t)
	out, errs, code := runCLI(t, append([]string{"reset", "failed", "shard", "--shard", "shop/1020/0"}, flags...)...)
	expect(t, "reset failed shard", code, 0, out, errs, "shard shop/1020/0 of the sync reset")
	out, errs, code = runCLI(t, append([]string{"reset", "failed", "shard", "--shard", "shop/1001/0"}, flags...)...)
	expect(t, "reset a running shard", code, 1, out, errs, "is running, not failed")
	out, errs, code = runCLI(t, append([]string{"reset", "failed", "shard", "--shard", "shop/orders"}, flags...)...)
	expect(t, "reset with a bad shard name", code, 2, out, errs, "--shard:", "database/collection/index")
	out, errs, code = runCLI(t, append([]string{"reset", "failed", "shard"}, flags...)...)
	expect(t, "reset without a shard", code, 2, out, errs, `"shard" is missing`)
	if n := len(fake.Calls()); n != 2 {
		t.Fatalf("%d calls reached the manager, want 2", n)
	}
}

func TestSetMessageTimeoutCommand(t *testing.T) {
	fake, flags := operatorMaster(t)
	out, errs, code := runCLI(t, append([]string{"set", "message", "timeout", "--timeout", "2h"}, flags...)...)
	expect(t, "set message timeout --timeout", code, 0, out, errs, "message timeout of the sync set to 2h0m0s")
	out, errs, code = runCLI(t, append([]string{"set", "message", "timeout", "3h", "--sync-id", "a-to-b"}, flags...)...)
	expect(t, "set message timeout 3h", code, 0, out, errs, "message timeout of sync a-to-b set to 3h0m0s")
	for _, bad := range [][]string{{}, {"soon"}, {"1ms"}, {"2h", "--timeout", "3h"}, {"1h", "2h"}} {
		out, errs, code = runCLI(t, append(append([]string{"set", "message", "timeout"}, bad...), flags...)...)
		expect(t, "set message timeout "+strings.Join(bad, " "), code, 2, out, errs)
	}
	c := fake.Calls()
	if len(c) != 2 || c[0].Arg.(time.Duration) != 2*time.Hour || c[1].Arg.(time.Duration) != 3*time.Hour {
		t.Fatalf("calls %+v", c)
	}
}

// TestOperatorErrors: the errors a user can cause name the fix and exit
// with the documented codes.
func TestOperatorErrors(t *testing.T) {
	fake, flags := operatorMaster(t)
	url := flags[1]

	// Nobody listens.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	_ = ln.Close()
	out, errs, code := runCLI(t, "get", "status", "--master.endpoint", dead)
	expect(t, "unreachable", code, 1, out, errs, "cannot reach the masters", "--master.endpoint ("+dead+") is right")

	out, errs, code = runCLI(t, "get", "status", "--master.endpoint", url, "--auth.token", "wrong")
	expect(t, "wrong token", code, 2, out, errs, "refused the credentials", "--auth.token")
	out, errs, code = runCLI(t, "abort", "sync", "--master.endpoint", "master1:8629")
	expect(t, "bad endpoint", code, 2, out, errs, "use e.g. http://master1:8629")
	out, errs, code = runCLI(t, "check", "sync", "--master.endpoint", url, "--auth.token", "tok", "extra")
	expect(t, "extra argument", code, 2, out, errs, `unknown command "extra"`)

	// Several syncs and no --sync-id: the manager lists them.
	if out, errs, code = runCLI(t, append([]string{"configure", "sync", "--source.dc", "C"}, flags...)...); code != 0 {
		t.Fatalf("configure: %s %s", out, errs)
	}
	out, errs, code = runCLI(t, append([]string{"abort", "sync"}, flags...)...)
	expect(t, "ambiguous sync", code, 2, out, errs, "a-to-b, c-to-b", "--sync-id")
	_ = fake

	// A master without a sync manager.
	m := apitest.NewMaster(t, api.Config{DC: "B"}, true)
	out, errs, code = runCLI(t, "get", "status", "--master.endpoint", m.URL)
	expect(t, "no manager", code, 1, out, errs, "without a sync manager", "--kafka.brokers")
}

// TestStatusPageLink: the printed link opens the page.
func TestStatusPageLink(t *testing.T) {
	fake := apitest.NewSyncs(apitest.SampleStatus(time.Now()))
	m := apitest.NewMaster(t, api.Config{DC: "B", Syncs: fake, Auth: api.AuthConfig{JWTSecret: "sec"}}, true)
	out, errs, code := runCLI(t, "get", "status-page", "--master.endpoint", m.URL, "--auth.jwt-secret", "sec", "--ttl", "1h")
	link := strings.TrimSpace(out)
	if code != 0 || !strings.HasPrefix(link, m.URL+"/?token=") {
		t.Fatalf("status-page: %d %q %s", code, out, errs)
	}
	resp, err := http.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `data-shard="shop/1020/0"`) {
		t.Fatalf("the link gives %d:\n%.500s", resp.StatusCode, body)
	}
	out, errs, code = runCLI(t, "get", "status-page", "--master.endpoint", m.URL, "--ttl", "0s")
	expect(t, "status-page --ttl 0", code, 2, out, errs, "--ttl 0s")
}
