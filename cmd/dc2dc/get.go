package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
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
	masterFlags
	json    bool
	output  string
	verbose bool
	timeout time.Duration
}

func (o *getOptions) bind(f *pflag.FlagSet) {
	o.masterFlags.bind(f)
	f.BoolVar(&o.json, "json", false, "print JSON instead of a table (same as --output json)")
	outputFlag(f, &o.output)
	f.BoolVarP(&o.verbose, "verbose", "v", false, "more detail (get status: every shard)")
	f.DurationVar(&o.timeout, "timeout", 15*time.Second, "give up after this long")
}

func newGetCmd(g *globalOptions) *cobra.Command {
	o := &getOptions{}
	sub := func(use, short string, run func(ctx context.Context, cl *api.Client, out io.Writer) error) *cobra.Command {
		return &cobra.Command{
			Use:   use,
			Short: short,
			Args:  usageArgs(cobra.NoArgs),
			RunE: func(cmd *cobra.Command, _ []string) error {
				if err := checkOutput(o.output); err != nil {
					return err
				}
				o.json = o.json || o.output == "json"
				return withClient(cmd, &o.masterFlags, 10*time.Second, o.timeout, func(ctx context.Context, cl *api.Client) error {
					return run(ctx, cl, cmd.OutOrStdout())
				})
			},
		}
	}
	cmd := groupCmd("get", "Show the state of a datacenter: status of the syncs, masters, workers, tasks, version",
		sub("status", "Show the syncs of the datacenter (-v: every shard, with the source and target views)", func(ctx context.Context, cl *api.Client, out io.Writer) error {
			st, err := cl.Status(ctx)
			if err != nil {
				return err
			}
			if o.json {
				return writeJSONOut(out, st)
			}
			return printStatus(out, st, o.verbose, time.Now())
		}),
		newStatusPageCmd(o),
	)
	o.bind(cmd.PersistentFlags())
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
