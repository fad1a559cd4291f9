package main

import (
	"context"
	"fmt"
	"net"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/dc2dc/dc2dc/handlers/control/api"
	"github.com/dc2dc/dc2dc/handlers/control/election"
	"github.com/dc2dc/dc2dc/handlers/control/master"
	"github.com/dc2dc/dc2dc/handlers/control/plan"
)

func init() { register(newMasterCmd) }

// masterOptions are the control options and the master's own.
type masterOptions struct {
	controlOptions
	replicateUsers bool
}

func newMasterCmd(g *globalOptions) *cobra.Command {
	o := &masterOptions{controlOptions: controlOptions{role: "master"}}
	cmd := &cobra.Command{
		Use:   "master --cluster.endpoint URL --cluster.jwt-secret-file FILE [flags]",
		Short: "Run a sync master (elects a leader per datacenter, keeps workers and tasks, serves the admin API)",
		Long: `Runs one sync master of this datacenter. Run at least two: they elect a
leader through a lease in the local cluster (_system/_dc2dc); the leader keeps
the workers and assigns the tasks, the others forward API requests to it.

Settings come from --config (a JSON object whose keys are the flag names),
then the environment (DC2DC_<FLAG>, e.g. DC2DC_CLUSTER_JWT_SECRET), then the
flags; flags win. Every invalid setting is reported at once (exit code 2).

Once connected to the cluster and serving the API it prints one JSON line:
  {"ready":true,"component":"master","id":"...","endpoint":"http://...","listen":"...","pid":1234}
It stops cleanly on SIGTERM/SIGINT (releasing the leadership at once).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.load(cmd); err != nil {
				return err
			}
			return runMaster(cmd.Context(), g, o, cmd)
		},
	}
	o.bind(cmd.Flags())
	cmd.Flags().BoolVar(&o.replicateUsers, "sync.replicate-users", false,
		"as a source, also send _system/_users (users with their password hashes); a target applies them and reloads its users: it ends up with the source's credentials, root included")
	return cmd
}

func runMaster(ctx context.Context, g *globalOptions, o *masterOptions, cmd *cobra.Command) error {
	log := g.Logger().With("component", "master")
	if !o.auth().Enabled() {
		log.Warn("the admin API has no authentication: anyone who reaches it can use it; set --auth.token or --auth.jwt-secret")
	}
	reg, mp, err := controlMetrics()
	if err != nil {
		return err
	}
	defer func() { _ = mp.Shutdown(context.WithoutCancel(ctx)) }()
	clientTLS, err := api.ClientTLS(o.tlsCA, "", "")
	if err != nil {
		return fmt.Errorf("--tls.ca: %w", err)
	}
	// Bind first to learn the port for the advertised endpoint.
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", o.listen())
	if err != nil {
		return fmt.Errorf("%s / %s: cannot listen on %s: %w: choose a free port", settingName("server.host"), settingName("server.port"), o.listen(), err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	m, err := master.New(master.Config{
		ID: o.id, DC: o.dc, Listen: net.JoinHostPort(o.serverHost, strconv.Itoa(port)), Endpoint: o.endpoint(port), Version: version,
		Cluster:  o.cluster(),
		Kafka:    o.kafka,
		Plan:     plan.Config{ReplicateUsers: o.replicateUsers},
		Election: election.Config{LeaseDuration: o.lease, RenewInterval: o.renew},
		Auth:     o.auth(), TLS: o.serverTLS(), ClientTLS: clientTLS,
		DeadAfter: o.deadAfter, Logger: log, MeterProvider: mp, Gatherer: reg,
	})
	if err != nil {
		return err
	}
	return runBounded(ctx, o.shutdown, m.Ready(), func() error {
		return printControlReady(cmd, controlReady{Component: "master", ID: m.ID(), Endpoint: m.Endpoint(), Listen: m.Addr(), DC: o.dc})
	}, m.Run)
}
