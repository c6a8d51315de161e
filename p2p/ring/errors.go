package ring

import (
	"errors"
	"fmt"
)

// The errors callers branch on, with errors.Is. A handler's error that
// wraps one of them reaches the caller on the other side of the wire as a
// *RemoteError that still matches it (errors.Is(err, ErrInsufficient)),
// because its code travels with the text.
var (
	// ErrMalformed: a message that is not JSON of the expected shape, has
	// unknown fields or trailing data, or names an unknown operation.
	ErrMalformed = errors.New("ring: malformed message")
	// ErrNoOffer: Schedule found no supplier that could take the work.
	ErrNoOffer = errors.New("ring: no offer fits")
	// ErrUnknownOffer: a claim names an offer the supplier does not hold
	// (withdrawn, or never its own).
	ErrUnknownOffer = errors.New("ring: no such offer here")
	// ErrInsufficient: the offer or the machine has less free memory than
	// a claim asks, or a lease less than a run needs.
	ErrInsufficient = errors.New("ring: not enough free memory")
	// ErrNoLease: a renew, release or run names no valid lease of the
	// caller (unknown, someone else's, or expired).
	ErrNoLease = errors.New("ring: no valid lease")
	// ErrNoExecutor: a run reached a node that runs nothing.
	ErrNoExecutor = errors.New("ring: this node has no executor")
	// ErrBadSignature: an offer whose signature, shape or sender does not
	// check out.
	ErrBadSignature = errors.New("ring: bad offer signature")
	// ErrExpired: an offer past its expiry.
	ErrExpired = errors.New("ring: offer expired")
	// ErrLifetime: an offer that expires further ahead than a trader
	// keeps offers.
	ErrLifetime = errors.New("ring: offer lives too long")
)

// ErrorCode is the kind of a remote error on the wire: the index of its
// sentinel in codes, 0 for any other error. Codes are part of the
// protocol: new sentinels go at the end.
type ErrorCode uint8

// codes are the sentinels by ErrorCode.
var codes = [...]error{
	nil, ErrMalformed, ErrNoOffer, ErrUnknownOffer, ErrInsufficient, ErrNoLease,
	ErrNoExecutor, ErrBadSignature, ErrExpired, ErrLifetime,
}

// codeOf is the code of the first sentinel err wraps.
func codeOf(err error) ErrorCode {
	for i, s := range codes[1:] {
		if errors.Is(err, s) {
			return ErrorCode(i + 1)
		}
	}
	return 0
}

// RemoteError is an error the other side sent back on the stream: its
// text, and its code when it wrapped one of the ring's sentinels.
type RemoteError struct {
	Code ErrorCode
	Msg  string
}

// NewRemoteError is err as the other side of a transport receives it. The
// in-memory transports of tests and the simulator use it, so that their
// callers see what libp2p callers see.
func NewRemoteError(err error) *RemoteError {
	return &RemoteError{Code: codeOf(err), Msg: err.Error()}
}

func (e *RemoteError) Error() string { return "remote: " + e.Msg }

// Unwrap is the sentinel of the error's code, nil for other errors.
func (e *RemoteError) Unwrap() error {
	if int(e.Code) < len(codes) {
		return codes[e.Code]
	}
	return nil
}

// IsRemote reports whether err was reported by the peer (as opposed to a
// transport failure).
func IsRemote(err error) bool {
	var re *RemoteError
	return errors.As(err, &re)
}

// malformed wraps a decoding failure in ErrMalformed.
func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
}
