package broker

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// SASL mechanisms accepted in User.Mechanism.
const (
	MechanismPlain       = "PLAIN"
	MechanismSCRAMSHA256 = "SCRAM-SHA-256"
	MechanismSCRAMSHA512 = "SCRAM-SHA-512"
)

// User is a SASL user of the embedded cluster. Users are superusers: the
// embedded cluster does not check ACLs.
type User struct {
	Mechanism string // PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512
	Name      string
	Password  string
}

// Config describes an embedded cluster. The zero value is one in-memory
// broker on a free port.
type Config struct {
	// Brokers is the number of brokers (default 1; with Ports, len(Ports)).
	Brokers int
	// Ports are the listening ports, one per broker; 0 asks the kernel for a
	// free port. Mutually exclusive with BasePort.
	Ports []int
	// BasePort, when > 0, gives broker i the port BasePort+i.
	BasePort int
	// DataDir enables persistence; empty keeps everything in memory.
	DataDir string
	// SyncWrites fsyncs every produced batch (slow; see doc.go).
	SyncWrites bool
	// Users enables SASL with these users. Empty means no authentication.
	Users []User
	// TLS, when set, makes every listener speak TLS with this config.
	TLS *tls.Config
	// DefaultPartitions is used for CreateTopics requests with -1 partitions
	// (default 10, kfake's own default).
	DefaultPartitions int
	// MaxMessageBytes is the broker's message.max.bytes (0 keeps Kafka's
	// default of 1048588).
	MaxMessageBytes int
	// GroupMinSessionTimeout is the broker's group.min.session.timeout.ms:
	// the shortest consumer session it accepts (0 keeps Kafka's 6s). Lower
	// it to let tests and `make run` move partitions of a crashed member
	// sooner.
	GroupMinSessionTimeout time.Duration
	// AutoCreateTopics lets metadata requests create topics. Off by default:
	// auto-created topics do not survive a crash (see doc.go).
	AutoCreateTopics bool
	// Logger receives kfake's warnings and errors; nil discards them.
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.Brokers == 0 && len(c.Ports) == 0 {
		c.Brokers = 1
	}
	if len(c.Ports) > 0 && c.Brokers == 0 {
		c.Brokers = len(c.Ports)
	}
	return c
}

// Validate reports every problem of the configuration at once.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	if c.Brokers < 1 || c.Brokers > 64 {
		errs = append(errs, fmt.Errorf("broker: Brokers is %d: use 1 to 64 brokers", c.Brokers))
	}
	if len(c.Ports) > 0 && len(c.Ports) != c.Brokers {
		errs = append(errs, fmt.Errorf("broker: %d ports given for %d brokers: give one port per broker or none", len(c.Ports), c.Brokers))
	}
	if len(c.Ports) > 0 && c.BasePort != 0 {
		errs = append(errs, errors.New("broker: both Ports and BasePort are set: use one of them"))
	}
	for _, p := range c.Ports {
		if p < 0 || p > 65535 {
			errs = append(errs, fmt.Errorf("broker: port %d is out of range: use 0 (free port) or 1-65535", p))
		}
	}
	if c.BasePort < 0 || c.BasePort+c.Brokers-1 > 65535 {
		errs = append(errs, fmt.Errorf("broker: BasePort %d with %d brokers leaves the port range: use a base port up to %d", c.BasePort, c.Brokers, 65536-c.Brokers))
	}
	for i, u := range c.Users {
		switch u.Mechanism {
		case MechanismPlain, MechanismSCRAMSHA256, MechanismSCRAMSHA512:
		default:
			errs = append(errs, fmt.Errorf("broker: user %d (%q) has SASL mechanism %q: use %s, %s or %s", i, u.Name, u.Mechanism, MechanismPlain, MechanismSCRAMSHA256, MechanismSCRAMSHA512))
		}
		if u.Name == "" || u.Password == "" {
			errs = append(errs, fmt.Errorf("broker: user %d has an empty name or password: give both", i))
		}
	}
	if c.DefaultPartitions < 0 {
		errs = append(errs, fmt.Errorf("broker: DefaultPartitions is %d: use 0 (default) or more", c.DefaultPartitions))
	}
	if c.GroupMinSessionTimeout < 0 {
		errs = append(errs, fmt.Errorf("broker: GroupMinSessionTimeout is %v: use 0 (default 6s) or a positive duration", c.GroupMinSessionTimeout))
	}
	if c.MaxMessageBytes < 0 {
		errs = append(errs, fmt.Errorf("broker: MaxMessageBytes is %d: use 0 (default) or more", c.MaxMessageBytes))
	}
	return errors.Join(errs...)
}

