package mirror

import (
	"errors"
	"fmt"

	"github.com/IBM/sarama"
)

// Error codes of the errors that stop a route. Operators can alert on them;
// every other error restarts the route after a backoff.
const (
	// CodeGap: a record the target refused is missing while a later record
	// of the same partition was written. Resuming would skip it.
	CodeGap = "MIRROR_GAP"
	// CodeRefused: the target refuses a record for good (too large, not
	// authorized, invalid). Retrying cannot help.
	CodeRefused = "MIRROR_REFUSED"
)

// ErrPermanent marks errors that retrying cannot fix; Run returns them.
var ErrPermanent = errors.New("permanent")

// StopError is an error that stops a route; Code is one of the Code*
// constants.
type StopError struct {
	Code  string
	Route string
	Pos   SourcePos
	Err   error
}

func (e *StopError) Error() string {
	switch e.Code {
	case CodeGap:
		return fmt.Sprintf("mirror %s [%s]: source record %s was refused by the target (%v) but later records of its partition were written: "+
			"it would be skipped on resume; re-mirror it by hand or reset the target partition, then restart", e.Route, e.Code, e.Pos, e.Err)
	default:
		return fmt.Sprintf("mirror %s [%s]: the target refuses source record %s for good: %v; fix the target (max.message.bytes, ACLs) and restart",
			e.Route, e.Code, e.Pos, e.Err)
	}
}

func (e *StopError) Unwrap() []error { return []error{ErrPermanent, e.Err} }

// refusedForGood lists the produce errors no retry can fix.
var refusedForGood = []error{
	sarama.ErrMessageSizeTooLarge, sarama.ErrInvalidMessageSize, sarama.ErrInvalidRecord,
	sarama.ErrTopicAuthorizationFailed, sarama.ErrClusterAuthorizationFailed,
	sarama.ErrInvalidTopic, sarama.ErrUnsupportedVersion, sarama.ErrUnsupportedForMessageFormat,
	sarama.ErrInvalidRequiredAcks, sarama.ErrPolicyViolation,
}

// isRefusedForGood classifies a produce error once, where it enters.
func isRefusedForGood(err error) bool {
	// The producer's own checks (e.g. a record above MaxMessageBytes).
	var ce sarama.ConfigurationError
	if errors.As(err, &ce) {
		return true
	}
	for _, e := range refusedForGood {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// isRebalanceNoise reports consumer-group errors that only say a session
// ended (the member or generation is no longer current).
func isRebalanceNoise(err error) bool {
	return errors.Is(err, sarama.ErrUnknownMemberId) || errors.Is(err, sarama.ErrIllegalGeneration) ||
		errors.Is(err, sarama.ErrRebalanceInProgress)
}
