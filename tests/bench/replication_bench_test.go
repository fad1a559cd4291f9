package bench

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dc2dc/dc2dc/events"
	"github.com/dc2dc/dc2dc/handlers/arango/client"
	"github.com/dc2dc/dc2dc/handlers/control/plan"
	"github.com/dc2dc/dc2dc/tests/harness"
	"github.com/dc2dc/dc2dc/tests/workload"
)

// replKnobs are BenchmarkReplication's settings (environment, see doc.go).
type replKnobs struct {
	writers, batch          int
	volumeMB                int
	loadFor, syncTimeout    time.Duration
	steadyFor, lagFor       time.Duration
	backlogDocs             int
	backlogFor, catchupWait time.Duration
}

func replicationKnobs() replKnobs {
	return replKnobs{
		writers:     envInt("DC2DC_BENCH_WRITERS", 4),
		batch:       envInt("DC2DC_BENCH_BATCH", 100),
		volumeMB:    envInt("DC2DC_BENCH_VOLUME_MB", 100),
		loadFor:     envSeconds("DC2DC_BENCH_LOAD_SECONDS", 60),
		syncTimeout: envSeconds("DC2DC_BENCH_SYNC_TIMEOUT", 240),
		steadyFor:   envSeconds("DC2DC_BENCH_STEADY_SECONDS", 30),
		lagFor:      envSeconds("DC2DC_BENCH_LAG_SECONDS", 30),
		backlogDocs: envInt("DC2DC_BENCH_BACKLOG_DOCS", 200_000),
		backlogFor:  envSeconds("DC2DC_BENCH_BACKLOG_SECONDS", 60),
		catchupWait: envSeconds("DC2DC_BENCH_CATCHUP_TIMEOUT", 240),
	}
}

func met(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}

func mb(docs float64) float64 { return docs * docBytes / 1e6 }

