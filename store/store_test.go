package store

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/dc2dc/dc2dc/pipeline/failure"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if dir := os.Getenv("DC2DC_STORE_HOLD"); dir != "" {
		os.Exit(holdStore(dir))
	}
	goleak.VerifyTestMain(m)
}

// holdStore is the body of the helper process of TestLockedByAnotherProcess:
// it opens the store, says "ready" and holds it until stdin closes.
func holdStore(dir string) int {
	s, err := Open(Config{Dir: dir})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("ready")
	_, _ = io.Copy(io.Discard, os.Stdin)
	if err := s.Close(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

var testNow = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func openTest(t testing.TB, cfg Config) *Store {
	t.Helper()
	if cfg.Dir == "" {
		cfg.Dir = t.TempDir()
	}
	if cfg.Now == nil {
		cfg.Now = func() time.Time { return testNow }
	}
	s, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s
}

func src(shard string, epoch, tick uint64) SourcePosition {
	return SourcePosition{Sync: "sync-1", Shard: shard, Epoch: epoch, Leader: "PRMR-1", Tick: tick, Phase: PhaseTailing}
}

func TestPutGetRoundTripAndStamp(t *testing.T) {
	s := openTest(t, Config{})
	for _, r := range sampleRecords() {
		if err := s.Put(r); err != nil {
			t.Fatal(err)
		}
		sync, shard := r.ID()
		got, err := s.Get(r.Kind(), sync, shard)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, r.stamped(testNow)) {
			t.Fatalf("got %+v, want %+v", got, r.stamped(testNow))
		}
	}
	p, err := s.Source("s", "x")
	if err != nil || p.UpdatedAt != testNow {
		t.Fatalf("UpdatedAt not stamped: %+v %v", p, err)
	}
	if _, err := s.Applied("sync-1", "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("want ErrNotFound, got %v", err)
	}
	if m, err := s.Meta("sync-1"); err != nil || m.LeaderEpoch != 9 {
		t.Fatalf("meta %+v %v", m, err)
	}
}

func TestMonotonicityGuard(t *testing.T) {
	s := openTest(t, Config{})
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.Put(src("db/1/0", 2, 100)))
	must(s.Put(src("db/1/0", 2, 100))) // equal: idempotent rewrite
	must(s.Put(src("db/1/0", 2, 150)))
	must(s.Put(src("db/1/0", 3, 5))) // new leader epoch, ticks restart
	sub := src("db/1/0", 3, 5)
	sub.Sub = 2
	must(s.Put(sub)) // later chunk of the same tick
	sub.Sub = 1
	if err := s.Put(sub); !errors.Is(err, ErrRegression) {
		t.Fatalf("lower sub at the same tick: %v", err)
	}
	for _, back := range []SourcePosition{src("db/1/0", 3, 4), src("db/1/0", 2, 1000)} {
		err := s.Put(back)
		var re *RegressionError
		if !errors.As(err, &re) || !errors.Is(err, ErrRegression) {
			t.Fatalf("backwards write %+v: want a *RegressionError, got %v", back, err)
		}
		if o := re.Have.Order(); o.Epoch != 3 || o.Tick != 5 {
			t.Fatalf("RegressionError.Have = %+v", re.Have)
		}
		if !strings.Contains(err.Error(), "use Reset") {
			t.Fatalf("message does not say how to proceed: %v", err)
		}
	}
	if p, _ := s.Source("sync-1", "db/1/0"); p.Epoch != 3 || p.Tick != 5 {
		t.Fatalf("position changed by a refused write: %+v", p)
	}
	// Applied positions and metadata are guarded the same way.
	must(s.Put(AppliedPosition{Sync: "sync-1", Shard: "db/1/0", Epoch: 1, Tick: 10, Offset: 5}))
	if err := s.Put(AppliedPosition{Sync: "sync-1", Shard: "db/1/0", Epoch: 1, Tick: 9, Offset: 6}); !errors.Is(err, ErrRegression) {
		t.Fatalf("applied regression: %v", err)
	}
	must(s.Put(SyncMeta{Sync: "sync-1", LeaderEpoch: 4}))
	if err := s.Put(SyncMeta{Sync: "sync-1", LeaderEpoch: 3}); !errors.Is(err, ErrRegression) {
		t.Fatalf("meta regression: %v", err)
	}
	// Reset moves backwards on purpose, and says so in the log.
	var logs bytes.Buffer
	s.cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	must(s.Reset(src("db/1/0", 1, 1)))
	if p, _ := s.Source("sync-1", "db/1/0"); p.Epoch != 1 || p.Tick != 1 {
		t.Fatalf("Reset did not write: %+v", p)
	}
	if !strings.Contains(logs.String(), "checkpoint reset backwards") {
		t.Fatalf("Reset was not logged: %q", logs.String())
	}
	// The guard now compares with the reset position (not a cached older one).
	must(s.Put(src("db/1/0", 1, 2)))
	if err := s.Put(src("db/1/0", 1, 0)); !errors.Is(err, ErrRegression) {
		t.Fatalf("regression after Reset: %v", err)
	}
}

