package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/dc2dc/dc2dc/store"
	"github.com/spf13/cobra"
)

func init() { register(newCheckpointsCmd) }

// Exit codes of `dc2dc checkpoints` besides 0 and 1.
const (
	exitCheckpointsNotConfirmed = 2 // reset without --yes: nothing was deleted
	exitCheckpointsInUse        = 3 // a running dc2dc process owns the store
)

type checkpointsOptions struct {
	dir  string
	sync string
}

func newCheckpointsCmd(g *globalOptions) *cobra.Command {
	o := &checkpointsOptions{}
	cmd := &cobra.Command{
		Use:   "checkpoints",
		Short: "Inspect or reset the per-shard checkpoints of a stopped dc2dc worker",
		Long: `Inspect or reset the per-shard checkpoints a dc2dc worker keeps in its
Pebble checkpoint store (--dir).

Pebble lets one process open a store at a time, even read-only, so these
commands work only while the worker that owns the store is stopped. When it
runs, they exit with code 3 and name its pid.`,
	}
	cmd.PersistentFlags().StringVar(&o.dir, "dir", envOr("DC2DC_CHECKPOINT_DIR", ""),
		"directory of the checkpoint store (env DC2DC_CHECKPOINT_DIR)")
	cmd.PersistentFlags().StringVar(&o.sync, "sync", "", "only this sync id")
	cmd.AddCommand(newCheckpointsListCmd(g, o), newCheckpointsShowCmd(g, o), newCheckpointsResetCmd(g, o))
	return cmd
}

func newCheckpointsListCmd(g *globalOptions, o *checkpointsOptions) *cobra.Command {
	var asJSON bool
	var kind, prefix string
	cmd := &cobra.Command{
		Use:   "list --dir DIR [--sync S] [--kind K] [--prefix P] [--json]",
		Short: "List the checkpoints (a table, or JSON with --json)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			k, err := parseKind(kind)
			if err != nil {
				return err
			}
			s, err := o.open(g, store.Config{ReadOnly: true})
			if err != nil {
				return err
			}
			defer func() { _ = s.Close() }() // opened read-only: nothing to lose on close
			recs, err := s.List(store.Filter{Kind: k, Sync: o.sync, ShardPrefix: prefix})
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), recs)
			}
			if len(recs) == 0 {
				_, err := fmt.Fprintf(cmd.OutOrStdout(), "no checkpoints in %s\n", s.Dir())
				return err
			}
			return writeTable(cmd.OutOrStdout(), recs)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON array instead of a table")
	cmd.Flags().StringVar(&kind, "kind", "", "only source, applied or meta records")
	cmd.Flags().StringVar(&prefix, "prefix", "", `only shards whose key starts with this, e.g. "mydb/"`)
	return cmd
}

func newCheckpointsShowCmd(g *globalOptions, o *checkpointsOptions) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "show --dir DIR [--sync S] <database/collectionId/shardIndex>",
		Short: "Show every checkpoint of one shard",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := o.open(g, store.Config{ReadOnly: true})
			if err != nil {
				return err
			}
			defer func() { _ = s.Close() }() // opened read-only: nothing to lose on close
			recs, err := shardRecords(s, o.sync, args[0])
			if err != nil {
				return err
			}
			if len(recs) == 0 {
				return fmt.Errorf("no checkpoint for shard %q%s in %s (list them with: dc2dc checkpoints list --dir %s)",
					args[0], inSync(o.sync), s.Dir(), s.Dir())
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), recs)
			}
			return writeDetails(cmd.OutOrStdout(), recs)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON instead of text")
	return cmd
}

