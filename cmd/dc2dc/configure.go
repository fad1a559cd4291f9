package main

// `dc2dc configure sync`: the target datacenter starts following another.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/dc2dc/dc2dc/handlers/control/api"
	"github.com/dc2dc/dc2dc/handlers/control/plan"
	"github.com/dc2dc/dc2dc/pipeline/kafka"
)

func init() { register(newConfigureCmd) }

func newConfigureCmd(*globalOptions) *cobra.Command {
	return groupCmd("configure", "Configure a sync (run against the masters of the datacenter that is to follow)", newConfigureSyncCmd())
}

func newConfigureSyncCmd() *cobra.Command {
	var (
		m          masterFlags
		source     string
		syncID     string
		prefix     string
		partitions int
		msgTimeout time.Duration
		output     string
		timeout    time.Duration
	)
	cmd := &cobra.Command{
		Use:   "sync --source.dc DC [--sync-id ID] [--data-partitions N] [--message-timeout D]",
		Short: "Make this datacenter follow another one (run against the target's masters)",
		Long: `Make the datacenter whose masters --master.endpoint names follow the datacenter
--source.dc: its leader master creates the sync's topics in this datacenter's Kafka,
asks the source's leader (over Kafka, through the mirror) for its inventory, creates the
structure and starts the shard tasks. The command returns once the sync is recorded;
catching up takes longer: watch it with ` + "`dc2dc get status -v`" + ` or the status page.

The sync id names the sync's topics (dc2dc.<id>.data, …) and must be the same in the
mirror (dc2dc mirror --sync-id). Default: "<source>-to-<target>", lower case.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			var problems []error
			if source == "" {
				problems = append(problems, errors.New("--source.dc: missing: name the datacenter to follow, e.g. --source.dc A"))
			} else if err := kafka.ValidateSyncID(source); err != nil {
				problems = append(problems, fmt.Errorf("--source.dc %q: use 1 to 200 letters, digits, '_' or '-'", source))
			}
			if syncID != "" {
				if err := kafka.ValidateSyncID(syncID); err != nil {
					problems = append(problems, fmt.Errorf("--sync-id: %w", err))
				}
			}
			if partitions < 0 {
				problems = append(problems, fmt.Errorf("--data-partitions %d: use a positive number, or 0 for the default %d", partitions, plan.DefaultDataPartitions))
			}
			if msgTimeout != 0 && (msgTimeout < time.Second || msgTimeout > api.MaxMessageTimeout) {
				problems = append(problems, fmt.Errorf("--message-timeout %v: use 1s to %v (default %v)", msgTimeout, api.MaxMessageTimeout, plan.DefaultMessageTimeout))
			}
			if err := checkOutput(output); err != nil {
				problems = append(problems, err)
			}
			if len(problems) > 0 {
				return usageError(fmt.Errorf("invalid configure sync:\n%w", indent(errors.Join(problems...))))
			}
			req := plan.ConfigureRequest{Sync: syncID, SourceDC: source, TopicPrefix: prefix, DataPartitions: partitions, MessageTimeoutMillis: msgTimeout.Milliseconds()}
			return withClient(cmd, &m, timeout, timeout, func(ctx context.Context, cl *api.Client) error {
				sy, err := cl.Configure(ctx, req)
				if err != nil {
					return err
				}
				out := cmd.OutOrStdout()
				if output == "json" {
					return writeJSONOut(out, sy)
				}
				topics, _ := sy.Topics()
				_, err = fmt.Fprintf(out, "sync %s configured: this datacenter follows %s (%s role, topics %s…, %d data partitions, message timeout %v).\n"+
					"Catching up takes a while: watch it with `dc2dc get status -v` or the status page (`dc2dc get status-page`).\n"+
					"The mirror must copy this sync's topics: dc2dc mirror --sync-id %s.\n",
					sy.ID, dash(sy.Peer), sy.Role, prefixOf(topics.Data), sy.Partitions(), sy.MessageTimeout(), sy.ID)
				return err
			})
		},
	}
	f := cmd.Flags()
	m.bind(f)
	f.StringVar(&source, "source.dc", "", "the datacenter to follow (its name, as its masters' --dc)")
	f.StringVar(&syncID, "sync-id", "", `the sync's id, which names its topics (default "<source>-to-<target>")`)
	f.StringVar(&prefix, "topic-prefix", "", "prefix of the sync's topics (default "+kafka.DefaultTopicPrefix+")")
	f.IntVar(&partitions, "data-partitions", 0, fmt.Sprintf("partitions of the data topic, fixed once created (default %d)", plan.DefaultDataPartitions))
	f.DurationVar(&msgTimeout, "message-timeout", 0, fmt.Sprintf("a shard stream silent this long is resynchronised when it resumes (default %v)", plan.DefaultMessageTimeout))
	outputFlag(f, &output)
	f.DurationVar(&timeout, "timeout", 30*time.Second, "give up after this long")
	return operatorCmd(cmd)
}

// prefixOf cuts a topic name after its last dot ("dc2dc.x.data" → "dc2dc.x.").
func prefixOf(topic string) string {
	for i := len(topic) - 1; i >= 0; i-- {
		if topic[i] == '.' {
			return topic[:i+1]
		}
	}
	return topic
}
