package client

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Authentication modes.
const (
	AuthNone      = "none"      // no Authorization header (test clusters without authentication)
	AuthBasic     = "basic"     // HTTP basic with Username/Password
	AuthJWT       = "jwt"       // user JWT from POST /_open/auth with Username/Password
	AuthSuperuser = "superuser" // superuser JWT signed with JWTSecret
)

// Config says how to reach one ArangoDB cluster.
type Config struct {
	// Endpoints are the Coordinators' URLs (http://, https://, tcp:// or ssl://).
	Endpoints []string
	// Authentication is one of AuthNone, AuthBasic, AuthJWT, AuthSuperuser.
	// Default: AuthSuperuser when JWTSecret is set, AuthBasic when Username is
	// set, AuthNone otherwise.
	Authentication string
	// Username and Password are the user's credentials (AuthBasic, AuthJWT).
	Username string
	Password string
	// JWTSecret is the cluster's JWT secret. It is needed for the DB-Servers'
	// replication APIs and for AuthSuperuser.
	JWTSecret string
	// ServerID is the server_id claim of the superuser JWT (default "dc2dc").
	ServerID string
	// TLS configures https endpoints; nil uses the system's roots.
	TLS *tls.Config
	// RequestTimeout bounds one request that has no deadline of its own
	// (default 60s).
	RequestTimeout time.Duration
}

// WithDefaults returns cfg with every unset field filled in.
func (cfg Config) WithDefaults() Config {
	if cfg.Authentication == "" {
		switch {
		case cfg.JWTSecret != "":
			cfg.Authentication = AuthSuperuser
		case cfg.Username != "":
			cfg.Authentication = AuthBasic
		default:
			cfg.Authentication = AuthNone
		}
	}
	if cfg.ServerID == "" {
		cfg.ServerID = "dc2dc"
	}
	if cfg.RequestTimeout == 0 {
		cfg.RequestTimeout = 60 * time.Second
	}
	return cfg
}

// Validate reports every problem of the (defaulted) configuration at once.
func (cfg Config) Validate() error {
	var errs []error
	if len(cfg.Endpoints) == 0 {
		errs = append(errs, errors.New("arangodb endpoints: none given: list the cluster's Coordinators, e.g. http://coordinator1:8529"))
	}
	for _, ep := range cfg.Endpoints {
		if err := checkEndpoint(ep); err != nil {
			errs = append(errs, err)
		}
	}
	switch cfg.Authentication {
	case AuthNone:
		if cfg.Username != "" || cfg.Password != "" {
			errs = append(errs, errors.New("arangodb authentication: \"none\" but a user or password is set: choose \"basic\" or \"jwt\", or remove the credentials"))
		}
	case AuthBasic, AuthJWT:
		if cfg.Username == "" {
			errs = append(errs, fmt.Errorf("arangodb authentication %q needs a user: set the user name (and password)", cfg.Authentication))
		}
	case AuthSuperuser:
		if cfg.JWTSecret == "" {
			errs = append(errs, errors.New("arangodb authentication \"superuser\" needs the cluster's JWT secret: set the JWT secret (file)"))
		}
	default:
		errs = append(errs, fmt.Errorf("arangodb authentication %q: use one of none, basic, jwt, superuser", cfg.Authentication))
	}
	if cfg.RequestTimeout < 0 {
		errs = append(errs, fmt.Errorf("arangodb request timeout %v: must be positive", cfg.RequestTimeout))
	}
	if strings.TrimSpace(cfg.ServerID) == "" {
		errs = append(errs, errors.New("arangodb JWT server id is blank: leave it unset for the default \"dc2dc\""))
	}
	return errors.Join(errs...)
}

func checkEndpoint(ep string) error {
	u, err := url.Parse(ep)
	if err != nil {
		return fmt.Errorf("arangodb endpoint %q: %w: use a URL such as http://host:8529", ep, err)
	}
	switch u.Scheme {
	case "http", "https", "tcp", "ssl", "http+tcp", "http+ssl":
	default:
		return fmt.Errorf("arangodb endpoint %q: scheme %q is not supported: use http://, https://, tcp:// or ssl://", ep, u.Scheme)
	}
	if u.Host == "" {
		return fmt.Errorf("arangodb endpoint %q: no host: use a URL such as http://host:8529", ep)
	}
	return nil
}

// HTTPEndpoint maps an ArangoDB endpoint as the cluster reports it
// (tcp://host:port, ssl://host:port) to the URL to dial (http://, https://).
func HTTPEndpoint(ep string) string {
	switch {
	case strings.HasPrefix(ep, "tcp://"):
		return "http://" + strings.TrimPrefix(ep, "tcp://")
	case strings.HasPrefix(ep, "ssl://"):
		return "https://" + strings.TrimPrefix(ep, "ssl://")
	case strings.HasPrefix(ep, "http+tcp://"):
		return "http://" + strings.TrimPrefix(ep, "http+tcp://")
	case strings.HasPrefix(ep, "http+ssl://"):
		return "https://" + strings.TrimPrefix(ep, "http+ssl://")
	}
	return ep
}