func newCheckpointsResetCmd(g *globalOptions, o *checkpointsOptions) *cobra.Command {
	var yes bool
	cmd := &cobra.Command{
		Use:   "reset --dir DIR [--sync S] <database/collectionId/shardIndex> [--yes]",
		Short: "Delete a shard's checkpoints so that it is resynchronised from scratch",
		Long: `Delete the source and applied checkpoints of one shard. When the worker
starts again, the shard's task finds no checkpoint and starts over with an
initial sync. Without --yes, only prints what would be deleted.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) (err error) {
			shard := args[0]
			s, err := o.open(g, store.Config{MustExist: true})
			if err != nil {
				return err
			}
			defer func() {
				if cerr := s.Close(); cerr != nil {
					err = errors.Join(err, cerr)
				}
			}()
			recs, err := shardRecords(s, o.sync, shard)
			if err != nil {
				return err
			}
			recs = slices.DeleteFunc(recs, func(r store.Record) bool { return r.Kind() == store.KindMeta })
			if len(recs) == 0 {
				_, err := fmt.Fprintf(cmd.OutOrStdout(), "no checkpoint for shard %q%s: nothing to reset\n", shard, inSync(o.sync))
				return err
			}
			syncs := syncIDs(recs)
			if len(syncs) > 1 {
				return fmt.Errorf("shard %q has checkpoints in %d syncs (%s): choose one with --sync", shard, len(syncs), strings.Join(syncs, ", "))
			}
			out := cmd.OutOrStdout()
			if !yes {
				if _, err := fmt.Fprintln(out, "would delete:"); err != nil {
					return err
				}
				if err := writeTable(out, recs); err != nil {
					return err
				}
				return &exitCodeError{code: exitCheckpointsNotConfirmed, err: errors.New(
					"nothing deleted: re-run with --yes to delete these checkpoints; the shard will then be resynchronised from scratch")}
			}
			deleted, err := s.ResetShard(syncs[0], shard)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(out, "deleted %d checkpoint(s) of shard %s in sync %s; it will be resynchronised from scratch when its task starts\n",
				len(deleted), shard, syncs[0])
			return err
		},
	}
	cmd.Flags().BoolVar(&yes, "yes", false, "really delete")
	return cmd
}

// open opens the store in o.dir and turns "in use" into guidance and exit
// code 3.
func (o *checkpointsOptions) open(g *globalOptions, cfg store.Config) (*store.Store, error) {
	if o.dir == "" {
		return nil, errors.New("--dir is not set: give the directory of the worker's checkpoint store (or set DC2DC_CHECKPOINT_DIR)")
	}
	cfg.Dir = o.dir
	cfg.Logger = g.Logger()
	s, err := store.Open(cfg)
	var le *store.LockedError
	if errors.As(err, &le) {
		who := "the dc2dc worker that owns it"
		if le.PID > 0 {
			who = fmt.Sprintf("the dc2dc worker that owns it (pid %d)", le.PID)
		}
		return nil, &exitCodeError{code: exitCheckpointsInUse, err: fmt.Errorf(
			"%w\nto proceed: stop %s and re-run this command; while the worker runs, only the worker itself can read its checkpoints (its admin API)", err, who)}
	}
	return s, err
}

// shardRecords returns the records of one shard, of one sync or of all.
func shardRecords(s *store.Store, sync, shard string) ([]store.Record, error) {
	var out []store.Record
	for _, k := range []store.Kind{store.KindSource, store.KindApplied} {
		recs, err := s.List(store.Filter{Kind: k, Sync: sync, ShardPrefix: shard})
		if err != nil {
			return nil, err
		}
		for _, r := range recs {
			if _, sh := r.ID(); sh == shard {
				out = append(out, r)
			}
		}
	}
	return out, nil
}

func syncIDs(recs []store.Record) []string {
	var out []string
	for _, r := range recs {
		sync, _ := r.ID()
		if !slices.Contains(out, sync) {
			out = append(out, sync)
		}
	}
	slices.Sort(out)
	return out
}

func inSync(sync string) string {
	if sync == "" {
		return ""
	}
	return " in sync " + sync
}

func parseKind(s string) (store.Kind, error) {
	switch s {
	case "":
		return 0, nil
	case "source":
		return store.KindSource, nil
	case "applied":
		return store.KindApplied, nil
	case "meta":
		return store.KindMeta, nil
	}
	return 0, fmt.Errorf("--kind %q is not a checkpoint kind: use source, applied or meta", s)
}

// checkpointView is the JSON (and table) form of a record.
type checkpointView struct {
	Kind         string `json:"kind"`
	Sync         string `json:"sync"`
	Shard        string `json:"shard,omitempty"`
	Epoch        uint64 `json:"epoch"`
	Tick         uint64 `json:"tick"`
	Sub          uint32 `json:"sub,omitempty"`
	Phase        string `json:"phase,omitempty"`
	Leader       string `json:"leader,omitempty"`
	SnapshotTick uint64 `json:"snapshotTick,omitempty"`
	LastScanned  uint64 `json:"lastScanned,omitempty"`
	Partition    *int32 `json:"partition,omitempty"`
	Offset       *int64 `json:"offset,omitempty"`
	Owner        string `json:"owner,omitempty"`
	UpdatedAt    string `json:"updatedAt,omitempty"`
}

func viewOf(r store.Record) checkpointView {
	v := checkpointView{Kind: r.Kind().String()}
	v.Sync, v.Shard = r.ID()
	o := r.Order()
	v.Epoch, v.Tick, v.Sub = o.Epoch, o.Tick, o.Sub
	var at time.Time
	switch p := r.(type) {
	case store.SourcePosition:
		v.Phase, v.Leader, v.SnapshotTick, v.LastScanned, at = string(p.Phase), p.Leader, p.SnapshotTick, p.LastScanned, p.UpdatedAt
	case store.AppliedPosition:
		v.Phase, v.Partition, v.Offset, at = string(p.Phase), &p.Partition, &p.Offset, p.UpdatedAt
	case store.SyncMeta:
		v.Owner, at = p.Owner, p.UpdatedAt
	}
	if !at.IsZero() {
		v.UpdatedAt = at.UTC().Format(time.RFC3339Nano)
	}
	return v
}

// detail is the kind-specific column of the table.
func (v checkpointView) detail() string {
	var parts []string
	add := func(format string, a ...any) { parts = append(parts, fmt.Sprintf(format, a...)) }
	if v.Sub != 0 {
		add("sub=%d", v.Sub)
	}
	switch v.Kind {
	case "source":
		if v.Leader != "" {
			add("leader=%s", v.Leader)
		}
		if v.SnapshotTick != 0 || v.LastScanned != 0 {
			add("snapshot=%d scanned=%d", v.SnapshotTick, v.LastScanned)
		}
	case "applied":
		add("partition=%d offset=%d", *v.Partition, *v.Offset)
	case "meta":
		if v.Owner != "" {
			add("owner=%s", v.Owner)
		}
	}
	return strings.Join(parts, " ")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func writeTable(w io.Writer, recs []store.Record) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if _, err := fmt.Fprintln(tw, "KIND\tSYNC\tSHARD\tEPOCH\tTICK\tPHASE\tUPDATED\tDETAIL"); err != nil {
		return err
	}
	for _, r := range recs {
		v := viewOf(r)
		tick := strconv.FormatUint(v.Tick, 10)
		if r.Kind() == store.KindMeta {
			tick = "-" // metadata has a leader epoch only
		}
		updated := "-"
		if at, err := time.Parse(time.RFC3339Nano, v.UpdatedAt); err == nil {
			updated = at.Format(time.RFC3339) // seconds are enough in a table
		}
		if _, err := fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", v.Kind, v.Sync, orDash(v.Shard), v.Epoch, tick,
			orDash(v.Phase), updated, v.detail()); err != nil {
			return err
		}
	}
	return tw.Flush()
}

func writeDetails(w io.Writer, recs []store.Record) error {
	for i, r := range recs {
		v := viewOf(r)
		if i > 0 {
			if _, err := fmt.Fprintln(w); err != nil {
				return err
			}
		}
		tw := tabwriter.NewWriter(w, 0, 4, 1, ' ', 0)
		if _, err := fmt.Fprintf(tw, "kind:\t%s\nsync:\t%s\nshard:\t%s\nepoch:\t%d\ntick:\t%d\nsub:\t%d\nphase:\t%s\n",
			v.Kind, v.Sync, v.Shard, v.Epoch, v.Tick, v.Sub, orDash(v.Phase)); err != nil {
			return err
		}
		var err error
		switch v.Kind {
		case "source":
			_, err = fmt.Fprintf(tw, "leader:\t%s\nsnapshot tick:\t%d\nlast scanned:\t%d\n", orDash(v.Leader), v.SnapshotTick, v.LastScanned)
		case "applied":
			_, err = fmt.Fprintf(tw, "partition:\t%d\noffset:\t%d\n", *v.Partition, *v.Offset)
		}
		if err != nil {
			return err
		}
		if _, err := fmt.Fprintf(tw, "updated:\t%s\n", orDash(v.UpdatedAt)); err != nil {
			return err
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}

func writeJSON(w io.Writer, recs []store.Record) error {
	views := make([]checkpointView, 0, len(recs))
	for _, r := range recs {
		views = append(views, viewOf(r))
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(views)
}