// BenchmarkReplication measures dc2dc as an operator runs it: two
// datacenters of real processes (harness.StartTopology: arangosim clusters
// with 3 and 2 DB-Servers, a `dc2dc kafka` broker each, the mirror, 2
// masters and 2 workers per datacenter), 1 KiB documents in 3 collections
// × 4 shards. In one run, one after the other: A's ingest ceiling before
// any sync, the initial sync of what that wrote, the steady replication
// rate with A written at its maximum, the lag at half of the maximum rate,
// the resume of a shard after kill -9 of its worker (A, then B), master
// failover (A, then B), and the workers' RSS while B catches up with a
// backlog. It writes results/replication.{md,json} and the combined
// results/bench.{md,json} (with the pipeline benchmark's figures, when it
// ran before in the same `make bench`).
func BenchmarkReplication(b *testing.B) {
	if os.Getenv("DC2DC_BENCH_REPLICATION") == "0" {
		b.Skip("DC2DC_BENCH_REPLICATION=0")
	}
	k := replicationKnobs()
	load0 := loadAvg()
	rep := newReport("Replication through masters and workers (processes)", fmt.Sprintf(
		"Two datacenters of real processes on 127.0.0.1 (tests/harness StartTopology: arangosim A with 3 DB-Servers, B with 2, "+
			"one `dc2dc kafka` broker each, the mirror, 2 masters and 2 workers per datacenter, default flags, 12 data partitions), "+
			"all sharing this machine's %d CPUs with the benchmark's own load generator. Data: database %q, %d collections × %d shards "+
			"(replication factor 2), documents of %d bytes of JSON with random padding, inserted in batches of %d by %d concurrent writers "+
			"(tests/bench's loader; the verification workload's bulk mix turns into removals past 2,000 orders per writer, so it "+
			"cannot load a fixed volume; tests/workload.Verify compares A and B key by key at the end). Load average (1 min) at start: %s.",
		runtime.NumCPU(), benchDB, benchCollections, benchShards, docBytes, k.batch, k.writers, load0))
	failed := []string{}
	fail := func(format string, args ...any) {
		msg := fmt.Sprintf(format, args...)
		failed = append(failed, msg)
		b.Log("FAILED: " + msg)
	}
	defer func() {
		rep.verdict("load average (1 min) at start %s, at the end %s", load0, loadAvg())
		path, err := rep.write("replication")
		if err != nil {
			b.Error(err)
			return
		}
		b.Logf("report: %s", path)
		if p, err := writeCombined(rep); err != nil {
			b.Error(err)
		} else {
			b.Logf("combined report: %s", p)
		}
		if len(failed) > 0 {
			b.Errorf("%d steps failed: %v", len(failed), failed)
		}
	}()

	start := time.Now()
	workerArgs := strings.Fields(os.Getenv("DC2DC_BENCH_WORKER_ARGS"))
	if len(workerArgs) > 0 {
		rep.Method += fmt.Sprintf(" Workers run with %q (DC2DC_BENCH_WORKER_ARGS).", workerArgs)
	}
	top := harness.StartTopology(b, harness.TopologyConfig{SyncID: benchSyncID, WorkerArgs: workerArgs})
	b.Logf("topology up in %v", time.Since(start).Round(time.Millisecond))
	A, B := top.A, top.B
	ca, cb := arangoOf(b, A), arangoOf(b, B)
	l := newLoader(b, ca, k.writers, k.batch)
	shards := benchCollections * benchShards
	bg := context.Background()

	// 1. A's ingest ceiling, no sync configured: the load that is then
	// synchronised.
	volumeDocs := int64(k.volumeMB) * 1e6 / docBytes
	ctx, cancel := context.WithTimeout(bg, k.loadFor)
	ingest := l.run(ctx, "init", 0, volumeDocs)
	cancel()
	if ingest.docs == 0 {
		b.Fatalf("A took no documents: %v", ingest.lastErr)
	}
	ceilingA := ingest.rate()
	rep.add("1. A ingest ceiling (no sync)", ceilingA, "docs/s", fmt.Sprintf("%d documents in %.1f s, %d writers × batches of %d, as fast as A answers; %d failed batches",
		ingest.docs, ingest.elapsed.Seconds(), k.writers, k.batch, ingest.errors))
	rep.add("1. A ingest ceiling (no sync)", mb(ceilingA), "MB/s", "")
	countA, err := countDocs(bg, ca)
	if err != nil {
		b.Fatalf("count A: %v", err)
	}

	// 2. Initial sync of that volume: configure sync → every shard running.
	rssA := sampleRSS(A.Workers)
	B.MustCLI(b, 2*time.Minute, "configure", "sync", "--sync-id", benchSyncID, "--source.dc", "A", "--data-partitions", "12", "--output", "json")
	syncTook, ok := waitStatus(b, B, k.syncTimeout, "initial sync", func(s plan.SyncStatus) bool { return allRunning(s, shards) })
	maxRSSA, perA := rssA.end()
	if ok {
		rate := float64(countA) / syncTook.Seconds()
		rep.add("2. initial sync", mb(rate), "MB/s", fmt.Sprintf("%d documents (%.0f MB) from configure sync to every one of %d shards running in B's status: %.1f s",
			countA, mb(float64(countA)), shards, syncTook.Seconds()))
		rep.add("2. initial sync", rate, "docs/s", "")
	} else {
		fail("initial sync: not every shard running within %v", k.syncTimeout)
	}
	rep.add("2. A workers' RSS during the initial sync (max)", maxRSSA, "MiB", perA+"; VmRSS every 250 ms")
	check, identical := checkSync(b, B, time.Minute)
	rep.add("2. check sync after the initial sync", float64(len(check.Shards)), "shards", fmt.Sprintf("identical: %v", identical))
	if !identical {
		fail("check sync after the initial sync: %+v", check)
	}

	// 3. Steady replication: A written at its maximum while replicating; B's
	// applied rate (documents in B) over the window after a warm-up, first
	// with every process on every CPU, then as two datacenters (each its own
	// CPUs).
	ceilingK, ceilingNote := pipelineCeiling()
	st := steadyWindow(b, top, l, ca, cb, "steady", k.steadyFor)
	rateA, rateB := st.rateA, st.rateB
	rep.add("3. A ingest rate while replicating", rateA, "docs/s", fmt.Sprintf("documents counted in A over a %.0f s window after a %v warm-up; loader wrote %d (%d failed batches)", st.window, steadyWarm, st.load.docs, st.load.errors))
	rep.add("3. steady replication rate (B applied)", rateB, "docs/s", "documents counted in B over the same window")
	rep.add("3. steady replication rate (B applied)", mb(rateB), "MB/s", "")
	rep.add("3. CPU busy during the steady window", st.cores, "cores", fmt.Sprintf("of %d; per process group (share of one core, /proc/<pid>/stat user+system): %s", runtime.NumCPU(), st.split))
	rep.add("3. CPU per replicated document", st.usPerDoc, "µs", "all processes' CPU in the window / documents B applied; per group: "+st.perDoc)
	rep.add("3. replication / A ingest while replicating", rateB/rateA, "ratio", "target ≥ 1 (replication keeps up with the source)")
	rep.add("3. replication / A ingest ceiling (1)", rateB/ceilingA, "ratio", "")
	if ceilingK > 0 {
		rep.add("3. replication / Kafka transport ceiling", rateB/ceilingK, "ratio", fmt.Sprintf("ceiling %.0f records/s from %s; target ≥ 0.5", ceilingK, ceilingNote))
	} else {
		rep.add("3. replication / Kafka transport ceiling", 0, "ratio", "not measured: "+ceilingNote)
	}
	rep.verdict("replication rate ≥ source ingest rate, all processes on all CPUs: %s (B %.0f docs/s vs A %.0f docs/s in the same window; A alone %.0f docs/s)", met(rateB >= 0.95*rateA), rateB, rateA, ceilingA)
	if ceilingK > 0 {
		// What half the ceiling leaves per document on this host's cores,
		// against what the database and the load alone spend on one.
		budget := float64(runtime.NumCPU()) / (0.5 * ceilingK) * 1e6
		rep.add("3. CPU budget per document at 0.5 × Kafka ceiling", budget, "µs", fmt.Sprintf("%d CPUs / (0.5 × %.0f records/s), for every process of both datacenters; of the measured %.1f µs per document, both arangosims and the loader alone took %.1f, dc2dc's processes (workers, mirror, masters, Kafka brokers) %.1f",
			runtime.NumCPU(), ceilingK, st.usPerDoc, st.outsideUs, st.usPerDoc-st.outsideUs))
		reach := ""
		if st.outsideUs > budget {
			reach = fmt.Sprintf("; not reachable on this host: at half the ceiling its %d CPUs leave %.1f µs per document for every process, and the two arangosims and the loader alone take %.1f", runtime.NumCPU(), budget, st.outsideUs)
		}
		rep.verdict("replication rate ≥ 0.5 × Kafka ceiling: %s (%.2f; the ceiling is sarama alone against one in-process broker, the replication rate shares the cores with both clusters, both brokers, the mirror, the masters, the workers and the loader: see the CPU split; A alone ingests %.2f of it%s)", met(rateB >= 0.5*ceilingK), rateB/ceilingK, ceilingA/ceilingK, reach)
	}
	// Let B drain before the next phase.
	if _, ok := waitStatus(b, B, 3*time.Minute, "drain after the steady phase", func(s plan.SyncStatus) bool { return s.InSync }); !ok {
		fail("B did not drain within 3 min after the steady phase")
	}
	if pin, split, err := pinDatacenters(top); err != nil {
		rep.add("3b. two datacenters: replication / A ingest", 0, "ratio", "not measured: "+err.Error())
	} else {
		st2 := steadyWindow(b, top, l, ca, cb, "steady2dc", k.steadyFor)
		if err := pin.unpin(); err != nil {
			fail("unpin: %v", err)
		}
		rep.add("3b. two datacenters: A ingest rate while replicating", st2.rateA, "docs/s", fmt.Sprintf("as 3, each datacenter's processes pinned to its own CPUs (taskset -a -p): %s; loader wrote %d (%d failed batches)", split, st2.load.docs, st2.load.errors))
		rep.add("3b. two datacenters: steady replication rate (B applied)", st2.rateB, "docs/s", "")
		rep.add("3b. two datacenters: CPU per replicated document", st2.usPerDoc, "µs", "per group: "+st2.perDoc)
		rep.add("3b. two datacenters: replication / A ingest", st2.rateB/st2.rateA, "ratio", "target ≥ 1")
		rep.verdict("replication rate ≥ source ingest rate, two datacenters (each its own CPUs): %s (B %.0f docs/s vs A %.0f docs/s)", met(st2.rateB >= 0.95*st2.rateA), st2.rateB, st2.rateA)
		if _, ok := waitStatus(b, B, 3*time.Minute, "drain after the two-datacenter phase", func(s plan.SyncStatus) bool { return s.InSync }); !ok {
			fail("B did not drain within 3 min after the two-datacenter phase")
		}
	}

	// 4. Lag at half of the maximum rate (the smaller of A's ceiling and B's
	// steady rate), measured by probe documents.
	half := 0.5 * min(ceilingA, max(rateB, 1))
	ctx, cancel = context.WithTimeout(bg, k.lagFor)
	halfDone := make(chan loadResult, 1)
	go func() { halfDone <- l.run(ctx, "half", half, 0) }()
	var statusLags []float64
	statusDone := make(chan struct{})
	go func() {
		defer close(statusDone)
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		warmUntil := time.Now().Add(3 * time.Second) // what the steady phase left in the reports
		for ctx.Err() == nil {
			if s, err := syncStatus(B); err == nil && time.Now().After(warmUntil) {
				statusLags = append(statusLags, s.MaxLagSeconds)
			}
			select {
			case <-ctx.Done():
			case <-t.C:
			}
		}
	}()
	var slowProbes atomic.Int64
	lags, missed, err := probeLags(ctx, ca, cb, 200*time.Millisecond, 10*time.Millisecond, 30*time.Second, func(key string, written time.Time, lag time.Duration) {
		slowProbes.Add(1)
		b.Logf("lag probe %s written at %s took %v", key, written.UTC().Format("15:04:05.000"), lag.Round(time.Millisecond))
	})
	cancel()
	halfRes := <-halfDone
	<-statusDone
	if err != nil {
		fail("lag probes: %v", err)
	}
	slices.Sort(lags)
	p50, p99 := percentile(lags, .5), percentile(lags, .99)
	rep.add("4. offered rate at half load", halfRes.rate(), "docs/s", fmt.Sprintf("target %.0f docs/s = half of min(A ceiling, B steady rate) for %v", half, k.lagFor))
	rep.add("4. lag p50 at half load", float64(p50.Microseconds())/1000, "ms", fmt.Sprintf("%d probe documents (one every 200 ms, each its own insert into A): time from A's acknowledgement to the first read in B that finds it, B polled every 10 ms; %d missed (not in B within 30 s); %d over 1 s (logged with the time A acknowledged them)", len(lags), missed, slowProbes.Load()))
	rep.add("4. lag p99 at half load", float64(p99.Microseconds())/1000, "ms", "target ≤ 1000 ms")
	slices.Sort(statusLags)
	if len(statusLags) > 0 {
		rep.add("4. status maxLagSeconds p50 / p99 at half load", statusLags[len(statusLags)/2]*1000, "ms",
			fmt.Sprintf("p99 %.0f ms; B's get status sampled every 250 ms after a 3 s warm-up (%d samples): the largest per-shard now − SentAt at the last apply, as the workers report it (per second)", statusLags[int(.99*float64(len(statusLags)-1))]*1000, len(statusLags)))
	}
	rep.verdict("lag p99 ≤ 1 s at half load: %s (p99 %v, p50 %v over %d probes, %d missed)", met(len(lags) > 0 && missed == 0 && p99 <= time.Second), p99.Round(time.Millisecond), p50.Round(time.Millisecond), len(lags), missed)

	// 5. Resume after kill -9 of the worker holding a shard: A quiet and in
	// sync, then the kill, then writes at half load; the time until B's
	// applied position of that shard moves by data or a new epoch (not a
	// heartbeat's sub).
	for _, dc := range []*harness.DC{A, B} {
		for _, restart := range []bool{false, true} {
			how := "stays down"
			if restart {
				how = "restarted at once"
			}
			name := fmt.Sprintf("5. shard resume after kill -9 of its worker in %s, %s", dc.Name, how)
			secs, note, err := resumeAfterKill(b, dc, B, l, half, restart)
			if err != nil {
				fail("resume after a worker kill in %s (%s): %v", dc.Name, how, err)
				rep.add(name, 0, "s", "not measured: "+err.Error())
				continue
			}
			if dc == B {
				note += "; B's partitions move with the Kafka consumer group, after the worker's session timeout (--kafka.session-timeout, default 10 s)"
			}
			rep.add(name, secs, "s", note+"; target ≤ 10 s")
			rep.verdict("shard resumes ≤ 10 s after a worker kill in %s (%s): %s (%.1f s)", dc.Name, how, met(secs <= 10), secs)
		}
	}

	// 6. Master failover: kill -9 of the leader; seconds until a new leader
	// answers get status.
	for _, dc := range []*harness.DC{A, B} {
		secs, note, err := failover(b, dc)
		if err != nil {
			fail("master failover in %s: %v", dc.Name, err)
			rep.add(fmt.Sprintf("6. master failover in %s", dc.Name), 0, "s", "not measured: "+err.Error())
			continue
		}
		rep.add(fmt.Sprintf("6. master failover in %s", dc.Name), secs, "s", note+"; target ≤ 10 s")
		rep.verdict("master failover ≤ 10 s in %s: %s (%.1f s)", dc.Name, met(secs <= 10), secs)
	}

	// 7. Worker RSS with a backlog: B's workers stopped while A is written,
	// then started; VmRSS sampled during the catch-up. Twice, with a
	// quarter of the backlog and with all of it: bounded means the larger
	// backlog does not make the workers larger.
	if _, ok := waitStatus(b, B, 2*time.Minute, "in sync before the backlog", func(s plan.SyncStatus) bool { return s.InSync }); !ok {
		fail("not in sync before the backlog phase")
	}
	base := sampleRSS(B.Workers)
	tick := time.NewTimer(time.Second)
	<-tick.C
	baseRSS, basePer := base.end()
	rep.add("7. B workers' RSS while tailing before (max)", baseRSS, "MiB", basePer)
	var rss [2]float64
	var backlogMB [2]float64
	for i, docs := range []int{k.backlogDocs / 4, k.backlogDocs} {
		bl, err := backlogRun(b, A, B, l, ca, cb, fmt.Sprintf("backlog%d", i), docs, k.backlogFor, k.catchupWait)
		name := fmt.Sprintf("7. backlog of %d documents", docs)
		if err != nil {
			fail("%s: %v", name, err)
			continue
		}
		rss[i], backlogMB[i] = bl.maxRSS, mb(float64(bl.docs))
		rep.add(name+": built with B's workers stopped", float64(bl.docs), "docs", fmt.Sprintf("%.0f MB written in %.1f s (%.0f docs/s, %d failed batches)", backlogMB[i], bl.load.elapsed.Seconds(), bl.load.rate(), bl.load.errors))
		rep.add(name+": catch-up", float64(bl.docs)/bl.catchup.Seconds(), "docs/s", fmt.Sprintf("from the workers' restart until B holds every document of A: %.1f s", bl.catchup.Seconds()))
		rep.add(name+": B workers' RSS during the catch-up (max)", bl.maxRSS, "MiB", bl.per+"; VmRSS every 250 ms")
		rep.add(name+": A workers' RSS while it was written (max)", bl.maxRSSA, "MiB", bl.perA)
	}
	rep.verdict("worker memory bounded whatever the backlog: %s (B's workers peaked at %.0f MiB catching up with %.0f MB and at %.0f MiB with %.0f MB, %.0f MiB while tailing; bounded = four times the backlog takes at most 1.25× + 32 MiB)",
		met(rss[0] > 0 && rss[1] > 0 && rss[1] <= 1.25*rss[0]+32), rss[1], backlogMB[1], rss[0], backlogMB[0], baseRSS)

	// The end: A quiet, B in sync, check sync and the key-by-key comparison.
	if _, ok := waitStatus(b, B, 2*time.Minute, "in sync at the end", func(s plan.SyncStatus) bool { return s.InSync }); !ok {
		fail("not in sync at the end")
	}
	check, identical = checkSync(b, B, time.Minute)
	if !identical {
		fail("check sync at the end: %+v", check)
	}
	vctx, vcancel := context.WithTimeout(bg, 3*time.Minute)
	vr, err := workload.Verify(vctx, clusterOf(A), clusterOf(B), workload.VerifyOptions{Databases: []string{benchDB}})
	vcancel()
	switch {
	case err != nil:
		fail("workload.Verify: %v", err)
	case !vr.OK():
		fail("workload.Verify: %s", vr)
	}
	verdict := "identical"
	if err != nil || !vr.OK() || !identical {
		verdict = "DIFFERENT"
	}
	docsA := int64(0)
	if vr != nil {
		docsA = vr.DocsA
	}
	rep.add("end: A and B compared", float64(docsA), "docs", fmt.Sprintf("%s: check sync (%d shards, counts and revision-tree hashes) and tests/workload.Verify key by key (_rev, content hash)", verdict, len(check.Shards)))
	rep.add("whole benchmark", time.Since(start).Seconds(), "s", "")
}