// Cluster is a running embedded Kafka cluster.
type Cluster struct {
	kc    *kfake.Cluster
	addrs []string
	once  sync.Once
}

// Start starts an embedded cluster. ctx bounds only the start; stop the
// cluster with Close.
func Start(ctx context.Context, cfg Config) (*Cluster, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	opts := []kfake.Opt{kfake.NumBrokers(cfg.Brokers), kfake.ClusterID("dc2dc-embedded")}
	ports := cfg.Ports
	if cfg.BasePort > 0 {
		ports = make([]int, cfg.Brokers)
		for i := range ports {
			ports[i] = cfg.BasePort + i
		}
	}
	if len(ports) > 0 {
		opts = append(opts, kfake.Ports(ports...))
	}
	if cfg.DataDir != "" {
		opts = append(opts, kfake.DataDir(cfg.DataDir))
	}
	if cfg.SyncWrites {
		opts = append(opts, kfake.SyncWrites())
	}
	if len(cfg.Users) > 0 {
		opts = append(opts, kfake.EnableSASL())
		for _, u := range cfg.Users {
			opts = append(opts, kfake.Superuser(u.Mechanism, u.Name, u.Password))
		}
	}
	if cfg.TLS != nil {
		opts = append(opts, kfake.TLS(cfg.TLS))
	}
	if cfg.DefaultPartitions > 0 {
		opts = append(opts, kfake.DefaultNumPartitions(cfg.DefaultPartitions))
	}
	if cfg.MaxMessageBytes > 0 {
		opts = append(opts, kfake.BrokerConfigs(map[string]string{"message.max.bytes": strconv.Itoa(cfg.MaxMessageBytes)}))
	}
	if cfg.GroupMinSessionTimeout > 0 {
		opts = append(opts, kfake.GroupMinSessionTimeout(cfg.GroupMinSessionTimeout))
	}
	if cfg.AutoCreateTopics {
		opts = append(opts, kfake.AllowAutoTopicCreation())
	}
	if cfg.Logger != nil {
		opts = append(opts, kfake.WithLogger(slogAdapter{cfg.Logger}))
	}
	kc, err := kfake.NewCluster(opts...)
	if err != nil {
		if len(ports) > 0 {
			return nil, fmt.Errorf("broker: cannot start the embedded Kafka on ports %v: %w (is another broker using them? pick other ports or 0 for free ones)", ports, err)
		}
		return nil, fmt.Errorf("broker: cannot start the embedded Kafka: %w", err)
	}
	return &Cluster{kc: kc, addrs: kc.ListenAddrs()}, nil
}

// Addrs returns the brokers' host:port addresses, for Kafka clients'
// bootstrap lists.
func (c *Cluster) Addrs() []string { return append([]string(nil), c.addrs...) }

// Close stops the cluster, persisting its state when it has a DataDir. It is
// idempotent and always returns nil (kfake reports persistence failures to
// the logger).
func (c *Cluster) Close() error {
	c.once.Do(c.kc.Close)
	return nil
}

// slogAdapter forwards kfake's log lines to slog. kfake's info and debug
// levels log every request, so only warnings and errors are passed on.
type slogAdapter struct{ l *slog.Logger }

func (a slogAdapter) Logf(level kfake.LogLevel, msg string, args ...any) {
	switch level {
	case kfake.LogLevelError:
		a.l.Error("kfake: " + fmt.Sprintf(msg, args...))
	case kfake.LogLevelWarn:
		a.l.Warn("kfake: " + fmt.Sprintf(msg, args...))
	}
}
