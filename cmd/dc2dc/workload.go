package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/dc2dc/dc2dc/tests/workload"
)

func init() { register(newWorkloadCmd) }

// newWorkloadCmd is a development and test tool: the verification workload on
// cluster A and the key-by-key comparison of A and B (package tests/workload).
func newWorkloadCmd(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:    "workload",
		Short:  "Write a checkable load to cluster A, or compare cluster B with A (tests and demos)",
		Hidden: true,
	}
	cmd.AddCommand(newWorkloadRunCmd(g), newWorkloadVerifyCmd(g))
	return cmd
}

// clusterFlags are the address and credentials of one cluster; prefix is "" or "a." / "b.".
type clusterFlags struct {
	endpoints            []string
	user, password       string
	jwtSecret, jwtFile   string
	timeout              time.Duration
	prefix, envPrefix    string
	endpointFlag, forWho string
}

func (c *clusterFlags) bind(cmd *cobra.Command, prefix, envPrefix, forWho string) {
	c.prefix, c.envPrefix, c.forWho = prefix, envPrefix, forWho
	c.endpointFlag = prefix + "endpoint"
	f := cmd.Flags()
	var def []string
	if v := os.Getenv(envPrefix + "ENDPOINT"); v != "" {
		def = strings.Split(v, ",")
	}
	f.StringSliceVar(&c.endpoints, c.endpointFlag, def, "Coordinator URL(s) of "+forWho+", comma-separated (env "+envPrefix+"ENDPOINT)")
	f.StringVar(&c.user, prefix+"user", envOr(envPrefix+"USER", "root"), "user of "+forWho+" (env "+envPrefix+"USER)")
	f.StringVar(&c.password, prefix+"password", envOr(envPrefix+"PASSWORD", ""), "password of the user of "+forWho+" (env "+envPrefix+"PASSWORD)")
	f.StringVar(&c.jwtSecret, prefix+"jwt-secret", envOr(envPrefix+"JWT_SECRET", ""),
		"JWT secret of "+forWho+": sign a superuser token instead of user/password (env "+envPrefix+"JWT_SECRET)")
	f.StringVar(&c.jwtFile, prefix+"jwt-secret-file", "", "file holding the JWT secret of "+forWho)
	f.DurationVar(&c.timeout, prefix+"request-timeout", 30*time.Second, "timeout of one request to "+forWho)
}

func (c *clusterFlags) cluster() (workload.Cluster, error) {
	secret := c.jwtSecret
	if c.jwtFile != "" {
		b, err := os.ReadFile(c.jwtFile)
		if err != nil {
			return workload.Cluster{}, fmt.Errorf("--%sjwt-secret-file: %w", c.prefix, err)
		}
		secret = strings.TrimSpace(string(b))
	}
	if len(c.endpoints) == 0 {
		return workload.Cluster{}, fmt.Errorf("--%s is required: give the Coordinator URL(s) of %s (or set %sENDPOINT)",
			c.endpointFlag, c.forWho, c.envPrefix)
	}
	auth := workload.Auth{JWTSecret: secret}
	if secret == "" {
		auth.Username, auth.Password = c.user, c.password
	}
	return workload.Cluster{Endpoints: c.endpoints, Auth: auth, RequestTimeout: c.timeout}, nil
}

