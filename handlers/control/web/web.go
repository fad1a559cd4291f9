package web

import (
	"embed"
	"fmt"
	"html/template"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/dc2dc/dc2dc/handlers/control/plan"
)

//go:embed page.html.tmpl
var files embed.FS

var page = template.Must(template.New("page.html.tmpl").Funcs(template.FuncMap{
	"phaseClass": phaseClass,
	"stateClass": func(s plan.State) string { return "state-" + cssName(string(s)) },
	"seconds":    func(f float64) string { return fmt.Sprintf("%.1f s", f) },
	"dash": func(s string) string {
		if s == "" {
			return "–"
		}
		return s
	},
	"yes": func(b bool) string {
		if b {
			return "yes"
		}
		return "no"
	},
	"stamp": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format(time.RFC3339)
	},
}).ParseFS(files, "page.html.tmpl"))

// DefaultRefresh is how often the page reloads itself.
const DefaultRefresh = 2 * time.Second

// Page is what the page shows.
type Page struct {
	Status plan.Status
	// Now is the time of the answer (default time.Now); ages are relative
	// to it.
	Now time.Time
	// Refresh interval (default DefaultRefresh).
	Refresh time.Duration
	// Message replaces the syncs (e.g. "no sync manager"); Problem is
	// shown as an error above them (e.g. the status could not be read).
	Message string
	Problem string
	// ServedBy names the master that answered.
	ServedBy string
}

// view is the template's data.
type view struct {
	Page
	RefreshSeconds int
	Syncs          []syncView
}

type syncView struct {
	plan.SyncStatus
	Phases string
	Shards []shardView
}

type shardView struct {
	plan.ShardStatus
	Name          string
	LastChangeAgo string
}

// Render writes the page.
func Render(w io.Writer, p Page) error {
	if p.Now.IsZero() {
		p.Now = time.Now()
	}
	if p.Refresh <= 0 {
		p.Refresh = DefaultRefresh
	}
	v := view{Page: p, RefreshSeconds: max(1, int(p.Refresh.Round(time.Second)/time.Second))}
	for _, s := range p.Status.Syncs {
		sv := syncView{SyncStatus: s, Phases: phases(s.Phases)}
		for _, sh := range s.Shards {
			name := sh.ShardName
			if name == "" {
				name = sh.Shard
			}
			sv.Shards = append(sv.Shards, shardView{ShardStatus: sh, Name: name, LastChangeAgo: Ago(p.Now, sh.LastDataChange)})
		}
		v.Syncs = append(v.Syncs, sv)
	}
	return page.Execute(w, v)
}

// Ago formats how long before now t was ("–" for the zero time).
func Ago(now, t time.Time) string {
	if t.IsZero() {
		return "–"
	}
	d := now.Sub(t)
	switch {
	case d < 0:
		return "just now"
	case d < time.Minute:
		return fmt.Sprintf("%.1fs ago", d.Seconds())
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds ago", int(d.Minutes()), int(d.Seconds())%60)
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm ago", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd ago", int(d.Hours()/24))
}

// phases formats the counts of shards by phase in the order of the
// phases' life.
func phases(m map[string]int) string {
	order := []string{plan.ShardRunning, plan.ShardInitialSync, plan.ShardPending, plan.ShardFailed, plan.ShardStopped}
	var parts []string
	seen := map[string]bool{}
	for _, ph := range order {
		if n := m[ph]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, ph))
		}
		seen[ph] = true
	}
	var rest []string
	for ph, n := range m {
		if !seen[ph] && n > 0 {
			rest = append(rest, ph)
		}
	}
	sort.Strings(rest)
	for _, ph := range rest {
		parts = append(parts, fmt.Sprintf("%d %s", m[ph], ph))
	}
	return strings.Join(parts, ", ")
}

// phaseClass is the CSS class of a shard phase.
func phaseClass(p string) string { return "phase-" + cssName(p) }

func cssName(s string) string {
	if s == "" {
		return "unknown"
	}
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') || r == '-' {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	return b.String()
}
