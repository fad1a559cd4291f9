package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	driver "github.com/arangodb/go-driver"
	driverhttp "github.com/arangodb/go-driver/http"
	driverjwt "github.com/arangodb/go-driver/jwt"

	"github.com/dc2dc/dc2dc/pipeline/failure"
)

// Client is a connection to one ArangoDB cluster. It is safe for concurrent use.
type Client struct {
	cfg       Config
	transport *http.Transport
	drv       driver.Client
	coord     *Conn
	superAuth driver.Authentication // nil without a JWT secret

	mu        sync.Mutex
	dbservers map[string]*Conn  // by dialed endpoint
	endpoints map[string]string // server id → endpoint (from health)
}

// New validates cfg and builds the client. It does not talk to the cluster;
// call Ping to check the endpoints and credentials.
func New(cfg Config) (*Client, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, failure.WithCode(failure.CodeConfigInvalid, err)
	}
	c := &Client{cfg: cfg, dbservers: make(map[string]*Conn), endpoints: make(map[string]string)}
	c.transport = &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          200,
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		TLSClientConfig:       cfg.TLS,
	}
	if cfg.JWTSecret != "" {
		hdr, err := driverjwt.CreateArangodJwtAuthorizationHeader(cfg.JWTSecret, cfg.ServerID)
		if err != nil {
			return nil, failure.WithCode(failure.CodeConfigInvalid, fmt.Errorf("arangodb JWT secret: cannot sign a token: %w", err))
		}
		c.superAuth = driver.RawAuthentication(hdr)
	}
	var auth driver.Authentication
	switch cfg.Authentication {
	case AuthBasic:
		auth = driver.BasicAuthentication(cfg.Username, cfg.Password)
	case AuthJWT:
		auth = driver.JWTAuthentication(cfg.Username, cfg.Password)
	case AuthSuperuser:
		auth = c.superAuth
	}
	eps := make([]string, len(cfg.Endpoints))
	for i, ep := range cfg.Endpoints {
		eps[i] = HTTPEndpoint(ep)
	}
	conn, err := c.newConnection(eps, auth)
	if err != nil {
		return nil, err
	}
	drv, err := driver.NewClient(driver.ClientConfig{Connection: conn})
	if err != nil {
		return nil, failure.WithCode(failure.CodeConfigInvalid, fmt.Errorf("arangodb client: %w", err))
	}
	c.drv = drv
	c.coord = &Conn{conn: drv.Connection(), endpoint: strings.Join(eps, ","), timeout: cfg.RequestTimeout}
	return c, nil
}

func (c *Client) newConnection(eps []string, auth driver.Authentication) (driver.Connection, error) {
	conn, err := driverhttp.NewConnection(driverhttp.ConnectionConfig{
		Endpoints: eps,
		TLSConfig: c.cfg.TLS,
		Transport: c.transport,
	})
	if err != nil {
		return nil, failure.WithCode(failure.CodeConfigInvalid, fmt.Errorf("arangodb endpoints %v: %w", eps, err))
	}
	if auth != nil {
		if conn, err = conn.SetAuthentication(auth); err != nil {
			return nil, failure.WithCode(failure.CodeConfigInvalid, fmt.Errorf("arangodb authentication: %w", err))
		}
	}
	return conn, nil
}

// Close releases the client's idle connections. Requests after Close open
// new ones.
func (c *Client) Close() {
	c.transport.CloseIdleConnections()
}

// Config returns the (defaulted) configuration.
func (c *Client) Config() Config { return c.cfg }

// Driver returns the go-driver client on the Coordinators.
func (c *Client) Driver() driver.Client { return c.drv }

// Coordinator returns raw access to the Coordinators.
func (c *Client) Coordinator() *Conn { return c.coord }

// Ping checks that the endpoints answer, that the credentials are accepted
// and that they lead to a Coordinator of a cluster.
func (c *Client) Ping(ctx context.Context) error {
	var role struct {
		Role string `json:"role"`
	}
	if err := c.coord.GetJSON(ctx, "_api/version", nil, nil); err != nil {
		return err
	}
	if err := c.coord.GetJSON(ctx, "_admin/server/role", nil, &role); err != nil {
		return err
	}
	if role.Role != "COORDINATOR" {
		return failure.WithCode(failure.CodeConfigInvalid, fmt.Errorf(
			"arangodb endpoints %v: server role is %q, not COORDINATOR: list the Coordinators of a cluster", c.cfg.Endpoints, role.Role))
	}
	return nil
}

// DBServer returns raw access to the DB-Server with the given id (PRMR-…),
// at the endpoint /_admin/cluster/health reports for it, authenticated with
// the superuser JWT. The endpoint is looked up once and cached; call
// ForgetDBServer after a failure to look it up again.
func (c *Client) DBServer(ctx context.Context, serverID string) (*Conn, error) {
	c.mu.Lock()
	ep, ok := c.endpoints[serverID]
	c.mu.Unlock()
	if !ok {
		servers, err := c.Health(ctx)
		if err != nil {
			return nil, err
		}
		srv, found := servers[serverID]
		if !found {
			return nil, failure.WithCode(failure.CodeArangoUnavailable, fmt.Errorf(
				"DB-Server %s is not in the cluster's health (it may have been removed)", serverID))
		}
		if srv.Endpoint == "" {
			return nil, failure.WithCode(failure.CodeArangoUnavailable, fmt.Errorf("DB-Server %s has no endpoint in the cluster's health", serverID))
		}
		ep = HTTPEndpoint(srv.Endpoint)
		c.mu.Lock()
		c.endpoints[serverID] = ep
		c.mu.Unlock()
	}
	return c.DBServerAt(ep)
}

