package api

import (
	"context"
	"errors"
	"io/fs"
	"net/http"
	"strings"

	"github.com/dc2dc/dc2dc/pipeline/failure"
)

// HTTPStatuser is an error that chooses its HTTP status (4xx or 5xx). The
// sync endpoints honour it anywhere in an error's chain; see StatusOf.
type HTTPStatuser interface {
	HTTPStatus() int
}

// StatusOf maps an error of api.Syncs to the HTTP status and reason of its
// answer, first match wins:
//
//   - an HTTPStatuser in the chain: its status (400..599);
//   - fs.ErrNotExist in the chain (no such sync or shard): 404 not-found;
//   - fs.ErrExist in the chain (the sync exists already): 409 conflict;
//   - failure code DC2DC-E5001 (config-invalid): 400 bad-request;
//   - failure code DC2DC-E5003 (sync-fenced: leadership lost): 503 not-leader;
//   - a context deadline: 504 timeout; a canceled context: 503;
//   - a retryable error (pipeline/failure): 503 unavailable;
//   - anything else: 500 internal.
//
// The plan package cannot import this one (it is the other way round), so
// it signals with its own error type with an HTTPStatus method (preferred:
// the text stays its own), the standard library's fs.ErrNotExist /
// fs.ErrExist (their text, "file does not exist", ends the message), or a
// failure code.
func StatusOf(err error) (int, string) {
	var hs HTTPStatuser
	if errors.As(err, &hs) {
		if st := hs.HTTPStatus(); st >= 400 && st <= 599 {
			return st, reasonOf(st)
		}
	}
	code := failure.CodeOf(err)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return http.StatusNotFound, ReasonNotFound
	case errors.Is(err, fs.ErrExist):
		return http.StatusConflict, ReasonConflict
	case code == failure.CodeConfigInvalid:
		return http.StatusBadRequest, ReasonBadRequest
	case code == failure.CodeSyncFenced:
		return http.StatusServiceUnavailable, ReasonNotLeader
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout, ReasonTimeout
	case errors.Is(err, context.Canceled):
		return http.StatusServiceUnavailable, ReasonRetryable
	case failure.IsRetryable(err):
		return http.StatusServiceUnavailable, ReasonRetryable
	}
	return http.StatusInternalServerError, ReasonInternal
}

func reasonOf(status int) string {
	switch status {
	case http.StatusBadRequest, http.StatusUnprocessableEntity:
		return ReasonBadRequest
	case http.StatusNotFound:
		return ReasonNotFound
	case http.StatusConflict, http.StatusPreconditionFailed:
		return ReasonConflict
	case http.StatusUnauthorized:
		return ReasonUnauthorized
	case http.StatusForbidden:
		return ReasonForbidden
	case http.StatusGatewayTimeout:
		return ReasonTimeout
	case http.StatusServiceUnavailable:
		return ReasonRetryable
	}
	if status >= 500 {
		return ReasonInternal
	}
	return ReasonBadRequest
}

// writeSyncsError answers an error of api.Syncs.
func writeSyncsError(w http.ResponseWriter, err error) {
	status, reason := StatusOf(err)
	writeJSON(w, status, ErrorBody{Error: true, Code: status, ErrorMessage: syncsMessage(err), Reason: reason,
		ErrorCode: string(failure.CodeOf(err))})
}

// syncsMessage is an error's text without the file-system wording of the
// fs sentinels that only carry its status (": file does not exist").
func syncsMessage(err error) string {
	msg := err.Error()
	for _, sentinel := range []error{fs.ErrNotExist, fs.ErrExist} {
		if errors.Is(err, sentinel) {
			msg = strings.TrimSuffix(msg, ": "+sentinel.Error())
		}
	}
	return msg
}
