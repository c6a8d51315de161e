package ring

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	kb "github.com/libp2p/go-libp2p-kbucket"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/core/routing"
	"github.com/libp2p/go-msgio"

	"github.com/faasedge/faasedge/p2p"
)

// HostTransport runs the ring over a libp2p host: traders come from the
// Kademlia DHT's GetClosestPeers, messages travel on their own streams.
type HostTransport struct {
	h   *p2p.Host
	log *slog.Logger
	// ctx is the parent of every handler's context; Close cancels it so no
	// handler outlives the transport.
	ctx    context.Context
	cancel context.CancelFunc
}

// NewHostTransport wraps a started host.
func NewHostTransport(h *p2p.Host, log *slog.Logger) *HostTransport {
	if log == nil {
		log = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &HostTransport{h: h, log: log, ctx: ctx, cancel: cancel}
}

// Self implements Transport.
func (t *HostTransport) Self() peer.ID { return t.h.ID() }

// Addrs implements Transport.
func (t *HostTransport) Addrs() []string {
	as := t.h.Addrs()
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.String()
	}
	return out
}

// Trader implements Transport with a DHT node lookup. It counts the lookup's
// outgoing queries from the DHT's query events.
func (t *HostTransport) Trader(ctx context.Context, key Key) (peer.ID, int, error) {
	qctx, cancel := context.WithCancel(ctx)
	qctx, events := routing.RegisterForQueryEvents(qctx)
	counted := make(chan int, 1)
	go func() {
		n := 0
		for ev := range events {
			if ev.Type == routing.SendingQuery {
				n++
			}
		}
		counted <- n
	}()
	peers, err := t.h.DHT.GetClosestPeers(qctx, string(key[:]))
	cancel()
	msgs := <-counted
	if err != nil && len(peers) == 0 && !errors.Is(err, kb.ErrLookupFailure) {
		return "", msgs, fmt.Errorf("ring: trader lookup %s: %w", key, err)
	}
	best := t.h.ID()
	for _, p := range peers {
		if kb.Closer(p, best, string(key[:])) {
			best = p
		}
	}
	return best, msgs, nil
}

var _ Transport = (*HostTransport)(nil)

// Call implements Transport: one stream, one frame each way. The caller
// keeps its write side open until the reply, so the handler sees a reset
// (caller gone or gave up) and stops working. Cancelling ctx resets the
// stream, so a caller waiting on a dead peer gets its error at the
// context's deadline at the latest.
func (t *HostTransport) Call(ctx context.Context, to peer.AddrInfo, proto protocol.ID, req []byte) ([]byte, error) {
	if len(to.Addrs) > 0 {
		t.h.Peerstore().AddAddrs(to.ID, to.Addrs, peerstore.TempAddrTTL)
	}
	s, err := t.h.NewStream(ctx, to.ID, proto)
	if err != nil {
		return nil, fmt.Errorf("ring: open %s to %s: %w", proto, to.ID, err)
	}
	stop := context.AfterFunc(ctx, func() { s.Reset() })
	defer stop()
	if dl, ok := ctx.Deadline(); ok {
		_ = s.SetDeadline(dl)
	}
	if err := msgio.NewVarintWriter(s).WriteMsg(req); err != nil {
		s.Reset()
		return nil, fmt.Errorf("ring: send %s to %s: %w", proto, to.ID, err)
	}
	resp, err := msgio.NewVarintReaderSize(s, maxMessage(proto)+1).ReadMsg()
	if err != nil {
		s.Reset()
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%w)", ctx.Err(), err)
		}
		return nil, fmt.Errorf("ring: %s reply from %s: %w", proto, to.ID, err)
	}
	s.Close()
	return decodeReply(resp)
}

// decodeReply splits a response frame into body or remote error.
func decodeReply(resp []byte) ([]byte, error) {
	if len(resp) == 0 {
		return nil, errors.New("ring: empty reply frame")
	}
	switch resp[0] {
	case statusOK:
		return resp[1:], nil
	case statusErr:
		return nil, &RemoteError{Msg: string(resp[1:])}
	case statusCodedErr:
		if len(resp) < 2 {
			return nil, errors.New("ring: coded error reply without a code")
		}
		return nil, &RemoteError{Code: ErrorCode(resp[1]), Msg: string(resp[2:])}
	default:
		return nil, fmt.Errorf("ring: reply status %d unknown", resp[0])
	}
}

// encodeReply builds a response frame.
func encodeReply(body []byte, err error) []byte {
	if err != nil {
		if c := codeOf(err); c != 0 {
			return append([]byte{statusCodedErr, byte(c)}, err.Error()...)
		}
		return append([]byte{statusErr}, err.Error()...)
	}
	return append([]byte{statusOK}, body...)
}

// handlerTimeout bounds how long a peer may take to send its request.
const handlerTimeout = 30 * time.Second

// Handle implements Transport.
func (t *HostTransport) Handle(proto protocol.ID, maxSize int, h Handler) {
	t.h.SetStreamHandler(proto, func(s network.Stream) {
		from := s.Conn().RemotePeer()
		_ = s.SetReadDeadline(time.Now().Add(handlerTimeout))
		req, err := msgio.NewVarintReaderSize(s, maxSize).ReadMsg()
		var reply []byte
		if err != nil {
			t.log.Warn("ring: refused request", "proto", proto, "peer", from, "err", err)
			reply = encodeReply(nil, fmt.Errorf("bad request: %w", err))
		} else {
			_ = s.SetReadDeadline(time.Time{})
			ctx, cancel := context.WithCancel(t.ctx)
			// The caller sends nothing more: a read returns only when it
			// resets the stream, the connection dies or we close it.
			go func() {
				var b [1]byte
				_, _ = s.Read(b[:])
				cancel()
			}()
			body, herr := h(ctx, from, req)
			cancel()
			if herr != nil {
				t.log.Debug("ring: request failed", "proto", proto, "peer", from, "err", herr)
			}
			reply = encodeReply(body, herr)
		}
		if err := msgio.NewVarintWriter(s).WriteMsg(reply); err != nil {
			s.Reset()
			return
		}
		s.Close()
	})
}

// Close stops serving every ring protocol and cancels the requests being
// handled; call it before closing the host.
func (t *HostTransport) Close() {
	t.cancel()
	for _, p := range []protocol.ID{ProtoOffer, ProtoFind, ProtoBackup, ProtoClaim, ProtoRun} {
		t.h.RemoveStreamHandler(p)
	}
}
