package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/dc2dc/dc2dc/handlers/control/api"
)

func init() { register(newGetCmd) }

// getOptions are the flags of the operator commands that ask the masters.
type getOptions struct {
	endpoints []string
	token     string
	secret    string
	cacert    string
	json      bool
	timeout   time.Duration
}

func (o *getOptions) bind(f *pflag.FlagSet) {
	f.StringSliceVar(&o.endpoints, "master.endpoint", splitList(os.Getenv("DC2DC_MASTER_ENDPOINT")), "masters of the datacenter to ask, e.g. http://master1:8629 (repeatable; env DC2DC_MASTER_ENDPOINT)")
	f.StringVar(&o.token, "auth.token", os.Getenv("DC2DC_AUTH_TOKEN"), "bearer token of the admin API (env DC2DC_AUTH_TOKEN)")
	f.StringVar(&o.secret, "auth.jwt-secret", os.Getenv("DC2DC_AUTH_JWT_SECRET"), "sign a JWT (iss=dc2dc) with this secret instead (env DC2DC_AUTH_JWT_SECRET)")
	f.StringVar(&o.cacert, "master.cacert", "", "PEM CAs that sign the masters' certificates (default: system pool)")
	f.BoolVar(&o.json, "json", false, "print JSON instead of a table")
	f.DurationVar(&o.timeout, "timeout", 15*time.Second, "give up after this long")
}

func (o *getOptions) client() (*api.Client, error) {
	tlsCfg, err := api.ClientTLS(o.cacert, "", "")
	if err != nil {
		return nil, fmt.Errorf("--master.cacert: %w", err)
	}
	return api.NewClient(api.ClientConfig{Endpoints: o.endpoints, Token: o.token, JWTSecret: o.secret, Subject: "dc2dc-cli", TLS: tlsCfg})
}

func newGetCmd(g *globalOptions) *cobra.Command {
	o := &getOptions{}
	cmd := &cobra.Command{
		Use:   "get",
		Short: "Show the state of a datacenter's masters (version, masters, workers, tasks)",
	}
	o.bind(cmd.PersistentFlags())
	sub := func(use, short string, run func(ctx context.Context, cl *api.Client, out io.Writer) error) *cobra.Command {
		return &cobra.Command{
			Use:   use,
			Short: short,
			Args:  cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				cl, err := o.client()
				if err != nil {
					return err
				}
				defer cl.Close()
				ctx, cancel := context.WithTimeout(cmd.Context(), o.timeout)
				defer cancel()
				return run(ctx, cl, cmd.OutOrStdout())
			},
		}
	}
	cmd.AddCommand(
		sub("version", "Print this binary's version and the masters'", func(ctx context.Context, cl *api.Client, out io.Writer) error {
			v, err := cl.Version(ctx)
			if err != nil {
				return err
			}
			if o.json {
				return writeJSONOut(out, map[string]any{"client": map[string]string{"version": version, "goVersion": runtime.Version()}, "server": v})
			}
			_, err = fmt.Fprintf(out, "client: dc2dc %s (%s)\nserver: dc2dc %s (%s), %s %s\n", version, runtime.Version(), v.Version, v.GoVersion, v.Role, v.ID)
			return err
		}),
		sub("masters", "List the masters and which one leads", func(ctx context.Context, cl *api.Client, out io.Writer) error {
			ms, err := cl.Masters(ctx)
			if err != nil {
				return err
			}
			if o.json {
				return writeJSONOut(out, ms)
			}
			tw, err := table(out, "ID", "ENDPOINT", "LEADER", "ALIVE", "LAST SEEN")
			if err != nil {
				return err
			}
			for _, m := range ms.Masters {
				if _, err := fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", m.ID, m.Endpoint, yes(m.Leader), yes(m.Alive), ago(m.LastSeen)); err != nil {
					return err
				}
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			_, err = fmt.Fprintf(out, "leader: %s (%s), epoch %d\n", ms.Leader, ms.LeaderEndpoint, ms.Epoch)
			return err
		}),
		sub("workers", "List the registered workers", func(ctx context.Context, cl *api.Client, out io.Writer) error {
			ws, err := cl.Workers(ctx)
			if err != nil {
				return err
			}
			if o.json {
				return writeJSONOut(out, ws)
			}
			tw, err := table(out, "ID", "ENDPOINT", "HOST", "DBSERVER", "STATUS", "TASKS", "LAST SEEN")
			if err != nil {
				return err
			}
			for _, w := range ws.Workers {
				status := "dead"
				if w.Alive {
					status = "alive"
				}
				if _, err := fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\n", w.ID, w.Endpoint, w.Host, dash(w.DBServer), status, w.Tasks, ago(w.LastSeen)); err != nil {
					return err
				}
			}
			return tw.Flush()
		}),
		sub("tasks", "List the tasks and their assignments", func(ctx context.Context, cl *api.Client, out io.Writer) error {
			ts, err := cl.Tasks(ctx)
			if err != nil {
				return err
			}
			if o.json {
				return writeJSONOut(out, ts)
			}
			tw, err := table(out, "ID", "KIND", "SHARD", "WORKER", "GEN", "PHASE", "ACKED", "ERROR")
			if err != nil {
				return err
			}
			for _, t := range ts.Tasks {
				if _, err := fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", t.ID, t.Kind, t.Shard, dash(t.Worker), t.Generation, t.Phase, t.Acked, dash(t.Error)); err != nil {
					return err
				}
			}
			return tw.Flush()
		}),
	)
	return cmd
}

func table(out io.Writer, cols ...string) (*tabwriter.Writer, error) {
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	if _, err := fmt.Fprintln(tw, strings.Join(cols, "\t")); err != nil {
		return nil, err
	}
	return tw, nil
}

func writeJSONOut(out io.Writer, v any) error {
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func yes(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func ago(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return time.Since(t).Round(100*time.Millisecond).String() + " ago"
}