func TestPutManyIsAtomic(t *testing.T) {
	s := openTest(t, Config{})
	if err := s.PutMany(src("db/1/0", 1, 10), src("db/1/1", 1, 10)); err != nil {
		t.Fatal(err)
	}
	// One regression in the batch: nothing of it is written.
	err := s.PutMany(src("db/1/0", 1, 20), src("db/1/1", 1, 9), src("db/1/2", 1, 1))
	if !errors.Is(err, ErrRegression) {
		t.Fatalf("want ErrRegression, got %v", err)
	}
	if p, _ := s.Source("sync-1", "db/1/0"); p.Tick != 10 {
		t.Fatalf("part of a refused batch was written: %+v", p)
	}
	if _, err := s.Source("sync-1", "db/1/2"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("part of a refused batch was written: %v", err)
	}
	// The same key twice: the later wins and is checked against the earlier.
	if err := s.PutMany(src("db/1/0", 1, 30), src("db/1/0", 1, 40)); err != nil {
		t.Fatal(err)
	}
	if p, _ := s.Source("sync-1", "db/1/0"); p.Tick != 40 {
		t.Fatalf("later record of a batch lost: %+v", p)
	}
	if err := s.PutMany(src("db/1/0", 1, 50), src("db/1/0", 1, 45)); !errors.Is(err, ErrRegression) {
		t.Fatalf("regression inside a batch: %v", err)
	}
	// Invalid records fail the batch before anything is written.
	if err := s.PutMany(src("db/1/0", 1, 60), SourcePosition{Sync: "sync-1"}); !errors.Is(err, ErrInvalidRecord) {
		t.Fatalf("want ErrInvalidRecord, got %v", err)
	}
	if err := s.PutMany(); err != nil {
		t.Fatal(err)
	}
}

func TestListByKindSyncAndPrefix(t *testing.T) {
	s := openTest(t, Config{})
	recs := []Record{
		SourcePosition{Sync: "a", Shard: "db1/10/0", Tick: 1},
		SourcePosition{Sync: "a", Shard: "db1/10/1", Tick: 2},
		SourcePosition{Sync: "a", Shard: "db2/11/0", Tick: 3},
		SourcePosition{Sync: "ab", Shard: "db1/10/0", Tick: 4}, // sync id with "a" as prefix
		AppliedPosition{Sync: "a", Shard: "db1/10/0", Tick: 5},
		SyncMeta{Sync: "a", LeaderEpoch: 1},
		SyncMeta{Sync: "ab", LeaderEpoch: 2},
	}
	if err := s.PutMany(recs...); err != nil {
		t.Fatal(err)
	}
	ticks := func(f Filter) []string {
		t.Helper()
		got, err := s.List(f)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, r := range got {
			sync, shard := r.ID()
			o := r.Order()
			out = append(out, fmt.Sprintf("%s:%s/%s@%d.%d", r.Kind(), sync, shard, o.Epoch, o.Tick))
		}
		return out
	}
	cases := []struct {
		f    Filter
		want []string
	}{
		{Filter{}, []string{"applied:a/db1/10/0@0.5", "meta:a/@1.0", "meta:ab/@2.0",
			"source:a/db1/10/0@0.1", "source:a/db1/10/1@0.2", "source:a/db2/11/0@0.3", "source:ab/db1/10/0@0.4"}},
		{Filter{Kind: KindSource, Sync: "a"}, []string{"source:a/db1/10/0@0.1", "source:a/db1/10/1@0.2", "source:a/db2/11/0@0.3"}},
		{Filter{Kind: KindSource, Sync: "a", ShardPrefix: "db1/"}, []string{"source:a/db1/10/0@0.1", "source:a/db1/10/1@0.2"}},
		{Filter{Kind: KindSource, ShardPrefix: "db1/10/0"}, []string{"source:a/db1/10/0@0.1", "source:ab/db1/10/0@0.4"}},
		{Filter{Sync: "ab"}, []string{"meta:ab/@2.0", "source:ab/db1/10/0@0.4"}},
		{Filter{Sync: "zzz"}, nil},
	}
	for _, c := range cases {
		if got := ticks(c.f); !reflect.DeepEqual(got, c.want) {
			t.Errorf("List(%+v):\n got %q\nwant %q", c.f, got, c.want)
		}
	}
	srcs, err := s.Sources("a")
	if err != nil || len(srcs) != 3 || srcs[2].Shard != "db2/11/0" {
		t.Fatalf("Sources: %+v %v", srcs, err)
	}
	app, err := s.AppliedPositions("")
	if err != nil || len(app) != 1 || app[0].Tick != 5 {
		t.Fatalf("AppliedPositions: %+v %v", app, err)
	}
}

