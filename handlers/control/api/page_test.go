package api_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/dc2dc/dc2dc/handlers/control/api"
	"github.com/dc2dc/dc2dc/handlers/control/api/apitest"
	"github.com/dc2dc/dc2dc/handlers/control/plan"
)

// TestStatusPageAuth: a browser authenticates with ?token= (the static
// token or a JWT) on the page only; without it, an HTML hint.
func TestStatusPageAuth(t *testing.T) {
	fake := apitest.NewSyncs(apitest.SampleStatus(time.Now()))
	m := apitest.NewMaster(t, api.Config{DC: "B", Syncs: fake, Auth: api.AuthConfig{Token: "tok", JWTSecret: "sec"}}, true)
	jwt, err := api.SignJWT("sec", "browser", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	expired := strings.TrimPrefix(signed(t, "sec", "dc2dc", -time.Hour), "bearer ")
	for _, c := range []struct {
		url, auth string
		status    int
		want      string
	}{
		{"/", "", 401, "/?token=&lt;token&gt;"},
		{"/?token=wrong", "", 401, "invalid bearer token"},
		{"/?token=" + expired, "", 401, "expired"},
		{"/?token=tok", "", 200, `data-shard="shop/1001/0"`},
		{"/?token=" + jwt, "", 200, `data-shard="shop/1001/0"`},
		{"/", "tok", 200, `data-shard="shop/1001/0"`},
		// The query token authenticates the page only.
		{api.PathStatus + "?token=tok", "", 401, `"reason":"unauthorized"`},
	} {
		code, _, body := send(t, "GET", m.URL+c.url, c.auth, nil)
		if code != c.status || !strings.Contains(string(body), c.want) {
			t.Errorf("GET %s (auth %q): %d, want %d with %q:\n%.400s", c.url, c.auth, code, c.status, c.want, body)
		}
	}
	// The page's headers keep it (and its token) to itself.
	req, _ := http.NewRequest(http.MethodHead, m.URL+"/?token=tok", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Referrer-Policy") != "no-referrer" || resp.Header.Get("Cache-Control") != "no-store" ||
		!strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'none'") {
		t.Fatalf("HEAD /: %d %v", resp.StatusCode, resp.Header)
	}
}

// TestStatusPageContent: the page shows every sync and shard with its
// phase colour, refreshes itself and loads nothing from elsewhere.
func TestStatusPageContent(t *testing.T) {
	st := apitest.SampleStatus(time.Now())
	st.Syncs[0].Shards[4].Error = `<script>alert("x")</script>`
	m := apitest.NewMaster(t, api.Config{DC: "B", Syncs: apitest.NewSyncs(st)}, true) // no auth: open
	code, _, raw := send(t, "GET", m.URL+"/", "", nil)
	body := string(raw)
	if code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	for _, want := range []string{
		`<meta http-equiv="refresh" content="2">`, "datacenter B", "sync a-to-b", `class="badge state-running"`,
		"peer alive <b class=\"alive-yes\">yes</b>", "2 running, 1 initial-sync, 1 pending, 1 failed",
		`<tr class="shard phase-running" data-shard="shop/1001/0">`, `<tr class="shard phase-initial-sync" data-shard="shop/1010/0">`,
		`<tr class="shard phase-pending" data-shard="shop/1010/1">`, `<tr class="shard phase-failed" data-shard="shop/1020/0">`,
		"<td>shop/orders</td>", ">5200<", "12.5 s", "b-worker-2", "a-worker-1",
		"&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	if n := strings.Count(body, `<tr class="shard `); n != 5 {
		t.Errorf("%d shard rows, want 5", n)
	}
	for _, bad := range []string{"<script", "<link", "src=", "@import", "url("} {
		if strings.Contains(body, bad) {
			t.Errorf("the page holds %q (it must not load anything)", bad)
		}
	}
	// No sync: the page says how to configure one.
	m2 := apitest.NewMaster(t, api.Config{DC: "B", Syncs: apitest.NewSyncs(plan.Status{DC: "B"})}, true)
	_, _, raw = send(t, "GET", m2.URL+"/", "", nil)
	if !strings.Contains(string(raw), "No sync is configured") {
		t.Fatalf("empty page: %s", raw)
	}
}
