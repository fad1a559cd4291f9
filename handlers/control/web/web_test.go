package web_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/dc2dc/dc2dc/handlers/control/plan"
	"github.com/dc2dc/dc2dc/handlers/control/web"
)

func TestAgo(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, c := range []struct {
		d    time.Duration
		want string
	}{
		{-time.Second, "just now"}, {1500 * time.Millisecond, "1.5s ago"}, {61 * time.Second, "1m01s ago"},
		{3*time.Hour + 5*time.Minute, "3h05m ago"}, {72 * time.Hour, "3d ago"},
	} {
		if got := web.Ago(now, now.Add(-c.d)); got != c.want {
			t.Errorf("%v: %q, want %q", c.d, got, c.want)
		}
	}
	if got := web.Ago(now, time.Time{}); got != "–" {
		t.Errorf("zero time: %q", got)
	}
}

func TestRender(t *testing.T) {
	now := time.Now()
	st := plan.Status{DC: "B", Leader: "m1", Epoch: 2, Syncs: []plan.SyncStatus{{
		Sync:   plan.Sync{ID: "a-to-b", Role: plan.RoleTarget, State: plan.StateStopping, Error: "source read-only since 10s"},
		Phases: map[string]int{"weird phase": 1, plan.ShardRunning: 1, "another": 2},
		Shards: []plan.ShardStatus{
			{Shard: "db/1/0", Collection: "db/c", Phase: plan.ShardRunning, LastDataChange: now.Add(-2 * time.Second)},
			{Shard: "db/1/1", Collection: "db/c", Phase: "weird phase"},
		},
	}}}
	var b bytes.Buffer
	if err := web.Render(&b, web.Page{Status: st, Now: now, Refresh: 5 * time.Second, ServedBy: "m2"}); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		`content="5"`, "state-stopping", "source read-only since 10s", "1 running, 2 another, 1 weird phase",
		`class="shard phase-weird-phase" data-shard="db/1/1"`, "2.0s ago", "answered by m2", `<td title="db/1/0">db/1/0</td>`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	b.Reset()
	if err := web.Render(&b, web.Page{Message: "no manager <here>", Problem: "boom"}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "no manager &lt;here&gt;") || !strings.Contains(b.String(), "boom") || strings.Contains(b.String(), "No sync is configured") {
		t.Fatalf("message page:\n%s", b.String())
	}
}