func TestDeleteAndResetShard(t *testing.T) {
	s := openTest(t, Config{})
	if err := s.PutMany(src("db/1/0", 5, 500), AppliedPosition{Sync: "sync-1", Shard: "db/1/0", Epoch: 5, Tick: 400},
		src("db/1/1", 1, 1)); err != nil {
		t.Fatal(err)
	}
	deleted, err := s.ResetShard("sync-1", "db/1/0")
	if err != nil || len(deleted) != 2 {
		t.Fatalf("ResetShard: %v %v", deleted, err)
	}
	if _, err := s.Source("sync-1", "db/1/0"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("source survived ResetShard: %v", err)
	}
	if _, err := s.Applied("sync-1", "db/1/0"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("applied survived ResetShard: %v", err)
	}
	if _, err := s.Source("sync-1", "db/1/1"); err != nil {
		t.Fatalf("ResetShard touched another shard: %v", err)
	}
	// After a reset the shard starts over: a low position is accepted.
	if err := s.Put(src("db/1/0", 1, 1)); err != nil {
		t.Fatal(err)
	}
	if deleted, err := s.ResetShard("sync-1", "db/9/9"); err != nil || len(deleted) != 0 {
		t.Fatalf("ResetShard of a missing shard: %v %v", deleted, err)
	}
	if err := s.Delete(KindSource, "sync-1", "db/1/1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Source("sync-1", "db/1/1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Delete did not delete: %v", err)
	}
	if err := s.Delete(KindSource, "sync-1", "db/1/1"); err != nil {
		t.Fatalf("Delete of a missing record: %v", err)
	}
	if err := s.Delete(KindSource, "", "x"); !errors.Is(err, ErrInvalidRecord) {
		t.Fatalf("Delete with empty sync: %v", err)
	}
}

func TestReopenKeepsCheckpoints(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PutMany(src("db/1/0", 2, 20), SyncMeta{Sync: "sync-1", LeaderEpoch: 7}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := s.Put(src("db/1/0", 3, 1)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Put after Close: %v", err)
	}
	if _, err := s.List(Filter{}); !errors.Is(err, ErrClosed) {
		t.Fatalf("List after Close: %v", err)
	}
	ro := openTest(t, Config{Dir: dir, ReadOnly: true})
	if p, err := ro.Source("sync-1", "db/1/0"); err != nil || p.Tick != 20 {
		t.Fatalf("after reopen: %+v %v", p, err)
	}
	if err := ro.Put(src("db/1/0", 3, 1)); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("Put on read-only store: %v", err)
	}
	if _, err := ro.ResetShard("sync-1", "db/1/0"); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("ResetShard on read-only store: %v", err)
	}
}

