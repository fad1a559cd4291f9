package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/dc2dc/dc2dc/handlers/control/election"
	"github.com/dc2dc/dc2dc/handlers/control/registry"
)

// maxBody bounds a request body.
const maxBody = 4 << 20

// Leadership tells the server whether this master leads (*election.Elector).
type Leadership interface {
	Status() election.Status
}

// Config of a Server.
type Config struct {
	// Role is "master" or "worker" (workers serve version and metrics only).
	Role    string
	ID      string
	DC      string
	Version string
	// Endpoint is this server's own URL (to never forward to itself).
	Endpoint string
	Auth     AuthConfig
	// Registry and Leadership: masters only.
	Registry   *registry.Registry
	Leadership Leadership
	// Syncs is the leader's sync manager behind the sync endpoints, the
	// status page and the sync part of worker heartbeats (masters only;
	// nil: those endpoints answer 503 and heartbeats carry no syncs).
	Syncs Syncs
	// Metrics is served on /metrics (nil: 404).
	Metrics prometheus.Gatherer
	// ForwardClient sends forwarded requests (default: 30 s timeout, no TLS
	// configuration).
	ForwardClient *http.Client
	// HeartbeatInterval is what workers are told (default 1s); MasterDeadAfter
	// is when a silent follower master shows as dead (default 3s).
	HeartbeatInterval time.Duration
	MasterDeadAfter   time.Duration
	Logger            *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Server is the admin API's http.Handler.
type Server struct {
	cfg Config
	mux *http.ServeMux

	mu      sync.Mutex
	masters map[string]MasterInfo // follower masters seen by the leader
}

// NewServer validates cfg and builds the handler.
func NewServer(cfg Config) (*Server, error) {
	if cfg.HeartbeatInterval == 0 {
		cfg.HeartbeatInterval = time.Second
	}
	if cfg.MasterDeadAfter == 0 {
		cfg.MasterDeadAfter = 3 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.ForwardClient == nil {
		cfg.ForwardClient = &http.Client{Timeout: 30 * time.Second}
	}
	var errs []error
	switch cfg.Role {
	case "master":
		if cfg.Registry == nil || cfg.Leadership == nil {
			errs = append(errs, errors.New("api: a master server needs its registry and its elector"))
		}
	case "worker":
	default:
		errs = append(errs, fmt.Errorf("api: role %q: use master or worker", cfg.Role))
	}
	if cfg.ID == "" {
		errs = append(errs, errors.New("api: the server id is empty"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, mux: http.NewServeMux(), masters: map[string]MasterInfo{}}
	s.mux.HandleFunc("GET "+PathVersion, s.version)
	if cfg.Metrics != nil {
		s.mux.Handle("GET "+PathMetrics, promhttp.HandlerFor(cfg.Metrics, promhttp.HandlerOpts{}))
	}
	if cfg.Role == "master" {
		s.mux.HandleFunc("GET "+PathMasters, s.leaderOnly(s.getMasters))
		s.mux.HandleFunc("GET "+PathWorkers, s.leaderOnly(s.getWorkers))
		s.mux.HandleFunc("GET "+PathTasks, s.leaderOnly(s.getTasks))
		s.mux.HandleFunc("POST "+PathWorkerRegister, s.leaderOnly(s.register))
		s.mux.HandleFunc("POST "+PathWorkerHeartbeat, s.leaderOnly(s.heartbeat))
		s.mux.HandleFunc("POST "+PathMasterHeartbeat, s.leaderOnly(s.masterHeartbeat))
		s.routeSyncs()
	}
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "", fmt.Sprintf("no such endpoint: %s %s", r.Method, r.URL.Path), "")
	})
	return s, nil
}

// ServeHTTP authenticates and routes.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	pageCredentials(r)
	if ae := s.cfg.Auth.authorize(r); ae != nil {
		if isPage(r) && s.cfg.Role == "master" {
			writeLoginPage(w, ae.status, ae.msg)
			return
		}
		reason := ReasonUnauthorized
		if ae.status == http.StatusForbidden {
			reason = ReasonForbidden
		} else {
			w.Header().Set("WWW-Authenticate", `Bearer realm="dc2dc"`)
		}
		writeError(w, ae.status, reason, ae.msg, "")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	s.mux.ServeHTTP(w, r)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":true,"code":500,"errorMessage":"cannot encode the answer"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

func writeError(w http.ResponseWriter, status int, reason, msg, leader string) {
	writeJSON(w, status, ErrorBody{Error: true, Code: status, ErrorMessage: msg, Reason: reason, LeaderEndpoint: leader})
}

func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(r.Body)
	if err := dec.Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, ReasonBadRequest, "invalid JSON body: "+err.Error(), "")
		return false
	}
	return true
}

