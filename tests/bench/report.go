package bench

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
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
