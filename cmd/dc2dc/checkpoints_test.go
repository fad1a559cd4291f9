package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dc2dc/dc2dc/store"
)

var checkpointsAt = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// seedCheckpoints writes a small store: two syncs, source and applied
// positions, and metadata.
func seedCheckpoints(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "checkpoints")
	s, err := store.Open(store.Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	err = s.PutMany(
		store.SourcePosition{Sync: "sync-a", Shard: "shop/1001/0", Epoch: 2, Leader: "PRMR-1", Tick: 5000,
			Phase: store.PhaseTailing, UpdatedAt: checkpointsAt},
		store.SourcePosition{Sync: "sync-a", Shard: "shop/1001/1", Epoch: 1, Leader: "PRMR-2", Tick: 70, Sub: 3,
			SnapshotTick: 70, LastScanned: 12, Phase: store.PhaseInitialSync, UpdatedAt: checkpointsAt},
		store.AppliedPosition{Sync: "sync-a", Shard: "shop/1001/0", Epoch: 2, Tick: 4900, Partition: 3, Offset: 812,
			Phase: store.PhaseTailing, UpdatedAt: checkpointsAt},
		store.SourcePosition{Sync: "sync-b", Shard: "shop/1001/0", Epoch: 1, Tick: 9, UpdatedAt: checkpointsAt},
		store.SyncMeta{Sync: "sync-a", LeaderEpoch: 4, Owner: "worker-1", UpdatedAt: checkpointsAt},
	)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

// runDC2DC runs the command tree in this process.
func runDC2DC(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	root := newRootCmd()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(args)
	err = root.Execute()
	return out.String(), errOut.String(), err
}

func TestCheckpointsList(t *testing.T) {
	dir := seedCheckpoints(t)
	out, _, err := runDC2DC(t, "checkpoints", "list", "--dir", dir)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 6 || !strings.HasPrefix(lines[0], "KIND") {
		t.Fatalf("want a header and 5 rows, got:\n%s", out)
	}
	for _, want := range []string{
		"applied  sync-a  shop/1001/0  2      4900  tailing",
		"partition=3 offset=812",
		"meta     sync-a  -            4      -     -",
		"owner=worker-1",
		"source   sync-a  shop/1001/1  1      70    initial-sync",
		"sub=3 leader=PRMR-2 snapshot=70 scanned=12",
		"source   sync-b  shop/1001/0  1      9",
		"2026-11-25T12:00:00Z",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("list output lacks %q:\n%s", want, out)
		}
	}

	out, _, err = runDC2DC(t, "checkpoints", "list", "--dir", dir, "--sync", "sync-a", "--kind", "source", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var views []checkpointView
	if err := json.Unmarshal([]byte(out), &views); err != nil {
		t.Fatalf("--json output is not JSON: %v\n%s", err, out)
	}
	if len(views) != 2 || views[0].Shard != "shop/1001/0" || views[0].Tick != 5000 || views[1].LastScanned != 12 || views[1].Sub != 3 {
		t.Fatalf("unexpected JSON: %+v", views)
	}

	if _, _, err := runDC2DC(t, "checkpoints", "list", "--dir", dir, "--kind", "nope"); err == nil ||
		!strings.Contains(err.Error(), "use source, applied or meta") {
		t.Fatalf("bad --kind: %v", err)
	}
	if _, _, err := runDC2DC(t, "checkpoints", "list"); err == nil || !strings.Contains(err.Error(), "--dir is not set") {
		t.Fatalf("missing --dir: %v", err)
	}
	missing := filepath.Join(t.TempDir(), "none")
	if _, _, err := runDC2DC(t, "checkpoints", "list", "--dir", missing); !errors.Is(err, store.ErrNotExist) {
		t.Fatalf("missing store: %v", err)
	}
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Fatalf("list created a store: %v", err)
	}
}

func TestCheckpointsShow(t *testing.T) {
	dir := seedCheckpoints(t)
	out, _, err := runDC2DC(t, "checkpoints", "show", "--dir", dir, "--sync", "sync-a", "shop/1001/0")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"kind:  source", "tick:  5000", "leader: PRMR-1", "kind:  applied", "offset: 812"} {
		if !strings.Contains(strings.Join(strings.Fields(out), " "), strings.Join(strings.Fields(want), " ")) {
			t.Errorf("show output lacks %q:\n%s", want, out)
		}
	}
	out, _, err = runDC2DC(t, "checkpoints", "show", "--dir", dir, "shop/1001/0", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var views []checkpointView
	if err := json.Unmarshal([]byte(out), &views); err != nil || len(views) != 3 {
		t.Fatalf("show --json across syncs: %v %+v", err, views)
	}
	if _, _, err := runDC2DC(t, "checkpoints", "show", "--dir", dir, "shop/9/9"); err == nil ||
		!strings.Contains(err.Error(), `no checkpoint for shard "shop/9/9"`) {
		t.Fatalf("show of a missing shard: %v", err)
	}
}

