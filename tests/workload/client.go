package workload

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"syscall"
	"time"

	driver "github.com/arangodb/go-driver"
	dhttp "github.com/arangodb/go-driver/http"
	"github.com/arangodb/go-driver/jwt"
)

// client is one go-driver client with its own transport, so Close can release its
// idle connections (tests check for leaked goroutines).
type client struct {
	driver.Client
	conn      driver.Connection
	transport *http.Transport
	timeout   time.Duration
}

// dial connects to a cluster with go-driver v1, the client a user of the cluster uses.
func dial(c Cluster) (*client, error) {
	if c.RequestTimeout == 0 {
		c.RequestTimeout = 30 * time.Second
	}
	tr := &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        256,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     30 * time.Second,
	}
	conn, err := dhttp.NewConnection(dhttp.ConnectionConfig{Endpoints: c.Endpoints, Transport: tr})
	if err != nil {
		return nil, fmt.Errorf("workload: connect to %v: %w", c.Endpoints, err)
	}
	var auth driver.Authentication
	switch {
	case c.Auth.JWTSecret != "":
		hdr, err := jwt.CreateArangodJwtAuthorizationHeader(c.Auth.JWTSecret, "dc2dc-workload")
		if err != nil {
			return nil, fmt.Errorf("workload: sign a superuser token with the JWT secret: %w", err)
		}
		auth = driver.RawAuthentication(hdr)
	case c.Auth.Username != "" || c.Auth.Password != "":
		user := c.Auth.Username
		if user == "" {
			user = "root"
		}
		auth = driver.BasicAuthentication(user, c.Auth.Password)
	}
	cl, err := driver.NewClient(driver.ClientConfig{Connection: conn, Authentication: auth})
	if err != nil {
		return nil, fmt.Errorf("workload: client for %v: %w", c.Endpoints, err)
	}
	return &client{Client: cl, conn: cl.Connection(), transport: tr, timeout: c.RequestTimeout}, nil
}

// Close releases the client's idle connections.
func (c *client) Close() { c.transport.CloseIdleConnections() }

// rawResponse is a response whose body was read as bytes.
type rawResponse struct {
	status int
	body   []byte
	resp   driver.Response
}

// raw sends one request through the driver's connection (authentication, endpoint
// failover) and returns the body as bytes. path is relative ("_db/x/_api/...").
// A status outside ok is returned as the driver's ArangoError.
func (c *client) raw(ctx context.Context, method, path string, query url.Values, body any, ok ...int) (*rawResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := c.conn.NewRequest(method, path)
	if err != nil {
		return nil, err
	}
	for k, vs := range query {
		for _, v := range vs {
			req.SetQuery(k, v)
		}
	}
	if body != nil {
		if _, err := req.SetBody(body); err != nil {
			return nil, err
		}
	}
	var b []byte
	resp, err := c.conn.Do(driver.WithRawResponse(ctx, &b), req)
	if err != nil {
		return nil, err
	}
	if len(ok) == 0 {
		ok = []int{http.StatusOK}
	}
	if err := resp.CheckStatus(ok...); err != nil {
		return nil, err
	}
	return &rawResponse{status: resp.StatusCode(), body: b, resp: resp}, nil
}

// dbPath is the relative path of an API of a database.
func dbPath(db, api string) string { return "_db/" + url.PathEscape(db) + "/" + api }

// retryable reports whether err may go away on its own: a 503/408/500-ish answer,
// a timeout, a refused or reset connection. Everything else is permanent for the
// workload (a 412 or 409 is an answer, not a failure of the transport).
func retryable(err error) bool {
	if err == nil {
		return false
	}
	// go-driver wraps transport failures (EOF, reset, refused) in a
	// ResponseError without Unwrap.
	var re *driver.ResponseError
	if errors.As(err, &re) {
		return !errors.Is(re.Err, context.Canceled)
	}
	if ae := (driver.ArangoError{}); errors.As(err, &ae) {
		switch ae.Code {
		case http.StatusServiceUnavailable, http.StatusRequestTimeout, http.StatusGatewayTimeout,
			http.StatusBadGateway, http.StatusInternalServerError, http.StatusTooManyRequests:
			return true
		}
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	var ue *url.Error
	return errors.As(err, &ue) || driver.IsTimeout(err)
}

// backoff sleeps before attempt n (1-based) unless ctx ends first.
func backoff(ctx context.Context, n int) error {
	d := time.Duration(1<<min(n, 6)) * 10 * time.Millisecond
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
