package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/dc2dc/dc2dc/tests/arangosim"
	"github.com/dc2dc/dc2dc/tests/workload"
)

func TestWorkloadRunAndVerify(t *testing.T) {
	ctx := context.Background()
	var eps []string
	for range 2 {
		c, err := arangosim.Start(ctx, arangosim.Config{JWTSecret: "s3cret"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		eps = append(eps, c.Endpoint())
	}
	exec := func(args ...string) (string, error) {
		root := newRootCmd()
		var out bytes.Buffer
		root.SetOut(&out)
		root.SetErr(&out)
		root.SetArgs(args)
		err := root.ExecuteContext(ctx)
		return out.String(), err
	}
	out, err := exec("workload", "run", "--endpoint", eps[0], "--jwt-secret", "s3cret", "--setup", "--duration", "700ms",
		"--rate", "200", "--accounts", "20", "--databases", "shop", "--mix", "transfer=50,insert=50", "--log.level", "error")
	if err != nil {
		t.Fatalf("run: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if !strings.Contains(lines[0], `"ready":true`) {
		t.Fatalf("first line must be the ready line: %q", lines[0])
	}
	var st workload.Stats
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &st); err != nil || st.Transferred == 0 || st.Inserted == 0 {
		t.Fatalf("stats line %q: %+v %v", lines[len(lines)-1], st, err)
	}

	out, err = exec("workload", "verify", "--a.endpoint", eps[0], "--a.jwt-secret", "s3cret",
		"--b.endpoint", eps[0], "--b.jwt-secret", "s3cret", "--accounts", "20")
	if err != nil || !strings.Contains(out, "OK: B equals A") {
		t.Fatalf("A against A: %v\n%s", err, out)
	}
	out, err = exec("workload", "verify", "--a.endpoint", eps[0], "--a.jwt-secret", "s3cret",
		"--b.endpoint", eps[1], "--b.jwt-secret", "s3cret")
	var ec *exitCodeError
	if !errors.As(err, &ec) || ec.code != 1 || !strings.Contains(out, "DIFFERENT") || !strings.Contains(out, "lost") {
		t.Fatalf("empty B: want exit 1 and the table, got %v\n%s", err, out)
	}
	if _, err := exec("workload", "verify", "--a.endpoint", eps[0]); err == nil || !strings.Contains(err.Error(), "--b.endpoint is required") {
		t.Fatalf("missing --b.endpoint: %v", err)
	}
}
