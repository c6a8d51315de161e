package ring

import (
	"context"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	ma "github.com/multiformats/go-multiaddr"
)

// Transport is all the ring needs from a network: who it is, the trader for
// a key, and one request/response exchange with a peer. The libp2p host
// implements it for real nodes (NewHostTransport); the simulator's in-memory
// network implements it for tens of thousands of nodes in one process.
type Transport interface {
	Self() peer.ID
	// Addrs are the multiaddrs the node puts into its offers.
	Addrs() []string
	// Trader returns the ring member closest to key, self included, and the
	// number of lookup messages it took to find it.
	Trader(ctx context.Context, key Key) (peer.ID, int, error)
	// Call sends req on proto and returns the response body; a remote
	// handler error comes back as a *RemoteError.
	Call(ctx context.Context, to peer.AddrInfo, proto protocol.ID, req []byte) ([]byte, error)
	// Handle serves proto; requests larger than maxSize are refused.
	Handle(proto protocol.ID, maxSize int, h Handler)
}

// Handler answers one request. An error is sent back to the caller as a
// *RemoteError.
type Handler func(ctx context.Context, from peer.ID, req []byte) ([]byte, error)

// Protocols of the ring. Every message is one length-prefixed (unsigned
// varint) frame each way; bodies are JSON. The response frame starts with a
// status byte: 0 then the body, 1 then an error text, or 2 then an
// ErrorCode byte and the error text.
const (
	ProtoOffer  protocol.ID = "/faasedge/ring/offer/1.0.0"  // create, refresh, withdraw (supplier → trader)
	ProtoFind   protocol.ID = "/faasedge/ring/find/1.0.0"   // find offers (scheduler → trader)
	ProtoBackup protocol.ID = "/faasedge/ring/backup/1.0.0" // backup-list push (supplier → scheduler)
	ProtoClaim  protocol.ID = "/faasedge/ring/claim/1.0.0"  // claim, renew, release (scheduler → supplier)
	ProtoRun    protocol.ID = "/faasedge/run/1.0.0"         // remote run (scheduler → supplier)
)

// Frame size limits. Control messages are small; a run carries parameters
// and a result up to OpenWhisk's payload limit (1 MiB by default) plus logs.
const (
	MaxControlMessage = 64 << 10
	MaxRunMessage     = 12 << 20
)

// maxMessage is the frame size limit of proto's requests and replies.
func maxMessage(proto protocol.ID) int {
	if proto == ProtoRun {
		return MaxRunMessage
	}
	return MaxControlMessage
}

// Response status bytes.
const (
	statusOK       byte = 0
	statusErr      byte = 1
	statusCodedErr byte = 2
)

func parseAddr(s string) (ma.Multiaddr, error) { return ma.NewMultiaddr(s) }
