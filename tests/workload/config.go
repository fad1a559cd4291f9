package workload

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Auth holds the credentials of one cluster. With JWTSecret set the client signs a
// superuser token (iss=arangodb) with it; otherwise Username/Password are sent as HTTP
// basic authentication. All empty means authentication is off.
type Auth struct {
	Username  string
	Password  string
	JWTSecret string
}

// Cluster names one ArangoDB cluster: its Coordinators and how to authenticate.
type Cluster struct {
	Endpoints []string
	Auth      Auth
	// RequestTimeout bounds every request (default 30s).
	RequestTimeout time.Duration
}

// Shape is the layout of one of the workload's collections.
type Shape struct {
	// Name of the collection (default accounts, orders, links).
	Name string
	// NumberOfShards (defaults 3, 4, 3).
	NumberOfShards int
	// ReplicationFactor (default 2; use 1 on a one-DB-Server cluster).
	ReplicationFactor int
}

// Collections are the three collections the workload creates in every database:
// Accounts (the ledger, sharded by _key), Orders (sharded by ["customer"]) and Links
// (an edge collection from accounts to orders, sharded by _key).
type Collections struct {
	Accounts Shape
	Orders   Shape
	Links    Shape
}

// Mix is the relative share of each operation in the write load; only the ratios
// matter. The zero Mix means DefaultMix.
type Mix struct {
	Insert   int // one order
	Update   int // PATCH of an order (If-Match)
	Replace  int // PUT of an order (If-Match)
	Remove   int // removal of an order
	Transfer int // stream transaction: debit one account, credit another
	Edge     int // one links edge from an account to an order
	Bulk     int // a batch insert of BulkSize orders
}

// DefaultMix is the mix used when Config.Mix is zero.
var DefaultMix = Mix{Insert: 20, Update: 20, Replace: 10, Remove: 8, Transfer: 25, Edge: 10, Bulk: 7}

func (m Mix) total() int {
	return m.Insert + m.Update + m.Replace + m.Remove + m.Transfer + m.Edge + m.Bulk
}

// Config configures a Workload. The zero value (plus Endpoints) is usable.
type Config struct {
	Cluster
	// Databases the workload creates and writes to (default ["shop", "bank"]).
	Databases []string
	// Collections are the shapes of the collections in every database.
	Collections Collections
	// Accounts is the number of ledger accounts per database (default 200).
	Accounts int
	// InitialBalance of every account (default 1000): the ledger sum of a database is
	// always Accounts × InitialBalance.
	InitialBalance int64
	// Rate is the number of operations per second over all workers (default 200).
	Rate float64
	// Workers is the number of concurrent writers (default 4).
	Workers int
	// Seed makes the sequence of operations of each worker reproducible (default 1).
	Seed uint64
	// Mix of operations (default DefaultMix).
	Mix Mix
	// BulkSize is the number of orders of one bulk insert (default 10).
	BulkSize int
	// DocBytes is the approximate size of the padding of each written document (default 128).
	DocBytes int
	// Attempts per operation on retryable errors (503, timeouts, refused connections; default 5).
	Attempts int
	// User is the extra user Setup creates with read-only access to every database and
	// read-write access to orders (default "dc2dc-workload", password "workload").
	User, UserPassword string
	// Logger receives diagnostics; nil discards them.
	Logger *slog.Logger
}