func clusterOf(dc *harness.DC) workload.Cluster {
	return workload.Cluster{Endpoints: dc.Coordinators, Auth: workload.Auth{JWTSecret: dc.JWTSecret}, RequestTimeout: 30 * time.Second}
}

// resumeAfterKill waits until B is in sync with A quiet, picks a shard and
// the worker of dc that holds it (A: its send task; B: its partition),
// kills that worker with SIGKILL (restarting it at once in the
// background), starts writes at rate documents/s, and returns the seconds
// from the kill until B's applied position of the shard moves by data or a
// new epoch.
func resumeAfterKill(b *testing.B, dc, target *harness.DC, l *loader, rate float64, restart bool) (float64, string, error) {
	b.Helper()
	if _, ok := waitStatus(b, target, 2*time.Minute, "in sync before the kill in "+dc.Name, func(s plan.SyncStatus) bool { return s.InSync }); !ok {
		return 0, "", fmt.Errorf("B not in sync with A quiet within 2 min")
	}
	own, err := syncStatus(dc)
	if err != nil {
		return 0, "", err
	}
	st, err := syncStatus(target)
	if err != nil {
		return 0, "", err
	}
	var (
		shard  string
		worker *harness.Member
		p0     events.Position
	)
	for _, sh := range own.Shards {
		id := sh.Target.Worker
		if dc.Name == "A" {
			id = sh.Source.Worker
		}
		inB, found := shardOf(st, sh.Shard)
		for _, w := range dc.Workers {
			if found && w.ID == id && w.Running() {
				shard, worker, p0 = sh.Shard, w, inB.Target.Applied
			}
		}
		if worker != nil {
			break
		}
	}
	if worker == nil {
		return 0, "", fmt.Errorf("no running worker of %s named in its status: %s", dc.Name, summary(own))
	}
	t0 := time.Now()
	worker.Kill9()
	restarted := make(chan error, 1)
	if restart {
		go func() { restarted <- worker.RestartWait(time.Minute) }()
	}
	ctx, cancel := context.WithCancel(context.Background())
	loadDone := make(chan loadResult, 1)
	go func() { loadDone <- l.run(ctx, fmt.Sprintf("kill%s-%v", dc.Name, restart), rate, 0) }() // a new prefix per run: keys must not repeat
	var p events.Position
	_, ok := waitStatus(b, target, time.Minute, "shard "+shard+" after the kill in "+dc.Name, func(s plan.SyncStatus) bool {
		sh, found := shardOf(s, shard)
		p = sh.Target.Applied
		return found && moved(p0, p)
	})
	took := time.Since(t0)
	cancel()
	<-loadDone
	if !restart {
		go func() { restarted <- worker.RestartWait(time.Minute) }()
	}
	rerr := <-restarted
	if !ok {
		return 0, "", fmt.Errorf("shard %s: applied position still %v a minute after kill -9 of %s", shard, p0, worker.ID)
	}
	if rerr != nil {
		b.Logf("restart %s: %v", worker.ID, rerr)
	}
	how := "restarted once the shard moved on"
	if restart {
		how = "restarted at once"
	}
	note := fmt.Sprintf("shard %s, worker %s killed (%s); writes at %.0f docs/s from the kill on; applied %v → %v; "+
		"B's status polled every 250 ms (workers report every second)", shard, worker.ID, how, rate, p0, p)
	return took.Seconds(), note, nil
}

