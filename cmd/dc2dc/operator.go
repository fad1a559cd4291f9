package main

// Shared parts of the operator commands (get, configure, stop, abort,
// check, reset, set): how they reach the masters, their exit codes and
// their error messages.
//
// Exit codes: 0 done (or in sync); 1 the operation failed or the data is
// not in sync (unreachable masters, a conflict, a stop that did not finish
// in time, shards that differ); 2 the command line is wrong (flags,
// arguments, a request the masters refused as invalid, credentials they
// refused, a sync or shard they do not know).

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/dc2dc/dc2dc/handlers/control/api"
	"github.com/dc2dc/dc2dc/handlers/control/plan"
	"github.com/dc2dc/dc2dc/pipeline/failure"
)

// Exit codes of the operator commands.
const (
	exitFailed = 1
	exitUsage  = 2
)

// masterFlags say how to reach the masters of a datacenter.
type masterFlags struct {
	endpoints []string
	token     string
	secret    string
	cacert    string
}

func (m *masterFlags) bind(f *pflag.FlagSet) {
	f.StringSliceVar(&m.endpoints, "master.endpoint", splitList(os.Getenv("DC2DC_MASTER_ENDPOINT")), "masters of the datacenter to ask, e.g. http://master1:8629 (repeatable; env DC2DC_MASTER_ENDPOINT)")
	f.StringVar(&m.token, "auth.token", os.Getenv("DC2DC_AUTH_TOKEN"), "bearer token of the admin API (env DC2DC_AUTH_TOKEN)")
	f.StringVar(&m.secret, "auth.jwt-secret", os.Getenv("DC2DC_AUTH_JWT_SECRET"), "sign a JWT (iss=dc2dc) with this secret instead (env DC2DC_AUTH_JWT_SECRET)")
	f.StringVar(&m.cacert, "master.cacert", "", "PEM CAs that sign the masters' certificates (default: system pool)")
}

// client builds the API client; its problems are usage errors.
func (m *masterFlags) client(timeout time.Duration) (*api.Client, error) {
	tlsCfg, err := api.ClientTLS(m.cacert, "", "")
	if err != nil {
		return nil, usageError(fmt.Errorf("--master.cacert: %w: give a readable PEM file of the CAs that sign the masters' certificates", err))
	}
	cl, err := api.NewClient(api.ClientConfig{Endpoints: m.endpoints, Token: m.token, JWTSecret: m.secret, Subject: "dc2dc-cli", TLS: tlsCfg, Timeout: timeout})
	if err != nil {
		return nil, usageError(err)
	}
	return cl, nil
}

func usageError(err error) error { return &exitCodeError{code: exitUsage, err: err} }

func failedError(err error) error { return &exitCodeError{code: exitFailed, err: err} }

// usageArgs wraps an argument check so that its error exits with 2.
func usageArgs(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := check(cmd, args); err != nil {
			return usageError(fmt.Errorf("%w (see `%s --help`)", err, cmd.CommandPath()))
		}
		return nil
	}
}

// operatorCmd makes cmd and its subcommands exit with 2 on flag errors.
func operatorCmd(cmd *cobra.Command) *cobra.Command {
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageError(fmt.Errorf("%w (see `%s --help`)", err, c.CommandPath()))
	})
	return cmd
}

// groupCmd is a command that only holds subcommands (`dc2dc stop` …):
// run alone or with an unknown word it names its subcommands, exit 2.
func groupCmd(use, short string, subs ...*cobra.Command) *cobra.Command {
	cmd := &cobra.Command{Use: use, Short: short, Args: usageArgs(cobra.NoArgs)}
	cmd.RunE = func(c *cobra.Command, _ []string) error {
		var names []string
		for _, s := range c.Commands() {
			names = append(names, "`"+c.CommandPath()+" "+s.Name()+"`")
		}
		return usageError(fmt.Errorf("%s needs a subcommand: %s", c.CommandPath(), strings.Join(names, " or ")))
	}
	cmd.AddCommand(subs...)
	return operatorCmd(cmd)
}

