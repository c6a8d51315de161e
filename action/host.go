package action

import (
	"errors"
)

// Host capability errors. A failed call returns a *HostError that matches
// one of them with errors.Is.
var (
	// ErrNotAllowed: the host is not in the action's allow-list, or the
	// capability was not given.
	ErrNotAllowed = errors.New("not allowed")
	// ErrDNS: the host name did not resolve.
	ErrDNS = errors.New("host name did not resolve")
	// ErrTimeout: the activation's HTTP time budget ran out.
	ErrTimeout = errors.New("timed out")
	// ErrTooLarge: over the activation's HTTP byte budget, or a key or
	// value over its limit.
	ErrTooLarge = errors.New("too large")
	// ErrBadRequest: the host refused malformed input.
	ErrBadRequest = errors.New("bad request")
	// ErrUnavailable: the connection or the store failed.
	ErrUnavailable = errors.New("unavailable")
	// ErrNotFound: no such key.
	ErrNotFound = errors.New("not found")
	// ErrNoHost: the code is not running in FaaS@Edge (for example, a
	// native build run by hand), where no host capabilities exist.
	ErrNoHost = errors.New("action: host capabilities exist only in a FaaS@Edge executor")
)

// codes are the host's error codes (the executor package documents them).
var codes = map[int64]error{
	1: ErrNotAllowed, 2: ErrDNS, 3: ErrTimeout, 4: ErrTooLarge,
	5: ErrBadRequest, 6: ErrUnavailable, 7: ErrNotFound,
}

// HostError is a host capability's failure: Code is the host's error code
// and Message its text.
type HostError struct {
	Op      string // the host function
	Code    int64
	Message string
}

func (e *HostError) Error() string { return "faasedge." + e.Op + ": " + e.Message }

// Is reports whether target is the sentinel of e's code.
func (e *HostError) Is(target error) bool { return codes[e.Code] == target }
