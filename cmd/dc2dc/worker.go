package main

import (
	"context"
	"fmt"
	"net"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/dc2dc/dc2dc/handlers/control/api"
	"github.com/dc2dc/dc2dc/handlers/control/master"
	"github.com/dc2dc/dc2dc/handlers/control/worker"
)

func init() { register(newWorkerCmd) }

func newWorkerCmd(g *globalOptions) *cobra.Command {
	o := &controlOptions{role: "worker"}
	cmd := &cobra.Command{
		Use:   "worker --master.endpoint URL --data-dir DIR [flags]",
		Short: "Run a sync worker (registers with the masters and runs the tasks they assign)",
		Long: `Runs one sync worker of this datacenter: it registers with the masters
(--master.endpoint, any of them: followers forward to the leader), heartbeats
every second and runs the tasks the leader assigns. Run at least one per
DB-Server machine and give it that DB-Server's id (--dbserver) so it gets the
send-shard tasks of the shards led there.

Settings come from --config (a JSON object whose keys are the flag names),
then the environment (DC2DC_<FLAG>), then the flags; flags win. Every invalid
setting is reported at once (exit code 2). With --cluster.endpoint the
worker checks the local cluster and its JWT secret at start.

Once registered with the leader it prints one JSON line:
  {"ready":true,"component":"worker","id":"...","endpoint":"http://...","listen":"...","pid":1234}
It stops cleanly on SIGTERM/SIGINT.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.load(cmd); err != nil {
				return err
			}
			return runWorker(cmd.Context(), g, o, cmd)
		},
	}
	o.bind(cmd.Flags())
	return cmd
}

func runWorker(ctx context.Context, g *globalOptions, o *controlOptions, cmd *cobra.Command) error {
	log := g.Logger().With("component", "worker")
	if len(o.clusterEndpoints) > 0 {
		cl, err := master.Connect(ctx, o.cluster())
		if err != nil {
			return err
		}
		cl.Close()
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
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", o.listen())
	if err != nil {
		return fmt.Errorf("%s / %s: cannot listen on %s: %w: choose a free port", settingName("server.host"), settingName("server.port"), o.listen(), err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	w, err := worker.New(worker.Config{
		ID: o.id, DC: o.dc, Listen: net.JoinHostPort(o.serverHost, strconv.Itoa(port)), Endpoint: o.endpoint(port), Version: version,
		DBServer: o.dbserver, Capacity: o.capacity, DataDir: o.dataDir,
		Masters: api.ClientConfig{Endpoints: o.masterEndpoints, Token: o.authToken, JWTSecret: o.authSecret, TLS: clientTLS},
		Auth:    o.auth(), TLS: o.serverTLS(), Logger: log, Gatherer: reg,
	})
	if err != nil {
		return err
	}
	return runBounded(ctx, o.shutdown, w.Ready(), func() error {
		return printControlReady(cmd, controlReady{Component: "worker", ID: w.ID(), Endpoint: w.Endpoint(), Listen: w.Addr(), DC: o.dc})
	}, w.Run)
}
