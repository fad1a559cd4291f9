package api

import (
	"bytes"
	"fmt"
	"html/template"
	"net/http"

	"github.com/dc2dc/dc2dc/handlers/control/plan"
	"github.com/dc2dc/dc2dc/handlers/control/web"
)

// pageTokenParam is the query parameter that authenticates a browser on
// the status page (GET / only): the same bearer token or JWT the API takes.
const pageTokenParam = "token"

// isPage reports whether r asks for the status page.
func isPage(r *http.Request) bool {
	return (r.Method == http.MethodGet || r.Method == http.MethodHead) && r.URL.Path == PathStatusPage
}

// pageCredentials moves a ?token= of a page request into the Authorization
// header (when the request has none), so one check serves both.
func pageCredentials(r *http.Request) {
	if !isPage(r) || r.Header.Get("Authorization") != "" {
		return
	}
	if tok := r.URL.Query().Get(pageTokenParam); tok != "" {
		r.Header.Set("Authorization", "bearer "+tok)
	}
}

func pageHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
}

var loginPage = template.Must(template.New("login").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>dc2dc status: credentials needed</title>
<style>body{font:15px/1.5 system-ui,sans-serif;margin:2em;max-width:46em}code{background:#f6f8fa;padding:0 .3em}</style></head>
<body><h1>dc2dc status: credentials needed</h1>
<p>{{.}}</p>
<p>Open this page as <code>/?token=&lt;token&gt;</code>, with the masters' <code>--auth.token</code>, or a JWT
signed with their <code>--auth.jwt-secret</code>: <code>dc2dc get status-page --master.endpoint &lt;URL&gt; --auth.jwt-secret &lt;secret&gt;</code>
prints such a link (the JWT expires after <code>--ttl</code>).</p></body></html>
`))

// writeLoginPage answers an unauthenticated page request.
func writeLoginPage(w http.ResponseWriter, status int, msg string) {
	pageHeaders(w)
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="dc2dc"`)
	}
	var b bytes.Buffer
	_ = loginPage.Execute(&b, msg) // a constant template over a string: cannot fail
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}

// statusPage serves the status web page: the leader renders its status,
// a follower forwards to the leader (a browser cannot set the forwarding
// header).
func (s *Server) statusPage(w http.ResponseWriter, r *http.Request) {
	st := s.cfg.Leadership.Status()
	p := web.Page{Now: s.cfg.Now(), ServedBy: s.cfg.ID, Status: plan.Status{DC: s.cfg.DC}}
	status := http.StatusOK
	switch {
	case st.Leader:
		p.Status.Leader, p.Status.Epoch = s.cfg.ID, st.Epoch
		if s.cfg.Syncs == nil {
			p.Message, status = noSyncsMessage, http.StatusServiceUnavailable
			break
		}
		ss, err := s.cfg.Syncs.Status(r.Context())
		if err != nil {
			status, _ = StatusOf(err)
			p.Problem = "cannot read the status: " + err.Error()
			break
		}
		p.Status = ss
	default:
		leader := st.LeaderEndpoint
		if leader != "" && leader != s.cfg.Endpoint && r.Header.Get(HeaderForwardedBy) == "" {
			s.forward(w, r, leader)
			return
		}
		status = http.StatusServiceUnavailable
		p.Problem = fmt.Sprintf("this master (%s) is not the leader and no leader is known yet (an election is running): this page retries by itself", s.cfg.ID)
	}
	var b bytes.Buffer
	if err := web.Render(&b, p); err != nil {
		writeError(w, http.StatusInternalServerError, ReasonInternal, "cannot render the status page: "+err.Error(), "")
		return
	}
	pageHeaders(w)
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(b.Bytes())
	}
}
