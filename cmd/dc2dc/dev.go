package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/dc2dc/dc2dc/cmd/internal/devstack"
	"github.com/dc2dc/dc2dc/handlers/control/plan"
	"github.com/dc2dc/dc2dc/tests/workload"
)

func init() { register(newDevCmd) }

type devOptions struct {
	stateDir      string
	endpointsFile string
	fresh         bool
	workload      string
	rate          float64
	plan          string
	arangosim     string
	interval      time.Duration
	startTimeout  time.Duration
	stopTimeout   time.Duration
}

func newDevCmd(g *globalOptions) *cobra.Command {
	o := &devOptions{}
	cmd := &cobra.Command{
		Use:   "dev [--state-dir .dev] [--fresh] [--workload demo|none] [--rate 200]",
		Short: "Run two datacenters on 127.0.0.1 (arangosim + embedded Kafka) with a demo workload and a live status (make run)",
		Long: `Starts, as child processes on 127.0.0.1: cluster A (arangosim, 1 Coordinator,
3 DB-Servers) and cluster B (arangosim, 1 Coordinator, 2 DB-Servers), both with a
JWT secret and a root password; Kafka A and Kafka B (dc2dc kafka); the mirror
(dc2dc mirror) with the sync's topics; and (unless --plan standalone) one
dc2dc master and one dc2dc worker in each datacenter.

Everything lives under --state-dir (default .dev): data/ (reused by the next run
unless --fresh), logs/<process>.log, ports.json and secrets.json (remembered, so
a second run finds its data on the same ports with the same credentials),
pids.json, and the endpoints file (--endpoints-file, default
<state-dir>/endpoints.json: coordinators, credentials, Kafka brokers, the
mirror's metrics, the masters) for your own clients and tools.

--workload demo (default) creates databases, sharded collections, an edge
collection, indexes, a view and a user in A and then writes to A at --rate
operations per second (inserts, updates, replaces, removes, transactions).

Until Ctrl-C it shows the status every --interval: documents in A and B per
collection, the workload, and the replication state. Ctrl-C (SIGINT/SIGTERM)
stops every process it started (SIGTERM, SIGKILL after --stop-timeout); a
process that exits on its own is reported with the end of its log, and then
everything is stopped (exit 1).

Replication (--plan):
  control (default)  the real control plane: dc2dc dev runs "configure sync"
                     against B's master (unless B already follows A from an
                     earlier run); the masters plan the sync over Kafka and the
                     workers run the send-shard tasks (A) and the receive side
                     (B); A's master replicates users too. The status view
                     reads GET /_api/status of B's leader.
  standalone         the whole data path inside the dc2dc dev process, without
                     the masters and workers (for debugging the data path): it
                     creates A's structure in B, runs one send-shard task per
                     shard of A and the receive side in B, checkpoints under
                     <state-dir>/data/dev. Users, later changes of analyzer or
                     view definitions and drops of collections are not followed.
  none               the masters and workers run but nothing is configured:
                     run "dc2dc configure sync" against B's master yourself
                     (the endpoints file names the masters and the admin token).
Standalone runs no masters and workers; control and none run one of each in
each datacenter.
The workload and the standalone plan log to <state-dir>/logs/dev.log.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDev(cmd.Context(), g, o, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.stateDir, "state-dir", ".dev", "directory of the data, logs, pids and endpoints file")
	f.StringVar(&o.endpointsFile, "endpoints-file", "", "where to write the endpoints (default <state-dir>/endpoints.json)")
	f.BoolVar(&o.fresh, "fresh", false, "wipe the state dir first (otherwise the data of the last run is reused)")
	f.StringVar(&o.workload, "workload", "demo", "load on cluster A: demo or none")
	f.Float64Var(&o.rate, "rate", 200, "operations per second of the demo workload")
	f.StringVar(&o.plan, "plan", "control", "how A is replicated to B: control, standalone or none (see above)")
	f.StringVar(&o.arangosim, "arangosim", "", "the arangosim binary (default: next to dc2dc, else on PATH)")
	f.DurationVar(&o.interval, "interval", time.Second, "status refresh interval on a terminal (5x that otherwise)")
	f.DurationVar(&o.startTimeout, "start-timeout", 60*time.Second, "longest wait for each process to be ready")
	f.DurationVar(&o.stopTimeout, "stop-timeout", 10*time.Second, "wait between SIGTERM and SIGKILL when stopping")
	return cmd
}

func (o *devOptions) validate() error {
	var errs []error
	if o.workload != "demo" && o.workload != "none" {
		errs = append(errs, fmt.Errorf("--workload %q: use demo or none", o.workload))
	}
	switch o.plan {
	case "control", "standalone", "none":
	default:
		errs = append(errs, fmt.Errorf("--plan %q: use control, standalone or none", o.plan))
	}
	if o.rate <= 0 {
		errs = append(errs, fmt.Errorf("--rate %v: use a positive number of operations per second, e.g. 200", o.rate))
	}
	if o.interval <= 0 {
		errs = append(errs, fmt.Errorf("--interval %v: use a positive duration, e.g. 1s", o.interval))
	}
	if o.startTimeout <= 0 || o.stopTimeout <= 0 {
		errs = append(errs, errors.New("--start-timeout and --stop-timeout: use positive durations, e.g. 60s and 10s"))
	}
	if err := errors.Join(errs...); err != nil {
		return &exitCodeError{code: 2, err: err}
	}
	return nil
}

// devBinaries finds the dc2dc executable and arangosim (flag, next to
// dc2dc, PATH).
func devBinaries(flagArangosim string) (dc2dc, arangosim string, err error) {
	dc2dc, err = os.Executable()
	if err != nil {
		return "", "", fmt.Errorf("locating the dc2dc executable: %w", err)
	}
	if flagArangosim != "" {
		return dc2dc, flagArangosim, nil
	}
	next := filepath.Join(filepath.Dir(dc2dc), "arangosim")
	if st, err := os.Stat(next); err == nil && !st.IsDir() {
		return dc2dc, next, nil
	}
	if p, err := exec.LookPath("arangosim"); err == nil {
		return dc2dc, p, nil
	}
	return dc2dc, "", fmt.Errorf("arangosim not found next to %s nor on PATH: run `make build` (or `make run`), or give --arangosim", dc2dc)
}

func runDev(ctx context.Context, g *globalOptions, o *devOptions, stdout, stderr io.Writer) error {
	if err := o.validate(); err != nil {
		return err
	}
	dc2dc, sim, err := devBinaries(o.arangosim)
	if err != nil {
		return err
	}
	log := g.Logger().With("component", "dev")
	cfg := devstack.Config{StateDir: o.stateDir, EndpointsFile: o.endpointsFile, Fresh: o.fresh, DC2DC: dc2dc,
		Arangosim: sim, ControlPlane: o.plan != "standalone", StartTimeout: o.startTimeout, StopTimeout: o.stopTimeout,
		LogLevel: g.logLevel, Logger: log}
	_, _ = fmt.Fprintf(stdout, "dc2dc dev: starting the stack under %s (logs in %s) ...\n",
		cfg.WithDefaults().StateDir, filepath.Join(cfg.WithDefaults().StateDir, "logs"))
	stack, err := devstack.Start(ctx, cfg)
	if err != nil {
		return err
	}
	defer func() {
		_, _ = fmt.Fprintln(stdout, "dc2dc dev: stopping every process ...")
		if err := stack.Close(); err != nil {
			log.Warn("stop", "err", err)
		}
		_, _ = fmt.Fprintln(stdout, "dc2dc dev: stopped")
	}()
	eps := stack.Endpoints()
	printEndpoints(stdout, stack.Config().EndpointsFile, eps, stack.PIDs())

	// The workload and the replication log to <state>/logs/dev.log: the
	// terminal shows the status.
	devLogPath := filepath.Join(stack.Config().StateDir, "logs", "dev.log")
	logFile, err := os.OpenFile(devLogPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	defer func() { _ = logFile.Close() }()
	devLog := slog.New(slog.NewTextHandler(logFile, &slog.HandlerOptions{Level: devLogLevel(g.logLevel)}))
	_, _ = fmt.Fprintf(stdout, "  %-12s (this process: workload, replication) %s\n", "dev", devLogPath)

	wctx, cancelW := context.WithCancel(ctx)
	defer cancelW()
	var wl *workload.Workload
	var wlErr error
	var wlMu sync.Mutex
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancelW()
	if o.workload == "demo" {
		wl, err = workload.New(workload.Config{
			Cluster: workload.Cluster{Endpoints: eps.A.Coordinators, Auth: workload.Auth{JWTSecret: eps.A.JWTSecret}},
			Rate:    o.rate, Logger: devLog.With("component", "workload"),
		})
		if err != nil {
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer wl.Close()
			err := wl.Setup(wctx)
			if err == nil {
				err = wl.Run(wctx)
			}
			if err != nil && wctx.Err() == nil {
				wlMu.Lock()
				wlErr = err
				wlMu.Unlock()
				log.Error("workload stopped", "err", err)
			}
		}()
	}

	var repl *devstack.Replicator
	var replErr error
	switch o.plan {
	case "control":
		cctx, cancel := context.WithTimeout(ctx, o.startTimeout)
		sy, err := stack.ConfigureSync(cctx)
		cancel()
		if err != nil {
			return err
		}
		_, _ = fmt.Fprintf(stdout, "dc2dc dev: B follows A: sync %s is %s (configure sync on B's master)\n", sy.ID, sy.State)
	case "standalone":
		rlog := devLog.With("component", "replication")
		repl, err = devstack.NewReplicator(devstack.ReplicatorConfig{A: eps.A, B: eps.B, SyncID: eps.SyncID,
			Dir: filepath.Join(stack.Config().StateDir, "data", "dev"), Logger: rlog})
		if err != nil {
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := repl.Run(wctx); err != nil {
				wlMu.Lock()
				replErr = err
				wlMu.Unlock()
				rlog.Error("replication stopped", "err", err)
			}
		}()
	}

	st := &devStatus{eps: eps, stateDir: stack.Config().StateDir, endpointsFile: stack.Config().EndpointsFile,
		hc: &http.Client{Timeout: 5 * time.Second}, log: log}
	tty := isTerminal(stdout)
	every := o.interval
	if !tty {
		every = 5 * o.interval
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	defer st.hc.CloseIdleConnections()
	for {
		wlMu.Lock()
		we, re := wlErr, replErr
		wlMu.Unlock()
		var stats *workload.Stats
		if wl != nil {
			s := wl.Stats()
			stats = &s
		}
		st.render(ctx, stdout, tty, stats, we, func(ctx context.Context, perShard bool) []string {
			if o.plan == "control" {
				return controlLines(ctx, stack, perShard)
			}
			return replicationLines(repl, re, perShard)
		})
		select {
		case <-ctx.Done():
			return nil
		case e := <-stack.Exited():
			_, _ = fmt.Fprintf(stderr, "dc2dc dev: %s\n", e)
			return fmt.Errorf("%s exited unexpectedly (log: %s)", e.Name, e.Log)
		case <-tick.C:
		}
	}
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func printEndpoints(w io.Writer, file string, e devstack.Endpoints, pids []devstack.PID) {
	_, _ = fmt.Fprintf(w, "dc2dc dev: ready. Endpoints (with credentials): %s\n", file)
	for _, side := range []struct {
		name string
		dc   devstack.Datacenter
	}{{"A", e.A}, {"B", e.B}} {
		_, _ = fmt.Fprintf(w, "  cluster %s  coordinator %s  user root / password %s  kafka %s",
			side.name, strings.Join(side.dc.Coordinators, ","), side.dc.Password, strings.Join(side.dc.KafkaBrokers, ","))
		if len(side.dc.Masters) > 0 {
			_, _ = fmt.Fprintf(w, "  master %s", strings.Join(side.dc.Masters, ","))
		}
		_, _ = fmt.Fprintln(w)
	}
	_, _ = fmt.Fprintf(w, "  mirror metrics %s   topics %s\n", e.Mirror.Metrics, e.Topics.Data)
	_, _ = fmt.Fprintln(w, "  logs:")
	for _, p := range pids {
		_, _ = fmt.Fprintf(w, "    %-12s pid %-7d %s\n", p.Name, p.PID, p.Log)
	}
}

// devStatus renders the status view.
type devStatus struct {
	eps           devstack.Endpoints
	stateDir      string
	endpointsFile string
	hc            *http.Client
	log           *slog.Logger
}

func devLogLevel(s string) slog.Level {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return slog.LevelInfo
	}
	return l
}

// replicationLines describes the replication: one summary line and one
// line per shard (terminal view only).
func replicationLines(repl *devstack.Replicator, replErr error, perShard bool) []string {
	if repl == nil {
		return []string{"replication: off (--plan none): B is not written"}
	}
	shards, planErr := repl.Status()
	phases := map[string]int{}
	var maxLagS float64
	var maxLagT uint64
	for _, sh := range shards {
		phases[sh.Phase()]++
		maxLagS = max(maxLagS, sh.LagSeconds)
		maxLagT = max(maxLagT, sh.LagTicks)
	}
	var ph []string
	for _, k := range []string{"initial-sync", "tailing", "waiting", "resync-requested", "ended"} {
		if phases[k] > 0 {
			ph = append(ph, fmt.Sprintf("%d %s", phases[k], k))
		}
	}
	head := fmt.Sprintf("replication A→B (standalone plan in dc2dc dev): %d shards (%s), max lag %.1fs / %d ticks",
		len(shards), strings.Join(ph, ", "), maxLagS, maxLagT)
	out := []string{head}
	if replErr != nil {
		out = append(out, "replication stopped: "+replErr.Error())
	}
	if planErr != "" {
		out = append(out, "structure/plan: "+planErr)
	}
	if !perShard {
		return out
	}
	out = append(out, fmt.Sprintf("  %-28s %-12s %-14s %-28s %8s %10s  %s", "collection", "shard", "phase", "applied (epoch/tick/sub)", "lag s", "lag ticks", "error"))
	for _, sh := range shards {
		errText := sh.LastError
		if len(errText) > 60 {
			errText = errText[:60] + "…"
		}
		idx := sh.Shard[strings.LastIndexByte(sh.Shard, '/')+1:]
		out = append(out, fmt.Sprintf("  %-28s %-12s %-14s %-28s %8.1f %10d  %s", sh.Collection, "#"+idx, sh.Phase(),
			fmt.Sprintf("%d/%d/%d", sh.Applied.Epoch, sh.Applied.Tick, sh.Applied.Sub), sh.LagSeconds, sh.LagTicks, errText))
	}
	return out
}

// controlLines describes the sync as B's leader master reports it (GET
// /_api/status): one summary line and, on a terminal, one line per shard.
func controlLines(ctx context.Context, stack *devstack.Stack, perShard bool) []string {
	st, err := stack.SyncStatus(ctx)
	if err != nil {
		return []string{"replication A→B (control plane): status of B's masters: " + err.Error()}
	}
	var ph []string
	for _, k := range []string{plan.ShardPending, plan.ShardInitialSync, plan.ShardRunning, plan.ShardFailed, plan.ShardStopped} {
		if st.Phases[k] > 0 {
			ph = append(ph, fmt.Sprintf("%d %s", st.Phases[k], k))
		}
	}
	peer := "A's leader alive"
	if !st.PeerAlive {
		peer = "A's leader not heard from"
		if !st.PeerLastSeen.IsZero() {
			peer += " since " + st.PeerLastSeen.Format("15:04:05")
		}
	}
	head := fmt.Sprintf("replication A→B (sync %s, control plane): %s, %d shards (%s), max lag %.1fs, %s", st.ID, st.State,
		len(st.Shards), strings.Join(ph, ", "), st.MaxLagSeconds, peer)
	if st.InSync {
		head += ", in sync"
	}
	out := []string{head}
	if st.Error != "" {
		out = append(out, "sync error: "+st.Error)
	}
	if !perShard {
		return out
	}
	out = append(out, fmt.Sprintf("  %-28s %-6s %-13s %-19s %-12s %-12s %-22s %8s %10s  %s", "collection", "shard", "phase", "initial sync", "worker A", "worker B",
		"applied (epoch/tick/sub)", "lag s", "lag ticks", "error"))
	for _, sh := range st.Shards {
		errText := sh.Error
		if len(errText) > 60 {
			errText = errText[:60] + "…"
		}
		idx := sh.Shard[strings.LastIndexByte(sh.Shard, '/')+1:]
		a := sh.Target.Applied
		out = append(out, fmt.Sprintf("  %-28s %-6s %-13s %-19s %-12s %-12s %-22s %8.1f %10d  %s", sh.Collection, "#"+idx, sh.Phase, snapshotProgress(sh),
			sh.Source.Worker, sh.Target.Worker, fmt.Sprintf("%d/%d/%d", a.Epoch, a.Tick, a.Sub), sh.LagSeconds, sh.LagTicks, errText))
	}
	return out
}

func (s *devStatus) render(ctx context.Context, w io.Writer, tty bool, stats *workload.Stats, wlErr error,
	replication func(ctx context.Context, perShard bool) []string) {
	cctx, cancel := context.WithTimeout(ctx, 4*time.Second)
	defer cancel()
	a, errA := devstack.CountDocuments(cctx, s.hc, s.eps.A)
	b, errB := devstack.CountDocuments(cctx, s.hc, s.eps.B)
	now := time.Now().Format("15:04:05")
	if !tty {
		line := fmt.Sprintf("%s documents A=%s B=%s", now, countOrErr(a, errA), countOrErr(b, errB))
		if stats != nil {
			line += fmt.Sprintf(" workload ops=%d failed=%d", stats.Ops(), stats.Failed)
		}
		if wlErr != nil {
			line += " workload error: " + wlErr.Error()
		}
		_, _ = fmt.Fprintf(w, "%s; %s\n", line, strings.Join(replication(cctx, false), "; "))
		return
	}
	var sb strings.Builder
	sb.WriteString("\x1b[H\x1b[2J")
	_, _ = fmt.Fprintf(&sb, "dc2dc dev — sync %s — %s — Ctrl-C stops everything\n", s.eps.SyncID, now)
	_, _ = fmt.Fprintf(&sb, "endpoints: %s   logs: %s\n", s.endpointsFile, filepath.Join(s.stateDir, "logs"))
	_, _ = fmt.Fprintf(&sb, "A: %s (kafka %s)   B: %s (kafka %s)   root password %s\n\n",
		strings.Join(s.eps.A.Coordinators, ","), strings.Join(s.eps.A.KafkaBrokers, ","),
		strings.Join(s.eps.B.Coordinators, ","), strings.Join(s.eps.B.KafkaBrokers, ","), s.eps.A.Password)
	switch {
	case stats != nil:
		_, _ = fmt.Fprintf(&sb, "workload: %s\n", stats)
	default:
		sb.WriteString("workload: none\n")
	}
	if wlErr != nil {
		_, _ = fmt.Fprintf(&sb, "workload error: %v\n", wlErr)
	}
	sb.WriteString("\n")
	_, _ = fmt.Fprintf(&sb, "%-32s %12s %12s\n", "documents", "A", "B")
	if errA != nil {
		_, _ = fmt.Fprintf(&sb, "  A: %v\n", errA)
	}
	if errB != nil {
		_, _ = fmt.Fprintf(&sb, "  B: %v\n", errB)
	}
	all := devstack.Counts{}
	for k := range a {
		all[k] = 0
	}
	for k := range b {
		all[k] = 0
	}
	for _, k := range all.Keys() {
		va, vb := "-", "-"
		if n, ok := a[k]; ok {
			va = fmt.Sprint(n)
		}
		if n, ok := b[k]; ok {
			vb = fmt.Sprint(n)
		}
		_, _ = fmt.Fprintf(&sb, "%-32s %12s %12s\n", k, va, vb)
	}
	_, _ = fmt.Fprintf(&sb, "%-32s %12d %12d\n\n", "total", a.Total(), b.Total())
	for _, l := range replication(cctx, true) {
		sb.WriteString(l + "\n")
	}
	_, _ = io.WriteString(w, sb.String())
}

func countOrErr(c devstack.Counts, err error) string {
	if err != nil {
		return "error(" + err.Error() + ")"
	}
	return fmt.Sprint(c.Total())
}

// snapshotProgress is a shard's initial-sync progress bar: documents B
// received of the count A announced for a full snapshot; a revision
// snapshot (only the differences travel) shows what it received.
func snapshotProgress(sh plan.ShardStatus) string {
	t := sh.Target
	if sh.Phase != plan.ShardInitialSync {
		return ""
	}
	if t.SnapshotMode != "full" || t.SnapshotTotal <= 0 {
		if t.SnapshotDocs > 0 {
			return fmt.Sprintf("%d docs", t.SnapshotDocs)
		}
		return ""
	}
	return progressBar(t.SnapshotDocs, t.SnapshotTotal, 12)
}

// progressBar draws done of total in width cells and the percentage.
func progressBar(done, total int64, width int) string {
	frac := min(max(float64(done)/float64(total), 0), 1)
	n := int(frac * float64(width))
	return "[" + strings.Repeat("#", n) + strings.Repeat(".", width-n) + "] " + fmt.Sprintf("%3.0f%%", frac*100)
}
