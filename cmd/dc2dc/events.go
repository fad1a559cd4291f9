package main

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/dc2dc/dc2dc/events"
)

func init() { register(newEventsCmd) }

func newEventsCmd(_ *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "events",
		Short: "Inspect dc2dc event payloads",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "decode [FILE]",
		Short: "Print a batch payload (a Kafka message value, e.g. from `kcat -C -f '%s'`) as JSON",
		Long: `Reads one raw batch payload from FILE, or standard input when FILE is omitted
or "-", and prints it as indented JSON. A payload that is not a dc2dc batch is
reported with the reason the consumer would give it on the poison topic.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			in := cmd.InOrStdin()
			if len(args) == 1 && args[0] != "-" {
				f, err := os.Open(args[0])
				if err != nil {
					return fmt.Errorf("cannot read the payload: %w", err)
				}
				defer func() { _ = f.Close() }() // read-only
				in = f
			}
			payload, err := io.ReadAll(in)
			if err != nil {
				return fmt.Errorf("cannot read the payload: %w", err)
			}
			b, err := events.Decode(payload)
			if err != nil {
				return fmt.Errorf("not a decodable dc2dc batch (%d bytes): %w", len(payload), err)
			}
			out, err := b.DebugJSON()
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "%s\n", out)
			return err
		},
	})
	return cmd
}
