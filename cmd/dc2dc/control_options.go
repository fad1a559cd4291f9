package main

// Options shared by `dc2dc master` and `dc2dc worker`: the flags, their
// validation (every problem at once, each naming the setting and the fix)
// and the ready line.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/dc2dc/dc2dc/handlers/arango/client"
	"github.com/dc2dc/dc2dc/handlers/control/api"
	"github.com/dc2dc/dc2dc/pipeline/kafka"
)

type controlOptions struct {
	role       string // master or worker
	configFile string
	dc         string
	id         string

	clusterEndpoints []string
	clusterSecret    string
	clusterSecretFil string

	serverEndpoint string
	serverHost     string
	serverPort     int

	authToken  string
	authSecret string

	tlsCert, tlsKey, tlsClientCA, tlsCA string

	// master
	lease, renew, deadAfter time.Duration
	// worker
	masterEndpoints []string
	dataDir         string
	dbserver        string
	capacity        int

	shutdown time.Duration

	// kafka is this datacenter's Kafka (the syncs' topics).
	kafka kafka.Config
}

func (o *controlOptions) bind(f *pflag.FlagSet) {
	port := 8629
	if o.role == "worker" {
		port = 8729
	}
	f.StringVar(&o.configFile, "config", "", "JSON file of settings: {\"flag-name\": value, ...}; environment DC2DC_<FLAG> overrides it, flags override both")
	f.StringVar(&o.dc, "dc", "", "name of this datacenter (shown in status)")
	f.StringVar(&o.id, "server.id", "", "id of this "+o.role+" (default: host:port of --server.endpoint)")
	f.StringSliceVar(&o.clusterEndpoints, "cluster.endpoint", nil, "the local cluster's Coordinators, e.g. http://coordinator1:8529 (repeatable)")
	f.StringVar(&o.clusterSecret, "cluster.jwt-secret", "", "the local cluster's JWT secret (prefer --cluster.jwt-secret-file or env DC2DC_CLUSTER_JWT_SECRET)")
	f.StringVar(&o.clusterSecretFil, "cluster.jwt-secret-file", "", "file holding the local cluster's JWT secret")
	f.StringVar(&o.serverEndpoint, "server.endpoint", "", "URL others reach this "+o.role+" at (default: http(s)://<host name>:<port>)")
	f.StringVar(&o.serverHost, "server.host", "0.0.0.0", "address to listen on")
	f.IntVar(&o.serverPort, "server.port", port, "port of the admin API")
	f.StringVar(&o.authToken, "auth.token", "", "bearer token of the admin API (prefer env DC2DC_AUTH_TOKEN)")
	f.StringVar(&o.authSecret, "auth.jwt-secret", "", "secret of HS256 JWTs (iss=dc2dc) for the admin API, shared by masters, workers and operators")
	f.StringVar(&o.tlsCert, "tls.cert", "", "PEM certificate of the admin API (enables TLS)")
	f.StringVar(&o.tlsKey, "tls.key", "", "PEM key of the admin API")
	f.StringVar(&o.tlsClientCA, "tls.client-ca", "", "PEM CAs whose client certificates are accepted as authentication")
	f.StringVar(&o.tlsCA, "tls.ca", "", "PEM CAs that sign the masters' certificates (default: system pool)")
	f.DurationVar(&o.shutdown, "shutdown-timeout", 10*time.Second, "longest clean shutdown after SIGTERM/SIGINT")
	kafkaClientFlags(f, "kafka", &o.kafka)
	if o.role == "master" {
		f.DurationVar(&o.lease, "election.lease", 5*time.Second, "leader lease duration")
		f.DurationVar(&o.renew, "election.renew", 1500*time.Millisecond, "leader lease renewal interval")
		f.DurationVar(&o.deadAfter, "worker.dead-after", 3*time.Second, "a worker silent this long is dead and loses its tasks")
	} else {
		f.StringSliceVar(&o.masterEndpoints, "master.endpoint", nil, "the masters of this datacenter, e.g. http://master1:8629 (repeatable)")
		f.StringVar(&o.dataDir, "data-dir", "", "directory of this worker's checkpoint store (one per worker)")
		f.StringVar(&o.dbserver, "dbserver", "", "id of the DB-Server this worker sits next to (send-shard affinity)")
		f.IntVar(&o.capacity, "capacity", 0, "most tasks this worker takes (0: unlimited)")
	}
}

