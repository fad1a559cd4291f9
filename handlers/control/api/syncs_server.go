package api

import (
	"io"
	"net/http"
	"time"
)

// routeSyncs registers the sync endpoints (masters only).
func (s *Server) routeSyncs() {
	s.mux.HandleFunc("POST "+PathSync, s.leaderOnly(s.withSyncs(s.configure)))
	s.mux.HandleFunc("GET "+PathStatus, s.leaderOnly(s.withSyncs(s.status)))
	s.mux.HandleFunc("POST "+PathSyncStop, s.leaderOnly(s.withSyncs(s.stop)))
	s.mux.HandleFunc("POST "+PathSyncAbort, s.leaderOnly(s.withSyncs(s.abort)))
	s.mux.HandleFunc("POST "+PathSyncAbortOutgoing, s.leaderOnly(s.withSyncs(s.abortOutgoing)))
	s.mux.HandleFunc("POST "+PathSyncResetShard, s.leaderOnly(s.withSyncs(s.resetShard)))
	s.mux.HandleFunc("PUT "+PathSyncMessageTimeout, s.leaderOnly(s.withSyncs(s.messageTimeout)))
	s.mux.HandleFunc("POST "+PathSyncCheck, s.leaderOnly(s.withSyncs(s.check)))
	s.mux.HandleFunc("GET "+PathStatusPage+"{$}", s.statusPage)
}

// noSyncsMessage answers the sync endpoints of a master without a sync
// manager.
const noSyncsMessage = "this master runs without a sync manager (it was started without this datacenter's Kafka): " +
	"restart the masters with --kafka.brokers (and the other --kafka.* settings) to manage syncs"

// withSyncs answers 503 when the server has no sync manager, and hands the
// body (read whole) to h.
func (s *Server) withSyncs(h func(w http.ResponseWriter, r *http.Request, body []byte)) func(http.ResponseWriter, *http.Request, uint64) {
	return func(w http.ResponseWriter, r *http.Request, _ uint64) {
		if s.cfg.Syncs == nil {
			writeError(w, http.StatusServiceUnavailable, ReasonNoSyncs, noSyncsMessage, "")
			return
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			writeError(w, http.StatusBadRequest, ReasonBadRequest, "cannot read the body (at most 4 MiB): "+err.Error(), "")
			return
		}
		h(w, r, body)
	}
}

func writeRequestError(w http.ResponseWriter, err error) {
	var problems []string
	if re, ok := err.(*RequestError); ok { //nolint:errorlint // the decoders return it unwrapped
		problems = re.Problems
	}
	writeJSON(w, http.StatusBadRequest, ErrorBody{Error: true, Code: http.StatusBadRequest, ErrorMessage: err.Error(),
		Reason: ReasonBadRequest, Problems: problems})
}

func (s *Server) configure(w http.ResponseWriter, r *http.Request, body []byte) {
	req, err := DecodeConfigureRequest(body, s.cfg.DC)
	if err != nil {
		writeRequestError(w, err)
		return
	}
	sy, err := s.cfg.Syncs.Configure(r.Context(), req)
	if err != nil {
		writeSyncsError(w, err)
		return
	}
	s.cfg.Logger.Info("sync configured", "sync", sy.ID, "source", req.SourceDC, "role", sy.Role)
	writeJSON(w, http.StatusCreated, sy)
}

func (s *Server) status(w http.ResponseWriter, r *http.Request, _ []byte) {
	st, err := s.cfg.Syncs.Status(r.Context())
	if err != nil {
		writeSyncsError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

func (s *Server) stop(w http.ResponseWriter, r *http.Request, body []byte) {
	req, err := DecodeStopRequest(body)
	if err != nil {
		writeRequestError(w, err)
		return
	}
	if err := s.cfg.Syncs.Stop(r.Context(), req); err != nil {
		writeSyncsError(w, err)
		return
	}
	s.cfg.Logger.Info("sync stop requested", "sync", req.Sync, "ensureInSync", req.EnsureInSync, "timeoutMillis", req.TimeoutMillis)
	writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
}

func (s *Server) abort(w http.ResponseWriter, r *http.Request, body []byte) {
	req, err := DecodeSyncRequest(body, "abort sync")
	if err != nil {
		writeRequestError(w, err)
		return
	}
	if err := s.cfg.Syncs.Abort(r.Context(), req.Sync); err != nil {
		writeSyncsError(w, err)
		return
	}
	s.cfg.Logger.Warn("sync aborted", "sync", req.Sync)
	writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
}

func (s *Server) abortOutgoing(w http.ResponseWriter, r *http.Request, body []byte) {
	req, err := DecodeSyncRequest(body, "abort outgoing sync")
	if err != nil {
		writeRequestError(w, err)
		return
	}
	if err := s.cfg.Syncs.AbortOutgoing(r.Context(), req.Sync); err != nil {
		writeSyncsError(w, err)
		return
	}
	s.cfg.Logger.Warn("outgoing sync aborted", "sync", req.Sync)
	writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
}

func (s *Server) resetShard(w http.ResponseWriter, r *http.Request, body []byte) {
	req, err := DecodeResetShardRequest(body)
	if err != nil {
		writeRequestError(w, err)
		return
	}
	if err := s.cfg.Syncs.ResetFailedShard(r.Context(), req.Sync, req.Shard); err != nil {
		writeSyncsError(w, err)
		return
	}
	s.cfg.Logger.Info("failed shard reset", "sync", req.Sync, "shard", req.Shard)
	writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
}

func (s *Server) messageTimeout(w http.ResponseWriter, r *http.Request, body []byte) {
	req, err := DecodeMessageTimeoutRequest(body)
	if err != nil {
		writeRequestError(w, err)
		return
	}
	d := time.Duration(req.TimeoutMillis) * time.Millisecond
	if err := s.cfg.Syncs.SetMessageTimeout(r.Context(), req.Sync, d); err != nil {
		writeSyncsError(w, err)
		return
	}
	s.cfg.Logger.Info("message timeout set", "sync", req.Sync, "timeout", d)
	writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
}

func (s *Server) check(w http.ResponseWriter, r *http.Request, body []byte) {
	req, err := DecodeSyncRequest(body, "check sync")
	if err != nil {
		writeRequestError(w, err)
		return
	}
	rep, err := s.cfg.Syncs.Check(r.Context(), req.Sync)
	if err != nil {
		writeSyncsError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, rep)
}
