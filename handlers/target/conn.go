package target

// This file is dc2dc's minimal raw access to ArangoDB for the target side,
// kept until handlers/arango/client is committed; it is then replaced by that
// package's Conn (which must keep a verbatim-body path for document writes).
// Its shape follows client's (Config, ArangoError, Do).

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	driver "github.com/arangodb/go-driver"
	driverhttp "github.com/arangodb/go-driver/http"
	"github.com/arangodb/go-driver/jwt"

	"github.com/dc2dc/dc2dc/pipeline/failure"
)

// ConnConfig says how to reach one cluster's Coordinators.
type ConnConfig struct {
	Endpoints []string // http(s):// or tcp:// / ssl:// URLs of the Coordinators
	Username  string   // HTTP basic credentials (ignored when JWTSecret is set)
	Password  string
	JWTSecret string // the cluster's JWT secret: superuser JWT (needed on DB-Servers)
	TLS       *tls.Config
	// RequestTimeout bounds one request that has no deadline of its own (default 60s).
	RequestTimeout time.Duration
}

// Validate reports every problem at once.
func (c ConnConfig) Validate() error {
	var errs []error
	if len(c.Endpoints) == 0 {
		errs = append(errs, errors.New("arangodb endpoints: none given: list the cluster's Coordinators, e.g. http://coordinator1:8529"))
	}
	for _, ep := range c.Endpoints {
		u, err := url.Parse(httpEndpoint(ep))
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("arangodb endpoint %q: use a URL such as http://host:8529", ep))
		}
	}
	if c.RequestTimeout < 0 {
		errs = append(errs, fmt.Errorf("arangodb request timeout %v: must be positive", c.RequestTimeout))
	}
	return errors.Join(errs...)
}

// Conn reaches one cluster's Coordinators. Raw requests (Do) go through
// net/http with the same authentication as the go-driver client (Client):
// go-driver's JSON request body re-encodes and re-validates every body
// (json.Marshal of a json.RawMessage), which cost a third of the CPU of an
// apply in BenchmarkApply1KiB, and documents from A are sent verbatim.
// Do moves to the next endpoint on a transport failure.
type Conn struct {
	cfg    ConnConfig
	eps    []string
	auth   string // Authorization header value, "" for none
	http   *http.Client
	next   atomic.Uint32
	client driver.Client
}

// Dial builds a connection; it does not contact the server.
func Dial(cfg ConnConfig) (*Conn, error) {
	if cfg.RequestTimeout == 0 {
		cfg.RequestTimeout = 60 * time.Second
	}
	if err := cfg.Validate(); err != nil {
		return nil, failure.WithCode(failure.CodeConfigInvalid, err)
	}
	eps := make([]string, len(cfg.Endpoints))
	for i, ep := range cfg.Endpoints {
		eps[i] = strings.TrimSuffix(httpEndpoint(ep), "/")
	}
	transport := &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        100,
		MaxIdleConnsPerHost: 32,
		IdleConnTimeout:     90 * time.Second,
		TLSClientConfig:     cfg.TLS,
	}
	conn, err := driverhttp.NewConnection(driverhttp.ConnectionConfig{Endpoints: eps, TLSConfig: cfg.TLS, Transport: transport})
	if err != nil {
		return nil, failure.WithCode(failure.CodeConfigInvalid, err)
	}
	var auth driver.Authentication
	var header string
	switch {
	case cfg.JWTSecret != "":
		header, err = jwt.CreateArangodJwtAuthorizationHeader(cfg.JWTSecret, "dc2dc")
		if err != nil {
			return nil, failure.WithCode(failure.CodeConfigInvalid, err)
		}
		auth = driver.RawAuthentication(header)
	case cfg.Username != "":
		auth = driver.BasicAuthentication(cfg.Username, cfg.Password)
		header = "Basic " + base64.StdEncoding.EncodeToString([]byte(cfg.Username+":"+cfg.Password))
	}
	client, err := driver.NewClient(driver.ClientConfig{Connection: conn, Authentication: auth})
	if err != nil {
		return nil, failure.WithCode(failure.CodeConfigInvalid, err)
	}
	return &Conn{cfg: cfg, eps: eps, auth: header, http: &http.Client{Transport: transport}, client: client}, nil
}

// Client returns the go-driver client on this connection.
func (c *Conn) Client() driver.Client { return c.client }

// Close releases idle connections.
func (c *Conn) Close() { c.http.CloseIdleConnections() }

