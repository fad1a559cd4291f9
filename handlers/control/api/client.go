package api

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/dc2dc/dc2dc/handlers/control/registry"
	"github.com/dc2dc/dc2dc/pipeline/failure"
)

// ClientConfig says how to reach the masters.
type ClientConfig struct {
	// Endpoints are masters' URLs (http:// or https://), tried in order.
	Endpoints []string
	// Token is sent as the bearer token; else JWTSecret signs one
	// (iss=dc2dc, Subject).
	Token     string
	JWTSecret string
	Subject   string
	// TLS for https endpoints (CA, client certificate); nil: system roots.
	TLS *tls.Config
	// Timeout bounds one request (default 10s).
	Timeout time.Duration
	// NoForward: do not ask followers to forward to the leader.
	NoForward bool
}

// Validate reports every problem at once.
func (c ClientConfig) Validate() error {
	var errs []error
	if len(c.Endpoints) == 0 {
		errs = append(errs, errors.New("no master endpoint: give --master.endpoint, e.g. http://master1:8629"))
	}
	for _, ep := range c.Endpoints {
		u, err := url.Parse(ep)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("master endpoint %q: not an http:// or https:// URL with a host: use e.g. http://master1:8629", ep))
		}
	}
	return errors.Join(errs...)
}

// Client talks to the masters of one datacenter. Safe for concurrent use.
type Client struct {
	cfg  ClientConfig
	http *http.Client

	mu   sync.Mutex
	last int // index of the endpoint that answered last
}

// NewClient validates cfg and returns a client.
func NewClient(cfg ClientConfig) (*Client, error) {
	if cfg.Timeout == 0 {
		cfg.Timeout = 10 * time.Second
	}
	if err := cfg.Validate(); err != nil {
		return nil, failure.WithCode(failure.CodeConfigInvalid, err)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = cfg.TLS
	tr.MaxIdleConnsPerHost = 4
	return &Client{cfg: cfg, http: &http.Client{Transport: tr, Timeout: cfg.Timeout}}, nil
}

// Close releases idle connections.
func (c *Client) Close() { c.http.CloseIdleConnections() }

// Error is an error answer of a master.
type Error struct {
	Endpoint string
	Status   int
	Body     ErrorBody
}

func (e *Error) Error() string {
	msg := e.Body.ErrorMessage
	if msg == "" {
		msg = http.StatusText(e.Status)
	}
	return fmt.Sprintf("master %s: HTTP %d: %s", e.Endpoint, e.Status, msg)
}

// IsUnknownWorker reports whether the leader does not know the worker
// (it must register again).
func IsUnknownWorker(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Body.Reason == ReasonUnknownWorker
}

// IsNotLeader reports whether no master could answer as the leader.
func IsNotLeader(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Body.Reason == ReasonNotLeader
}

func (c *Client) authHeader() (string, error) {
	switch {
	case c.cfg.Token != "":
		return "bearer " + c.cfg.Token, nil
	case c.cfg.JWTSecret != "":
		tok, err := SignJWT(c.cfg.JWTSecret, c.cfg.Subject, time.Hour)
		if err != nil {
			return "", err
		}
		return "bearer " + tok, nil
	}
	return "", nil
}

// do sends a request to the endpoints in turn (starting with the one that
// answered last) and decodes a 200 answer into out.
func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return failure.WithCode(failure.CodeInternal, err)
		}
	}
	auth, err := c.authHeader()
	if err != nil {
		return failure.WithCode(failure.CodeConfigInvalid, fmt.Errorf("sign the admin API token: %w", err))
	}
	c.mu.Lock()
	start := c.last
	c.mu.Unlock()
	n := len(c.cfg.Endpoints)
	var errs []error
	for i := 0; i < n; i++ {
		idx := (start + i) % n
		ep := c.cfg.Endpoints[idx]
		err := c.once(ctx, ep, method, path, auth, body, out)
		if err == nil {
			c.mu.Lock()
			c.last = idx
			c.mu.Unlock()
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var ae *Error
		if errors.As(err, &ae) && ae.Status != http.StatusServiceUnavailable && ae.Status != http.StatusBadGateway {
			return err // a real answer: another master would say the same
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (c *Client) once(ctx context.Context, ep, method, path, auth string, body []byte, out any) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(ep, "/")+path, rd)
	if err != nil {
		return failure.WithCode(failure.CodeConfigInvalid, fmt.Errorf("master endpoint %s: %w", ep, err))
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if !c.cfg.NoForward {
		req.Header.Set(HeaderForwardToLeader, "true")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return failure.Retryable(fmt.Errorf("master %s: %w", ep, err))
	}
	defer func() { _ = resp.Body.Close() }() // read-only: nothing to lose on close
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return failure.Retryable(fmt.Errorf("master %s: read the answer: %w", ep, err))
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		e := &Error{Endpoint: ep, Status: resp.StatusCode}
		_ = json.Unmarshal(b, &e.Body)
		switch resp.StatusCode {
		case http.StatusUnauthorized, http.StatusForbidden:
			return failure.WithCode(failure.CodeConfigInvalid, fmt.Errorf("%w (check --auth.token or --auth.jwt-secret)", e))
		case http.StatusServiceUnavailable, http.StatusBadGateway, http.StatusNotFound:
			return failure.Retryable(e)
		}
		return failure.Permanent(e)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return failure.Permanent(fmt.Errorf("master %s: %s: invalid JSON answer: %w", ep, path, err))
	}
	return nil
}

// Version asks the first master that answers for its version.
func (c *Client) Version(ctx context.Context) (VersionInfo, error) {
	var v VersionInfo
	return v, c.do(ctx, http.MethodGet, PathVersion, nil, &v)
}

// Masters lists the masters (answered by the leader).
func (c *Client) Masters(ctx context.Context) (Masters, error) {
	var v Masters
	return v, c.do(ctx, http.MethodGet, PathMasters, nil, &v)
}

// Workers lists the workers.
func (c *Client) Workers(ctx context.Context) (Workers, error) {
	var v Workers
	return v, c.do(ctx, http.MethodGet, PathWorkers, nil, &v)
}

// Tasks lists the task records.
func (c *Client) Tasks(ctx context.Context) (Tasks, error) {
	var v Tasks
	return v, c.do(ctx, http.MethodGet, PathTasks, nil, &v)
}

// Register registers a worker with the leader.
func (c *Client) Register(ctx context.Context, info registry.WorkerInfo) (RegisterResponse, error) {
	var v RegisterResponse
	return v, c.do(ctx, http.MethodPost, PathWorkerRegister, info, &v)
}

// Heartbeat sends a worker's heartbeat and reports; the answer holds its tasks.
func (c *Client) Heartbeat(ctx context.Context, hb HeartbeatRequest) (HeartbeatResponse, error) {
	var v HeartbeatResponse
	return v, c.do(ctx, http.MethodPost, PathWorkerHeartbeat, hb, &v)
}

// MasterHeartbeat announces a follower master to the leader.
func (c *Client) MasterHeartbeat(ctx context.Context, hb MasterHeartbeat) error {
	return c.do(ctx, http.MethodPost, PathMasterHeartbeat, hb, nil)
}
