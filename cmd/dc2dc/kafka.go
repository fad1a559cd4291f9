package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/dc2dc/dc2dc/pipeline/broker"
)

func init() { register(newKafkaCmd) }

// kafkaReady is the one JSON line `dc2dc kafka` prints on stdout once the
// brokers listen.
type kafkaReady struct {
	Brokers []string `json:"brokers"`
	DataDir string   `json:"data_dir,omitempty"`
	PID     int      `json:"pid"`
}

func newKafkaCmd(g *globalOptions) *cobra.Command {
	var cfg broker.Config
	cmd := &cobra.Command{
		Use:   "kafka",
		Short: "Run an embedded Kafka cluster (kfake) for development and tests",
		Long: `Runs an in-process Kafka-protocol cluster (franz-go's kfake) on 127.0.0.1
until SIGINT or SIGTERM. Once it listens it prints one JSON line on stdout:

  {"brokers":["127.0.0.1:9092"],"data_dir":"/var/lib/dc2dc-kafka","pid":1234}

With --data-dir, topics, records and committed offsets persist there and are
reloaded on the next start (restart on the same ports). Without it everything
lives in memory, without retention. Topics are not auto-created: dc2dc creates
its topics explicitly. This is not a production Kafka.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg.Logger = g.Logger()
			c, err := broker.Start(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			defer c.Close()
			line, err := json.Marshal(kafkaReady{Brokers: c.Addrs(), DataDir: cfg.DataDir, PID: os.Getpid()})
			if err != nil {
				return err
			}
			if _, err := fmt.Fprintf(cmd.OutOrStdout(), "%s\n", line); err != nil {
				return err
			}
			g.Logger().Info("embedded Kafka ready", "brokers", c.Addrs(), "data_dir", cfg.DataDir)
			<-cmd.Context().Done()
			g.Logger().Info("embedded Kafka stopping")
			return c.Close()
		},
	}
	f := cmd.Flags()
	f.IntVar(&cfg.Brokers, "brokers", 1, "number of brokers")
	f.IntVar(&cfg.BasePort, "port", 9092, "port of the first broker (broker i listens on port+i); 0 picks free ports")
	f.StringVar(&cfg.DataDir, "data-dir", "", "directory to persist topics, records and offsets in (empty: memory only)")
	f.BoolVar(&cfg.SyncWrites, "sync-writes", false, "fsync every produced batch (survives a machine crash, much slower)")
	f.IntVar(&cfg.DefaultPartitions, "default-partitions", 0, "partitions for CreateTopics requests that ask for the default (0: kfake's 10)")
	return cmd
}