func TestCheckpointsReset(t *testing.T) {
	dir := seedCheckpoints(t)
	// In two syncs: --sync is required.
	_, _, err := runDC2DC(t, "checkpoints", "reset", "--dir", dir, "shop/1001/0", "--yes")
	if err == nil || !strings.Contains(err.Error(), "choose one with --sync") {
		t.Fatalf("ambiguous reset: %v", err)
	}
	// Without --yes nothing is deleted and the exit code says so.
	out, _, err := runDC2DC(t, "checkpoints", "reset", "--dir", dir, "--sync", "sync-a", "shop/1001/0")
	var ec *exitCodeError
	if !errors.As(err, &ec) || ec.code != exitCheckpointsNotConfirmed || !strings.Contains(out, "would delete") {
		t.Fatalf("reset without --yes: %v\n%s", err, out)
	}
	out, _, err = runDC2DC(t, "checkpoints", "list", "--dir", dir, "--sync", "sync-a")
	if err != nil || strings.Count(out, "shop/1001/0") != 2 {
		t.Fatalf("reset without --yes deleted something: %v\n%s", err, out)
	}
	out, _, err = runDC2DC(t, "checkpoints", "reset", "--dir", dir, "--sync", "sync-a", "shop/1001/0", "--yes")
	if err != nil || !strings.Contains(out, "deleted 2 checkpoint(s)") {
		t.Fatalf("reset --yes: %v\n%s", err, out)
	}
	out, _, err = runDC2DC(t, "checkpoints", "list", "--dir", dir)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, "sync-a  shop/1001/0") || !strings.Contains(out, "sync-b  shop/1001/0") || !strings.Contains(out, "shop/1001/1") {
		t.Fatalf("reset deleted the wrong records:\n%s", out)
	}
	out, _, err = runDC2DC(t, "checkpoints", "reset", "--dir", dir, "--sync", "sync-a", "shop/1001/0", "--yes")
	if err != nil || !strings.Contains(out, "nothing to reset") {
		t.Fatalf("second reset: %v\n%s", err, out)
	}
}

// TestCheckpointsBinaryEndToEnd builds the dc2dc binary (or uses DC2DC_BIN),
// lists a store written by the store package, and checks the message and
// exit code while this test process holds the store open, as a running
// worker would.
func TestCheckpointsBinaryEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the dc2dc binary")
	}
	bin := os.Getenv("DC2DC_BIN")
	if bin == "" {
		bin = filepath.Join(t.TempDir(), "dc2dc")
		build := exec.Command("go", "build", "-o", bin, ".")
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("go build: %v\n%s", err, out)
		}
	}
	dir := seedCheckpoints(t)

	out, err := exec.Command(bin, "checkpoints", "list", "--dir", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("dc2dc checkpoints list: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "source   sync-a  shop/1001/0  2      5000  tailing") {
		t.Fatalf("unexpected list output:\n%s", out)
	}

	s, err := store.Open(store.Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, args := range [][]string{
		{"checkpoints", "list", "--dir", dir},
		{"checkpoints", "reset", "--dir", dir, "--sync", "sync-b", "shop/1001/0", "--yes"},
	} {
		cmd := exec.Command(bin, args...)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err = cmd.Run()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != exitCheckpointsInUse {
			t.Fatalf("%v while the store is held: want exit code %d, got %v\n%s%s", args, exitCheckpointsInUse, err, stdout.String(), stderr.String())
		}
		msg := stderr.String()
		for _, want := range []string{
			"is in use by another dc2dc process (pid " + strconv.Itoa(os.Getpid()) + ")",
			"stop the dc2dc worker that owns it (pid " + strconv.Itoa(os.Getpid()) + ")",
		} {
			if !strings.Contains(msg, want) {
				t.Errorf("%v: stderr lacks %q:\n%s", args, want, msg)
			}
		}
	}
	if _, err := s.Source("sync-b", "shop/1001/0"); err != nil {
		t.Fatalf("the refused reset changed the store: %v", err)
	}
}