func TestOpenErrors(t *testing.T) {
	err := Config{CacheSize: -1, MemTableSize: 1}.Validate()
	for _, want := range []string{"Dir is empty", "CacheSize is -1", "MemTableSize is 1"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate: want %q in %v", want, err)
		}
	}
	if _, err := Open(Config{}); err == nil {
		t.Fatal("Open accepted an empty Dir")
	}
	missing := filepath.Join(t.TempDir(), "nope")
	for _, cfg := range []Config{{Dir: missing, ReadOnly: true}, {Dir: missing, MustExist: true}, {Dir: t.TempDir(), MustExist: true}} {
		if _, err := Open(cfg); !errors.Is(err, ErrNotExist) {
			t.Errorf("Open(%+v): want ErrNotExist, got %v", cfg, err)
		}
	}
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Fatalf("a ReadOnly/MustExist Open created the directory: %v", err)
	}
}

func TestLockedInThisProcess(t *testing.T) {
	s := openTest(t, Config{})
	_, err := Open(Config{Dir: s.Dir()})
	var le *LockedError
	if !errors.As(err, &le) || !le.Self || !errors.Is(err, ErrLocked) {
		t.Fatalf("want a *LockedError for this process, got %v", err)
	}
}

func TestLockedByAnotherProcess(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "DC2DC_STORE_HOLD="+dir)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "ready\n" {
		_ = stdin.Close()
		_ = cmd.Wait()
		t.Fatalf("helper did not open the store: %q %v; stderr: %s", line, err, stderr.String())
	}

	for _, cfg := range []Config{{Dir: dir}, {Dir: dir, ReadOnly: true}} {
		_, err = Open(cfg)
		var le *LockedError
		if !errors.As(err, &le) || !errors.Is(err, ErrLocked) {
			t.Errorf("Open(%+v) while another process holds it: want a *LockedError, got %v", cfg, err)
			continue
		}
		if le.PID != cmd.Process.Pid {
			t.Errorf("LockedError.PID = %d, want the helper's %d", le.PID, cmd.Process.Pid)
		}
		msg := err.Error()
		t.Log(msg)
		for _, want := range []string{"is in use by another dc2dc process (pid", dir, "stop that process"} {
			if !strings.Contains(msg, want) {
				t.Errorf("message %q lacks %q", msg, want)
			}
		}
	}

	_ = stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("helper: %v; stderr: %s", err, stderr.String())
	}
	// Released: now it opens.
	openTest(t, Config{Dir: dir})
}

