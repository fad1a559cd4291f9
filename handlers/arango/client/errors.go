package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"syscall"

	driver "github.com/arangodb/go-driver"

	"github.com/dc2dc/dc2dc/pipeline/failure"
)

// ArangoDB error numbers dc2dc acts on (spec §6.2).
const (
	ErrNumForbidden              = 11
	ErrNumHTTPUnauthorized       = 401
	ErrNumHTTPForbidden          = 403
	ErrNumDataSourceNotFound     = 1203
	ErrNumDatabaseNotFound       = 1228
	ErrNumStartTickNotPresent    = 1414
	ErrNumInvalidResponse        = 1401
	ErrNumClusterTimeout         = 1457
	ErrNumClusterUnsupported     = 1470
	ErrNumShardLeaderResigned    = 1491
	ErrNumLeadershipChallenge    = 1495
	ErrNumNotLeader              = 1496
	ErrNumCursorNotFound         = 1600
	ErrNumLockTimeout            = 18
	ErrNumHTTPServiceUnavailable = 503
)

// ArangoError is an error answer of an ArangoDB server (or a transport
// failure talking to it, then Status and Num are 0 and Cause is set).
type ArangoError struct {
	Status   int    // HTTP status
	Num      int    // ArangoDB errorNum
	Message  string // errorMessage
	Method   string
	Path     string
	Endpoint string
	Cause    error // the transport error, if any
}

func (e *ArangoError) Error() string {
	where := e.Method + " " + e.Path
	if e.Endpoint != "" {
		where += " on " + e.Endpoint
	}
	if e.Cause != nil {
		return where + ": " + e.Cause.Error()
	}
	return fmt.Sprintf("%s: HTTP %d, errorNum %d: %s", where, e.Status, e.Num, e.Message)
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

// IsErrorNum reports whether err carries one of the ArangoDB error numbers.
func IsErrorNum(err error, nums ...int) bool {
	n := ErrorNum(err)
	for _, x := range nums {
		if n == x && n != 0 {
			return true
		}
	}
	return false
}

// IsUnreachable reports whether err is a transport failure (no HTTP answer).
func IsUnreachable(err error) bool {
	var ae *ArangoError
	return errors.As(err, &ae) && ae.Cause != nil && ae.Status == 0
}

// IsLeadershipError reports whether err says the server is not (or no
// longer) the shard's leader: 1491, 1495, 1496.
func IsLeadershipError(err error) bool {
	return IsErrorNum(err, ErrNumShardLeaderResigned, ErrNumLeadershipChallenge, ErrNumNotLeader)
}

// classifyTransport turns a failed round trip into a classified error.
func classifyTransport(ctx context.Context, method, path, endpoint string, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("%s %s: %w", method, path, ctxErr)
	}
	if ae, ok := driver.AsArangoError(err); ok {
		return classifyAnswer(&ArangoError{Status: ae.Code, Num: ae.ErrorNum, Message: ae.ErrorMessage,
			Method: method, Path: path, Endpoint: endpoint}, "")
	}
	// Unwrap the driver's wrappers to the transport error.
	cause := driver.Cause(err)
	var re *driver.ResponseError
	if errors.As(cause, &re) && re.Err != nil {
		cause = re.Err
	}
	e := &ArangoError{Method: method, Path: path, Endpoint: endpoint, Cause: cause}
	if isTransport(cause) {
		return failure.WithCode(failure.CodeArangoUnreachable, e)
	}
	// A context deadline inside the driver (its per-request timeout) is a timeout.
	if errors.Is(cause, context.DeadlineExceeded) {
		return failure.WithCode(failure.CodeArangoUnreachable, e)
	}
	// Anything else (an unsupported content type, an invalid argument) will
	// not change on a retry.
	return failure.Permanent(e)
}

func isTransport(err error) bool {
	var ne net.Error
	var ue *url.Error
	var oe *net.OpError
	return errors.As(err, &ne) || errors.As(err, &ue) || errors.As(err, &oe) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

// classifyAnswer classifies an ArangoDB error answer. what names the object
// the request was about (a database, a collection) for the messages.
func classifyAnswer(e *ArangoError, what string) error {
	switch {
	case e.Status == http.StatusUnauthorized || e.Num == ErrNumHTTPUnauthorized:
		return failure.WithCode(failure.CodeArangoAuth, fmt.Errorf(
			"%w: ArangoDB refused the credentials: check the user and password, or the JWT secret (file) of the cluster", e))
	case e.Status == http.StatusForbidden || e.Num == ErrNumHTTPForbidden ||
		(e.Num == ErrNumForbidden && e.Status != http.StatusServiceUnavailable):
		return failure.WithCode(failure.CodeArangoAuth, fmt.Errorf(
			"%w: the user may not do this: replication APIs on DB-Servers need the superuser JWT made from the cluster's JWT secret; for Coordinator APIs grant the user admin rights on the database", e))
	case e.Num == ErrNumDatabaseNotFound:
		if what == "" {
			what = "the database"
		}
		return failure.WithCode(failure.CodeSourceShardMissing, fmt.Errorf("%w: %s does not exist (database not found)", e, what))
	case e.Num == ErrNumDataSourceNotFound:
		if what == "" {
			what = "the collection or shard"
		}
		return failure.WithCode(failure.CodeSourceShardMissing, fmt.Errorf("%w: %s does not exist (collection not found)", e, what))
	case e.Status == http.StatusServiceUnavailable, e.Num == ErrNumShardLeaderResigned,
		e.Num == ErrNumLeadershipChallenge, e.Num == ErrNumNotLeader, e.Num == ErrNumClusterTimeout,
		e.Num == ErrNumLockTimeout, e.Status == http.StatusBadGateway, e.Status == http.StatusGatewayTimeout,
		e.Status == http.StatusRequestTimeout, e.Status == http.StatusTooManyRequests:
		return failure.WithCode(failure.CodeArangoUnavailable, e)
	case e.Num == ErrNumCursorNotFound:
		// An expired or unknown replication batch: the snapshot must be taken again.
		return failure.WithCode(failure.CodeArangoUnavailable, e)
	case e.Status >= 500:
		return failure.WithCode(failure.CodeArangoUnavailable, e)
	}
	return failure.Permanent(e)
}
