package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/dc2dc/dc2dc/pipeline/mirror"
)

func init() { register(newMirrorCmd) }

// exitMirrorStopped: the mirror stopped because continuing would lose a
// record (a *mirror.StopError); restarting it unchanged does not help.
const exitMirrorStopped = 3

// mirrorReady is the JSON line `dc2dc mirror` prints on stdout once it is
// connected to every cluster and serves /metrics.
type mirrorReady struct {
	Ready     bool     `json:"ready"`
	Component string   `json:"component"`
	Metrics   string   `json:"metrics,omitempty"`
	Routes    []string `json:"routes"`
	PID       int      `json:"pid"`
}

type mirrorSide struct {
	name    string
	brokers []string
	tls     mirror.TLSConfig
	sasl    mirror.SASLConfig
}

func (s *mirrorSide) bind(f *pflag.FlagSet, prefix, name, what string) {
	env := "DC2DC_" + strings.ToUpper(prefix) + "_"
	f.StringVar(&s.name, prefix+".name", name, "name of the "+what+" cluster (part of every forwarded record's source header: keep it stable)")
	f.StringSliceVar(&s.brokers, prefix+".brokers", splitList(os.Getenv(env+"BROKERS")), "brokers of the "+what+" cluster, host:port,... (env "+env+"BROKERS)")
	f.BoolVar(&s.tls.Enabled, prefix+".tls", false, "use TLS towards the "+what+" cluster")
	f.StringVar(&s.tls.CAFile, prefix+".tls.ca", "", "PEM file of the CAs to trust (default: system pool)")
	f.StringVar(&s.tls.CertFile, prefix+".tls.cert", "", "client certificate (PEM) for mutual TLS")
	f.StringVar(&s.tls.KeyFile, prefix+".tls.key", "", "client key (PEM) for mutual TLS")
	f.BoolVar(&s.tls.InsecureSkipVerify, prefix+".tls.insecure", false, "do not verify the broker certificates (tests only)")
	f.StringVar(&s.sasl.Mechanism, prefix+".sasl.mechanism", "", "SASL mechanism: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512")
	f.StringVar(&s.sasl.Username, prefix+".sasl.user", os.Getenv(env+"SASL_USER"), "SASL user (env "+env+"SASL_USER)")
	f.StringVar(&s.sasl.Password, prefix+".sasl.password", os.Getenv(env+"SASL_PASSWORD"), "SASL password (prefer env "+env+"SASL_PASSWORD)")
}

// apply sets the flags given on the command line over cluster cl.
func (s *mirrorSide) apply(f *pflag.FlagSet, prefix string, cl mirror.ClusterConfig) mirror.ClusterConfig {
	ch := func(n string) bool { return f.Changed(prefix + "." + n) }
	if len(s.brokers) > 0 {
		cl.Brokers = s.brokers
	}
	if ch("tls") {
		cl.TLS.Enabled = s.tls.Enabled
	}
	if ch("tls.ca") {
		cl.TLS.CAFile = s.tls.CAFile
	}
	if ch("tls.cert") {
		cl.TLS.CertFile = s.tls.CertFile
	}
	if ch("tls.key") {
		cl.TLS.KeyFile = s.tls.KeyFile
	}
	if ch("tls.insecure") {
		cl.TLS.InsecureSkipVerify = s.tls.InsecureSkipVerify
	}
	if ch("sasl.mechanism") {
		cl.SASL.Mechanism = s.sasl.Mechanism
	}
	if s.sasl.Username != "" {
		cl.SASL.Username = s.sasl.Username
	}
	if s.sasl.Password != "" {
		cl.SASL.Password = s.sasl.Password
	}
	return cl
}

func splitList(v string) []string {
	if v == "" {
		return nil
	}
	return strings.Split(v, ",")
}

type mirrorOptions struct {
	configFile  string
	syncID      string
	from, to    mirrorSide
	topics      []string
	topicsRegex string
	reverse     bool
	metricsAddr string
	instanceID  string
	session     time.Duration
}

