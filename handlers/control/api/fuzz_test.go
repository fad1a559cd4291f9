package api_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/dc2dc/dc2dc/handlers/control/api"
	"github.com/dc2dc/dc2dc/handlers/control/api/apitest"
	"github.com/dc2dc/dc2dc/handlers/control/election"
	"github.com/dc2dc/dc2dc/handlers/control/registry"
)

// FuzzServer sends arbitrary Authorization headers and bodies to every
// endpoint: the server never panics and never answers 5xx while it leads.
func FuzzServer(f *testing.F) {
	f.Add("bearer tok", "/_api/worker/register", []byte(`{"id":"w1","capacity":2}`))
	f.Add("bearer tok", "/_api/worker/heartbeat", []byte(`{"id":"w1","reports":[{"taskId":"t1","generation":1,"acked":{"Epoch":1}}]}`))
	f.Add("Bearer a.b.c", "/_api/master/heartbeat", []byte(`{"id":""}`))
	f.Add("bearer  tok ", "/_api/worker/register", []byte(`{"id":"w1","capacity":-1}`))
	f.Add("", "/_api/tasks", []byte(`[`))
	f.Add("bearer tok", "/_api/sync", []byte(`{"sourceDC":"A","dataPartitions":3}`))
	f.Add("bearer tok", "/_api/sync/reset-shard", []byte(`{"shard":"shop/1020/0"}`))
	f.Add("bearer tok", "/_api/sync/stop", []byte(`{"ensureInSync":true}`))
	f.Add("", "/", []byte(``))
	f.Fuzz(func(t *testing.T, auth, path string, body []byte) {
		reg, _ := registry.New(registry.Config{})
		_ = reg.PutTask(registry.Task{ID: "t1", Kind: registry.KindSendShard, Shard: "db/1/0"})
		lead := &fakeLead{}
		lead.set(election.Status{ID: "m1", Leader: true, Epoch: 1})
		s, err := api.NewServer(api.Config{Role: "master", ID: "m1", DC: "B", Auth: api.AuthConfig{Token: "tok", JWTSecret: "s"}, Registry: reg, Leadership: lead,
			Syncs: apitest.NewSyncs(apitest.SampleStatus(time.Now()))})
		if err != nil {
			t.Fatal(err)
		}
		for _, method := range []string{http.MethodGet, http.MethodPost, http.MethodPut} {
			req, err := http.NewRequest(method, "http://m1", bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			req.URL.Path = "/" + path
			req.Header.Set("Authorization", auth)
			rec := httptest.NewRecorder()
			s.ServeHTTP(rec, req)
			if rec.Code >= 500 {
				t.Fatalf("%s %q with %q: %d %s", method, path, body, rec.Code, rec.Body)
			}
		}
		// Whatever was registered keeps the registry consistent.
		reg.Schedule(time.Now())
		for _, tk := range reg.Tasks() {
			if tk.Worker != "" && len(reg.TasksOf(tk.Worker)) == 0 {
				t.Fatalf("task %s assigned to %q, which lists no task", tk.ID, tk.Worker)
			}
		}
	})
}

// FuzzBearer: the Authorization header parser accepts exactly the static
// token (any spacing and scheme case) and refuses everything else.
func FuzzBearer(f *testing.F) {
	for _, s := range []string{"bearer tok", "Bearer tok", "BEARER   tok  ", "bearer", "bearer tok x", "basic tok", "tok", "bearer\ttok"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		reg, _ := registry.New(registry.Config{})
		lead := &fakeLead{}
		s, err := api.NewServer(api.Config{Role: "master", ID: "m1", Auth: api.AuthConfig{Token: "tok"}, Registry: reg, Leadership: lead})
		if err != nil {
			t.Fatal(err)
		}
		req := httptest.NewRequest(http.MethodGet, "http://m1/_api/version", nil)
		req.Header["Authorization"] = []string{h}
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		scheme, tok, _ := strings.Cut(strings.TrimSpace(h), " ")
		want := strings.EqualFold(scheme, "bearer") && strings.TrimSpace(tok) == "tok"
		if (rec.Code == http.StatusOK) != want {
			t.Fatalf("Authorization %q: status %d, want allowed=%v", h, rec.Code, want)
		}
		if rec.Code != http.StatusOK && rec.Code != http.StatusUnauthorized {
			t.Fatalf("Authorization %q: status %d", h, rec.Code)
		}
	})
}
