package harness

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/dc2dc/dc2dc/handlers/control/plan"
)

// CLIResult is one run of the dc2dc command line.
type CLIResult struct {
	Args           []string
	Stdout, Stderr string
	// Err is nil for exit status 0.
	Err error
}

// ExitCode is the process's exit status (-1 when it did not run or was
// killed by a signal).
func (r CLIResult) ExitCode() int {
	var ee *exec.ExitError
	switch {
	case r.Err == nil:
		return 0
	case errors.As(r.Err, &ee):
		return ee.ExitCode()
	}
	return -1
}

func (r CLIResult) String() string {
	return fmt.Sprintf("dc2dc %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(r.Args, " "), r.Err, r.Stdout, r.Stderr)
}

// CLI runs `dc2dc args...` against this datacenter's masters: the
// environment names every master (DC2DC_MASTER_ENDPOINT) and the admin
// token (DC2DC_AUTH_TOKEN), as an operator's shell would.
func (dc *DC) CLI(ctx context.Context, args ...string) CLIResult {
	env := append(os.Environ(), "DC2DC_MASTER_ENDPOINT="+strings.Join(dc.MasterEndpoints(), ","),
		"DC2DC_AUTH_TOKEN="+TopologyToken)
	cmd := exec.CommandContext(ctx, Binary(dc.top.t, "dc2dc"), args...)
	cmd.Env = env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	return CLIResult{Args: args, Stdout: out.String(), Stderr: errb.String(), Err: err}
}

// MustCLI runs the command line and fails the test unless it exits 0.
// It returns stdout.
func (dc *DC) MustCLI(t testing.TB, timeout time.Duration, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	r := dc.CLI(ctx, args...)
	if r.Err != nil {
		t.Fatalf("datacenter %s: %s", dc.Name, r)
	}
	return r.Stdout
}

// GetJSON asks the datacenter's masters (any of them, forwarding to the
// leader) GET path with the admin token and decodes the JSON answer.
func (dc *DC) GetJSON(ctx context.Context, path string, out any) error {
	var errs []error
	hc := &http.Client{Timeout: 5 * time.Second}
	defer hc.CloseIdleConnections()
	for _, m := range dc.Masters {
		if !m.Running() {
			continue
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.Endpoint+path, nil)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+TopologyToken)
		req.Header.Set("X-Allow-Forward-To-Leader", "true")
		resp, err := hc.Do(req)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		body, err := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if resp.StatusCode != http.StatusOK {
			errs = append(errs, fmt.Errorf("GET %s%s: HTTP %d: %s", m.Endpoint, path, resp.StatusCode, bytes.TrimSpace(body)))
			continue
		}
		if err := json.Unmarshal(body, out); err != nil {
			return fmt.Errorf("GET %s%s: %w: %s", m.Endpoint, path, err, body)
		}
		return nil
	}
	if len(errs) == 0 {
		return fmt.Errorf("no master of %s is running", dc.Name)
	}
	return errors.Join(errs...)
}

// Status is GET /_api/status of the datacenter's leader.
func (dc *DC) Status(ctx context.Context) (plan.Status, error) {
	var st plan.Status
	err := dc.GetJSON(ctx, "/_api/status", &st)
	return st, err
}

// SyncStatus returns the named sync's status ("" = the only one).
func (dc *DC) SyncStatus(ctx context.Context, sync string) (plan.SyncStatus, error) {
	st, err := dc.Status(ctx)
	if err != nil {
		return plan.SyncStatus{}, err
	}
	for _, s := range st.Syncs {
		if s.ID == sync || (sync == "" && len(st.Syncs) == 1) {
			return s, nil
		}
	}
	ids := make([]string, 0, len(st.Syncs))
	for _, s := range st.Syncs {
		ids = append(ids, s.ID)
	}
	return plan.SyncStatus{}, fmt.Errorf("datacenter %s has no sync %q (syncs: %v)", dc.Name, sync, ids)
}
