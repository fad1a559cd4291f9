package bench

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"
)

// Figure is one measured value.
type Figure struct {
	Name  string  `json:"name"`
	Value float64 `json:"value"`
	Unit  string  `json:"unit"`
	Note  string  `json:"note,omitempty"`
}

// Report is what one benchmark writes.
type Report struct {
	Title    string    `json:"title"`
	When     time.Time `json:"when"`
	Machine  string    `json:"machine"`
	Method   string    `json:"method"`
	Figures  []Figure  `json:"figures"`
	Verdicts []string  `json:"verdicts"`
}

func newReport(title, method string) *Report {
	return &Report{
		Title:   title,
		When:    time.Now().UTC(),
		Machine: fmt.Sprintf("%s/%s, %d CPUs, %s", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.Version()),
		Method:  method,
	}
}

func (r *Report) add(name string, value float64, unit, note string) {
	r.Figures = append(r.Figures, Figure{Name: name, Value: value, Unit: unit, Note: note})
}

func (r *Report) verdict(format string, args ...any) {
	r.Verdicts = append(r.Verdicts, fmt.Sprintf(format, args...))
}

// resultsDir is where reports go.
func resultsDir() string {
	if d := os.Getenv("DC2DC_RESULTS"); d != "" {
		return d
	}
	return filepath.Join("..", "..", "results")
}

// write stores the report as <slug>.json and <slug>.md in the results folder.
func (r *Report) write(slug string) (string, error) {
	dir := resultsDir()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	js, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return "", err
	}
	base := filepath.Join(dir, slug)
	if err := os.WriteFile(base+".json", js, 0o644); err != nil {
		return "", err
	}
	var md strings.Builder
	fmt.Fprintf(&md, "# %s\n\n%s, %s\n\n%s\n\n| figure | value | unit | note |\n|---|---:|---|---|\n",
		r.Title, r.When.Format(time.RFC3339), r.Machine, r.Method)
	for _, f := range r.Figures {
		fmt.Fprintf(&md, "| %s | %.4g | %s | %s |\n", f.Name, f.Value, f.Unit, f.Note)
	}
	if len(r.Verdicts) > 0 {
		md.WriteString("\n")
		for _, v := range r.Verdicts {
			fmt.Fprintf(&md, "- %s\n", v)
		}
	}
	if err := os.WriteFile(base+".md", []byte(md.String()), 0o644); err != nil {
		return "", err
	}
	return base + ".md", nil
}

// percentile returns the p-th percentile (0..1) of sorted durations.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p * float64(len(sorted)-1))
	return sorted[i]
}

// median returns the median of xs (the mean of the middle two for an even
// count), 0 for none.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// listFloats renders xs with format, separated by " / ".
func listFloats(xs []float64, format string) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = fmt.Sprintf(format, x)
	}
	return strings.Join(parts, " / ")
}

// loadAvg returns the 1-minute load average (Linux), or "unknown".
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return "unknown"
	}
	return f[0]
}

// writeCombined writes bench.md and bench.json: the replication report
// first, then the pipeline report of the same run (pipeline.json/md, when
// there is one from the last hour), so one file holds every figure.
func writeCombined(repl *Report) (string, error) {
	dir := resultsDir()
	reports := []*Report{repl}
	var pipeMD []byte
	if raw, err := os.ReadFile(filepath.Join(dir, "pipeline.json")); err == nil {
		var p Report
		if json.Unmarshal(raw, &p) == nil && repl.When.Sub(p.When) < time.Hour {
			reports = append(reports, &p)
			pipeMD, _ = os.ReadFile(filepath.Join(dir, "pipeline.md"))
		}
	}
	js, err := json.MarshalIndent(map[string]any{"reports": reports}, "", "  ")
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "bench.json"), js, 0o644); err != nil {
		return "", err
	}
	replMD, err := os.ReadFile(filepath.Join(dir, "replication.md"))
	if err != nil {
		return "", err
	}
	md := "# make bench\n\nThe process-level replication benchmark first, then the pipeline against the raw Kafka ceiling " +
		"(targets: ARCHITECTURE.md §11). Separate files: replication.md/json, pipeline.md/json.\n\n" + demote(string(replMD))
	if pipeMD != nil {
		md += "\n" + demote(string(pipeMD))
	} else {
		md += "\n(The pipeline benchmark did not run in the last hour: run `make bench` for both.)\n"
	}
	path := filepath.Join(dir, "bench.md")
	return path, os.WriteFile(path, []byte(md), 0o644)
}

// demote turns a report's "# title" into "## title".
func demote(md string) string {
	if strings.HasPrefix(md, "# ") {
		return "#" + md
	}
	return md
}