// Server returns a connection to one server of the cluster (a DB-Server's
// endpoint as /_admin/cluster/health reports it) with the same credentials
// and the same HTTP transport. Its Client is nil: go-driver is for the
// Coordinators.
func (c *Conn) Server(endpoint string) (*Conn, error) {
	ep := strings.TrimSuffix(httpEndpoint(endpoint), "/")
	if u, err := url.Parse(ep); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, failure.Permanent(fmt.Errorf("server endpoint %q: not an http(s), tcp or ssl URL", endpoint))
	}
	cfg := c.cfg
	cfg.Endpoints = []string{endpoint}
	return &Conn{cfg: cfg, eps: []string{ep}, auth: c.auth, http: c.http}, nil
}

// Request is one raw request. Path is relative to the server root and
// includes /_db/<db> (see DBPath).
type Request struct {
	Method string
	Path   string
	Query  url.Values
	Header map[string]string
	Body   []byte // JSON, sent verbatim; nil for none
}

// Response is a raw answer.
type Response struct {
	Status int
	Body   []byte
	header http.Header
}

// Header returns a response header.
func (r *Response) Header(key string) string { return r.header.Get(key) }

// DBPath returns "/_db/<escaped db>" + rest.
func DBPath(db string, rest ...string) string {
	var b strings.Builder
	b.WriteString("/_db/")
	b.WriteString(url.PathEscape(db))
	for _, r := range rest {
		b.WriteString(r)
	}
	return b.String()
}

// Do sends the request. A transport failure (after trying every endpoint
// once) is returned as a classified error (retryable unless the context
// ended); any HTTP answer, including an error status, is returned as a
// Response (see (*Response).Check).
func (c *Conn) Do(ctx context.Context, req Request) (*Response, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.cfg.RequestTimeout)
		defer cancel()
	}
	target := req.Path
	if len(req.Query) > 0 {
		target += "?" + req.Query.Encode()
	}
	var lastErr error
	first := int(c.next.Load())
	for i := 0; i < len(c.eps); i++ {
		idx := (first + i) % len(c.eps)
		var body io.Reader
		if req.Body != nil {
			body = bytes.NewReader(req.Body)
		}
		hr, err := http.NewRequestWithContext(ctx, req.Method, c.eps[idx]+target, body)
		if err != nil {
			return nil, failure.Permanent(fmt.Errorf("%s %s: %w", req.Method, req.Path, err))
		}
		if req.Body != nil {
			hr.Header.Set("Content-Type", "application/json")
		}
		hr.Header.Set("Accept", "application/json")
		if c.auth != "" {
			hr.Header.Set("Authorization", c.auth)
		}
		for k, v := range req.Header {
			hr.Header.Set(k, v)
		}
		resp, err := c.http.Do(hr)
		if err == nil {
			data, rerr := io.ReadAll(resp.Body)
			_ = resp.Body.Close() // read to the end already: a close error loses nothing
			if rerr == nil {
				return &Response{Status: resp.StatusCode, Body: data, header: resp.Header}, nil
			}
			err = rerr
		}
		lastErr = err
		if ctx.Err() != nil {
			break
		}
		c.next.CompareAndSwap(uint32(first), uint32((idx+1)%len(c.eps)))
	}
	return nil, classifyTransport(ctx, req.Method, req.Path, lastErr)
}

// ArangoError is an error answer of an ArangoDB server, or a transport
// failure (Status 0, Cause set).
type ArangoError struct {
	Status  int
	Num     int
	Message string
	Method  string
	Path    string
	Cause   error
}

func (e *ArangoError) Error() string {
	if e.Cause != nil {
		return e.Method + " " + e.Path + ": " + e.Cause.Error()
	}
	return fmt.Sprintf("%s %s: HTTP %d, errorNum %d: %s", e.Method, e.Path, e.Status, e.Num, e.Message)
}

// Unwrap returns the transport error, if any.
func (e *ArangoError) Unwrap() error { return e.Cause }

// ErrorNum returns the ArangoDB errorNum in err's chain, or 0.
func ErrorNum(err error) int {
	var ae *ArangoError
	if errors.As(err, &ae) {
		return ae.Num
	}
	return 0
}

// HTTPStatus returns the HTTP status in err's chain, or 0.
func HTTPStatus(err error) int {
	var ae *ArangoError
	if errors.As(err, &ae) {
		return ae.Status
	}
	return 0
}

