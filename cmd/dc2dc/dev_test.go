package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/dc2dc/dc2dc/handlers/control/plan"
)

func TestDevOptionsListEveryProblem(t *testing.T) {
	root := newRootCmd()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs([]string{"dev", "--workload", "heavy", "--rate", "0", "--interval", "0s", "--stop-timeout", "0s", "--state-dir", t.TempDir()})
	err := root.Execute()
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"--workload \"heavy\": use demo or none", "--rate 0", "--interval 0s", "--stop-timeout"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	var ec *exitCodeError
	if !errors.As(err, &ec) || ec.code != 2 {
		t.Fatalf("exit code: %#v", err)
	}
}

func TestDevWithoutArangosimSaysHowToBuildIt(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	_, _, err := devBinaries("")
	// The test binary has no arangosim next to it.
	if err == nil || !strings.Contains(err.Error(), "make build") {
		t.Fatalf("devBinaries: %v", err)
	}
}

func TestReplicationLinesWhenOff(t *testing.T) {
	lines := replicationLines(nil, nil, true)
	if len(lines) != 1 || !strings.Contains(lines[0], "replication: off") {
		t.Fatalf("lines = %q", lines)
	}
}

func TestSnapshotProgressBar(t *testing.T) {
	sh := plan.ShardStatus{Phase: plan.ShardInitialSync, Target: plan.ShardReport{SnapshotMode: "full", SnapshotDocs: 50, SnapshotTotal: 200}}
	if got, want := snapshotProgress(sh), "[###.........]  25%"; got != want {
		t.Errorf("full snapshot a quarter done: %q, want %q", got, want)
	}
	sh.Target.SnapshotDocs = 250 // more arrived than announced (writes during the dump)
	if got, want := snapshotProgress(sh), "[############] 100%"; got != want {
		t.Errorf("overfull: %q, want %q", got, want)
	}
	sh.Target.SnapshotMode, sh.Target.SnapshotDocs = "revisions", 7
	if got, want := snapshotProgress(sh), "7 docs"; got != want {
		t.Errorf("revisions: %q, want %q", got, want)
	}
	sh.Phase = plan.ShardRunning
	if got := snapshotProgress(sh); got != "" {
		t.Errorf("running shard: %q, want no bar", got)
	}
}