// failover kills the leader master of dc and returns the seconds until a
// new leader answers get status (forwarded through any master); the old
// one is restarted afterwards.
func failover(b *testing.B, dc *harness.DC) (float64, string, error) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	old, epoch, err := dc.Leader(ctx)
	cancel()
	if err != nil {
		return 0, "", err
	}
	t0 := time.Now()
	old.Kill9()
	var leader string
	tk := time.NewTicker(100 * time.Millisecond)
	defer tk.Stop()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		st, err := dc.Status(ctx)
		cancel()
		if err == nil && st.Leader != "" && st.Leader != old.ID {
			leader = st.Leader
			break
		}
		if time.Since(t0) > time.Minute {
			_ = old.RestartWait(time.Minute)
			return 0, "", fmt.Errorf("no new leader answers get status a minute after kill -9 of %s", old.ID)
		}
		<-tk.C
	}
	took := time.Since(t0)
	if err := old.RestartWait(time.Minute); err != nil {
		b.Logf("restart %s: %v", old.ID, err)
	}
	return took.Seconds(), fmt.Sprintf("kill -9 of %s (epoch %d); %s answered GET /_api/status (polled every 100 ms); default election lease", old.ID, epoch, leader), nil
}

// backlog is one backlogRun.
type backlog struct {
	docs            int64
	load            loadResult
	catchup         time.Duration
	maxRSS, maxRSSA float64
	per, perA       string
}

