package api

import (
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Issuer is the iss claim of dc2dc's admin API tokens.
const Issuer = "dc2dc"

// AuthConfig says which credentials the API accepts. Any of them is enough.
type AuthConfig struct {
	// Token is a static bearer token.
	Token string
	// JWTSecret verifies HS256 bearer JWTs with iss=dc2dc.
	JWTSecret string
	// ClientCerts: a verified TLS client certificate authenticates
	// (TLSConfig.ClientCAFile must be set).
	ClientCerts bool
}

// Enabled reports whether any authentication is configured.
func (a AuthConfig) Enabled() bool { return a.Token != "" || a.JWTSecret != "" || a.ClientCerts }

// authError is a refused request: 401 or 403.
type authError struct {
	status int
	msg    string
}

func (e *authError) Error() string { return e.msg }

// authorize checks a request's credentials; nil means allowed.
func (a AuthConfig) authorize(r *http.Request) *authError {
	if !a.Enabled() {
		return nil
	}
	if a.ClientCerts && r.TLS != nil && len(r.TLS.VerifiedChains) > 0 {
		return nil
	}
	h := r.Header.Get("Authorization")
	if h == "" {
		return &authError{http.StatusUnauthorized, "no credentials: send `Authorization: bearer <token>` (the --auth.token, or a JWT signed with --auth.jwt-secret) or a client certificate"}
	}
	tok, ok := parseBearer(h)
	if !ok {
		return &authError{http.StatusUnauthorized, "the Authorization header is not `bearer <token>`"}
	}
	if a.Token != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(a.Token)) == 1 {
		return nil
	}
	if a.JWTSecret != "" && strings.Count(tok, ".") == 2 {
		return checkJWT(tok, a.JWTSecret)
	}
	return &authError{http.StatusUnauthorized, "invalid bearer token: it is neither the configured token nor a JWT signed with the configured secret"}
}

// parseBearer returns the token of an `Authorization: bearer <token>` header.
func parseBearer(h string) (string, bool) {
	scheme, tok, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != "" && !strings.ContainsAny(tok, " \t")
}

func checkJWT(tok, secret string) *authError {
	claims := jwt.MapClaims{}
	_, err := jwt.ParseWithClaims(tok, claims, func(t *jwt.Token) (any, error) {
		return []byte(secret), nil
	}, jwt.WithValidMethods([]string{"HS256"}), jwt.WithLeeway(30*time.Second))
	if err != nil {
		if errors.Is(err, jwt.ErrTokenExpired) {
			return &authError{http.StatusUnauthorized, "the bearer JWT has expired: sign a new one"}
		}
		return &authError{http.StatusUnauthorized, "invalid bearer JWT (" + err.Error() + "): sign it with HS256 and the --auth.jwt-secret of the masters"}
	}
	if iss, _ := claims.GetIssuer(); iss != Issuer {
		return &authError{http.StatusForbidden, fmt.Sprintf("the bearer JWT was issued by %q, not %q: it is not meant for dc2dc", iss, Issuer)}
	}
	return nil
}

// SignJWT returns an HS256 JWT with iss=dc2dc, valid for ttl.
func SignJWT(secret, subject string, ttl time.Duration) (string, error) {
	now := time.Now()
	claims := jwt.RegisteredClaims{Issuer: Issuer, Subject: subject, IssuedAt: jwt.NewNumericDate(now)}
	if ttl > 0 {
		claims.ExpiresAt = jwt.NewNumericDate(now.Add(ttl))
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(secret))
}

// TLSConfig is the server side TLS of the API.
type TLSConfig struct {
	CertFile, KeyFile string
	// ClientCAFile: verify client certificates against these CAs (optional).
	ClientCAFile string
}

// Enabled reports whether TLS is configured.
func (c TLSConfig) Enabled() bool { return c.CertFile != "" || c.KeyFile != "" }

// Validate reports every problem at once.
func (c TLSConfig) Validate() error {
	var errs []error
	if (c.CertFile == "") != (c.KeyFile == "") {
		errs = append(errs, errors.New("TLS: give both the certificate and the key file (--tls.cert and --tls.key), or neither"))
	}
	if c.ClientCAFile != "" && !c.Enabled() {
		errs = append(errs, errors.New("TLS: a client CA (--tls.client-ca) needs TLS: give --tls.cert and --tls.key"))
	}
	for _, f := range []struct{ flag, path string }{{"--tls.cert", c.CertFile}, {"--tls.key", c.KeyFile}, {"--tls.client-ca", c.ClientCAFile}} {
		if f.path != "" {
			if _, err := os.Stat(f.path); err != nil {
				errs = append(errs, fmt.Errorf("TLS: %s %s: %w: give a readable PEM file", f.flag, f.path, err))
			}
		}
	}
	return errors.Join(errs...)
}

// Build loads the certificates; nil when TLS is off.
func (c TLSConfig) Build() (*tls.Config, error) {
	if !c.Enabled() {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("TLS: load --tls.cert %s / --tls.key %s: %w", c.CertFile, c.KeyFile, err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if c.ClientCAFile != "" {
		pem, err := os.ReadFile(c.ClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("TLS: --tls.client-ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("TLS: --tls.client-ca %s holds no PEM certificate", c.ClientCAFile)
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.VerifyClientCertIfGiven
	}
	return cfg, nil
}

// ClientTLS builds a client TLS configuration: the CAs to trust (caFile;
// empty: the system's) and a client certificate (optional). It returns nil
// when nothing is given.
func ClientTLS(caFile, certFile, keyFile string) (*tls.Config, error) {
	if caFile == "" && certFile == "" && keyFile == "" {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("CA file %s: %w", caFile, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA file %s holds no PEM certificate", caFile)
		}
		cfg.RootCAs = pool
	}
	if (certFile == "") != (keyFile == "") {
		return nil, errors.New("client certificate: give both the certificate and the key file, or neither")
	}
	if certFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("client certificate %s / %s: %w", certFile, keyFile, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}
