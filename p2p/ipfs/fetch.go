package ipfs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/ipfs/boxo/blockstore"
	"github.com/ipfs/boxo/ipld/merkledag"
	uio "github.com/ipfs/boxo/ipld/unixfs/io"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	ipld "github.com/ipfs/go-ipld-format"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"

	"github.com/faasedge/faasedge/activation"
)

// Scheme prefixes action code given by CID.
const Scheme = activation.Scheme

// The reasons a fetch fails, besides the context's error.
var (
	ErrMalformedCID = errors.New("malformed CID")
	ErrNotFile      = errors.New("not a UnixFS file")
	ErrHashMismatch = errors.New("block does not match its hash")
	// ErrNoProviders: no peer delivered the root within the find timeout
	// and the DHT knows no provider of it.
	ErrNoProviders = errors.New("no peer provides it")
)

// ParseCID reads a CID given as `<CID>`, `ipfs://<CID>` or `/ipfs/<CID>`.
func ParseCID(s string) (cid.Cid, error) {
	s = strings.TrimPrefix(strings.TrimPrefix(strings.TrimSpace(s), Scheme), "/ipfs/")
	c, err := cid.Decode(s)
	if err != nil {
		return cid.Undef, fmt.Errorf("%w %q: %v", ErrMalformedCID, s, err)
	}
	return c, nil
}

// Fetch returns the bytes of the UnixFS file ref names (`<CID>` or
// `ipfs://<CID>`): from the local cache, else by a CAR stream from a peer
// that holds it (the sources ctx names, see ContextWithSources, then the
// direct peers of WithPeers), else from peers over bitswap (direct peers
// and DHT providers), and the gateway fallback if one is set. Every block is
// checked against its hash on arrival; a peer serving wrong bytes is ignored
// and the others are asked. ctx's deadline bounds the whole fetch.
//
// An error is the short reason a developer reads after "could not fetch
// code ipfs://<CID>: ", the prefix the executor puts on it; it wraps
// ErrMalformedCID, ErrNotFile, ErrHashMismatch, ErrTooLarge or the
// context's error. Node satisfies the executor's Fetcher.
func (n *Node) Fetch(ctx context.Context, ref string) ([]byte, error) {
	from, _ := ctx.Value(sourcesKey{}).([]peer.ID)
	c, err := ParseCID(ref)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	method := methodLocal
	var b []byte
	if !n.holdsDAG(ctx, c) {
		tried := map[peer.ID]bool{n.host.ID(): true}
		var streamed bool
		if b, streamed = n.streamFromPeers(ctx, c, from, tried); streamed {
			method = methodStream
		} else {
			if n.findTimeout > 0 {
				go n.giveUpWithoutProviders(ctx, c, cancel)
			}
			b, method, err = n.fetchRemote(ctx, c, tried)
		}
	}
	if b == nil && err == nil {
		b, err = n.fetch(ctx, c)
	}
	if err != nil {
		if errors.Is(context.Cause(ctx), ErrNoProviders) {
			return nil, fmt.Errorf("%w (none delivered it within %v and the DHT knows no provider)", ErrNoProviders, n.findTimeout)
		}
		return nil, reason(ctx, err)
	}
	n.metrics.fetches.WithLabelValues(method).Inc()
	n.metrics.bytes.WithLabelValues(method).Add(float64(len(b)))
	n.provide(ctx, c)
	return b, nil
}

// holdsDAG reports whether every block of the DAG under c is in the local
// store. Only the DAG's inner nodes are read; a root held without all its
// blocks (a stream cut short) is fetched again.
func (n *Node) holdsDAG(ctx context.Context, c cid.Cid) bool {
	order := newDAGOrder(c)
	for c, ok := order.next(); ok; c, ok = order.next() {
		if c.Prefix().Codec == cid.Raw {
			if has, err := n.store.Has(ctx, c); err != nil || !has {
				return false
			}
			continue
		}
		b, err := n.store.Get(ctx, c)
		if err != nil {
			return false
		}
		if _, err := order.visit(b); err != nil {
			return false
		}
	}
	return true
}

type sourcesKey struct{}

// ContextWithSources names peers that hold what is fetched under ctx: the
// scheduler whose claim or run asks for the code, the client that deploys
// it. Fetch asks them to stream the DAG before its direct peers. It is a
// context value because the fetch is reached through the executor, which
// knows nothing of peers.
func ContextWithSources(ctx context.Context, peers ...peer.ID) context.Context {
	return context.WithValue(ctx, sourcesKey{}, peers)
}

