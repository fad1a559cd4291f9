package chaos_test

import (
	"fmt"
	"strings"
	"time"

	"github.com/dc2dc/dc2dc/tests/workload"
)

type runStatus string

const (
	statusPass runStatus = "PASS"
	statusFail runStatus = "FAIL"
	statusSkip runStatus = "SKIP"
	// statusNA: the fault does not apply at the phase (err says why).
	statusNA runStatus = "n/a"
)

// result is one row of the table.
type result struct {
	phase   phase
	fault   string
	session int
	status  runStatus
	err     string
	notes   []string

	report      *workload.Report // the last comparison of A and B
	converge    time.Duration    // from A quiet (fault repaired) to B equal to A
	faultFor    time.Duration    // from the injection to the end of the repair
	ready       time.Duration    // from the run's start to the injection (configure, running, load)
	took        time.Duration    // the whole run
	check       string           // check sync's verdict
	checkShards int
	ops         int64          // the workload's operations completed during the run
	failedOps   int64          // and given up
	events      map[string]int // logEvents counted in the workers' logs during the run
}

// clean reports whether the last comparison found B equal to A.
func (r *result) clean() bool { return r.report != nil && r.report.OK() }

func (r *result) count(k workload.DiffKind) string {
	if r.report == nil {
		return "?"
	}
	return fmt.Sprint(r.report.Count(k))
}

// docs is the number of documents compared in A.
func (r *result) docs() string {
	if r.report == nil {
		return "?"
	}
	return fmt.Sprint(r.report.DocsA)
}

// reactions renders the counted log events: new epochs / resync requests /
// poisoned messages / full-snapshot fallbacks.
func (r *result) reactions() string {
	if r.events == nil {
		return "–"
	}
	return fmt.Sprintf("%d/%d/%d/%d", r.events["epochs"], r.events["resyncs"], r.events["poisoned"], r.events["full-fallbacks"])
}

func dur(d time.Duration) string {
	if d == 0 {
		return "–"
	}
	return d.Round(100 * time.Millisecond).String()
}

// line is the row as one line of text, for the run's log.
func (r *result) line() string {
	return fmt.Sprintf("%s lost=%s dup=%s mismatched=%s extra=%s ledger=%s structure=%s docs=%s converge=%s check=%s (%d shards) ready=%s fault=%s run=%s ops=%d (failed %d) epochs/resyncs/poisoned/full=%s",
		r.status, r.count(workload.Lost), r.count(workload.DuplicatedEffect), r.count(workload.Mismatched),
		r.count(workload.Extra), r.count(workload.Ledger), r.count(workload.Structure), r.docs(), dur(r.converge), orDash(r.check),
		r.checkShards, dur(r.ready), dur(r.faultFor), dur(r.took), r.ops, r.failedOps, r.reactions())
}

func orDash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}

// table is the suite's report.
type table struct {
	full  bool
	total time.Duration
	rows  []*result
}

// markdown renders the table, its totals, a legend of the faults and the
// failures' causes.
func (t *table) markdown() string {
	var b strings.Builder
	form := "bounded"
	if t.full {
		form = "full (DC2DC_CHAOS=full)"
	}
	counts := map[runStatus]int{}
	for _, r := range t.rows {
		counts[r.status]++
	}
	fmt.Fprintf(&b, "# dc2dc chaos suite (%s)\n\n", form)
	fmt.Fprintf(&b, "%d cells: %d passed, %d failed, %d skipped, %d not run, %d not applicable; %v in all.\n\n", len(t.rows),
		counts[statusPass], counts[statusFail], counts[statusSkip], counts[""], counts[statusNA], t.total.Round(time.Second))
	b.WriteString("| phase | fault | result | lost | dup-effect | mismatched | extra | ledger | docs | converge | check sync | fault lasted | run | writes | epochs/resyncs/poisoned/full | session |\n")
	b.WriteString("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|\n")
	for _, r := range t.rows {
		st := string(r.status)
		switch r.status {
		case "":
			st = "not run"
		case statusNA:
			st = "n/a: " + r.err
		}
		if r.status == statusNA || r.status == statusSkip && r.report == nil {
			fmt.Fprintf(&b, "| %s | %s | %s | – | – | – | – | – | – | – | – | – | – | – | – | – |\n", r.phase, r.fault, st)
			continue
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %d | %s | %d |\n", r.phase, r.fault, st,
			r.count(workload.Lost), r.count(workload.DuplicatedEffect), r.count(workload.Mismatched), r.count(workload.Extra),
			r.count(workload.Ledger), r.docs(), dur(r.converge), orDash(r.check), dur(r.faultFor), dur(r.took), r.ops,
			r.reactions(), r.session)
	}
	b.WriteString("\nconverge: from the repair of the fault with the source quiet to the target equal to it key by key (tests/workload ")
	b.WriteString("Verify; in the switchover B is the source and A the target); docs: documents of the source compared key by key; ")
	b.WriteString("check sync: `dc2dc check sync` on the target; fault lasted: from the injection ")
	b.WriteString("to the end of the repair; writes: the workload's operations during the run (on A; on A, then B in the switchover); epochs/resyncs/poisoned/full: ")
	b.WriteString("what the workers logged during the run (send tasks' new epochs, receive-side resync requests, messages sent to the ")
	b.WriteString("poison topic, revision resyncs that fell back to a full snapshot).\n\n")
	b.WriteString("## Faults\n\n")
	for _, f := range faults() {
		fmt.Fprintf(&b, "- `%s`: %s\n", f.name, f.what)
	}
	var failed []*result
	for _, r := range t.rows {
		if r.status == statusFail || (r.status == statusSkip && r.err != "") || (r.status != statusNA && len(r.notes) > 0) {
			failed = append(failed, r)
		}
	}
	if len(failed) > 0 {
		b.WriteString("\n## Failures, skips and notes\n\n")
		for _, r := range failed {
			fmt.Fprintf(&b, "- **%s/%s** (%s)", r.phase, r.fault, r.status)
			if r.err != "" {
				fmt.Fprintf(&b, ": %s", oneLine(r.err, 600))
			}
			b.WriteString("\n")
			for _, n := range r.notes {
				fmt.Fprintf(&b, "  - %s\n", oneLine(n, 300))
			}
			if r.report != nil && !r.report.OK() {
				for _, d := range r.report.Samples {
					fmt.Fprintf(&b, "  - %s\n", oneLine(d.String(), 300))
				}
			}
		}
	}
	return b.String()
}

// oneLine folds s into one line of at most n bytes.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		s = s[:n] + "…"
	}
	return s
}
