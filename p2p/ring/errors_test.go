package ring

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/faasedge/faasedge/activation"
)

// TestRemoteErrorsKeepTheirSentinel: a handler's error crosses a real
// libp2p stream and still matches its sentinel with errors.Is, so callers
// branch on codes, not on message texts.
func TestRemoteErrorsKeepTheirSentinel(t *testing.T) {
	ms := startRing(t, 2, nil)
	sched, sup := ms[0], ms[1]
	if err := sup.node.Supply(256); err != nil {
		t.Fatal(err)
	}
	publishAll(t, ms)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	call := func(proto string, msg any) error {
		body, _ := json.Marshal(msg)
		_, err := sched.tr.Call(ctx, peer.AddrInfo{ID: sup.node.ID()}, protoByName[proto], body)
		return err
	}
	tests := []struct {
		name  string
		err   error
		want  error
		other error // a sentinel it must not match
	}{
		{"claim over the offer", call("claim", claimMsg{Op: opClaim, OfferID: sup.node.vnodes[0].id, MemoryMB: 1024}), ErrInsufficient, ErrNoLease},
		{"claim of an unknown offer", call("claim", claimMsg{Op: opClaim, OfferID: "nope", MemoryMB: 1}), ErrUnknownOffer, ErrInsufficient},
		{"renew of an unknown lease", call("claim", claimMsg{Op: opRenew, LeaseID: "nope"}), ErrNoLease, ErrMalformed},
		{"prepare under an unknown lease", call("claim", claimMsg{Op: opPrepare, LeaseID: "nope", CID: "bafkqaaa"}), ErrNoLease, ErrMalformed},
		{"unknown op", call("claim", claimMsg{Op: "steal"}), ErrMalformed, ErrNoLease},
		{"run without a lease", call("run", RunRequest{Invocation: activation.Invocation{ID: "a"}}), ErrNoLease, ErrNoExecutor},
	}
	for _, tc := range tests {
		var re *RemoteError
		if !errors.As(tc.err, &re) || !errors.Is(tc.err, tc.want) || errors.Is(tc.err, tc.other) {
			t.Errorf("%s: %v (code %v), want a remote %v", tc.name, tc.err, re, tc.want)
		}
	}
}

var protoByName = map[string]protocol.ID{"claim": ProtoClaim, "run": ProtoRun}

// TestReplyFrames: an error's code survives the frame; an error without
// one, or from a peer that sends none, is a plain remote error.
func TestReplyFrames(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want error
	}{
		{fmt.Errorf("%w: offer o has 1 MB", ErrInsufficient), ErrInsufficient},
		{ErrNoExecutor, ErrNoExecutor},
		{errors.New("disk on fire"), nil},
	} {
		_, err := decodeReply(encodeReply(nil, tc.err))
		var re *RemoteError
		if !errors.As(err, &re) || re.Msg != tc.err.Error() || errors.Unwrap(re) != tc.want {
			t.Errorf("%v came back as %#v", tc.err, err)
		}
	}
	if _, err := decodeReply([]byte{statusErr, 'x'}); !IsRemote(err) || errors.Unwrap(err) != nil {
		t.Errorf("uncoded reply: %v", err)
	}
	if _, err := decodeReply([]byte{statusCodedErr, 200, 'x'}); !IsRemote(err) || errors.Unwrap(err) != nil {
		t.Errorf("reply with an unknown code: %v", err)
	}
	if _, err := decodeReply([]byte{statusCodedErr}); err == nil || IsRemote(err) {
		t.Errorf("coded reply without its code: %v", err)
	}
}
