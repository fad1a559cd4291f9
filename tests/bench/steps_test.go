package bench

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dc2dc/dc2dc/events"
	"github.com/dc2dc/dc2dc/handlers/arango/client"
	"github.com/dc2dc/dc2dc/handlers/control/plan"
	"github.com/dc2dc/dc2dc/tests/harness"
)

// Helpers of BenchmarkReplication: the sync's status, check sync, the
// RSS sampler and the knobs.

const benchSyncID = "a-to-b"

// envSeconds reads a duration in seconds from the environment, else def.
func envSeconds(name string, def int) time.Duration {
	return time.Duration(envInt(name, def)) * time.Second
}

// syncStatus is the sync's part of a datacenter's status (2 s per try).
func syncStatus(dc *harness.DC) (plan.SyncStatus, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return dc.SyncStatus(ctx, benchSyncID)
}

// summary describes a sync status in one line.
func summary(s plan.SyncStatus) string {
	return fmt.Sprintf("state %s, %d shards, phases %v, max lag %.2fs, inSync %v", s.State, len(s.Shards), s.Phases, s.MaxLagSeconds, s.InSync)
}

// allRunning reports whether at least n shards are listed and every one is
// running.
func allRunning(s plan.SyncStatus, n int) bool {
	if s.State != plan.StateRunning || len(s.Shards) < n {
		return false
	}
	for _, sh := range s.Shards {
		if sh.Phase != plan.ShardRunning {
			return false
		}
	}
	return true
}

// waitStatus polls B's status every 250 ms until cond holds or timeout
// passes; it returns the time waited and whether cond held.
func waitStatus(b *testing.B, dc *harness.DC, timeout time.Duration, what string, cond func(plan.SyncStatus) bool) (time.Duration, bool) {
	b.Helper()
	start, logged := time.Now(), time.Now()
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	var last string
	for {
		s, err := syncStatus(dc)
		if err == nil && cond(s) {
			return time.Since(start), true
		}
		if err != nil {
			last = err.Error()
		} else {
			last = summary(s)
		}
		if time.Since(start) > timeout {
			b.Logf("%s: not within %v: %s", what, timeout, last)
			return time.Since(start), false
		}
		if time.Since(logged) > 15*time.Second {
			logged = time.Now()
			b.Logf("%s: waiting %v: %s", what, time.Since(start).Round(time.Second), last)
		}
		<-t.C
	}
}

// checkSync runs `dc2dc check sync` on B until it says identical or
// timeout passes; it returns the last report and whether it was identical.
func checkSync(b *testing.B, dc *harness.DC, timeout time.Duration) (plan.CheckReport, bool) {
	b.Helper()
	deadline := time.Now().Add(timeout)
	var rep plan.CheckReport
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		r := dc.CLI(ctx, "check", "sync", "--sync-id", benchSyncID, "--output", "json")
		cancel()
		rep = plan.CheckReport{}
		if code := r.ExitCode(); code == 0 || code == 1 {
			if err := json.Unmarshal([]byte(r.Stdout), &rep); err != nil {
				b.Logf("check sync --output json: %v\n%s", err, r.Stdout)
			}
		} else {
			b.Logf("check sync: %s", r)
		}
		ok := rep.InSync && len(rep.Shards) > 0
		for _, sh := range rep.Shards {
			ok = ok && sh.Equal
		}
		if ok || time.Now().After(deadline) {
			return rep, ok
		}
		time.Sleep(time.Second) // between two full comparisons (a poll, not a synchronisation)
	}
}

// rssSampler samples VmRSS of processes every 250 ms and keeps the
// largest value per process.
type rssSampler struct {
	mu   sync.Mutex
	max  map[string]int64
	stop chan struct{}
	done chan struct{}
}