// problem formats one validation problem.
func problem(flag, format string, a ...any) error {
	return fmt.Errorf("%s: %s", settingName(flag), fmt.Sprintf(format, a...))
}

// validate reports every problem at once. It reads the secret file.
func (o *controlOptions) validate(ctx context.Context) error {
	var errs []error
	clusterOptional := o.role == "worker"
	if len(o.clusterEndpoints) == 0 && !clusterOptional {
		errs = append(errs, problem("cluster.endpoint", "missing: list the local cluster's Coordinators, e.g. --cluster.endpoint http://coordinator1:8529"))
	}
	for _, ep := range o.clusterEndpoints {
		if !validURL(ep, "http", "https", "tcp", "ssl") {
			errs = append(errs, problem("cluster.endpoint", "%q is not a URL: use e.g. http://coordinator1:8529", ep))
		}
	}
	switch {
	case o.clusterSecret != "" && o.clusterSecretFil != "":
		errs = append(errs, problem("cluster.jwt-secret", "given together with --cluster.jwt-secret-file: give only one"))
	case o.clusterSecretFil != "":
		b, err := os.ReadFile(o.clusterSecretFil)
		if err != nil {
			errs = append(errs, problem("cluster.jwt-secret-file", "%v: give a readable file holding the cluster's JWT secret", err))
		} else if o.clusterSecret = strings.TrimSpace(string(b)); o.clusterSecret == "" {
			errs = append(errs, problem("cluster.jwt-secret-file", "%s is empty: write the cluster's JWT secret into it", o.clusterSecretFil))
		}
	case o.clusterSecret == "" && len(o.clusterEndpoints) > 0:
		errs = append(errs, problem("cluster.jwt-secret", "missing: dc2dc needs the cluster's JWT secret (the DB-Servers' replication APIs take only superuser tokens); give --cluster.jwt-secret-file"))
	}
	if o.serverPort < 0 || o.serverPort > 65535 {
		errs = append(errs, problem("server.port", "%d is not a port: use 0..65535 (default %d)", o.serverPort, map[string]int{"master": 8629, "worker": 8729}[o.role]))
	}
	if o.serverEndpoint != "" && !validURL(o.serverEndpoint, "http", "https") {
		errs = append(errs, problem("server.endpoint", "%q: use the URL others reach this %s at, e.g. http://host1:%d", o.serverEndpoint, o.role, o.serverPort))
	}
	if net.ParseIP(o.serverHost) == nil && o.serverHost != "localhost" {
		if _, err := net.DefaultResolver.LookupHost(ctx, o.serverHost); err != nil {
			errs = append(errs, problem("server.host", "%q is not an address of this host: use e.g. 0.0.0.0", o.serverHost))
		}
	}
	if (o.tlsCert == "") != (o.tlsKey == "") {
		errs = append(errs, problem("tls.cert", "the certificate and the key go together: give both --tls.cert and --tls.key, or neither"))
	}
	for flag, path := range map[string]string{"tls.cert": o.tlsCert, "tls.key": o.tlsKey, "tls.client-ca": o.tlsClientCA, "tls.ca": o.tlsCA} {
		if path != "" {
			if _, err := os.Stat(path); err != nil {
				errs = append(errs, problem(flag, "%v: give a readable PEM file", err))
			}
		}
	}
	if o.tlsClientCA != "" && o.tlsCert == "" {
		errs = append(errs, problem("tls.client-ca", "client certificates need TLS: give --tls.cert and --tls.key too"))
	}
	if kc := o.kafka; true {
		kc.EnsureDefaults()
		if err := kc.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("this datacenter's Kafka (--kafka.*): %w", err))
		}
	}
	if o.shutdown <= 0 {
		errs = append(errs, problem("shutdown-timeout", "%v: use a positive duration, e.g. 10s", o.shutdown))
	}
	if o.role == "master" {
		if o.lease <= 0 {
			errs = append(errs, problem("election.lease", "%v: use a positive duration (default 5s)", o.lease))
		}
		if o.renew <= 0 || (o.lease > 0 && o.renew*2 > o.lease*4/5) {
			errs = append(errs, problem("election.renew", "%v: renew at least twice per 80%% of the lease (%v), e.g. 1.5s for a 5s lease", o.renew, o.lease))
		}
		if o.deadAfter <= 0 {
			errs = append(errs, problem("worker.dead-after", "%v: use a positive duration (default 3s)", o.deadAfter))
		}
	} else {
		if len(o.masterEndpoints) == 0 {
			errs = append(errs, problem("master.endpoint", "missing: list this datacenter's masters, e.g. --master.endpoint http://master1:8629"))
		}
		for _, ep := range o.masterEndpoints {
			if !validURL(ep, "http", "https") {
				errs = append(errs, problem("master.endpoint", "%q is not an http:// or https:// URL: use e.g. http://master1:8629", ep))
			}
		}
		if o.dataDir == "" {
			errs = append(errs, problem("data-dir", "missing: give a directory for this worker's checkpoints (one per worker)"))
		}
		if o.capacity < 0 {
			errs = append(errs, problem("capacity", "%d: use 0 (unlimited) or a positive number of tasks", o.capacity))
		}
	}
	return errors.Join(errs...)
}

