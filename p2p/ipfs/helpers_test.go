package ipfs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"testing"
	"time"

	"github.com/faasedge/faasedge/p2p"
)

// testCtx bounds a whole test; fetches inside use shorter deadlines.
func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// newNode starts a loopback host and an IPFS node on it, closed when the
// test ends.
func newNode(t testing.TB, cfg p2p.Config, opts ...Option) *Node {
	t.Helper()
	ctx := testCtx(t)
	h, err := p2p.NewHost(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	n, err := New(ctx, h, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// mustFetch fetches ref on n within 30 s and checks the bytes.
func mustFetch(t testing.TB, n *Node, ref string, want []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(testCtx(t), 30*time.Second)
	defer cancel()
	got, err := n.Fetch(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("fetched %d bytes that differ from the %d expected", len(got), len(want))
	}
}

// patternBytes is the fixtures' byte generator: SHA-256 of the big-endian
// block counter, block after block, cut to size. Chunks never repeat, so
// every leaf of an imported file is a distinct block.
// testdata/kubo-cids.sh feeds the same bytes to Kubo.
func patternBytes(seed string, size int) []byte {
	var buf bytes.Buffer
	buf.Grow(size + sha256.Size)
	var ctr [8]byte
	for i := uint64(0); buf.Len() < size; i++ {
		binary.BigEndian.PutUint64(ctr[:], i)
		sum := sha256.Sum256(append([]byte(seed), ctr[:]...))
		buf.Write(sum[:])
	}
	return buf.Bytes()[:size]
}