func TestCorruptStore(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Put(src("db/1/0", 1, 1)); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	manifests, _ := filepath.Glob(filepath.Join(dir, "MANIFEST-*"))
	if len(manifests) == 0 {
		t.Fatal("no MANIFEST in the store")
	}
	for _, m := range manifests {
		if err := os.WriteFile(m, bytes.Repeat([]byte{0xde, 0xad}, 512), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	_, err = Open(Config{Dir: dir})
	t.Log(err)
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("want ErrCorrupt, got %v", err)
	}
	if !strings.Contains(err.Error(), "move the directory aside") {
		t.Fatalf("message does not say what to do: %v", err)
	}
}

func TestNewerFormatIsRefused(t *testing.T) {
	dir := t.TempDir()
	db, err := pebble.Open(dir, &pebble.Options{Logger: pebbleLogger{slog.New(slog.DiscardHandler)}})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Set(formatKey, []byte{storeFormat + 1}, pebble.Sync); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(Config{Dir: dir}); !errors.Is(err, ErrIncompatible) {
		t.Fatalf("want ErrIncompatible, got %v", err)
	}
}

func TestCorruptRecordIsReported(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.db.Set(makeKey(KindSource, "sync-1", "db/1/0"), []byte{9, 9, 9}, pebble.Sync); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Source("sync-1", "db/1/0"); !errors.Is(err, ErrCorruptRecord) {
		t.Fatalf("Get: want ErrCorruptRecord, got %v", err)
	}
	if _, err := s.List(Filter{}); !errors.Is(err, ErrCorruptRecord) {
		t.Fatalf("List: want ErrCorruptRecord, got %v", err)
	}
	// A guarded write over garbage fails rather than guessing.
	if err := s.Put(src("db/1/0", 1, 1)); !errors.Is(err, ErrCorruptRecord) {
		t.Fatalf("Put over garbage: want ErrCorruptRecord, got %v", err)
	}
	// ResetShard clears it.
	if _, err := s.ResetShard("sync-1", "db/1/0"); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(src("db/1/0", 1, 1)); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestConcurrentWritersNeverRegress has several goroutines write increasing
// ticks of the same shards; the stored tick must end at the maximum and each
// refused write must be a genuine regression.
func TestConcurrentWritersNeverRegress(t *testing.T) {
	s := openTest(t, Config{NoSync: true})
	const writers, perWriter = 4, 200
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 1; i <= perWriter; i++ {
				tick := uint64(i*writers + w)
				err := s.PutMany(src("db/1/0", 1, tick), src(fmt.Sprintf("db/1/%d", 1+w%2), 1, tick))
				if err != nil && !errors.Is(err, ErrRegression) {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	p, err := s.Source("sync-1", "db/1/0")
	if err != nil {
		t.Fatal(err)
	}
	if want := uint64(perWriter*writers + writers - 1); p.Tick != want {
		t.Fatalf("final tick %d, want %d", p.Tick, want)
	}
}

func TestExportWhileOpen(t *testing.T) {
	s := openTest(t, Config{NoSync: true}) // Export must flush the WAL even so
	if err := s.PutMany(src("db/1/0", 1, 10), src("db/1/1", 2, 20)); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "copy")
	if err := s.Export(dir); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(src("db/1/0", 1, 11)); err != nil { // the store stays usable
		t.Fatal(err)
	}
	cp := openTest(t, Config{Dir: dir, ReadOnly: true})
	got, err := cp.Sources("sync-1")
	if err != nil || len(got) != 2 || got[0].Tick != 10 || got[1].Tick != 20 {
		t.Fatalf("export: %+v %v", got, err)
	}
	if err := s.Export(dir); err == nil {
		t.Fatal("Export over an existing directory succeeded")
	}
}

func TestGetValidatesIDs(t *testing.T) {
	s := openTest(t, Config{})
	for _, c := range []struct {
		kind        Kind
		sync, shard string
	}{{KindSource, "", "a"}, {KindSource, "s", ""}, {KindApplied, "s\x00", "a"}} {
		if _, err := s.Get(c.kind, c.sync, c.shard); !errors.Is(err, ErrInvalidRecord) {
			t.Errorf("Get(%v, %q, %q): want ErrInvalidRecord, got %v", c.kind, c.sync, c.shard, err)
		}
	}
}

func TestEvents(t *testing.T) {
	var mu sync.Mutex
	var commits []CommitInfo
	var refused []*RegressionError
	s := openTest(t, Config{Events: Events{
		Committed: func(ci CommitInfo) { mu.Lock(); commits = append(commits, ci); mu.Unlock() },
		Refused:   func(re *RegressionError) { mu.Lock(); refused = append(refused, re); mu.Unlock() },
	}})
	if err := s.PutMany(src("db/1/0", 1, 10), src("db/1/1", 1, 10)); err != nil {
		t.Fatal(err)
	}
	_ = s.Put(src("db/1/0", 1, 9))
	if _, err := s.ResetShard("sync-1", "db/1/1"); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(commits) != 2 || commits[0].Records != 2 || !commits[0].Synced || commits[0].Duration <= 0 || commits[1].Records != 1 {
		t.Fatalf("commits: %+v", commits)
	}
	if len(refused) != 1 || refused[0].Want.(SourcePosition).Tick != 9 {
		t.Fatalf("refused: %+v", refused)
	}
}

func TestErrorsAreClassified(t *testing.T) {
	cases := []struct {
		err  error
		code failure.Code
	}{
		{&LockedError{Dir: "/x", PID: 1}, failure.CodeCheckpointLocked},
		{&DecodeError{Key: []byte("k"), Reason: "r"}, failure.CodeCheckpointCorrupt},
		{&RegressionError{Have: src("a", 1, 2), Want: src("a", 1, 1)}, ""},
		{ioError(errors.New("disk full")), failure.CodeCheckpointIO},
		{classifyOpenError("/x", pebble.ErrCorruption), failure.CodeCheckpointCorrupt},
	}
	for _, c := range cases {
		if !failure.IsPermanent(c.err) {
			t.Errorf("%v: class %v, want permanent", c.err, failure.Classify(c.err))
		}
		if got := failure.CodeOf(c.err); got != c.code {
			t.Errorf("%v: code %q, want %q", c.err, got, c.code)
		}
	}
	if err := classifyOpenError("/x", pebble.ErrCorruption); !errors.Is(err, ErrCorrupt) {
		t.Errorf("coded corruption error lost its sentinel: %v", err)
	}
}