// ForgetDBServer drops the cached endpoint of a DB-Server.
func (c *Client) ForgetDBServer(serverID string) {
	c.mu.Lock()
	delete(c.endpoints, serverID)
	c.mu.Unlock()
}

// DBServerAt returns raw access to a DB-Server endpoint (tcp://, http://, …).
func (c *Client) DBServerAt(endpoint string) (*Conn, error) {
	ep := HTTPEndpoint(endpoint)
	c.mu.Lock()
	defer c.mu.Unlock()
	if conn, ok := c.dbservers[ep]; ok {
		return conn, nil
	}
	auth := c.superAuth
	if auth == nil {
		// No JWT secret: the Coordinators' credentials (test clusters without auth).
		switch c.cfg.Authentication {
		case AuthBasic:
			auth = driver.BasicAuthentication(c.cfg.Username, c.cfg.Password)
		case AuthJWT:
			auth = driver.JWTAuthentication(c.cfg.Username, c.cfg.Password)
		}
	}
	conn, err := c.newConnection([]string{ep}, auth)
	if err != nil {
		return nil, err
	}
	cn := &Conn{conn: conn, endpoint: ep, timeout: c.cfg.RequestTimeout}
	c.dbservers[ep] = cn
	return cn, nil
}

// Conn sends raw requests to one server (or the Coordinators) through the
// go-driver connection and its authentication.
type Conn struct {
	conn     driver.Connection
	endpoint string
	timeout  time.Duration
}

// Endpoint returns the endpoint(s) the Conn talks to.
func (c *Conn) Endpoint() string { return c.endpoint }

// Request is one raw request. Path is relative to the server root, e.g.
// "_db/shop/_api/wal/tail" (see DBPath). Body, when set, is sent verbatim
// as JSON.
type Request struct {
	Method string
	Path   string
	Query  url.Values
	Body   []byte
	// What names the object of the request in error messages ("database
	// shop", "shard s1001 of shop"); optional.
	What string
}

// Response is a raw answer: its status, headers and body bytes.
type Response struct {
	Status int
	Body   []byte
	resp   driver.Response
}

// Header returns the value of a response header ("" when absent).
func (r *Response) Header(key string) string {
	if r.resp == nil {
		return ""
	}
	return r.resp.Header(key)
}

// HasHeader reports whether the response carries the header (even empty).
func (r *Response) HasHeader(key string) bool { return r.Header(key) != "" }

// Do sends the request. An answer with a status in ok (default: any 2xx) is
// returned; any other answer or a transport failure becomes a classified
// error carrying an *ArangoError.
func (c *Conn) Do(ctx context.Context, r Request, ok ...int) (*Response, error) {
	req, err := c.conn.NewRequest(r.Method, r.Path)
	if err != nil {
		return nil, failure.Permanent(fmt.Errorf("%s %s: %w", r.Method, r.Path, err))
	}
	for k, vs := range r.Query {
		if len(vs) > 0 {
			req.SetQuery(k, vs[0])
		}
	}
	if r.Body != nil {
		if _, err := req.SetBody(json.RawMessage(r.Body)); err != nil {
			return nil, failure.Permanent(fmt.Errorf("%s %s: body: %w", r.Method, r.Path, err))
		}
	}
	rctx := ctx
	if _, has := ctx.Deadline(); !has && c.timeout > 0 {
		var cancel context.CancelFunc
		rctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	var raw []byte
	resp, err := c.conn.Do(driver.WithRawResponse(rctx, &raw), req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%s %s: %w", r.Method, r.Path, ctx.Err())
		}
		return nil, classifyTransport(rctx, r.Method, r.Path, c.endpoint, err)
	}
	out := &Response{Status: resp.StatusCode(), Body: raw, resp: resp}
	if statusOK(out.Status, ok) {
		return out, nil
	}
	ae := &ArangoError{Status: out.Status, Method: r.Method, Path: r.Path, Endpoint: c.endpoint}
	var body struct {
		Error        bool   `json:"error"`
		ErrorNum     int    `json:"errorNum"`
		ErrorMessage string `json:"errorMessage"`
	}
	if json.Unmarshal(raw, &body) == nil && body.Error {
		ae.Num, ae.Message = body.ErrorNum, body.ErrorMessage
	} else {
		ae.Message = fmt.Sprintf("unexpected status code %d", out.Status)
	}
	return nil, classifyAnswer(ae, r.What)
}

func statusOK(status int, ok []int) bool {
	if len(ok) == 0 {
		return status >= 200 && status < 300
	}
	for _, s := range ok {
		if s == status {
			return true
		}
	}
	return false
}

// GetJSON sends a GET and decodes a 200 answer into out (nil: discard).
func (c *Conn) GetJSON(ctx context.Context, path string, query url.Values, out any) error {
	resp, err := c.Do(ctx, Request{Method: "GET", Path: path, Query: query}, 200)
	if err != nil {
		return err
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(resp.Body, out); err != nil {
		return failure.Permanent(&ArangoError{Status: resp.Status, Num: ErrNumInvalidResponse, Method: "GET", Path: path,
			Endpoint: c.endpoint, Message: "invalid JSON answer: " + err.Error()})
	}
	return nil
}

// DBPath returns "_db/<db>/<rest…>" with the database name escaped.
func DBPath(db string, rest ...string) string {
	return "_db/" + url.PathEscape(db) + "/" + strings.Join(rest, "/")
}
