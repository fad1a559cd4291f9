package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/dc2dc/dc2dc/handlers/control/api"
	"github.com/dc2dc/dc2dc/handlers/control/master"
	"github.com/dc2dc/dc2dc/handlers/control/runner"
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
setting is reported at once (exit code 2). The worker needs the local
cluster (--cluster.endpoint, --cluster.jwt-secret-file: the DB-Servers'
replication APIs take only superuser tokens) and this datacenter's Kafka
(--kafka.brokers); it checks the cluster and its JWT secret at start.
Kafka is contacted when the first task arrives; a sync whose topics do not
exist yet is waited for (logged).

In a source datacenter it runs the send-shard tasks the leader assigns
(WAL tail → dc2dc.<sync>.data); in a target datacenter the receive side of
every active sync (consumer group dc2dc.<sync>.apply → apply to the local
cluster). Metrics (send, publish, per-shard lag) are on /metrics.

Once registered with the leader it prints one JSON line:
  {"ready":true,"component":"worker","id":"...","endpoint":"http://...","listen":"...","pid":1234}
It stops cleanly on SIGTERM/SIGINT.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.loadWorker(cmd); err != nil {
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
	cl, err := master.Connect(ctx, o.cluster())
	if err != nil {
		return err
	}
	cl.Close()
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
	id := o.id
	if id == "" {
		// The worker's default id, known before it runs (the runner names
		// its ctl.down consumer group after it).
		id = strings.TrimPrefix(strings.TrimPrefix(o.endpoint(port), "http://"), "https://")
	}
	rn, err := runner.New(runner.Config{WorkerID: id, Kafka: o.kafka, Cluster: o.cluster(),
		Logger: log, MeterProvider: mp})
	if err != nil {
		return err
	}
	defer func() { _ = rn.Close() }()
	w, err := worker.New(worker.Config{
		ID: id, DC: o.dc, Runner: rn, Listen: net.JoinHostPort(o.serverHost, strconv.Itoa(port)), Endpoint: o.endpoint(port), Version: version,
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

// loadWorker layers and validates the settings like load, and also
// requires the local cluster: the worker's tasks read and write it.
func (o *controlOptions) loadWorker(cmd *cobra.Command) error {
	err := o.load(cmd)
	var missing []error
	if len(o.clusterEndpoints) == 0 {
		missing = append(missing, problem("cluster.endpoint", "missing: a worker runs its tasks against the local cluster: list its Coordinators, e.g. --cluster.endpoint http://coordinator1:8529"))
	}
	if len(o.clusterEndpoints) == 0 && o.clusterSecret == "" && o.clusterSecretFil == "" {
		missing = append(missing, problem("cluster.jwt-secret", "missing: dc2dc needs the cluster's JWT secret (the DB-Servers' replication APIs take only superuser tokens); give --cluster.jwt-secret-file"))
	}
	if len(missing) == 0 {
		return err
	}
	var ec *exitCodeError
	if err != nil && !errors.As(err, &ec) {
		return err // the settings could not be read at all
	}
	prev := ""
	if ec != nil {
		prev = ec.err.Error() + "\n"
	} else {
		prev = fmt.Sprintf("invalid configuration of dc2dc %s:\n", o.role)
	}
	return &exitCodeError{code: 2, err: errors.New(prev + indent(errors.Join(missing...)).Error())}
}
