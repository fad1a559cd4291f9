package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/dc2dc/dc2dc/handlers/control/api"
	"github.com/dc2dc/dc2dc/handlers/control/api/apitest"
	"github.com/dc2dc/dc2dc/handlers/control/election"
	"github.com/dc2dc/dc2dc/handlers/control/plan"
	"github.com/dc2dc/dc2dc/handlers/control/registry"
	"github.com/dc2dc/dc2dc/pipeline/failure"
)

func client(t *testing.T, ep string, token string) *api.Client {
	t.Helper()
	cl, err := api.NewClient(api.ClientConfig{Endpoints: []string{ep}, Token: token, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func apiStatus(err error) int {
	var e *api.Error
	if errors.As(err, &e) {
		return e.Status
	}
	return 0
}

// send posts raw bytes and decodes the answer.
func send(t *testing.T, method, url, token string, body []byte) (int, api.ErrorBody, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var eb api.ErrorBody
	_ = json.Unmarshal(b, &eb)
	return resp.StatusCode, eb, b
}

// TestSyncEndpoints drives every sync endpoint through the client against
// a leader with a fake manager and checks what reached the manager.
func TestSyncEndpoints(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	fake := apitest.NewSyncs(apitest.SampleStatus(now))
	m := apitest.NewMaster(t, api.Config{DC: "B", Syncs: fake, Auth: api.AuthConfig{Token: "tok"}}, true)
	cl := client(t, m.URL, "tok")

	st, err := cl.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Syncs) != 1 || len(st.Syncs[0].Shards) != 5 || st.Syncs[0].Shards[4].Phase != plan.ShardFailed {
		t.Fatalf("status %+v", st)
	}

	sy, err := cl.Configure(ctx, plan.ConfigureRequest{SourceDC: "C", DataPartitions: 6, MessageTimeoutMillis: 7200000})
	if err != nil {
		t.Fatal(err)
	}
	if sy.ID != "c-to-b" || sy.Peer != "C" || sy.DataPartitions != 6 || sy.State != plan.StateRunning {
		t.Fatalf("configured %+v", sy)
	}
	_, err = cl.Configure(ctx, plan.ConfigureRequest{SourceDC: "C"})
	if apiStatus(err) != http.StatusConflict || !strings.Contains(err.Error(), "exists already") || strings.Contains(err.Error(), "file already exists") {
		t.Fatalf("configure twice: %v, want 409", err)
	}

	// Two syncs now: "" is ambiguous and the answer lists them.
	err = cl.Abort(ctx, "")
	if apiStatus(err) != http.StatusBadRequest || !strings.Contains(err.Error(), "a-to-b, c-to-b") {
		t.Fatalf("abort without a name among two: %v", err)
	}
	if err := cl.Stop(ctx, plan.StopRequest{Sync: "a-to-b", EnsureInSync: true, TimeoutMillis: 120000}); err != nil {
		t.Fatal(err)
	}
	if err := cl.Abort(ctx, "c-to-b"); err != nil {
		t.Fatal(err)
	}
	if err := cl.AbortOutgoing(ctx, "c-to-b"); err != nil {
		t.Fatal(err)
	}
	if err := cl.ResetFailedShard(ctx, "a-to-b", "shop/1020/0"); err != nil {
		t.Fatal(err)
	}
	if err := cl.ResetFailedShard(ctx, "a-to-b", "shop/9999/0"); apiStatus(err) != http.StatusNotFound {
		t.Fatalf("reset of an unknown shard: %v, want 404", err)
	}
	if err := cl.SetMessageTimeout(ctx, "a-to-b", 3*time.Hour); err != nil {
		t.Fatal(err)
	}
	fake.SetCheck("a-to-b", plan.CheckReport{Sync: "a-to-b", InSync: false, Shards: []plan.ShardCheck{{Shard: "shop/1001/0", SourceCount: 3, TargetCount: 2}}})
	rep, err := cl.Check(ctx, "a-to-b")
	if err != nil || rep.InSync || len(rep.Shards) != 1 || rep.Shards[0].TargetCount != 2 {
		t.Fatalf("check %+v %v", rep, err)
	}
	if err := cl.Stop(ctx, plan.StopRequest{Sync: "nope"}); apiStatus(err) != http.StatusNotFound {
		t.Fatalf("stop of an unknown sync: %v, want 404", err)
	}

	var got []string
	for _, c := range fake.Calls() {
		got = append(got, fmt.Sprintf("%s(%s,%v)", c.Method, c.Sync, c.Arg))
	}
	want := []string{
		"Configure(,{ C  6 7200000})", "Configure(,{ C  0 0})", "Stop(a-to-b,{a-to-b true 120000})",
		"Abort(c-to-b,<nil>)", "AbortOutgoing(c-to-b,<nil>)", "ResetFailedShard(a-to-b,shop/1020/0)",
		"ResetFailedShard(a-to-b,shop/9999/0)", "SetMessageTimeout(a-to-b,3h0m0s)", "Check(a-to-b,<nil>)", "Stop(nope,{nope false 0})",
	}
	// Abort("") among two syncs reaches the manager too (it decides).
	want = append(want[:2], append([]string{"Abort(,<nil>)"}, want[2:]...)...)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("calls:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	st, _ = cl.Status(ctx)
	if st.Syncs[0].State != plan.StateStopped || st.Syncs[0].MessageTimeoutMillis != 3*3600*1000 || st.Syncs[1].State != plan.StateAborted {
		t.Fatalf("after the commands: %+v", st.Syncs)
	}
}

// TestSyncEndpointsWithoutManager: every sync endpoint answers 503 with a
// message naming the fix when the master has no sync manager.
func TestSyncEndpointsWithoutManager(t *testing.T) {
	m := apitest.NewMaster(t, api.Config{}, true)
	for _, ep := range []struct{ method, path string }{
		{"POST", api.PathSync}, {"GET", api.PathStatus}, {"POST", api.PathSyncStop}, {"POST", api.PathSyncAbort},
		{"POST", api.PathSyncAbortOutgoing}, {"POST", api.PathSyncResetShard}, {"PUT", api.PathSyncMessageTimeout}, {"POST", api.PathSyncCheck},
	} {
		code, eb, _ := send(t, ep.method, m.URL+ep.path, "", []byte(`{}`))
		if code != http.StatusServiceUnavailable || eb.Reason != api.ReasonNoSyncs || !strings.Contains(eb.ErrorMessage, "--kafka.brokers") {
			t.Errorf("%s %s: %d %+v", ep.method, ep.path, code, eb)
		}
	}
	// Workers still heartbeat, with no syncs.
	cl := client(t, m.URL, "")
	if _, err := cl.Register(context.Background(), registry.WorkerInfo{ID: "w1", Endpoint: "http://w1:8729"}); err != nil {
		t.Fatal(err)
	}
	hb, err := cl.Heartbeat(context.Background(), api.HeartbeatRequest{ID: "w1", Shards: []plan.ShardReport{{Sync: "s", Shard: "db/1/0"}}})
	if err != nil || len(hb.Syncs) != 0 {
		t.Fatalf("heartbeat %+v %v", hb, err)
	}
	// The page says why.
	code, _, body := send(t, "GET", m.URL+"/", "", nil)
	if code != http.StatusServiceUnavailable || !strings.Contains(string(body), "without a sync manager") {
		t.Fatalf("page without a manager: %d %s", code, body)
	}
}

// TestSyncBadBodies: refused bodies get 400 listing every problem.
func TestSyncBadBodies(t *testing.T) {
	fake := apitest.NewSyncs(apitest.SampleStatus(time.Now()))
	m := apitest.NewMaster(t, api.Config{DC: "B", Syncs: fake}, true)
	cases := []struct {
		method, path, body string
		want               []string
	}{
		{"POST", api.PathSync, `{"sourceDc":"A","sync":"x.y","dataPartitions":-1,"messageTimeoutMillis":5,"colour":"red"}`,
			[]string{`unknown field "colour"`, `unknown field "sourceDc"`}},
		{"POST", api.PathSync, `{"sync":"x.y","dataPartitions":-1,"messageTimeoutMillis":5}`,
			[]string{`sync "x.y"`, `"sourceDC" is missing`, "dataPartitions -1", "messageTimeoutMillis 5"}},
		{"POST", api.PathSync, `{"sourceDC":"B"}`, []string{"is this datacenter"}},
		{"POST", api.PathSync, `{"sourceDC":"A b"}`, []string{`sourceDC "A b"`}},
		{"POST", api.PathSync, `{"sourceDC":"A","topicPrefix":"a/b"}`, []string{`topicPrefix "a/b"`}},
		{"POST", api.PathSync, `{"sourceDC":7,"dataPartitions":"many"}`, []string{`field "dataPartitions": a JSON string`, `field "sourceDC": a JSON number`}},
		{"POST", api.PathSync, `{"sourceDC":"A"}{}`, []string{"data after its JSON object"}},
		{"POST", api.PathSync, `[1]`, []string{"not a JSON object"}},
		{"POST", api.PathSync, `null`, []string{"the body is null"}},
		{"POST", api.PathSyncStop, `{"sync":"a-to-b","timeoutMillis":-5,"force":true}`, []string{`unknown field "force"`}},
		{"POST", api.PathSyncStop, `{"sync":"a-to-b","timeoutMillis":-5}`, []string{"timeoutMillis -5"}},
		{"POST", api.PathSyncAbort, `{"sync":""  ,"x":1}`, []string{`unknown field "x"`}},
		{"POST", api.PathSyncAbortOutgoing, `{"sync":"a b"}`, []string{`sync "a b"`}},
		{"POST", api.PathSyncResetShard, `{}`, []string{`"shard" is missing`}},
		{"POST", api.PathSyncResetShard, `{"shard":"shop/orders"}`, []string{`shard "shop/orders"`}},
		{"POST", api.PathSyncResetShard, `{"shard":"shop/orders/-1"}`, []string{`shard "shop/orders/-1"`}},
		{"PUT", api.PathSyncMessageTimeout, `{"sync":"a-to-b"}`, []string{"timeoutMillis 0"}},
		{"PUT", api.PathSyncMessageTimeout, `{"timeoutMillis":999999999999999}`, []string{"timeoutMillis 999999999999999"}},
		{"POST", api.PathSyncCheck, `{"sync":5}`, []string{`field "sync": a JSON number`}},
	}
	for _, c := range cases {
		code, eb, raw := send(t, c.method, m.URL+c.path, "", []byte(c.body))
		if code != http.StatusBadRequest || eb.Reason != api.ReasonBadRequest {
			t.Errorf("%s %s: %d %s", c.path, c.body, code, raw)
			continue
		}
		if len(eb.Problems) != len(c.want) {
			t.Errorf("%s %s: problems %q, want %d", c.path, c.body, eb.Problems, len(c.want))
		}
		for _, w := range c.want {
			if !strings.Contains(eb.ErrorMessage, w) {
				t.Errorf("%s %s: %q does not name %q", c.path, c.body, eb.ErrorMessage, w)
			}
		}
	}
	if n := len(fake.Calls()); n != 0 {
		t.Fatalf("%d refused requests reached the manager: %+v", n, fake.Calls())
	}
	// An empty body is the empty object: "the only sync".
	if code, eb, _ := send(t, "POST", m.URL+api.PathSyncCheck, "", nil); code != 200 {
		t.Fatalf("check with an empty body: %d %+v", code, eb)
	}
}

// TestSyncForwardedByFollower: a follower forwards the sync endpoints and
// the status page to the leader.
func TestSyncForwardedByFollower(t *testing.T) {
	fake := apitest.NewSyncs(apitest.SampleStatus(time.Now()))
	auth := api.AuthConfig{Token: "tok"}
	leader := apitest.NewMaster(t, api.Config{ID: "m1", DC: "B", Syncs: fake, Auth: auth}, true)
	follower := apitest.NewMaster(t, api.Config{ID: "m2", DC: "B", Auth: auth}, false)
	follower.Leader.Set(election.Status{ID: "m2", Epoch: 1, LeaderID: "m1", LeaderEndpoint: leader.URL})

	cl := client(t, follower.URL, "tok")
	ctx := context.Background()
	st, err := cl.Status(ctx)
	if err != nil || len(st.Syncs) != 1 {
		t.Fatalf("status through the follower: %+v %v", st, err)
	}
	if err := cl.SetMessageTimeout(ctx, "", 2*time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Configure(ctx, plan.ConfigureRequest{SourceDC: "A"}); apiStatus(err) != http.StatusConflict && err != nil {
		t.Fatalf("configure through the follower: %v", err)
	}
	if c := fake.Calls(); len(c) != 2 || c[0].Method != "SetMessageTimeout" || c[1].Method != "Configure" {
		t.Fatalf("the leader's manager got %+v", c)
	}
	// Without the forwarding header: 503 naming the leader.
	code, eb, _ := send(t, "GET", follower.URL+api.PathStatus, "tok", nil)
	if code != 503 || eb.LeaderEndpoint != leader.URL {
		t.Fatalf("no forwarding header: %d %+v", code, eb)
	}
	// The page is forwarded without the header; the token query goes along,
	// and the page's headers come back.
	resp, err := http.Get(follower.URL + "/?token=tok")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `data-shard="shop/1020/0"`) || !strings.Contains(string(body), "answered by m1") ||
		resp.Header.Get("Referrer-Policy") != "no-referrer" || resp.Header.Get(api.HeaderForwardedBy) != "m2" {
		t.Fatalf("page through the follower: %d %v %s", resp.StatusCode, resp.Header, body)
	}
	// No leader known: the page says so (and retries by itself).
	follower.Leader.Set(election.Status{ID: "m2"})
	code, _, body = send(t, "GET", follower.URL+"/?token=tok", "", nil)
	if code != 503 || !strings.Contains(string(body), "no leader is known yet") {
		t.Fatalf("page without a leader: %d %s", code, body)
	}
}

// TestHeartbeatCarriesSyncs: the heartbeat hands shard reports to the
// manager and answers its assignments.
func TestHeartbeatCarriesSyncs(t *testing.T) {
	fake := apitest.NewSyncs(apitest.SampleStatus(time.Now()))
	m := apitest.NewMaster(t, api.Config{Syncs: fake}, true)
	cl := client(t, m.URL, "")
	ctx := context.Background()
	if _, err := cl.Register(ctx, registry.WorkerInfo{ID: "w1", Endpoint: "http://w1:8729"}); err != nil {
		t.Fatal(err)
	}
	reps := []plan.ShardReport{{Sync: "a-to-b", Shard: "shop/1001/0", Phase: "tailing", LagTicks: 3}}
	hb, err := cl.Heartbeat(ctx, api.HeartbeatRequest{ID: "w1", Shards: reps})
	if err != nil {
		t.Fatal(err)
	}
	if len(hb.Syncs) != 1 || hb.Syncs[0].Sync != "a-to-b" || hb.Syncs[0].Role != plan.RoleTarget {
		t.Fatalf("assignments %+v", hb.Syncs)
	}
	if got := fake.WorkerReports("w1"); len(got) != 1 || got[0].LagTicks != 3 {
		t.Fatalf("reports %+v", got)
	}
	// An unknown worker's reports never reach the manager.
	if _, err := cl.Heartbeat(ctx, api.HeartbeatRequest{ID: "w9", Shards: reps}); !api.IsUnknownWorker(err) {
		t.Fatalf("unknown worker: %v", err)
	}
	if got := fake.WorkerReports("w9"); got != nil {
		t.Fatalf("reports of an unknown worker reached the manager: %+v", got)
	}
}

type teapot struct{}

func (teapot) Error() string   { return "teapot" }
func (teapot) HTTPStatus() int { return 418 }

func TestStatusOf(t *testing.T) {
	for _, c := range []struct {
		err    error
		status int
		reason string
	}{
		{fmt.Errorf("sync x: %w", fs.ErrNotExist), 404, api.ReasonNotFound},
		{fmt.Errorf("sync x: %w", fs.ErrExist), 409, api.ReasonConflict},
		{failure.New(failure.CodeConfigInvalid, "bad"), 400, api.ReasonBadRequest},
		{failure.New(failure.CodeSyncFenced, "fenced"), 503, api.ReasonNotLeader},
		{failure.Retryable(errors.New("busy")), 503, api.ReasonRetryable},
		{fmt.Errorf("wrapped: %w", teapot{}), 418, api.ReasonBadRequest},
		{context.DeadlineExceeded, 504, api.ReasonTimeout},
		{errors.New("boom"), 500, api.ReasonInternal},
	} {
		st, reason := api.StatusOf(c.err)
		if st != c.status || reason != c.reason {
			t.Errorf("%v: %d %s, want %d %s", c.err, st, reason, c.status, c.reason)
		}
	}
	// The manager's error text and code reach the client.
	fake := apitest.NewSyncs(apitest.SampleStatus(time.Now()))
	fake.FailWith("Check", failure.New(failure.CodeConfigInvalid, "the source datacenter A has not answered the checksum request"))
	m := apitest.NewMaster(t, api.Config{Syncs: fake}, true)
	code, eb, _ := send(t, "POST", m.URL+api.PathSyncCheck, "", []byte(`{}`))
	if code != 400 || eb.ErrorCode != string(failure.CodeConfigInvalid) || !strings.Contains(eb.ErrorMessage, "has not answered") {
		t.Fatalf("%d %+v", code, eb)
	}
}
