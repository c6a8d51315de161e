package ipfs

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/boxo/blockservice"
	"github.com/ipfs/boxo/blockstore"
	"github.com/ipfs/boxo/ipld/merkledag"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	pebbleds "github.com/ipfs/go-ds-pebble"
	"github.com/multiformats/go-multihash"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/faasedge/faasedge/p2p"
)

func TestFetchFromDirectPeer(t *testing.T) {
	ctx := testCtx(t)
	a := newNode(t, p2p.Config{})
	want := patternBytes("direct", 1<<20)
	c, err := a.Add(ctx, bytes.NewReader(want), 0)
	if err != nil {
		t.Fatal(err)
	}
	b := newNode(t, p2p.Config{}, WithPeers(a.Host().FullAddrs()...))
	mustFetch(t, b, Scheme+c.String(), want)
	// Now cached: it is served with the source gone.
	a.Close()
	mustFetch(t, b, c.String(), want)
}

// TestFetchThroughDHTProvider has no direct link between holder and
// fetcher: the fetcher learns the holder from a provider record held by a
// third node of the ring.
func TestFetchThroughDHTProvider(t *testing.T) {
	ctx := testCtx(t)
	ring, err := p2p.NewHost(ctx, p2p.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer ring.Close()
	// The holder is a DHT client: no routing table lists it, so the
	// fetcher can only learn of it from the provider record.
	a := newNode(t, p2p.Config{Bootstrap: ring.FullAddrs(), DHTClient: true})
	want := patternBytes("dht", 300<<10)
	c, err := a.Add(ctx, bytes.NewReader(want), 1)
	if err != nil {
		t.Fatal(err)
	}
	// The provide queue announces in the background; wait for the record.
	for {
		provs, err := ring.DHT.ProviderStore().GetProviders(ctx, c.Hash())
		if err != nil {
			t.Fatal(err)
		}
		if len(provs) > 0 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("provider record never reached the ring")
		case <-time.After(50 * time.Millisecond):
		}
	}
	b := newNode(t, p2p.Config{Bootstrap: ring.FullAddrs()})
	if b.Host().Network().Connectedness(a.Host().ID()).String() == "Connected" {
		t.Fatal("fetcher already connected to the holder; the test would not use the DHT")
	}
	mustFetch(t, b, c.String(), want)
	// The provider the DHT named was asked for a stream at once and sent
	// blocks that verified (bitswap, racing it, may still deliver the file
	// first: the stream's connection is bitswap's too).
	if got := testutil.ToFloat64(b.metrics.streamBytes); got == 0 {
		t.Fatalf("no stream from the DHT's provider (stream fetches %v, bitswap %v)", fetches(b, methodStream), fetches(b, methodBitswap))
	}
}

func TestFetchErrors(t *testing.T) {
	ctx := testCtx(t)
	a := newNode(t, p2p.Config{})
	dir, err := a.AddFS(ctx, fixtureTree, ".", 0)
	if err != nil {
		t.Fatal(err)
	}
	b := newNode(t, p2p.Config{}, WithPeers(a.Host().FullAddrs()...))
	// Valid, but held by no one.
	nowhere, err := cid.V1Builder{Codec: cid.Raw, MhType: multihash.SHA2_256}.Sum([]byte("held by no one"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		ref     string
		timeout time.Duration
		is      error
		text    string
	}{
		{"malformed", "ipfs://not-a-cid", time.Second, ErrMalformedCID, `malformed CID "not-a-cid"`},
		{"empty", "ipfs://", time.Second, ErrMalformedCID, `malformed CID ""`},
		{"unreachable", "ipfs://" + nowhere.String(), 2 * time.Second, context.DeadlineExceeded,
			"no peer delivered it before the deadline"},
		{"directory", dir.String(), 10 * time.Second, ErrNotFile, "not a UnixFS file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fctx, cancel := context.WithTimeout(ctx, tt.timeout)
			defer cancel()
			_, err := b.Fetch(fctx, tt.ref)
			if !errors.Is(err, tt.is) {
				t.Fatalf("err = %v, want %v", err, tt.is)
			}
			if !strings.HasPrefix(err.Error(), tt.text) {
				t.Fatalf("err = %q, want prefix %q", err, tt.text)
			}
		})
	}
}

