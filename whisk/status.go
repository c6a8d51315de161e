package whisk

import "fmt"

// StatusCode is an activation's outcome (ActivationResponse.statusCode).
type StatusCode int

const (
	StatusSuccess          StatusCode = 0
	StatusApplicationError StatusCode = 1
	StatusDeveloperError   StatusCode = 2
	// StatusWhiskError is the only code that sets an ack's isSystemError, and
	// more than 3 of them in the last 10 activations make the controller mark
	// the invoker unhealthy: use it only for faults of the invoker itself.
	StatusWhiskError StatusCode = 3
)

// String is the user-facing status text of the REST API.
func (c StatusCode) String() string {
	switch c {
	case StatusSuccess:
		return "success"
	case StatusApplicationError:
		return "application error"
	case StatusDeveloperError:
		return "action developer error"
	case StatusWhiskError:
		return "whisk internal error"
	}
	return fmt.Sprintf("unknown status %d", int(c))
}

// IsSystemError is what acks carry as isSystemError.
func (c StatusCode) IsSystemError() bool { return c == StatusWhiskError }

// The stock invoker's error texts (openwhisk-wire.md 4.2, 5.3, 6.3), word for
// word: users and tooling match on them.
const (
	MsgMemoryExhausted       = "The action exhausted its memory and was aborted."
	MsgAbnormalRun           = "The action did not produce a valid response and exited unexpectedly."
	MsgAbnormalInit          = "The action did not initialize and exited unexpectedly."
	MsgProvisionFailed       = "Failed to provision resources to run the action."
	MsgActionNotFound        = "Action could not be found or may have been deleted."
	MsgActionIncompatible    = "Action version is not compatible and cannot be invoked."
	MsgActionFetchFailed     = "Action could not be fetched."
	MsgNamespaceBlacklisted  = "The action was not invoked due to a blacklisted namespace."
	MsgLogCollectionIssue    = "There was an issue while collecting your logs. Data might be missing."
	MsgDeveloperErrorLogNote = "The action did not initialize or run as expected. Log data might be missing."
)

// MsgTimeout is the text for a run that took at least the action's timeout.
func MsgTimeout(limitMs int64) string {
	return fmt.Sprintf("The action exceeded its time limits of %d milliseconds.", limitMs)
}

// MsgInitTimeout is the text for an initialisation that took at least the
// action's timeout.
func MsgInitTimeout(limitMs int64) string {
	return fmt.Sprintf("The action exceeded its time limits of %d milliseconds during initialization.", limitMs)
}

// MsgInitFailed is the text for an /init that failed without an error field.
func MsgInitFailed(body string) string {
	if body == "" {
		return "The action failed during initialization."
	}
	return "The action failed during initialization: " + body
}

// MsgInvalidRunResponse is the text for output that is not a JSON object or
// array, or a failed run without an error field.
func MsgInvalidRunResponse(body string) string {
	return "The action did not produce a valid JSON or JSON Array response: " + body
}

// MsgTruncatedResponse is the text for a response over the payload limit;
// truncated holds its first bytes.
func MsgTruncatedResponse(length, limit int64, truncated string) string {
	return fmt.Sprintf("The action produced a response that exceeded the allowed length: %d > %d bytes. The truncated response was: %s", length, limit, truncated)
}

// MsgLogsTruncated is the stderr notice appended when logs hit their limit.
func MsgLogsTruncated(limitBytes int64) string {
	return fmt.Sprintf("Logs were truncated because the total bytes size exceeds the limit of %d bytes.", limitBytes)
}
