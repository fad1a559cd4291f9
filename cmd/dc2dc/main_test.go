package main

import (
	"bytes"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestVersionCommand(t *testing.T) {
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetArgs([]string{"version"})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "dc2dc ") {
		t.Fatalf("unexpected version output %q", out.String())
	}
}

func TestBadLogLevelIsExplained(t *testing.T) {
	root := newRootCmd()
	root.SetArgs([]string{"--log.level", "loud", "version"})
	err := root.Execute()
	if err == nil || !strings.Contains(err.Error(), "use debug, info, warn or error") {
		t.Fatalf("want an error naming the valid levels, got %v", err)
	}
}
