package arangosim

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
)

// Access is what a route requires of the caller.
type Access int

// Access levels.
const (
	// AccessOpen needs no authentication (e.g. /_open/auth).
	AccessOpen Access = iota
	// AccessUser needs an authenticated user with at least read access to the database.
	AccessUser
	// AccessSuperuser needs a superuser JWT (signed with the cluster secret); an
	// authenticated non-superuser gets 403/11.
	AccessSuperuser
)

// Request is an incoming request after routing: the database is resolved and the
// caller is authenticated as the route's Access demands.
type Request struct {
	*http.Request
	Server *Server
	// DBName is the database named by /_db/{db}/ (default _system); DB is nil for a
	// Coordinator if it does not exist (routes never see that: they get 404/1228).
	DBName string
	DB     *Database
	// Path is the URL path without the /_db/{db} prefix.
	Path string
	// User is the authenticated user ("" for a superuser JWT or with auth off).
	User      string
	Superuser bool
	// SuperuserJWT: the caller presented the superuser JWT (authentication
	// on). Like arangod, whose read-only mode caps users' access levels
	// only, such a caller may still write in read-only mode (dc2dc's own
	// writes, as arangosync's, rely on it).
	SuperuserJWT bool

	body    []byte
	bodyErr error
	bodyOK  bool
	bodyBuf *[]byte // the pooled buffer holding body (see releaseBody)
	query   url.Values
}

// bufPool recycles large transient buffers: request bodies of the handlers that
// release them and WAL tail answers.
var bufPool sync.Pool // of *[]byte

// maxPooledBuf bounds the buffers kept for reuse.
const maxPooledBuf = 16 << 20

// getBuf returns a pooled buffer of length n.
func getBuf(n int) *[]byte {
	if bp, _ := bufPool.Get().(*[]byte); bp != nil {
		if cap(*bp) >= n {
			*bp = (*bp)[:n]
			return bp
		}
		bufPool.Put(bp)
	}
	b := make([]byte, n)
	return &b
}

func putBuf(bp *[]byte) {
	if bp != nil && cap(*bp) <= maxPooledBuf {
		bufPool.Put(bp)
	}
}

// poisonReleasedBodies (set by the package's tests) overwrites every released body,
// so that anything still holding a slice of one reads '#'s.
var poisonReleasedBodies bool

// releaseBody hands the body's buffer back for reuse. Only a handler that keeps no
// slice of the body (and nothing that refers to one) beyond its answer may call it.
func (r *Request) releaseBody() {
	if r.bodyBuf != nil {
		if poisonReleasedBodies {
			b := *r.bodyBuf
			for i := range b {
				b[i] = '#'
			}
		}
		putBuf(r.bodyBuf)
		r.bodyBuf, r.body = nil, nil
	}
}

// q returns the parsed query (parsed once).
func (r *Request) q() url.Values {
	if r.query == nil {
		r.query = r.URL.Query()
	}
	return r.query
}

// HandlerFunc serves one routed request.
type HandlerFunc func(w http.ResponseWriter, r *Request)

type reqKey struct{}

// Body returns the whole request body (read once).
func (r *Request) Body() ([]byte, error) {
	if !r.bodyOK {
		if n := r.ContentLength; n > 0 && n < 1<<30 {
			r.bodyBuf = getBuf(int(n))
			var k int
			k, r.bodyErr = io.ReadFull(r.Request.Body, *r.bodyBuf)
			clear((*r.bodyBuf)[k:]) // a short read leaves zeros, never an earlier body's bytes
			r.body = *r.bodyBuf
		} else {
			r.body, r.bodyErr = io.ReadAll(r.Request.Body)
		}
		r.bodyOK = true
	}
	return r.body, r.bodyErr
}

// Query returns a query parameter.
func (r *Request) Query(name string) string { return r.q().Get(name) }

// QueryBool parses a boolean query parameter (true/1/yes/on) with a default.
func (r *Request) QueryBool(name string, def bool) bool {
	q := r.q()
	if !q.Has(name) {
		return def
	}
	switch strings.ToLower(q.Get(name)) {
	case "true", "1", "yes", "on", "y":
		return true
	case "":
		return def
	}
	return false
}

// routeSetups run for every new server after the core routes; other files of the
// package (repl_*.go) append theirs in init().
var routeSetups []func(s *Server)

// Handle registers a route on this server. pattern is an http.ServeMux pattern with a
// method, over the path without /_db/{db}, e.g. "GET /_api/replication/inventory".
func (s *Server) Handle(pattern string, access Access, h HandlerFunc) {
	s.mux.Handle(pattern, http.HandlerFunc(func(w http.ResponseWriter, hr *http.Request) {
		r := hr.Context().Value(reqKey{}).(*Request)
		r.Request = hr
		if !s.authorize(w, r, access) {
			return
		}
		h(w, r)
	}))
}