// operatorError turns an error of the API client into one for people,
// with the exit code it deserves and the fix.
func operatorError(err error, m *masterFlags) error {
	if err == nil {
		return nil
	}
	var ec *exitCodeError
	if errors.As(err, &ec) {
		return err
	}
	var ae *api.Error
	if errors.As(err, &ae) {
		switch {
		case ae.Status == http.StatusBadRequest:
			return usageError(fmt.Errorf("the leader master refused the request: %s", ae.Body.ErrorMessage))
		case ae.Status == http.StatusUnauthorized || ae.Status == http.StatusForbidden:
			return usageError(fmt.Errorf("the masters refused the credentials: %s: give the masters' --auth.token, or their --auth.jwt-secret", ae.Body.ErrorMessage))
		case ae.Status == http.StatusNotFound && ae.Body.Reason == api.ReasonNotFound:
			if strings.Contains(ae.Body.ErrorMessage, "dc2dc get status") {
				return usageError(errors.New(ae.Body.ErrorMessage))
			}
			return usageError(fmt.Errorf("%s (`dc2dc get status -v` lists the syncs and their shards)", ae.Body.ErrorMessage))
		case ae.Status == http.StatusNotFound:
			return failedError(fmt.Errorf("%w: the masters do not serve this command: upgrade them to this dc2dc version (%s)", err, version))
		case ae.Body.Reason == api.ReasonNoSyncs:
			return failedError(errors.New(ae.Body.ErrorMessage))
		case ae.Body.Reason == api.ReasonNotLeader:
			return failedError(fmt.Errorf("%w: no master of the datacenter leads right now; retry in a few seconds", err))
		}
		return failedError(err)
	}
	if failure.CodeOf(err) == failure.CodeConfigInvalid {
		return usageError(err)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return failedError(fmt.Errorf("no answer from the masters (%s) in time: check that they run and are reachable, or give a longer --timeout", strings.Join(m.endpoints, ", ")))
	}
	return failedError(fmt.Errorf("cannot reach the masters: %w\ncheck that they run and that --master.endpoint (%s) is right", err, strings.Join(m.endpoints, ", ")))
}

// syncFlag binds --sync-id.
func syncFlag(f *pflag.FlagSet, id *string) {
	f.StringVar(id, "sync-id", "", "the sync (default: the only sync of the datacenter)")
}

// findSync picks a sync from a status: by id, or the only one of the role
// ("" = of any role), as the masters resolve a command without --sync-id.
func findSync(st plan.Status, id string, role plan.Role) (plan.SyncStatus, error) {
	if id == "" && role != "" {
		var of []plan.SyncStatus
		for _, s := range st.Syncs {
			if s.Role == role {
				of = append(of, s)
			}
		}
		if len(of) == 1 {
			return of[0], nil
		}
	}
	if id != "" {
		for _, s := range st.Syncs {
			if s.ID == id {
				return s, nil
			}
		}
		return plan.SyncStatus{}, usageError(fmt.Errorf("no sync %q in this datacenter (syncs: %s)", id, statusSyncIDs(st)))
	}
	if len(st.Syncs) == 1 {
		return st.Syncs[0], nil
	}
	if len(st.Syncs) == 0 {
		return plan.SyncStatus{}, failedError(errors.New("no sync is configured in this datacenter"))
	}
	return plan.SyncStatus{}, usageError(fmt.Errorf("%d syncs are configured (%s): name one with --sync-id", len(st.Syncs), statusSyncIDs(st)))
}

func statusSyncIDs(st plan.Status) string {
	if len(st.Syncs) == 0 {
		return "none"
	}
	ids := make([]string, 0, len(st.Syncs))
	for _, s := range st.Syncs {
		ids = append(ids, s.ID)
	}
	return strings.Join(ids, ", ")
}

// theSync names a sync in messages.
func theSync(id string) string {
	if id == "" {
		return "the sync"
	}
	return "sync " + id
}

// outputFlag binds --output.
func outputFlag(f *pflag.FlagSet, out *string) {
	f.StringVarP(out, "output", "o", "table", "output format: table or json")
}

func checkOutput(out string) error {
	if out != "table" && out != "json" {
		return usageError(fmt.Errorf("--output %q: use table or json", out))
	}
	return nil
}

// withClient runs fn with a client and a context bounded by timeout, and
// maps its error.
func withClient(cmd *cobra.Command, m *masterFlags, requestTimeout, timeout time.Duration, fn func(ctx context.Context, cl *api.Client) error) error {
	cl, err := m.client(requestTimeout)
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
	defer cancel()
	return operatorError(fn(ctx, cl), m)
}