func newMirrorCmd(g *globalOptions) *cobra.Command {
	o := &mirrorOptions{}
	cmd := &cobra.Command{
		Use:   "mirror --from.brokers A1,A2 --to.brokers B1,B2 --sync-id ID [--topics T,...] [--config file.json]",
		Short: "Forward dc2dc's Kafka topics between the two datacenters' Kafka clusters",
		Long: `Forwards the topics of a dc2dc sync between the Kafka cluster of the source
datacenter (--from) and the one of the target datacenter (--to), keeping
partitions, order, keys, headers and timestamps:

  dc2dc.<sync-id>.data and dc2dc.<sync-id>.ctl.up    from -> to
  dc2dc.<sync-id>.ctl.down                           to -> from (unless --reverse=false)

--topics / --topics.regex replace the from -> to topics. Poison topics are
never forwarded. Target topics are created with the source's partition count.

The mirror resumes from the last record it wrote to each target partition
(header dc2dc-mirror-src), so it can be killed at any moment without losing or
repeating records. --config reads a JSON mirror configuration (clusters,
routes, timings; see pipeline/mirror.Config and the example in
pipeline/mirror/testdata/mirror.example.json); flags given on the command
line override it.

Once connected it prints one JSON line on stdout:
  {"ready":true,"component":"mirror","metrics":"127.0.0.1:9108","routes":[...],"pid":1234}
It exits 0 on SIGTERM/SIGINT, 3 when it stopped because forwarding on would
lose a record (see the log), 1 on other errors.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := o.config(cmd.Flags())
			if err != nil {
				return err
			}
			return runMirror(cmd.Context(), g, o, cfg, cmd)
		},
	}
	o.bindFlags(cmd.Flags())
	return cmd
}

func (o *mirrorOptions) bindFlags(f *pflag.FlagSet) {
	f.StringVar(&o.configFile, "config", "", "JSON file with a mirror configuration; flags override it")
	f.StringVar(&o.syncID, "sync-id", envOr("DC2DC_SYNC_ID", ""), "sync whose topics to forward (env DC2DC_SYNC_ID)")
	o.from.bind(f, "from", "A", "source datacenter's")
	o.to.bind(f, "to", "B", "target datacenter's")
	f.StringSliceVar(&o.topics, "topics", nil, "from -> to topics (default: the sync's data and ctl.up topics)")
	f.StringVar(&o.topicsRegex, "topics.regex", "", "from -> to topics matching this regular expression (whole name), followed as they appear")
	f.BoolVar(&o.reverse, "reverse", true, "also forward the sync's ctl.down topic to -> from")
	f.StringVar(&o.metricsAddr, "metrics.addr", envOr("DC2DC_METRICS_ADDR", "127.0.0.1:9108"), "serve /metrics here; empty: off (env DC2DC_METRICS_ADDR)")
	f.StringVar(&o.instanceID, "instance-id", envOr("DC2DC_MIRROR_INSTANCE_ID", ""), "static consumer-group member id: a restarted mirror takes its partitions back at once (env DC2DC_MIRROR_INSTANCE_ID)")
	f.DurationVar(&o.session, "session-timeout", 0, "consumer-group session timeout (default 10s; at least the broker's group.min.session.timeout.ms)")
}

// config assembles the mirror configuration from --config and the flags.
func (o *mirrorOptions) config(f *pflag.FlagSet) (mirror.Config, error) {
	var cfg mirror.Config
	if o.configFile != "" {
		b, err := os.ReadFile(o.configFile)
		if err != nil {
			return cfg, fmt.Errorf("--config: %w", err)
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&cfg); err != nil {
			return cfg, fmt.Errorf("--config %s: %w", o.configFile, err)
		}
	}
	if cfg.Clusters == nil {
		cfg.Clusters = map[string]mirror.ClusterConfig{}
	}
	for _, side := range []struct {
		s      *mirrorSide
		prefix string
	}{{&o.from, "from"}, {&o.to, "to"}} {
		cl, known := cfg.Clusters[side.s.name]
		cl = side.s.apply(f, side.prefix, cl)
		if known || len(cl.Brokers) > 0 || o.configFile == "" {
			cfg.Clusters[side.s.name] = cl
		}
	}
	switch {
	case o.syncID != "":
		routes := mirror.SyncRoutes(o.syncID, o.from.name, o.to.name)
		if len(o.topics) > 0 || o.topicsRegex != "" {
			routes[0].Topics, routes[0].TopicRegex = o.topics, o.topicsRegex
		}
		if !o.reverse {
			routes = routes[:1]
		}
		cfg.Routes = routes
	case len(o.topics) > 0 || o.topicsRegex != "":
		cfg.Routes = []mirror.Route{{From: o.from.name, To: o.to.name, Topics: o.topics, TopicRegex: o.topicsRegex}}
	case len(cfg.Routes) == 0:
		return cfg, errors.New("mirror: nothing to forward: give --sync-id, --topics or --topics.regex, or routes in --config")
	}
	if o.instanceID != "" {
		cfg.InstanceID = o.instanceID
	}
	if o.session > 0 {
		cfg.SessionTimeout = mirror.Duration(o.session)
		cfg.HeartbeatInterval = mirror.Duration(o.session / 5)
	}
	return cfg, nil
}

func runMirror(ctx context.Context, g *globalOptions, o *mirrorOptions, cfg mirror.Config, cmd *cobra.Command) error {
	log := g.Logger().With("component", "mirror")
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m, err := mirror.New(cfg, mirror.WithLogger(log), mirror.WithRegisterer(reg))
	if err != nil {
		return err
	}
	ready := mirrorReady{Ready: true, Component: "mirror", PID: os.Getpid()}
	for _, r := range m.Config().Routes {
		ready.Routes = append(ready.Routes, r.Name)
	}

	var srv *http.Server
	srvDone := make(chan error, 1)
	if o.metricsAddr != "" {
		l, err := (&net.ListenConfig{}).Listen(ctx, "tcp", o.metricsAddr)
		if err != nil {
			return fmt.Errorf("--metrics.addr %s: %w", o.metricsAddr, err)
		}
		ready.Metrics = l.Addr().String()
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
		srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go func() { srvDone <- srv.Serve(l) }()
		defer func() {
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			_ = srv.Shutdown(sctx)
			<-srvDone //nolint:errcheck // Serve returns http.ErrServerClosed after Shutdown: nothing to report (errcheck and staticcheck S1005 disagree on `_ =`)
		}()
	}

	runDone := make(chan error, 1)
	go func() { runDone <- m.Run(ctx) }()
	select {
	case <-m.Ready():
		line, err := json.Marshal(ready)
		if err != nil {
			return err
		}
		if _, err := fmt.Fprintf(cmd.OutOrStdout(), "%s\n", line); err != nil {
			return err
		}
		log.Info("mirror ready", "routes", ready.Routes, "metrics", ready.Metrics)
		err = <-runDone
		return mirrorExit(err)
	case err := <-runDone:
		return mirrorExit(err)
	}
}

func mirrorExit(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, mirror.ErrPermanent) {
		return &exitCodeError{code: exitMirrorStopped, err: err}
	}
	return err
}