func (s *Server) version(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, VersionInfo{Version: s.cfg.Version, GoVersion: runtime.Version(), Role: s.cfg.Role, ID: s.cfg.ID, DC: s.cfg.DC})
}

// leaderOnly serves h on the leader and forwards (or refuses) elsewhere.
func (s *Server) leaderOnly(h func(http.ResponseWriter, *http.Request, uint64)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		st := s.cfg.Leadership.Status()
		if st.Leader {
			h(w, r, st.Epoch)
			return
		}
		leader := st.LeaderEndpoint
		if leader == s.cfg.Endpoint {
			leader = "" // our own stale lease
		}
		if leader == "" {
			writeError(w, http.StatusServiceUnavailable, ReasonNotLeader, "this master is not the leader and no leader is known yet (an election is running): retry shortly", "")
			return
		}
		if strings.EqualFold(r.Header.Get(HeaderForwardToLeader), "true") && r.Header.Get(HeaderForwardedBy) == "" {
			s.forward(w, r, leader)
			return
		}
		writeError(w, http.StatusServiceUnavailable, ReasonNotLeader,
			"this master is not the leader: send the request to "+leader+" or set the header "+HeaderForwardToLeader+": true", leader)
	}
}

func (s *Server) forward(w http.ResponseWriter, r *http.Request, leader string) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		writeError(w, http.StatusBadRequest, ReasonBadRequest, "cannot read the body: "+err.Error(), "")
		return
	}
	url := strings.TrimRight(leader, "/") + r.URL.RequestURI()
	req, err := http.NewRequestWithContext(r.Context(), r.Method, url, bytes.NewReader(body))
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, ReasonNotLeader, "cannot forward to the leader "+leader+": "+err.Error(), leader)
		return
	}
	for _, h := range []string{"Authorization", "Content-Type", "Accept"} {
		if v := r.Header.Get(h); v != "" {
			req.Header.Set(h, v)
		}
	}
	if req.Header.Get("Authorization") == "" {
		// Authenticated by a client certificate: forward with our own credentials.
		switch {
		case s.cfg.Auth.Token != "":
			req.Header.Set("Authorization", "bearer "+s.cfg.Auth.Token)
		case s.cfg.Auth.JWTSecret != "":
			if tok, err := SignJWT(s.cfg.Auth.JWTSecret, s.cfg.ID, time.Minute); err == nil {
				req.Header.Set("Authorization", "bearer "+tok)
			}
		}
	}
	req.Header.Set(HeaderForwardedBy, s.cfg.ID)
	resp, err := s.cfg.ForwardClient.Do(req)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, ReasonNotLeader, "the leader "+leader+" does not answer (it may have just failed; an election follows): "+err.Error(), leader)
		return
	}
	defer func() { _ = resp.Body.Close() }() // read-only: nothing to lose on close
	for _, h := range []string{"Content-Type", "Cache-Control", "Content-Security-Policy", "Referrer-Policy", "X-Frame-Options", "WWW-Authenticate"} {
		if v := resp.Header.Get(h); v != "" {
			w.Header().Set(h, v)
		}
	}
	w.Header().Set(HeaderForwardedBy, s.cfg.ID)
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, io.LimitReader(resp.Body, 64<<20))
}