// backlogRun stops B's workers (SIGTERM), writes docs documents into A at
// its maximum (bounded by loadFor), starts the workers again and samples
// their VmRSS until B holds every document of A (bounded by catchupWait).
func backlogRun(b *testing.B, dcA, dcB *harness.DC, l *loader, ca, cb *client.Client, prefix string, docs int, loadFor, catchupWait time.Duration) (backlog, error) {
	b.Helper()
	bg := context.Background()
	for _, w := range dcB.Workers {
		if err := w.Stop(15 * time.Second); err != nil {
			b.Logf("stop %s: %v", w.ID, err)
		}
	}
	rssA := sampleRSS(dcA.Workers)
	ctx, cancel := context.WithTimeout(bg, loadFor)
	var bl backlog
	bl.load = l.run(ctx, prefix, 0, int64(docs))
	cancel()
	bl.maxRSSA, bl.perA = rssA.end()
	countA, err := countDocs(bg, ca)
	if err != nil {
		return bl, fmt.Errorf("count A: %w", err)
	}
	countB0, err := countDocs(bg, cb)
	if err != nil {
		return bl, fmt.Errorf("count B: %w", err)
	}
	bl.docs = countA - countB0
	t0 := time.Now()
	for _, w := range dcB.Workers {
		if err := w.RestartWait(time.Minute); err != nil {
			return bl, fmt.Errorf("restart %s: %w", w.ID, err)
		}
	}
	rssB := sampleRSS(dcB.Workers)
	poll := time.NewTicker(time.Second)
	defer poll.Stop()
	for time.Since(t0) < catchupWait {
		if n, err := countDocs(bg, cb); err == nil && n >= countA {
			bl.catchup = time.Since(t0)
			bl.maxRSS, bl.per = rssB.end()
			return bl, nil
		}
		<-poll.C
	}
	bl.maxRSS, bl.per = rssB.end()
	return bl, fmt.Errorf("B did not catch up with a backlog of %d documents within %v", bl.docs, catchupWait)
}
