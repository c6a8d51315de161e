// Package ipfstest starts the IPFS peers that tests fetch code from: a real
// libp2p host and boxo node on loopback, closed by t.Cleanup.
package ipfstest

import (
	"context"
	"testing"

	"github.com/faasedge/faasedge/p2p"
	"github.com/faasedge/faasedge/p2p/ipfs"
)

// Source starts an in-memory IPFS node on a loopback host; add content to it
// and hand its host's FullAddrs to the node under test as peers.
func Source(ctx context.Context, t testing.TB) (*p2p.Host, *ipfs.Node) {
	t.Helper()
	h, err := p2p.NewHost(ctx, p2p.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	n, err := ipfs.New(ctx, h)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return h, n
}