func validURL(s string, schemes ...string) bool {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return false
	}
	for _, sc := range schemes {
		if u.Scheme == sc {
			return true
		}
	}
	return false
}

// load layers the settings and validates them.
func (o *controlOptions) load(cmd *cobra.Command) error {
	err := layerSettings(cmd.Flags(), o.configFile, "config")
	if err := errors.Join(err, o.validate(cmd.Context())); err != nil {
		return &exitCodeError{code: 2, err: fmt.Errorf("invalid configuration of dc2dc %s:\n%w", o.role, indent(err))}
	}
	return nil
}

// indent puts every line of a joined error on its own "  - " line.
func indent(err error) error {
	lines := strings.Split(err.Error(), "\n")
	for i, l := range lines {
		lines[i] = "  - " + l
	}
	return errors.New(strings.Join(lines, "\n"))
}

func (o *controlOptions) cluster() client.Config {
	return client.Config{Endpoints: o.clusterEndpoints, JWTSecret: o.clusterSecret}
}

func (o *controlOptions) listen() string {
	return net.JoinHostPort(o.serverHost, strconv.Itoa(o.serverPort))
}

// endpoint is the advertised URL: --server.endpoint, else the host name
// (or the listen host when it is specific) and the port.
func (o *controlOptions) endpoint(actualPort int) string {
	if o.serverEndpoint != "" {
		return o.serverEndpoint
	}
	scheme := "http"
	if o.tlsCert != "" {
		scheme = "https"
	}
	host := o.serverHost
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host, _ = os.Hostname()
	}
	return scheme + "://" + net.JoinHostPort(host, strconv.Itoa(actualPort))
}

func (o *controlOptions) auth() api.AuthConfig {
	return api.AuthConfig{Token: o.authToken, JWTSecret: o.authSecret, ClientCerts: o.tlsClientCA != ""}
}

func (o *controlOptions) serverTLS() api.TLSConfig {
	return api.TLSConfig{CertFile: o.tlsCert, KeyFile: o.tlsKey, ClientCAFile: o.tlsClientCA}
}

// metrics returns a Prometheus registry with the Go and process
// collectors, and an OpenTelemetry meter provider exporting into it.
func controlMetrics() (*prometheus.Registry, *sdkmetric.MeterProvider, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	exp, err := otelprom.New(otelprom.WithRegisterer(reg), otelprom.WithoutScopeInfo())
	if err != nil {
		return nil, nil, err
	}
	return reg, sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp)), nil
}

// controlReady is the JSON ready line of a master or worker.
type controlReady struct {
	Ready     bool   `json:"ready"`
	Component string `json:"component"`
	ID        string `json:"id"`
	Endpoint  string `json:"endpoint"`
	Listen    string `json:"listen"`
	DC        string `json:"dc,omitempty"`
	PID       int    `json:"pid"`
}

func printControlReady(cmd *cobra.Command, r controlReady) error {
	r.Ready, r.PID = true, os.Getpid()
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(cmd.OutOrStdout(), "%s\n", b)
	return err
}

// runBounded runs run until ctx ends and then waits at most grace for it.
func runBounded(ctx context.Context, grace time.Duration, ready <-chan struct{}, onReady func() error, run func(context.Context) error) error {
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- run(rctx) }()
	for {
		select {
		case <-ready:
			ready = nil
			if err := onReady(); err != nil {
				cancel()
				<-done //nolint:errcheck // onReady's error is the one to report: run only ends because it was cancelled for it (errcheck and staticcheck S1005 disagree on `_ =`)
				return err
			}
		case err := <-done:
			return err
		case <-ctx.Done():
			cancel()
			select {
			case err := <-done:
				return err
			case <-time.After(grace):
				return fmt.Errorf("did not stop within --shutdown-timeout %v", grace)
			}
		}
	}
}