func newWorkloadRunCmd(g *globalOptions) *cobra.Command {
	var cf clusterFlags
	var cfg workload.Config
	var duration, every time.Duration
	var setup bool
	var mix, statsFile string
	var rf int
	cmd := &cobra.Command{
		Use:   "run --endpoint URL [--setup] [--rate N] [--duration D]",
		Short: "Write the verification workload to cluster A until --duration or a signal; print the stats as JSON",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := cf.cluster()
			if err != nil {
				return err
			}
			cfg.Cluster = cl
			cfg.Logger = g.Logger()
			if mix != "" {
				if cfg.Mix, err = workload.ParseMix(mix); err != nil {
					return fmt.Errorf("--mix: %w", err)
				}
			}
			for _, s := range []*workload.Shape{&cfg.Collections.Accounts, &cfg.Collections.Orders, &cfg.Collections.Links} {
				s.ReplicationFactor = rf
			}
			w, err := workload.New(cfg)
			if err != nil {
				return err
			}
			defer w.Close()
			ctx := cmd.Context()
			if setup {
				if err := w.Setup(ctx); err != nil {
					return err
				}
				g.Logger().Info("workload setup done", "databases", w.Config().Databases)
			}
			if err := printReady(cmd, "workload"); err != nil {
				return err
			}
			if duration > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, duration)
				defer cancel()
			}
			done := make(chan error, 1)
			go func() { done <- w.Run(ctx) }()
			tick := time.NewTicker(every)
			defer tick.Stop()
			for running := true; running; {
				select {
				case err = <-done:
					running = false
				case <-tick.C:
					g.Logger().Info("workload", "stats", w.Stats().String())
					if werr := writeProgress(statsFile, w.Stats()); werr != nil {
						g.Logger().Warn("stats file", "err", werr)
					}
				}
			}
			st := w.Stats()
			g.Logger().Info("workload finished", "stats", st.String())
			if werr := writeProgress(statsFile, st); werr != nil {
				g.Logger().Warn("stats file", "err", werr)
			}
			if jerr := json.NewEncoder(cmd.OutOrStdout()).Encode(st); jerr != nil {
				return jerr
			}
			return err
		},
	}
	cf.bind(cmd, "", "DC2DC_WORKLOAD_", "cluster A")
	f := cmd.Flags()
	f.BoolVar(&setup, "setup", false, "create the databases, collections, indexes, view, analyzer, user and accounts first (idempotent)")
	f.DurationVar(&duration, "duration", 0, "how long to write; 0 = until interrupted")
	f.Float64Var(&cfg.Rate, "rate", 200, "operations per second over all workers")
	f.IntVar(&cfg.Workers, "workers", 4, "concurrent writers")
	f.Uint64Var(&cfg.Seed, "seed", 1, "seed of the operation sequence")
	f.StringSliceVar(&cfg.Databases, "databases", []string{"shop", "bank"}, "databases to create and write")
	f.IntVar(&cfg.Accounts, "accounts", 200, "ledger accounts per database")
	f.Int64Var(&cfg.InitialBalance, "initial-balance", 1000, "initial balance of every account")
	f.IntVar(&cfg.DocBytes, "doc-bytes", 128, "padding bytes per written document")
	f.IntVar(&rf, "replication-factor", 2, "replicationFactor of the created collections")
	f.StringVar(&mix, "mix", "", "operation shares, e.g. "+workload.DefaultMix.String())
	f.DurationVar(&every, "stats-every", 5*time.Second, "how often to log (and write --stats-file)")
	f.StringVar(&statsFile, "stats-file", "", "file replaced with the current stats as JSON")
	return cmd
}

func newWorkloadVerifyCmd(g *globalOptions) *cobra.Command {
	var a, b clusterFlags
	var opts workload.VerifyOptions
	var wait time.Duration
	var asJSON bool
	var accounts int
	var initial int64
	cmd := &cobra.Command{
		Use:   "verify --a.endpoint URL --b.endpoint URL [--wait D]",
		Short: "Compare cluster B with cluster A key by key; exit 1 and print the differences when they differ",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ca, errA := a.cluster()
			cb, errB := b.cluster()
			if err := errors.Join(errA, errB); err != nil {
				return err
			}
			if accounts > 0 {
				opts.ExpectedLedgerSum = int64(accounts) * initial
			}
			var rep *workload.Report
			var err error
			if wait > 0 {
				rep, err = workload.WaitConverged(cmd.Context(), ca, cb, time.Now().Add(wait), opts)
				if errors.Is(err, workload.ErrNotConverged) && rep != nil {
					err = nil // reported below with the table
				}
			} else {
				rep, err = workload.Verify(cmd.Context(), ca, cb, opts)
			}
			if err != nil {
				return err
			}
			if asJSON {
				if err := json.NewEncoder(cmd.OutOrStdout()).Encode(rep); err != nil {
					return err
				}
			} else if _, err := fmt.Fprint(cmd.OutOrStdout(), rep.String()); err != nil {
				return err
			}
			if !rep.OK() {
				return &exitCodeError{code: 1, err: fmt.Errorf("cluster B differs from cluster A: lost=%d extra=%d mismatched=%d duplicated-effect=%d structure=%d ledger=%d",
					rep.Lost, rep.Extra, rep.Mismatched, rep.DuplicatedEffect, rep.StructureDiffs, rep.LedgerDiffs)}
			}
			g.Logger().Info("cluster B equals cluster A", "documents", rep.DocsA, "elapsed", rep.Elapsed)
			return nil
		},
	}
	a.bind(cmd, "a.", "DC2DC_VERIFY_A_", "cluster A")
	b.bind(cmd, "b.", "DC2DC_VERIFY_B_", "cluster B")
	f := cmd.Flags()
	f.DurationVar(&wait, "wait", 0, "poll until B equals A or this long has passed (0 = compare once)")
	f.StringSliceVar(&opts.Databases, "databases", nil, "databases to compare (default: all, and the set of databases)")
	f.StringVar(&opts.LedgerCollection, "ledger-collection", "accounts", "collection whose balances are summed")
	f.IntVar(&accounts, "accounts", 0, "with --initial-balance: check each database's ledger sum is accounts × initial-balance")
	f.Int64Var(&initial, "initial-balance", 1000, "initial balance of every account (see --accounts)")
	f.IntVar(&opts.MaxKeysInMemory, "max-keys-in-memory", 0, "document digests held per side before comparing in partitions (default 1,000,000)")
	f.IntVar(&opts.MaxSamples, "samples", 10, "differences of each kind to print")
	f.BoolVar(&asJSON, "json", false, "print the report as JSON instead of a table")
	return cmd
}
