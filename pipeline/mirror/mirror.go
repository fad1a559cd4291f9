package mirror

import (
	"context"
	"errors"
	"log/slog"
	"regexp"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/metric"
	"golang.org/x/sync/errgroup"
)

// Mirror forwards the configured routes. Create it with New, run it with Run.
type Mirror struct {
	cfg    Config
	log    *slog.Logger
	reg    prometheus.Registerer
	met    *metrics
	routes []*route

	started  atomic.Bool
	ready    chan struct{}
	readyCnt atomic.Int32
}

// Option configures the observability of a Mirror; nil values mean off.
type Option func(*Mirror, *options)

type options struct{ meter metric.Meter }

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option {
	return func(m *Mirror, _ *options) {
		if l != nil {
			m.log = l
		}
	}
}

// WithRegisterer registers the mirror's Prometheus collectors on reg.
func WithRegisterer(reg prometheus.Registerer) Option {
	return func(m *Mirror, _ *options) { m.reg = reg }
}

// WithMeter records the mirror's metrics on an OpenTelemetry meter too.
func WithMeter(meter metric.Meter) Option {
	return func(_ *Mirror, o *options) { o.meter = meter }
}

// New validates cfg (after filling defaults) and prepares a Mirror. It does
// not connect: Run does.
func New(cfg Config, opts ...Option) (*Mirror, error) {
	cfg.Clusters = cloneClusters(cfg.Clusters)
	cfg.Routes = append([]Route(nil), cfg.Routes...)
	cfg.EnsureDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m := &Mirror{cfg: cfg, log: slog.New(slog.DiscardHandler), ready: make(chan struct{})}
	var o options
	for _, opt := range opts {
		opt(m, &o)
	}
	met, err := newMetrics(m.reg, o.meter)
	if err != nil {
		return nil, err
	}
	m.met = met
	for _, rc := range cfg.Routes {
		r, err := newRoute(m, rc)
		if err != nil {
			met.unregister(m.reg)
			return nil, err
		}
		m.routes = append(m.routes, r)
	}
	m.readyCnt.Store(int32(len(m.routes)))
	return m, nil
}

func cloneClusters(in map[string]ClusterConfig) map[string]ClusterConfig {
	out := make(map[string]ClusterConfig, len(in))
	for k, v := range in {
		v.Brokers = append([]string(nil), v.Brokers...)
		out[k] = v
	}
	return out
}

// Config returns the configuration in force, defaults filled in.
func (m *Mirror) Config() Config { return m.cfg }

// Ready is closed once every route has connected to both of its clusters
// for the first time.
func (m *Mirror) Ready() <-chan struct{} { return m.ready }

func (m *Mirror) routeConnected(r *route) {
	r.readyOnce.Do(func() {
		if m.readyCnt.Add(-1) == 0 {
			close(m.ready)
		}
	})
}

// Run forwards records until ctx is canceled or a route stops for good
// (an error wrapping ErrPermanent). Errors that retrying can fix (brokers
// down, rebalances, timeouts) restart the route after a backoff and are
// only logged and counted. After ctx is canceled Run returns within about
// ShutdownTimeout; it returns nil then. Run may be called once.
func (m *Mirror) Run(ctx context.Context) error {
	if !m.started.CompareAndSwap(false, true) {
		return errors.New("mirror: Run called twice: create a new Mirror")
	}
	g, gctx := errgroup.WithContext(ctx)
	for _, r := range m.routes {
		g.Go(func() error { return r.run(gctx) })
	}
	err := g.Wait()
	m.met.unregister(m.reg)
	if ctx.Err() != nil && !errors.Is(err, ErrPermanent) {
		return nil
	}
	return err
}

func newRoute(m *Mirror, rc Route) (*route, error) {
	src, err := sourceConfig(m.cfg.Clusters[rc.From], &m.cfg)
	if err != nil {
		return nil, err
	}
	r := &route{}
	dst, err := targetConfig(m.cfg.Clusters[rc.To], &m.cfg, &r.stopping)
	if err != nil {
		return nil, err
	}
	*r = route{
		m: m, cfg: rc, srcCfg: src, dstCfg: dst,
		names:    map[string]bool{},
		log:      m.log.With("route", rc.Name, "from", rc.From, "to", rc.To),
		failedAt: map[topicPartition]int64{},
	}
	for _, t := range rc.Topics {
		r.names[t] = true
	}
	if rc.TopicRegex != "" {
		r.re = regexp.MustCompile("^(?:" + rc.TopicRegex + ")$")
	}
	return r, nil
}

// selects reports whether the route forwards topic t.
func (r *route) selects(t string) bool {
	if excludedTopic(t) {
		return false
	}
	return r.names[t] || (r.re != nil && r.re.MatchString(t))
}
