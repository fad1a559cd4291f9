package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/dc2dc/dc2dc/pipeline/kafka"
	"github.com/dc2dc/dc2dc/pipeline/loadgen"
)

func init() { register(newLoadgenCmd) }

// newLoadgenCmd is a development tool: it drives the pipeline with synthetic
// shard streams (no ArangoDB) for process tests and benchmarks.
func newLoadgenCmd(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:    "loadgen",
		Short:  "Drive the Kafka pipeline with synthetic shard streams (tests and benchmarks)",
		Hidden: true,
	}
	cmd.AddCommand(newLoadgenProduceCmd(g), newLoadgenConsumeCmd(g), newLoadgenVerifyCmd())
	return cmd
}

type loadgenKafka struct {
	brokers string
}

func (k *loadgenKafka) bind(cmd *cobra.Command) {
	cmd.Flags().StringVar(&k.brokers, "brokers", envOr("DC2DC_KAFKA_BROKERS", ""), "Kafka brokers, host:port,... (env DC2DC_KAFKA_BROKERS)")
}

func (k *loadgenKafka) config(g *globalOptions, clientID string) kafka.Config {
	cfg := kafka.Config{ClientID: clientID, Logger: g.Logger()}
	if k.brokers != "" {
		cfg.Brokers = strings.Split(k.brokers, ",")
	}
	return cfg
}

// writeProgress replaces path atomically with v as JSON.
func writeProgress(path string, v any) error {
	if path == "" {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func printReady(cmd *cobra.Command, component string) error {
	_, err := fmt.Fprintf(cmd.OutOrStdout(), `{"ready":true,"component":%q,"pid":%d}`+"\n", component, os.Getpid())
	return err
}

func newLoadgenProduceCmd(g *globalOptions) *cobra.Command {
	var k loadgenKafka
	var cfg loadgen.ProduceConfig
	var progressFile string
	cmd := &cobra.Command{
		Use:   "produce --brokers B --sync ID --store DIR",
		Short: "Publish synthetic shard streams, resuming after the checkpoints in --store",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg.Kafka = k.config(g, "dc2dc-loadgen-produce")
			cfg.Logger = g.Logger()
			cfg.Progress = func(acked uint64) {
				if err := writeProgress(progressFile, map[string]uint64{"acked": acked}); err != nil {
					g.Logger().Warn("progress file", "err", err)
				}
			}
			if err := printReady(cmd, "loadgen-produce"); err != nil {
				return err
			}
			if err := loadgen.Produce(cmd.Context(), cfg); err != nil {
				return err
			}
			return writeProgress(progressFile, map[string]any{"acked": cfg.Events * uint64(cfg.Shards), "done": true})
		},
	}
	k.bind(cmd)
	f := cmd.Flags()
	f.StringVar(&cfg.Sync, "sync", "loadgen", "sync id (topic dc2dc.<sync>.data)")
	f.IntVar(&cfg.Shards, "shards", 8, "shard streams")
	f.Uint64Var(&cfg.Events, "events", 125000, "events per shard")
	f.IntVar(&cfg.DocBytes, "doc-bytes", 1024, "document size in bytes")
	f.Float64Var(&cfg.Rate, "rate", 0, "events per second over all shards (0: as fast as possible)")
	f.Int32Var(&cfg.Partitions, "partitions", 12, "partitions of the data topic when it is created")
	f.StringVar(&cfg.StoreDir, "store", "", "checkpoint store directory")
	f.StringVar(&progressFile, "progress-file", "", "write {\"acked\":N} here as progress is made")
	return cmd
}

func newLoadgenConsumeCmd(g *globalOptions) *cobra.Command {
	var k loadgenKafka
	var cfg loadgen.ConsumeConfig
	var progressFile string
	cmd := &cobra.Command{
		Use:   "consume --brokers B --sync ID --store DIR --ledger DIR",
		Short: "Apply the synthetic streams to a ledger (a stand-in for cluster B) until stopped",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg.Kafka = k.config(g, "dc2dc-loadgen-consume")
			cfg.Logger = g.Logger()
			cfg.Progress = func(p loadgen.Progress) {
				if err := writeProgress(progressFile, p); err != nil {
					g.Logger().Warn("progress file", "err", err)
				}
			}
			if err := printReady(cmd, "loadgen-consume"); err != nil {
				return err
			}
			return loadgen.Consume(cmd.Context(), cfg)
		},
	}
	k.bind(cmd)
	f := cmd.Flags()
	f.StringVar(&cfg.Sync, "sync", "loadgen", "sync id (topic dc2dc.<sync>.data)")
	f.StringVar(&cfg.StoreDir, "store", "", "checkpoint store directory")
	f.StringVar(&cfg.LedgerDir, "ledger", "", "ledger directory (the stand-in for cluster B)")
	f.StringVar(&progressFile, "progress-file", "", "write the running account here as JSON")
	return cmd
}

func newLoadgenVerifyCmd() *cobra.Command {
	var ledgerDir string
	var shards int
	var perShard uint64
	cmd := &cobra.Command{
		Use:   "verify --ledger DIR --shards N --events M",
		Short: "Check that the ledger holds every event exactly once, in order (exit 1 otherwise)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) (err error) {
			l, err := loadgen.OpenLedger(filepath.Clean(ledgerDir))
			if err != nil {
				return err
			}
			defer func() { err = errors.Join(err, l.Close()) }()
			res, err := loadgen.Verify(l, shards, perShard)
			if err != nil {
				return err
			}
			out, _ := json.MarshalIndent(res, "", "  ")
			if _, err := fmt.Fprintf(cmd.OutOrStdout(), "%s\n", out); err != nil {
				return err
			}
			if !res.OK() {
				return &exitCodeError{code: 1, err: fmt.Errorf("the ledger does not hold every event exactly once: %s", res)}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&ledgerDir, "ledger", "", "ledger directory")
	f.IntVar(&shards, "shards", 8, "shard streams expected")
	f.Uint64Var(&perShard, "events", 125000, "events per shard expected")
	return cmd
}