// withDefaults returns cfg with every unset field filled in.
func (cfg Config) withDefaults() Config {
	if cfg.RequestTimeout == 0 {
		cfg.RequestTimeout = 30 * time.Second
	}
	if len(cfg.Databases) == 0 {
		cfg.Databases = []string{"shop", "bank"}
	}
	def := func(s *Shape, name string, shards int) {
		if s.Name == "" {
			s.Name = name
		}
		if s.NumberOfShards == 0 {
			s.NumberOfShards = shards
		}
		if s.ReplicationFactor == 0 {
			s.ReplicationFactor = 2
		}
	}
	def(&cfg.Collections.Accounts, "accounts", 3)
	def(&cfg.Collections.Orders, "orders", 4)
	def(&cfg.Collections.Links, "links", 3)
	if cfg.Accounts == 0 {
		cfg.Accounts = 200
	}
	if cfg.InitialBalance == 0 {
		cfg.InitialBalance = 1000
	}
	if cfg.Rate == 0 {
		cfg.Rate = 200
	}
	if cfg.Workers == 0 {
		cfg.Workers = 4
	}
	if cfg.Seed == 0 {
		cfg.Seed = 1
	}
	if cfg.Mix == (Mix{}) {
		cfg.Mix = DefaultMix
	}
	if cfg.BulkSize == 0 {
		cfg.BulkSize = 10
	}
	if cfg.DocBytes == 0 {
		cfg.DocBytes = 128
	}
	if cfg.Attempts == 0 {
		cfg.Attempts = 5
	}
	if cfg.User == "" {
		cfg.User = "dc2dc-workload"
	}
	if cfg.UserPassword == "" {
		cfg.UserPassword = "workload"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return cfg
}

// Validate reports every problem of the (defaulted) configuration at once.
func (cfg Config) Validate() error {
	cfg = cfg.withDefaults()
	errs := []error{cfg.validate("")}
	seen := map[string]bool{}
	for _, db := range cfg.Databases {
		switch {
		case db == "" || db == "_system" || strings.ContainsAny(db, "/:"):
			errs = append(errs, fmt.Errorf("workload: database %q: use a plain name other than _system", db))
		case seen[db]:
			errs = append(errs, fmt.Errorf("workload: database %q listed twice: list each database once", db))
		}
		seen[db] = true
	}
	names := map[string]bool{}
	for _, s := range []Shape{cfg.Collections.Accounts, cfg.Collections.Orders, cfg.Collections.Links} {
		if strings.HasPrefix(s.Name, "_") || strings.ContainsAny(s.Name, "/ ") {
			errs = append(errs, fmt.Errorf("workload: collection name %q: use a name without a leading _, / or spaces", s.Name))
		}
		if names[s.Name] {
			errs = append(errs, fmt.Errorf("workload: collection name %q used twice: give accounts, orders and links distinct names", s.Name))
		}
		names[s.Name] = true
		if s.NumberOfShards < 1 || s.NumberOfShards > 1000 {
			errs = append(errs, fmt.Errorf("workload: %s NumberOfShards = %d: use 1 to 1000", s.Name, s.NumberOfShards))
		}
		if s.ReplicationFactor < 1 || s.ReplicationFactor > 10 {
			errs = append(errs, fmt.Errorf("workload: %s ReplicationFactor = %d: use 1 to 10", s.Name, s.ReplicationFactor))
		}
	}
	if cfg.Accounts < 2 {
		errs = append(errs, fmt.Errorf("workload: Accounts = %d: a transfer needs at least 2 accounts", cfg.Accounts))
	}
	if cfg.InitialBalance < 0 {
		errs = append(errs, fmt.Errorf("workload: InitialBalance = %d: use a positive balance", cfg.InitialBalance))
	}
	if cfg.Rate < 0 || cfg.Rate > 1e6 {
		errs = append(errs, fmt.Errorf("workload: Rate = %g: use 0 < Rate <= 1e6 operations per second", cfg.Rate))
	}
	if cfg.Workers < 1 || cfg.Workers > 1024 {
		errs = append(errs, fmt.Errorf("workload: Workers = %d: use 1 to 1024", cfg.Workers))
	}
	m := cfg.Mix
	if m.Insert < 0 || m.Update < 0 || m.Replace < 0 || m.Remove < 0 || m.Transfer < 0 || m.Edge < 0 || m.Bulk < 0 {
		errs = append(errs, fmt.Errorf("workload: Mix %v has a negative share: use shares >= 0", m))
	} else if m.total() <= 0 || m.total() > 1<<30 {
		errs = append(errs, fmt.Errorf("workload: Mix %v: use shares whose sum is from 1 to 2^30", m))
	}
	if cfg.BulkSize < 1 || cfg.BulkSize > 10000 {
		errs = append(errs, fmt.Errorf("workload: BulkSize = %d: use 1 to 10000", cfg.BulkSize))
	}
	if cfg.DocBytes < 0 || cfg.DocBytes > 1<<20 {
		errs = append(errs, fmt.Errorf("workload: DocBytes = %d: use 0 to 1 MiB", cfg.DocBytes))
	}
	if cfg.Attempts < 1 {
		errs = append(errs, fmt.Errorf("workload: Attempts = %d: use at least 1", cfg.Attempts))
	}
	return errors.Join(errs...)
}

// validate reports the problems of a cluster address; side names it in messages ("A", "B" or "").
func (c Cluster) validate(side string) error {
	name := "workload: cluster"
	if side != "" {
		name += " " + side
	}
	var errs []error
	if len(c.Endpoints) == 0 {
		errs = append(errs, fmt.Errorf("%s: no endpoints: give at least one Coordinator URL such as http://127.0.0.1:8529", name))
	}
	for _, e := range c.Endpoints {
		if !strings.HasPrefix(e, "http://") && !strings.HasPrefix(e, "https://") {
			errs = append(errs, fmt.Errorf("%s: endpoint %q: use an http:// or https:// URL", name, e))
		}
	}
	if c.Auth.JWTSecret != "" && c.Auth.Password != "" {
		errs = append(errs, fmt.Errorf("%s: both a JWT secret and a password are set: give one of them", name))
	}
	if c.RequestTimeout < 0 {
		errs = append(errs, fmt.Errorf("%s: RequestTimeout = %v: use a positive duration or 0 for the default", name, c.RequestTimeout))
	}
	return errors.Join(errs...)
}

// mixNames are the operation names of Mix.String and ParseMix, in field order.
var mixNames = []string{"insert", "update", "replace", "remove", "transfer", "edge", "bulk"}

func (m *Mix) fields() []*int {
	return []*int{&m.Insert, &m.Update, &m.Replace, &m.Remove, &m.Transfer, &m.Edge, &m.Bulk}
}

// String renders the mix as ParseMix reads it: "insert=20,update=20,...".
func (m Mix) String() string {
	var b strings.Builder
	for i, f := range m.fields() {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%s=%d", mixNames[i], *f)
	}
	return b.String()
}

// ParseMix reads "insert=20,transfer=50,...": operations not named get share 0.
func ParseMix(s string) (Mix, error) {
	var m Mix
	fields := m.fields()
	seen := map[string]bool{}
	var errs []error
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, val, ok := strings.Cut(part, "=")
		name = strings.TrimSpace(name)
		i := slices.Index(mixNames, name)
		n, err := strconv.Atoi(strings.TrimSpace(val))
		switch {
		case !ok || i < 0:
			errs = append(errs, fmt.Errorf("workload: mix %q: use name=share with a name of %s", part, strings.Join(mixNames, ", ")))
		case err != nil || n < 0 || n > 1_000_000:
			errs = append(errs, fmt.Errorf("workload: mix %q: the share must be an integer from 0 to 1000000", part))
		case seen[name]:
			errs = append(errs, fmt.Errorf("workload: mix names %s twice: name each operation once", name))
		default:
			*fields[i] = n
		}
		seen[name] = true
	}
	if len(errs) == 0 && m.total() == 0 {
		errs = append(errs, fmt.Errorf("workload: mix %q has no positive share: give at least one operation a share", s))
	}
	return m, errors.Join(errs...)
}