// tamper rewrites, on disk, every raw leaf of the DAG under root in a closed
// node's data dir with other bytes of the same length, as a faulty or
// malicious peer's store would hold them.
func tamper(t *testing.T, dataDir string, root cid.Cid) {
	t.Helper()
	ctx := testCtx(t)
	ds, err := pebbleds.NewDatastore(filepath.Join(dataDir, "ipfs"))
	if err != nil {
		t.Fatal(err)
	}
	defer ds.Close()
	bs := blockstore.NewBlockstore(ds, blockstore.WriteThrough(true))
	dag := merkledag.NewDAGService(blockservice.New(bs, nil))
	var leaves []cid.Cid
	err = merkledag.Walk(ctx, merkledag.GetLinksDirect(dag), root, func(c cid.Cid) bool {
		if c.Prefix().Codec == cid.Raw {
			leaves = append(leaves, c)
		}
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(leaves) == 0 {
		t.Fatal("nothing to tamper with")
	}
	for _, c := range leaves {
		blk, err := bs.Get(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		bad := bytes.Clone(blk.RawData())
		bad[0] ^= 0xff
		wrong, err := blocks.NewBlockWithCid(bad, c)
		if err != nil {
			t.Fatal(err)
		}
		if err := bs.Put(ctx, wrong); err != nil {
			t.Fatal(err)
		}
	}
}

// newLiar starts a node that added want (CIDv1) and whose store was then
// corrupted on disk, as a faulty or malicious peer's would be.
func newLiar(t *testing.T, want []byte) (*p2p.Host, cid.Cid) {
	t.Helper()
	ctx := testCtx(t)
	dir := t.TempDir()
	h, err := p2p.NewHost(ctx, p2p.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	liar, err := New(ctx, h, WithDataDir(dir))
	if err != nil {
		t.Fatal(err)
	}
	c, err := liar.Add(ctx, bytes.NewReader(want), 1)
	if err != nil {
		t.Fatal(err)
	}
	liar.Close()
	tamper(t, dir, c)
	if liar, err = New(ctx, h, WithDataDir(dir)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { liar.Close() })
	return h, c
}

func TestTamperedPeerIsRefused(t *testing.T) {
	ctx := testCtx(t)
	want := patternBytes("tamper", 600<<10)

	liarHost, c := newLiar(t, want)

	t.Run("only the liar has it", func(t *testing.T) {
		b := newNode(t, p2p.Config{}, WithPeers(liarHost.FullAddrs()...))
		fctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		_, err := b.Fetch(fctx, c.String())
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want the deadline: no correct block exists", err)
		}
		// The root is intact and kept; no leaf may be.
		if b.store.Size() > 4096 {
			t.Fatalf("fetcher holds %d bytes after refusing every leaf", b.store.Size())
		}
	})
	t.Run("an honest peer too", func(t *testing.T) {
		honest := newNode(t, p2p.Config{})
		if _, err := honest.Add(ctx, bytes.NewReader(want), 1); err != nil {
			t.Fatal(err)
		}
		b := newNode(t, p2p.Config{}, WithPeers(append(liarHost.FullAddrs(), honest.Host().FullAddrs()...)...))
		mustFetch(t, b, c.String(), want)
	})
}

// TestNodeOutlivesStartContext: the context given to New bounds the start
// only, so a node started under a short deadline keeps serving.
func TestNodeOutlivesStartContext(t *testing.T) {
	h, err := p2p.NewHost(testCtx(t), p2p.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	start, cancel := context.WithCancel(context.Background())
	a, err := New(start, h)
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	want := patternBytes("outlive", 300<<10)
	c, err := a.Add(testCtx(t), bytes.NewReader(want), 0)
	if err != nil {
		t.Fatal(err)
	}
	mustFetch(t, newNode(t, p2p.Config{}, WithPeers(h.FullAddrs()...)), c.String(), want)
}

// TestFetchGivesUpWithoutProviders: a root no peer delivers and the DHT
// knows no provider of fails with ErrNoProviders after the find timeout,
// not at the fetch's deadline.
func TestFetchGivesUpWithoutProviders(t *testing.T) {
	ctx := testCtx(t)
	ring, err := p2p.NewHost(ctx, p2p.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer ring.Close()
	b := newNode(t, p2p.Config{Bootstrap: ring.FullAddrs()}, WithFindTimeout(200*time.Millisecond))
	nowhere, err := cid.V1Builder{Codec: cid.Raw, MhType: multihash.SHA2_256}.Sum([]byte("provided by no one"))
	if err != nil {
		t.Fatal(err)
	}
	fctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	_, err = b.Fetch(fctx, "ipfs://"+nowhere.String())
	if !errors.Is(err, ErrNoProviders) || fctx.Err() != nil {
		t.Fatalf("err = %v (deadline reached: %v), want ErrNoProviders before the deadline", err, fctx.Err())
	}
}