func sampleRSS(members []*harness.Member) *rssSampler {
	s := &rssSampler{max: map[string]int64{}, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			for _, m := range members {
				if !m.Running() {
					continue
				}
				if n, err := vmRSS(m.Pid()); err == nil {
					s.mu.Lock()
					s.max[m.ID] = max(s.max[m.ID], n)
					s.mu.Unlock()
				}
			}
			select {
			case <-s.stop:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

// end stops sampling and returns the largest RSS of any process (MiB) and
// every process's largest, as "id 123 MiB, …".
func (s *rssSampler) end() (float64, string) {
	close(s.stop)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	var top int64
	var parts []string
	for id, n := range s.max {
		top = max(top, n)
		parts = append(parts, fmt.Sprintf("%s %.0f MiB", id, float64(n)/(1<<20)))
	}
	slices.Sort(parts)
	return float64(top) / (1 << 20), strings.Join(parts, ", ")
}

// moved reports whether position p is past p0 by data or a new epoch
// (not only by the sub of a heartbeat at the same tick).
func moved(p0, p events.Position) bool {
	return p.Epoch > p0.Epoch || (p.Epoch == p0.Epoch && p.Tick > p0.Tick)
}

// shardOf returns the status of shard id.
func shardOf(s plan.SyncStatus, id string) (plan.ShardStatus, bool) {
	for _, sh := range s.Shards {
		if sh.Shard == id {
			return sh, true
		}
	}
	return plan.ShardStatus{}, false
}

// pipelineCeiling reads the transport ceiling (records/s) from the
// pipeline report of the same `make bench` run, if there is one from the
// last hour.
func pipelineCeiling() (float64, string) {
	raw, err := os.ReadFile(filepath.Join(resultsDir(), "pipeline.json"))
	if err != nil {
		return 0, "no pipeline.json (run BenchmarkPipelineVsTransport first, as make bench does)"
	}
	var r Report
	if err := json.Unmarshal(raw, &r); err != nil {
		return 0, "pipeline.json: " + err.Error()
	}
	if time.Since(r.When) > time.Hour {
		return 0, fmt.Sprintf("pipeline.json is from %s, not this run", r.When.Format(time.RFC3339))
	}
	for _, f := range r.Figures {
		if strings.HasPrefix(f.Name, "transport ceiling (sarama") {
			return f.Value, fmt.Sprintf("BenchmarkPipelineVsTransport at %s", r.When.Format(time.RFC3339))
		}
	}
	return 0, "pipeline.json has no transport ceiling"
}

// cpuSnapshot is the CPU time each process of the topology used so far,
// by group ("arangosim-a", "worker-b", …; the numbers of masters and
// workers dropped), and this process's own (the loader and probes).
type cpuSnapshot struct {
	at     time.Time
	groups map[string]time.Duration
}

// loaderGroup is the benchmark's own process in a cpuSnapshot.
const loaderGroup = "bench process (loader)"

func takeCPU(top *harness.Topology) cpuSnapshot {
	s := cpuSnapshot{at: time.Now(), groups: map[string]time.Duration{loaderGroup: cpuTime()}}
	for _, p := range top.Procs() {
		if p == nil || !p.Running() {
			continue
		}
		d, err := procCPU(p.Pid())
		if err != nil {
			continue
		}
		s.groups[strings.TrimRight(p.Name(), "0123456789")] += d
	}
	return s
}

// cpuSplit describes where the CPU went between two snapshots: cores busy
// in total and each group's share of one core, largest first.
func cpuSplit(a, b cpuSnapshot) (float64, string) {
	secs := b.at.Sub(a.at).Seconds()
	var total float64
	for name, d := range b.groups {
		total += (d - a.groups[name]).Seconds() / secs
	}
	return total, cpuGroups(a, b, func(d time.Duration) string { return fmt.Sprintf("%.0f%%", 100*d.Seconds()/secs) })
}

// cpuGroups lists each process group's CPU between two snapshots, largest
// first, each formatted by format.
func cpuGroups(a, b cpuSnapshot, format func(time.Duration) string) string {
	type g struct {
		name string
		d    time.Duration
	}
	var gs []g
	for name, d := range b.groups {
		gs = append(gs, g{name, d - a.groups[name]})
	}
	slices.SortFunc(gs, func(x, y g) int {
		if c := cmp.Compare(y.d, x.d); c != 0 {
			return c
		}
		return strings.Compare(x.name, y.name)
	})
	parts := make([]string, len(gs))
	for i, x := range gs {
		parts[i] = x.name + " " + format(x.d)
	}
	return strings.Join(parts, ", ")
}

// steadyWarm is the warm-up before a steady window is counted.
const steadyWarm = 5 * time.Second

// steady is one steady-phase window: A written at its maximum while
// replicating.
type steady struct {
	rateA, rateB float64 // documents counted in A and in B per second
	window       float64 // seconds
	load         loadResult
	cores        float64 // CPUs busy in the window
	split        string  // each process group's share of one core
	usPerDoc     float64 // all CPU in the window per document B applied, µs
	perDoc       string  // the same per process group
	outsideUs    float64 // of usPerDoc, what is not dc2dc's: both arangosims and the loader
}

// steadyWindow writes A at its maximum (keys prefixed with prefix, which
// must be new) for steadyWarm+window and counts
// the documents in A and B over the window after the warm-up, with the CPU
// of every process.
func steadyWindow(b *testing.B, top *harness.Topology, l *loader, ca, cb *client.Client, prefix string, window time.Duration) steady {
	b.Helper()
	bg := context.Background()
	ctx, cancel := context.WithTimeout(bg, steadyWarm+window)
	defer cancel()
	done := make(chan loadResult, 1)
	go func() { done <- l.run(ctx, prefix, 0, 0) }()
	timer := time.NewTimer(steadyWarm)
	<-timer.C
	a1, _ := countDocs(bg, ca)
	b1, _ := countDocs(bg, cb)
	w1 := time.Now()
	cpu1 := takeCPU(top)
	<-ctx.Done()
	cpu2 := takeCPU(top)
	a2, _ := countDocs(bg, ca)
	b2, _ := countDocs(bg, cb)
	win := time.Since(w1).Seconds()
	cancel()
	s := steady{load: <-done, window: win}
	s.rateA, s.rateB = float64(a2-a1)/win, float64(b2-b1)/win
	s.cores, s.split = cpuSplit(cpu1, cpu2)
	if applied := float64(b2 - b1); applied > 0 {
		s.usPerDoc = s.cores * win / applied * 1e6
		s.perDoc = cpuPerDoc(cpu1, cpu2, applied)
		for name, d := range cpu2.groups {
			if !isDC2DC(name) {
				s.outsideUs += (d - cpu1.groups[name]).Seconds() / applied * 1e6
			}
		}
	}
	return s
}

// isDC2DC reports whether a process group is dc2dc's (its masters, workers,
// mirror and Kafka brokers), not the database's or the load's.
func isDC2DC(group string) bool {
	return !strings.HasPrefix(group, "arangosim") && group != loaderGroup
}

// cpuPerDoc is each process group's CPU between two snapshots per document,
// in µs, largest first.
func cpuPerDoc(a, b cpuSnapshot, docs float64) string {
	return cpuGroups(a, b, func(d time.Duration) string { return fmt.Sprintf("%.1f", d.Seconds()/docs*1e6) })
}