// ArangoDB error numbers this package acts on (spec §6.2).
const (
	numForbidden           = 11
	numResourceLimit       = 32
	numLockTimeout         = 18
	numConflict            = 1200
	numDocumentNotFound    = 1202
	numDataSourceNotFound  = 1203
	numDuplicateName       = 1207
	numUniqueConstraint    = 1210
	numDatabaseNotFound    = 1228
	numClusterTimeout      = 1457
	numLeaderResigned      = 1491
	numLeadershipChallenge = 1495
	numNotLeader           = 1496
	numTrxAborted          = 1654
	numTrxNotFound         = 1655
	numDuplicateUser       = 1702
	numUserNotFound        = 1703
)

// answerError parses an error answer into an *ArangoError (unclassified).
func answerError(req Request, resp *Response) *ArangoError {
	var body struct {
		ErrorNum     int    `json:"errorNum"`
		ErrorMessage string `json:"errorMessage"`
	}
	_ = json.Unmarshal(resp.Body, &body)
	if body.ErrorMessage == "" {
		body.ErrorMessage = http.StatusText(resp.Status)
	}
	return &ArangoError{Status: resp.Status, Num: body.ErrorNum, Message: body.ErrorMessage, Method: req.Method, Path: req.Path}
}

// Check returns nil when the response status is one of ok, else the
// classified error (see classify).
func (r *Response) Check(req Request, ok ...int) error {
	for _, s := range ok {
		if r.Status == s {
			return nil
		}
	}
	return classify(answerError(req, r))
}

// classify classifies an ArangoDB error answer: 503, leadership and cluster
// timeouts retryable; 401/403 permanent with CodeArangoAuth; everything else
// permanent with CodeApplyRejected (callers that know better, such as a
// missing collection during apply, re-classify).
func classify(e *ArangoError) error {
	switch {
	case e.Status == http.StatusUnauthorized:
		return failure.WithCode(failure.CodeArangoAuth, fmt.Errorf(
			"%w: ArangoDB refused the credentials: check the user and password, or the JWT secret of cluster B", e))
	case e.Status == http.StatusForbidden || e.Num == numForbidden:
		return failure.WithCode(failure.CodeArangoAuth, fmt.Errorf(
			"%w: the user may not do this: dc2dc writes to cluster B with the superuser JWT (or an admin user)", e))
	case e.Status == http.StatusServiceUnavailable, e.Num == numLeaderResigned, e.Num == numLeadershipChallenge,
		e.Num == numNotLeader, e.Num == numClusterTimeout, e.Num == numLockTimeout,
		e.Status == http.StatusBadGateway, e.Status == http.StatusGatewayTimeout,
		e.Status == http.StatusRequestTimeout, e.Status == http.StatusTooManyRequests, e.Status >= 500:
		return failure.WithCode(failure.CodeArangoUnavailable, e)
	}
	return failure.WithCode(failure.CodeApplyRejected, e)
}

func classifyTransport(ctx context.Context, method, path string, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("%s %s: %w", method, path, ctxErr)
	}
	if ae, ok := driver.AsArangoError(err); ok {
		return classify(&ArangoError{Status: ae.Code, Num: ae.ErrorNum, Message: ae.ErrorMessage, Method: method, Path: path})
	}
	cause := driver.Cause(err)
	var re *driver.ResponseError
	if errors.As(cause, &re) && re.Err != nil {
		cause = re.Err
	}
	e := &ArangoError{Method: method, Path: path, Cause: cause}
	var ne net.Error
	var ue *url.Error
	var oe *net.OpError
	if errors.As(cause, &ne) || errors.As(cause, &ue) || errors.As(cause, &oe) ||
		errors.Is(cause, syscall.ECONNREFUSED) || errors.Is(cause, syscall.ECONNRESET) ||
		errors.Is(cause, io.EOF) || errors.Is(cause, io.ErrUnexpectedEOF) || errors.Is(cause, context.DeadlineExceeded) {
		return failure.WithCode(failure.CodeArangoUnreachable, e)
	}
	return failure.Permanent(e)
}

// httpEndpoint maps tcp:// and ssl:// (as the cluster reports endpoints) to http(s)://.
func httpEndpoint(ep string) string {
	switch {
	case strings.HasPrefix(ep, "tcp://"):
		return "http://" + strings.TrimPrefix(ep, "tcp://")
	case strings.HasPrefix(ep, "ssl://"):
		return "https://" + strings.TrimPrefix(ep, "ssl://")
	}
	return ep
}
