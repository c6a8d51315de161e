package ipfs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/ipfs/boxo/blockstore"
	"github.com/ipfs/boxo/ipld/merkledag"
	uio "github.com/ipfs/boxo/ipld/unixfs/io"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	ipld "github.com/ipfs/go-ipld-format"

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
// `ipfs://<CID>`): from the local cache, else from peers over bitswap (direct
// peers and DHT providers), and the gateway fallback if one is set. Every
// block is checked against its hash on arrival; a peer serving wrong bytes is
// ignored and the others are asked. ctx's deadline bounds the whole fetch.
//
// An error is the short reason a developer reads after "could not fetch
// code ipfs://<CID>: ", the prefix the executor puts on it; it wraps
// ErrMalformedCID, ErrNotFile, ErrHashMismatch or the context's error.
// Node satisfies the executor's Fetcher.
func (n *Node) Fetch(ctx context.Context, ref string) ([]byte, error) {
	c, err := ParseCID(ref)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	if n.findTimeout > 0 {
		if has, _ := n.store.Has(ctx, c); !has {
			go n.giveUpWithoutProviders(ctx, c, cancel)
		}
	}
	b, err := n.fetch(ctx, c)
	if err != nil {
		if errors.Is(context.Cause(ctx), ErrNoProviders) {
			return nil, fmt.Errorf("%w (none delivered it within %v and the DHT knows no provider)", ErrNoProviders, n.findTimeout)
		}
		return nil, reason(ctx, err)
	}
	n.provide(ctx, c)
	return b, nil
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
	buf := make([]byte, 0, r.Size())
	w := bytesWriter{&buf}
	if _, err := r.WriteTo(w); err != nil {
		return nil, err
	}
	return buf, nil
}

type bytesWriter struct{ b *[]byte }

func (w bytesWriter) Write(p []byte) (int, error) {
	*w.b = append(*w.b, p...)
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