// ServeHTTP implements the arangod HTTP front: common headers, faults, /_db/ routing,
// authentication and the real error bodies for unknown paths and databases.
func (s *Server) ServeHTTP(w http.ResponseWriter, hr *http.Request) {
	setCommonHeaders(w.Header())
	if strings.HasPrefix(hr.URL.Path, "/_arangosim/") {
		s.serveControl(w, hr)
		return
	}
	if s.faults.apply(hr.Context(), w, hr.URL.Path) {
		return
	}
	dbName, rest, ok := splitDBPath(hr.URL.EscapedPath())
	if !ok {
		WriteError(w, http.StatusBadRequest, errNumDatabaseNameInvalid, "database name invalid")
		return
	}
	r := &Request{Server: s, DBName: dbName, Path: rest}
	if err := s.authenticate(r, hr); err != nil {
		writeErr(w, err)
		return
	}
	if !r.Superuser && r.User == "" && !strings.HasPrefix(rest, "/_open/") {
		// Unauthenticated callers learn nothing, not even whether the database exists.
		WriteError(w, http.StatusUnauthorized, errNumForbidden, unauthorizedMsg)
		return
	}
	if s.Role == RoleCoordinator {
		s.c.mu.RLock()
		r.DB = s.c.dbs[dbName]
		s.c.mu.RUnlock()
	}
	if (s.Role == RoleCoordinator && r.DB == nil) || (s.Role == RoleDBServer && !s.HasDatabase(dbName)) {
		WriteError(w, http.StatusNotFound, errNumDatabaseNotFound, "database not found")
		return
	}
	// A shallow copy with its own URL (as http.StripPrefix makes): the headers are
	// only read, never changed, so they need no copy.
	r2 := hr.WithContext(context.WithValue(hr.Context(), reqKey{}, r))
	u := *hr.URL
	u.Path, u.RawPath = rest, ""
	r2.URL = &u
	h, pattern := s.mux.Handler(r2)
	if pattern == "" {
		// Method mismatch: the mux answers 405 itself; replace its text body.
		rw := &probeWriter{}
		h.ServeHTTP(rw, r2)
		if rw.code == http.StatusMethodNotAllowed {
			WriteError(w, http.StatusMethodNotAllowed, errNumMethodNotAllowed, "method not supported")
			return
		}
		WriteError(w, http.StatusNotFound, errNumHTTPNotFound, "unknown path '"+rest+"'")
		return
	}
	r.Request = r2
	s.mux.ServeHTTP(w, r2)
}

// probeWriter captures the status of the mux's own not-found/405 handlers.
type probeWriter struct {
	code int
	h    http.Header
}

func (p *probeWriter) Header() http.Header {
	if p.h == nil {
		p.h = http.Header{}
	}
	return p.h
}
func (p *probeWriter) Write(b []byte) (int, error) { return len(b), nil }
func (p *probeWriter) WriteHeader(code int)        { p.code = code }

// splitDBPath separates /_db/{db}/rest. Without the prefix the database is _system.
func splitDBPath(escaped string) (db, rest string, ok bool) {
	if !strings.HasPrefix(escaped, "/_db/") {
		p, err := url.PathUnescape(escaped)
		if err != nil || p == "" || p[0] != '/' {
			return "", "", false
		}
		return "_system", p, true
	}
	tail := escaped[len("/_db/"):]
	name, after, _ := strings.Cut(tail, "/")
	dbn, err := url.PathUnescape(name)
	if err != nil || dbn == "" {
		return "", "", false
	}
	p, err := url.PathUnescape("/" + after)
	if err != nil {
		return "", "", false
	}
	return dbn, p, true
}

// commonHeaders are the headers every arangod response carries (spec §1.3). The value
// slices are shared by every response: len == cap, so an Add reallocates, never writes.
var commonHeaders = func() []struct {
	k string
	v []string
} {
	one := func(v string) []string { return []string{v}[:1:1] }
	return []struct {
		k string
		v []string
	}{
		{"Server", one("ArangoDB")},
		{"X-Arango-Queue-Time-Seconds", one("0.000000")},
		{"X-Content-Type-Options", one("nosniff")},
		{"Content-Security-Policy", one("frame-ancestors 'self'; form-action 'self';")},
		{"Strict-Transport-Security", one("max-age=31536000 ; includeSubDomains")},
		{"Cache-Control", one("no-cache, no-store, must-revalidate, pre-check=0, post-check=0, max-age=0, s-maxage=0")},
		{"Expires", one("0")},
		{"Pragma", one("no-cache")},
		{"Connection", one("Keep-Alive")},
	}
}()

// setCommonHeaders sets the headers every arangod response carries (spec §1.3).
func setCommonHeaders(h http.Header) {
	for _, kv := range commonHeaders {
		h[kv.k] = kv.v
	}
	h["Date"] = nil // arangod sends no Date header
}