// maxStreamAttempts bounds the peers one fetch asks for a stream (tried
// holds the node itself besides them).
const maxStreamAttempts = 3

// streamFromPeers asks the peers in from, then the direct peers, to stream
// the DAG under c, until one delivers all of it, and adds those it asks to
// tried. It reports whether the whole DAG is now local, and the file when
// the stream gave it whole.
func (n *Node) streamFromPeers(ctx context.Context, c cid.Cid, from []peer.ID, tried map[peer.ID]bool) ([]byte, bool) {
	for _, p := range append(append([]peer.ID(nil), from...), n.directPeers...) {
		if tried[p] || len(tried) > maxStreamAttempts || ctx.Err() != nil {
			continue
		}
		if !n.mayStream(p, slices.Contains(from, p)) {
			continue
		}
		tried[p] = true
		if b, ok := n.streamFrom(ctx, p, c); ok {
			return b, true
		}
	}
	return nil, false
}

// fetchRemote fetches c by bitswap and, at the same time, asks the DHT for
// providers of c and the first few for a stream: whichever delivers the
// whole file first is used, and the other is stopped. Bitswap would only
// ask the DHT after its own search delay, and then one block at a time.
func (n *Node) fetchRemote(ctx context.Context, c cid.Cid, tried map[peer.ID]bool) ([]byte, string, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		b      []byte
		err    error
		method string
	}
	out := make(chan result, 2)
	go func() {
		b, err := n.fetch(ctx, c)
		out <- result{b, err, methodBitswap}
	}()
	go func() {
		b, ok := n.streamFromProviders(ctx, c, tried)
		if !ok {
			out <- result{err: errNoStream, method: methodStream}
			return
		}
		var err error
		if b == nil {
			// The DAG is local now, but bitswap's session does not look
			// there again: the file is read here.
			b, err = n.fetch(ctx, c)
		}
		out <- result{b, err, methodStream}
	}()
	// The first success wins; bitswap's failure is the fetch's. The other
	// side is stopped and waited for, so nothing outlives the fetch.
	var won result
	for range 2 {
		r := <-out
		if won.method == "" && (r.err == nil || r.method == methodBitswap) {
			won = r
			cancel()
		}
	}
	return won.b, won.method, won.err
}

// errNoStream: no DHT provider streamed the DAG; bitswap goes on alone.
var errNoStream = errors.New("no provider streamed it")

// streamFromProviders asks the DHT for providers of c not yet tried and
// each for a stream, until one delivers the whole DAG or maxStreamAttempts
// were asked in all. It reports whether the whole DAG is now local, and the
// file when the stream gave it whole.
func (n *Node) streamFromProviders(ctx context.Context, c cid.Cid, tried map[peer.ID]bool) ([]byte, bool) {
	timeout := n.findTimeout
	if timeout <= 0 {
		timeout = DefaultFindTimeout
	}
	fctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// A node that has just started may not have a DHT peer yet; a lookup
	// then ends at once with nothing.
	if !(readyDHT{n.host.DHT}).wait(fctx, 10*time.Millisecond) {
		return nil, false
	}
	for ai := range n.host.DHT.FindProvidersAsync(fctx, c, maxStreamAttempts) {
		if tried[ai.ID] || len(tried) > maxStreamAttempts {
			continue
		}
		tried[ai.ID] = true
		n.host.Peerstore().AddAddrs(ai.ID, ai.Addrs, peerstore.TempAddrTTL)
		if b, ok := n.streamFrom(ctx, ai.ID, c); ok {
			return b, true
		}
	}
	return nil, false
}

