package main

// `dc2dc check sync`: compare the source and the target per shard.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/dc2dc/dc2dc/handlers/control/api"
	"github.com/dc2dc/dc2dc/handlers/control/plan"
)

func init() { register(newCheckCmd) }

func newCheckCmd(*globalOptions) *cobra.Command {
	return groupCmd("check", "Compare the source and the target of a sync (run against the target's masters)", newCheckSyncCmd())
}

// differing lists the shards of a report that are not equal.
func differing(rep plan.CheckReport) []plan.ShardCheck {
	var out []plan.ShardCheck
	for _, sh := range rep.Shards {
		if !sh.Equal || sh.Error != "" {
			out = append(out, sh)
		}
	}
	return out
}

func checkResult(sh plan.ShardCheck) string {
	switch {
	case sh.Error != "":
		return "error: " + oneLine(sh.Error)
	case sh.Equal:
		return "equal"
	case sh.SourceCount != sh.TargetCount:
		return fmt.Sprintf("differs: %d documents in the source, %d in the target", sh.SourceCount, sh.TargetCount)
	}
	return fmt.Sprintf("differs: checksum %016x in the source, %016x in the target", sh.SourceHash, sh.TargetHash)
}

func printCheck(out io.Writer, rep plan.CheckReport) error {
	if len(rep.Shards) == 0 {
		_, err := fmt.Fprintf(out, "sync %s: no shard to compare\n", rep.Sync)
		return err
	}
	tw, err := table(out, "COLLECTION", "SHARD", "SOURCE DOCS", "TARGET DOCS", "RESULT")
	if err != nil {
		return err
	}
	for _, sh := range rep.Shards {
		if _, err := fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\n", sh.Collection, sh.Shard, sh.SourceCount, sh.TargetCount, checkResult(sh)); err != nil {
			return err
		}
	}
	return tw.Flush()
}

func notInSync(rep plan.CheckReport) error {
	diff := differing(rep)
	names := make([]string, 0, len(diff))
	for _, sh := range diff {
		names = append(names, sh.Shard)
	}
	if len(diff) == 0 {
		// InSync false with every shard equal: the manager knows why (e.g.
		// a collection missing on one side).
		return failedError(fmt.Errorf("sync %s is not in sync (no shard differs in the report: a collection or shard may be missing on one side; see `dc2dc get status -v`)", rep.Sync))
	}
	return failedError(fmt.Errorf("sync %s is not in sync: %d of %d shards differ: %s", rep.Sync, len(diff), len(rep.Shards), strings.Join(names, ", ")))
}

func newCheckSyncCmd() *cobra.Command {
	var (
		m       masterFlags
		syncID  string
		wait    bool
		output  string
		timeout time.Duration
		every   time.Duration
	)
	cmd := &cobra.Command{
		Use:   "sync [--sync-id ID] [--wait] [--timeout 5m]",
		Short: "Compare the source and the target per shard (document count and checksum)",
		Long: `Compare every shard of a sync in the source and the target (document count and
checksum). Prints one line per shard and exits 0 when the whole data is the same, 1 when
shards differ (named). While the sync runs the target lags the source, so shards that
are being written to differ; --wait repeats the check until everything is the same or
--timeout passes (stop the sync, or pause the writers, for an exact comparison).`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			if timeout <= 0 {
				return usageError(fmt.Errorf("--timeout %v: use a positive duration, e.g. 5m", timeout))
			}
			out := cmd.OutOrStdout()
			return withClient(cmd, &m, timeout, timeout, func(ctx context.Context, cl *api.Client) error {
				var rep plan.CheckReport
			rounds:
				for round := 1; ; round++ {
					r, err := cl.Check(ctx, syncID)
					if errors.Is(err, context.DeadlineExceeded) && round > 1 {
						break // report the last complete check
					}
					if err != nil {
						return err
					}
					rep = r
					if rep.InSync || !wait {
						break
					}
					if _, err := fmt.Fprintf(out, "%s not in sync yet: %d of %d shards differ\n", time.Now().Format("15:04:05"), len(differing(rep)), len(rep.Shards)); err != nil {
						return err
					}
					select {
					case <-ctx.Done():
						break rounds
					case <-time.After(every):
					}
				}
				if output == "json" {
					if err := writeJSONOut(out, rep); err != nil {
						return err
					}
				} else {
					if err := printCheck(out, rep); err != nil {
						return err
					}
					if rep.InSync {
						if _, err := fmt.Fprintln(out, "The whole data is the same."); err != nil {
							return err
						}
					}
				}
				if !rep.InSync {
					return notInSync(rep)
				}
				return nil
			})
		},
	}
	f := cmd.Flags()
	m.bind(f)
	syncFlag(f, &syncID)
	f.BoolVar(&wait, "wait", false, "repeat the check until the data is the same or --timeout passes")
	outputFlag(f, &output)
	f.DurationVar(&timeout, "timeout", 5*time.Minute, "give up after this long")
	f.DurationVar(&every, "poll-interval", 5*time.Second, "pause between checks with --wait")
	_ = f.MarkHidden("poll-interval")
	return operatorCmd(cmd)
}