func (s *Server) getMasters(w http.ResponseWriter, _ *http.Request, epoch uint64) {
	now := s.cfg.Now()
	out := Masters{DC: s.cfg.DC, Leader: s.cfg.ID, LeaderEndpoint: s.cfg.Endpoint, Epoch: epoch,
		Masters: []MasterInfo{{ID: s.cfg.ID, Endpoint: s.cfg.Endpoint, Leader: true, Alive: true, LastSeen: now}}}
	s.mu.Lock()
	for id, m := range s.masters {
		if id == s.cfg.ID {
			continue
		}
		m.Alive = now.Sub(m.LastSeen) < s.cfg.MasterDeadAfter
		out.Masters = append(out.Masters, m)
	}
	s.mu.Unlock()
	sort.Slice(out.Masters, func(i, j int) bool { return out.Masters[i].ID < out.Masters[j].ID })
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) masterHeartbeat(w http.ResponseWriter, r *http.Request, epoch uint64) {
	var hb MasterHeartbeat
	if !decode(w, r, &hb) {
		return
	}
	if strings.TrimSpace(hb.ID) == "" {
		writeError(w, http.StatusBadRequest, ReasonBadRequest, "master heartbeat without an id", "")
		return
	}
	s.mu.Lock()
	if len(s.masters) < 1000 || s.masters[hb.ID].ID != "" {
		s.masters[hb.ID] = MasterInfo{ID: hb.ID, Endpoint: hb.Endpoint, LastSeen: s.cfg.Now()}
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]uint64{"epoch": epoch})
}

func (s *Server) getWorkers(w http.ResponseWriter, _ *http.Request, epoch uint64) {
	writeJSON(w, http.StatusOK, Workers{Epoch: epoch, Workers: s.cfg.Registry.Workers(s.cfg.Now())})
}

func (s *Server) getTasks(w http.ResponseWriter, _ *http.Request, epoch uint64) {
	writeJSON(w, http.StatusOK, Tasks{Epoch: epoch, Tasks: s.cfg.Registry.Tasks()})
}

func (s *Server) register(w http.ResponseWriter, r *http.Request, epoch uint64) {
	var info registry.WorkerInfo
	if !decode(w, r, &info) {
		return
	}
	if err := s.cfg.Registry.Register(info, s.cfg.Now()); err != nil {
		writeError(w, http.StatusBadRequest, ReasonBadRequest, err.Error(), "")
		return
	}
	s.cfg.Logger.Info("worker registered", "worker", info.ID, "endpoint", info.Endpoint, "dbserver", info.DBServer, "epoch", epoch)
	writeJSON(w, http.StatusOK, RegisterResponse{Epoch: epoch, HeartbeatInterval: s.cfg.HeartbeatInterval.Milliseconds(),
		DeadAfter: s.deadAfter().Milliseconds()})
}

func (s *Server) deadAfter() time.Duration {
	return s.cfg.Registry.DeadAfter()
}

func (s *Server) heartbeat(w http.ResponseWriter, r *http.Request, epoch uint64) {
	var hb HeartbeatRequest
	if !decode(w, r, &hb) {
		return
	}
	now := s.cfg.Now()
	if err := s.cfg.Registry.Heartbeat(hb.ID, now); err != nil {
		writeError(w, http.StatusNotFound, ReasonUnknownWorker, fmt.Sprintf("worker %q is not registered with the leader (epoch %d): register again", hb.ID, epoch), "")
		return
	}
	sup := s.cfg.Registry.Report(hb.ID, hb.Reports, now)
	resp := HeartbeatResponse{Epoch: epoch, Tasks: s.cfg.Registry.TasksOf(hb.ID), Superseded: sup}
	if s.cfg.Syncs != nil {
		s.cfg.Syncs.WorkerShards(hb.ID, hb.Shards, now)
		resp.Syncs = s.cfg.Syncs.Assignments()
	}
	writeJSON(w, http.StatusOK, resp)
}

// Serve runs serve (srv.Serve or srv.ServeTLS on a listener) until ctx
// ends, then shuts srv down within grace. http.ErrServerClosed is nil.
func Serve(ctx context.Context, srv *http.Server, serve func() error, grace time.Duration) error {
	done := make(chan error, 1)
	go func() { done <- serve() }()
	select {
	case err := <-done:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), grace)
	defer cancel()
	err := srv.Shutdown(sctx)
	<-done //nolint:errcheck // after Shutdown serve returns http.ErrServerClosed; Shutdown's error is the one that counts
	return err
}