// streamFrom asks p to stream the DAG under c, with at most half of what is
// left of ctx's time, so that a fallback keeps the rest. It reports whether
// the whole DAG is now local, and the file when the stream gave it whole.
func (n *Node) streamFrom(ctx context.Context, p peer.ID, c cid.Cid) ([]byte, bool) {
	sctx, cancel := halfDeadline(ctx)
	st, err := n.streamDAG(sctx, p, c, n.maxFetch)
	cancel()
	n.metrics.streamBytes.Add(float64(st.bytes))
	if err == nil {
		return st.file, true
	}
	why := fallbackReason(err)
	n.metrics.fallbacks.WithLabelValues(why).Inc()
	if why != "refused" {
		n.log.Debug("ipfs: CAR stream failed, trying elsewhere", "cid", c, "peer", p, "blocks", st.blocks, "err", err)
		return nil, false
	}
	// A peer that sent what does not verify is cut off, so that bitswap
	// does not ask it next: boxo's session would wait a minute for a
	// block the peer sent wrong before asking again.
	n.log.Warn("ipfs: CAR stream refused, disconnecting the peer", "cid", c, "peer", p, "blocks", st.blocks, "err", err)
	_ = n.host.Network().ClosePeer(p)
	return nil, false
}

// mayStream reports whether p is worth a stream attempt: a source always
// is; a direct peer when it is connected and does not
// list its protocols without ProtoCAR (Kubo, for one, serves bitswap only).
func (n *Node) mayStream(p peer.ID, named bool) bool {
	if named {
		return true
	}
	if n.host.Network().Connectedness(p) != network.Connected {
		return false
	}
	protos, err := n.host.Peerstore().GetProtocols(p)
	if err != nil || len(protos) == 0 {
		return true
	}
	return slices.Contains(protos, ProtoCAR)
}

// halfDeadline gives a stream attempt half of ctx's remaining time.
func halfDeadline(ctx context.Context) (context.Context, context.CancelFunc) {
	d, ok := ctx.Deadline()
	if !ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, time.Until(d)/2)
}

// giveUpWithoutProviders ends a fetch that has not got its root within the
// find timeout when the DHT knows no provider of it either, so that code
// nobody serves fails in seconds rather than at the action's timeout.
func (n *Node) giveUpWithoutProviders(ctx context.Context, c cid.Cid, cancel context.CancelCauseFunc) {
	t := time.NewTimer(n.findTimeout)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return
	case <-t.C:
	}
	fctx, fcancel := context.WithTimeout(ctx, n.findTimeout)
	defer fcancel()
	for range n.host.DHT.FindProvidersAsync(fctx, c, 1) {
		return // someone has it: the fetch waits for its deadline
	}
	if ctx.Err() == nil {
		cancel(ErrNoProviders)
	}
}

func (n *Node) fetch(ctx context.Context, c cid.Cid) ([]byte, error) {
	// One bitswap session for the whole DAG: peers that had the root are
	// asked for the rest first.
	ng := merkledag.NewSession(ctx, n.dag)
	nd, err := ng.Get(ctx, c)
	if err != nil {
		return nil, err
	}
	r, err := uio.NewDagReader(ctx, nd, ng)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	if r.Size() > uint64(n.maxFetch) {
		return nil, fmt.Errorf("%w: the file has %d bytes, the limit is %d", ErrTooLarge, r.Size(), n.maxFetch)
	}
	w := &bytesWriter{b: make([]byte, 0, r.Size()), limit: n.maxFetch}
	if _, err := r.WriteTo(w); err != nil {
		return nil, err
	}
	return w.b, nil
}

// bytesWriter collects a file, up to limit bytes: the sizes a DAG's nodes
// claim are only hints.
type bytesWriter struct {
	b     []byte
	limit int64
}

func (w *bytesWriter) Write(p []byte) (int, error) {
	if int64(len(w.b)+len(p)) > w.limit {
		return 0, fmt.Errorf("%w: the file has more than %d bytes", ErrTooLarge, w.limit)
	}
	w.b = append(w.b, p...)
	return len(p), nil
}

// reason turns what boxo returns into the short reason a developer reads.
func reason(ctx context.Context, err error) error {
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("no peer delivered it before the deadline: %w", ctx.Err())
	case errors.Is(err, blockstore.ErrHashMismatch), errors.Is(err, blocks.ErrWrongHash):
		return fmt.Errorf("%w: %v", ErrHashMismatch, err)
	case errors.Is(err, uio.ErrIsDir), errors.Is(err, uio.ErrCantReadSymlinks), errors.Is(err, uio.ErrUnkownNodeType):
		return fmt.Errorf("%w: %v", ErrNotFile, err)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("truncated DAG: %w", err)
	}
	var nf ipld.ErrNotFound
	if errors.As(err, &nf) {
		return fmt.Errorf("block %s not found: %w", nf.Cid, err)
	}
	return err
}
