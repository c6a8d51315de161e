package ipfs

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"runtime"
	"testing"
	"time"

	"github.com/ipfs/boxo/ipld/merkledag"
	"github.com/ipfs/boxo/ipld/unixfs"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	ipld "github.com/ipfs/go-ipld-format"
	carv2 "github.com/ipld/go-car/v2"
	carstorage "github.com/ipld/go-car/v2/storage"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multihash"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/faasedge/faasedge/p2p"
)

// dagBlocks lists the blocks of the DAG under root held by n, in dagOrder.
func dagBlocks(t testing.TB, n *Node, root cid.Cid) []blocks.Block {
	t.Helper()
	var out []blocks.Block
	order := newDAGOrder(root)
	for c, ok := order.next(); ok; c, ok = order.next() {
		b, err := n.store.Get(context.Background(), c)
		if err != nil {
			t.Fatalf("block %s: %v", c, err)
		}
		if _, err := order.visit(b); err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// carStream is what an honest provider of root sends: the status byte and
// the CAR.
func carStream(t testing.TB, n *Node, root cid.Cid) []byte {
	t.Helper()
	var buf bytes.Buffer
	buf.WriteByte(carOK)
	if err := n.writeCAR(context.Background(), &buf, root); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// carStreamHeader is the CARv1 header naming root.
func carStreamHeader(t testing.TB, root cid.Cid) []byte {
	t.Helper()
	var buf bytes.Buffer
	if _, err := carstorage.NewWritable(&buf, []cid.Cid{root}, carv2.WriteAsCarV1(true)); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func carv2Pragma() []byte { return bytes.Clone(carv2.Pragma) }

func mustSum(t testing.TB, data []byte) cid.Cid {
	t.Helper()
	c, err := cid.V1Builder{Codec: cid.Raw, MhType: multihash.SHA2_256}.Sum(data)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// held is the slots p holds.
func (s *carSlots) held(p peer.ID) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.byPeer[p]
}

func fetches(n *Node, method string) float64 {
	return testutil.ToFloat64(n.metrics.fetches.WithLabelValues(method))
}

func fallbacks(n *Node, reason string) float64 {
	return testutil.ToFloat64(n.metrics.fallbacks.WithLabelValues(reason))
}

// TestStreamFetch fetches multi-block DAGs from a direct peer: over the
// CAR stream alone (bitswap receives nothing), every block of the DAG
// stored and hashed again here.
func TestStreamFetch(t *testing.T) {
	ctx := testCtx(t)
	src := newNode(t, p2p.Config{})
	repeated := bytes.Repeat(patternBytes("chunk", 256<<10), 5) // one leaf linked 5 times
	tests := []struct {
		name    string
		data    []byte
		version int
		method  string
	}{
		{"CIDv0, dag-pb leaves", patternBytes("v0", 3<<20+12345), 0, methodStream},
		{"CIDv1, raw leaves", patternBytes("v1", 3<<20+12345), 1, methodStream},
		{"one block", patternBytes("small", 1000), 1, methodStream},
		{"a leaf linked twice", repeated, 0, methodStream},
		{"empty CIDv0", nil, 0, methodStream},
		// Its CID holds it: nothing to fetch.
		{"empty CIDv1", nil, 1, methodLocal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := src.Add(ctx, bytes.NewReader(tt.data), tt.version)
			if err != nil {
				t.Fatal(err)
			}
			dst := newNode(t, p2p.Config{}, WithPeers(src.Host().FullAddrs()...))
			mustFetch(t, dst, c.String(), tt.data)
			if got := fetches(dst, tt.method); got != 1 {
				t.Fatalf("%s fetches = %v, want 1", tt.method, got)
			}
			if st, _ := dst.bitswap.Stat(); st.BlocksReceived != 0 {
				t.Fatalf("bitswap received %d blocks", st.BlocksReceived)
			}
			for _, b := range dagBlocks(t, src, c) {
				got, err := dst.store.Get(ctx, b.Cid())
				if err != nil {
					t.Fatalf("block %s not stored: %v", b.Cid(), err)
				}
				if sum, _ := b.Cid().Prefix().Sum(got.RawData()); !sum.Equals(b.Cid()) {
					t.Fatalf("block %s stored with other bytes", b.Cid())
				}
			}
		})
	}
	t.Run("a directory", func(t *testing.T) {
		dir, err := src.AddFS(ctx, fixtureTree, ".", 0)
		if err != nil {
			t.Fatal(err)
		}
		dst := newNode(t, p2p.Config{}, WithPeers(src.Host().FullAddrs()...))
		if _, err := dst.Fetch(ctx, dir.String()); !errors.Is(err, ErrNotFile) {
			t.Fatalf("err = %v, want ErrNotFile", err)
		}
	})
}

// TestStreamFromSource: a source the context names is asked first, even
// one the node has no --peer link to.
func TestStreamFromSource(t *testing.T) {
	ctx := testCtx(t)
	src := newNode(t, p2p.Config{})
	want := patternBytes("named", 1<<20)
	c, err := src.Add(ctx, bytes.NewReader(want), 1)
	if err != nil {
		t.Fatal(err)
	}
	dst := newNode(t, p2p.Config{})
	dst.Host().Peerstore().AddAddrs(src.Host().ID(), src.Host().Addrs(), time.Hour)
	got, err := dst.Fetch(ContextWithSources(ctx, src.Host().ID()), c.String())
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("fetch: %d bytes, %v", len(got), err)
	}
	if fetches(dst, methodStream) != 1 {
		t.Fatal("not streamed")
	}
}

// TestStreamTamperedFallsBack: a provider whose store was corrupted streams
// a leaf that does not match its CID; the stream is refused at that block,
// the blocks before it are kept, and the fetch completes from another peer
// by stream or, when that peer speaks bitswap only, by bitswap.
func TestStreamTamperedFallsBack(t *testing.T) {
	ctx := testCtx(t)
	want := patternBytes("tamper-stream", 2<<20)
	liarHost, c := newLiar(t, want)

	for _, bitswapOnly := range []bool{false, true} {
		t.Run(fmt.Sprintf("honest peer bitswap only %v", bitswapOnly), func(t *testing.T) {
			honest := newNode(t, p2p.Config{})
			if _, err := honest.Add(ctx, bytes.NewReader(want), 1); err != nil {
				t.Fatal(err)
			}
			if bitswapOnly {
				honest.Host().RemoveStreamHandler(ProtoCAR)
			}
			dst := newNode(t, p2p.Config{}, WithPeers(append(liarHost.FullAddrs(), honest.Host().FullAddrs()...)...))
			_, err := dst.streamDAG(ctx, liarHost.ID(), c, DefaultMaxFetch)
			if !errors.Is(err, ErrHashMismatch) {
				t.Fatalf("stream from the liar: %v, want ErrHashMismatch", err)
			}
			if dst.store.Size() == 0 {
				t.Fatal("the root, verified before the bad leaf, was not kept")
			}
			got, err := dst.Fetch(ContextWithSources(ctx, liarHost.ID()), c.String())
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("fetch: %d bytes, %v", len(got), err)
			}
			if fallbacks(dst, "refused") != 1 {
				t.Fatalf("refused fallbacks = %v, want 1", fallbacks(dst, "refused"))
			}
			method := methodStream
			if bitswapOnly {
				method = methodBitswap
			}
			if fetches(dst, method) != 1 {
				t.Fatalf("fetched by %s %v times, want 1", method, fetches(dst, method))
			}
		})
	}
}

// TestStreamPartialHolder: a provider that holds part of a DAG streams what
// it has and never fetches the rest on the requester's behalf; the
// requester completes the DAG with bitswap.
func TestStreamPartialHolder(t *testing.T) {
	ctx := testCtx(t)
	want := patternBytes("partial", 2<<20)
	full := newNode(t, p2p.Config{})
	c, err := full.Add(ctx, bytes.NewReader(want), 1)
	if err != nil {
		t.Fatal(err)
	}
	full.Host().RemoveStreamHandler(ProtoCAR)
	part := newNode(t, p2p.Config{}, WithPeers(full.Host().FullAddrs()...))
	all := dagBlocks(t, full, c)
	missing := all[len(all)/2].Cid()
	for _, b := range all {
		if !b.Cid().Equals(missing) {
			if err := part.store.Put(ctx, b); err != nil {
				t.Fatal(err)
			}
		}
	}
	dst := newNode(t, p2p.Config{}, WithPeers(part.Host().FullAddrs()...))
	if err := dst.Host().Connect(ctx, peer.AddrInfo{ID: full.Host().ID(), Addrs: full.Host().Addrs()}); err != nil {
		t.Fatal(err)
	}
	mustFetch(t, dst, c.String(), want)
	// The partial holder's stream failed; the full holder, found in the
	// DHT, may have been asked too.
	if fetches(dst, methodBitswap) != 1 || fallbacks(dst, "failed") < 1 {
		t.Fatalf("bitswap fetches %v, failed streams %v; want 1 and at least 1", fetches(dst, methodBitswap), fallbacks(dst, "failed"))
	}
	if has, _ := part.store.Has(ctx, missing); has {
		t.Fatal("the provider fetched the block it lacked")
	}
}

// hostileProvider serves ProtoCAR on a bare libp2p host with serve, and
// returns the host's ID once dst knows its addresses.
func hostileProvider(t *testing.T, dst *Node, serve func(network.Stream)) peer.ID {
	t.Helper()
	h, err := p2p.NewHost(testCtx(t), p2p.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	h.SetStreamHandler(ProtoCAR, func(s network.Stream) {
		defer s.Close()
		// The request first, as a real provider reads it.
		if _, err := readCARRequest(bufio.NewReader(s)); err != nil {
			return
		}
		serve(s)
	})
	dst.Host().Peerstore().AddAddrs(h.ID(), h.Addrs(), time.Hour)
	return h.ID()
}

// craftedFile is a dag-pb file root linking n raw leaves of leafSize bytes
// that leaf(i) generates, and the leaves' CIDs.
func craftedFile(t testing.TB, n, leafSize int, leaf func(int) []byte) (blocks.Block, []cid.Cid) {
	t.Helper()
	fsn := unixfs.NewFSNode(unixfs.TFile)
	root := merkledag.NodeWithData(nil)
	var cids []cid.Cid
	for i := range n {
		c := mustSum(t, leaf(i))
		cids = append(cids, c)
		if err := root.AddRawLink("", &ipld.Link{Cid: c, Size: uint64(leafSize)}); err != nil {
			t.Fatal(err)
		}
		fsn.AddBlockSize(uint64(leafSize))
	}
	data, err := fsn.GetBytes()
	if err != nil {
		t.Fatal(err)
	}
	root.SetData(data)
	return root, cids
}

// TestStreamHostileProvider: a provider that sends what it must not is cut
// off with a clear error, having made the requester allocate little; the
// fetch then completes from an honest peer.
func TestStreamHostileProvider(t *testing.T) {
	ctx := testCtx(t)
	src := newNode(t, p2p.Config{})
	want := patternBytes("hostile", 1<<20)
	c, err := src.Add(ctx, bytes.NewReader(want), 1)
	if err != nil {
		t.Fatal(err)
	}
	honestCAR := carStream(t, src, c)
	dagOf := dagBlocks(t, src, c)
	other, err := blocks.NewBlockWithCid([]byte("unrelated"), mustSum(t, []byte("unrelated")))
	if err != nil {
		t.Fatal(err)
	}
	header := func(s io.Writer, root cid.Cid) {
		s.Write(append([]byte{carOK}, carStreamHeader(t, root)...))
	}
	section := func(w io.Writer, b blocks.Block) {
		w.Write(binary.AppendUvarint(nil, uint64(len(b.Cid().Bytes())+len(b.RawData()))))
		w.Write(b.Cid().Bytes())
		w.Write(b.RawData())
	}
	// A long DAG the provider makes up as it goes: each leaf is only made
	// when it is sent.
	leaf := func(i int) []byte { return patternBytes(fmt.Sprint("long", i), 64<<10) }
	longRoot, longLeaves := craftedFile(t, 64, 64<<10, leaf)
	tests := []struct {
		name  string
		root  cid.Cid
		serve func(network.Stream)
		is    error
		text  string
	}{
		{"oversize frame", c, func(s network.Stream) {
			header(s, c)
			s.Write(binary.AppendUvarint(nil, 1<<40))
			s.Write(make([]byte, 1<<20))
		}, ErrMalformed, "length of read beyond allowable maximum"},
		{"unrelated block", c, func(s network.Stream) {
			header(s, c)
			section(s, other)
		}, ErrUnexpected, "block not expected next in the DAG: got " + other.Cid().String()},
		{"blocks out of order", c, func(s network.Stream) {
			header(s, c)
			section(s, dagOf[0])
			section(s, dagOf[2])
		}, ErrUnexpected, "block not expected next"},
		{"tampered block", c, func(s network.Stream) {
			bad := bytes.Clone(honestCAR)
			bad[len(bad)-1] ^= 1
			s.Write(bad)
		}, ErrHashMismatch, "block does not match its hash"},
		{"endless zeros", c, func(s network.Stream) {
			header(s, c)
			zeros := make([]byte, 64<<10)
			for {
				if _, err := s.Write(zeros); err != nil {
					return
				}
			}
		}, ErrMalformed, "malformed CAR stream"},
		{"longer than the limit", longRoot.Cid(), func(s network.Stream) {
			header(s, longRoot.Cid())
			section(s, longRoot)
			for i, lc := range longLeaves {
				b, _ := blocks.NewBlockWithCid(leaf(i), lc)
				section(s, b)
			}
		}, ErrTooLarge, "DAG larger than the fetch limit"},
		{"CARv2", c, func(s network.Stream) {
			s.Write([]byte{carOK})
			s.Write(carv2Pragma())
		}, ErrMalformed, "CAR version 2"},
		{"wrong root", c, func(s network.Stream) {
			header(s, other.Cid())
		}, ErrMalformed, "want version 1 root"},
		{"unknown status", c, func(s network.Stream) {
			s.Write([]byte{42})
		}, ErrMalformed, "status 42"},
		{"stalls", c, func(s network.Stream) {
			header(s, c)
			section(s, dagOf[0])
			<-ctx.Done()
		}, ErrStalled, "peer stalled: nothing received for 300ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := newNode(t, p2p.Config{}, WithPeers(src.Host().FullAddrs()...),
				WithStreamIdle(300*time.Millisecond), WithMaxFetch(2<<20))
			bad := hostileProvider(t, dst, tt.serve)
			var before runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := dst.streamDAG(ctx, bad, tt.root, dst.maxFetch)
			var after runtime.MemStats
			runtime.ReadMemStats(&after)
			if !errors.Is(err, tt.is) {
				t.Fatalf("err = %v, want %v", err, tt.is)
			}
			if !bytes.Contains([]byte(err.Error()), []byte(tt.text)) {
				t.Fatalf("err = %q, want it to say %q", err, tt.text)
			}
			// The limit and one block's read buffers, not the frame's claim
			// nor the stream's length.
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 32<<20 {
				t.Fatalf("allocated %d MiB while refusing the stream", alloc>>20)
			}
			if tt.root != c {
				return
			}
			got, err := dst.Fetch(ContextWithSources(ctx, bad), c.String())
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("fetch after the hostile stream: %d bytes, %v", len(got), err)
			}
			if fetches(dst, methodStream) != 1 {
				t.Fatal("the fetch did not complete by stream from the honest peer")
			}
		})
	}
}

// TestStreamBusy: a provider serves at most maxCARStreamsPerPeer streams
// to one peer at a time and tells the next one it is busy.
func TestStreamBusy(t *testing.T) {
	ctx := testCtx(t)
	src := newNode(t, p2p.Config{}, WithStreamIdle(time.Minute))
	c, err := src.Add(ctx, bytes.NewReader(patternBytes("busy", 1000)), 1)
	if err != nil {
		t.Fatal(err)
	}
	dst := newNode(t, p2p.Config{}, WithPeers(src.Host().FullAddrs()...))
	// Streams that never finish their request hold their slots.
	for range maxCARStreamsPerPeer {
		s, err := dst.Host().NewStream(ctx, src.Host().ID(), ProtoCAR)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Reset()
		if _, err := s.Write([]byte{byte(c.ByteLen())}); err != nil {
			t.Fatal(err)
		}
	}
	// The handlers run asynchronously: wait until all hold their slots.
	for src.carSlots.held(dst.Host().ID()) < maxCARStreamsPerPeer {
		select {
		case <-ctx.Done():
			t.Fatal("the streams never reached the provider")
		case <-time.After(10 * time.Millisecond):
		}
	}
	if _, err := dst.streamDAG(ctx, src.Host().ID(), c, DefaultMaxFetch); !errors.Is(err, ErrBusy) {
		t.Fatalf("err = %v, want ErrBusy", err)
	}
	// Another peer is served.
	other := newNode(t, p2p.Config{}, WithPeers(src.Host().FullAddrs()...))
	if _, err := other.streamDAG(ctx, src.Host().ID(), c, DefaultMaxFetch); err != nil {
		t.Fatal(err)
	}
}

// FuzzReadDAG feeds the requester's decoder arbitrary answers for a fixed
// root: it must never panic nor hand on a block that does not hash to its
// CID, and whatever it accepts whole is the DAG.
func FuzzReadDAG(f *testing.F) {
	src := newNode(f, p2p.Config{})
	ctx := testCtx(f)
	data := patternBytes("fuzz", 600<<10)
	c0, err := src.Add(ctx, bytes.NewReader(data), 0)
	if err != nil {
		f.Fatal(err)
	}
	c1, err := src.Add(ctx, bytes.NewReader(data), 1)
	if err != nil {
		f.Fatal(err)
	}
	honest := carStream(f, src, c0)
	f.Add(uint8(0), honest)
	f.Add(uint8(1), carStream(f, src, c1))
	f.Add(uint8(0), honest[:len(honest)/2])
	f.Add(uint8(0), []byte{carNotHeld})
	f.Add(uint8(0), append([]byte{carOK}, carv2Pragma()...))
	f.Fuzz(func(t *testing.T, which uint8, answer []byte) {
		root := []cid.Cid{c0, c1}[which%2]
		order := newDAGOrder(root)
		file := fileBuilder{limit: 1 << 20, ok: true}
		_, err := readDAG(bytes.NewReader(answer), order, 1<<20, func(b blocks.Block, nd *merkledag.ProtoNode) error {
			if sum, err := b.Cid().Prefix().Sum(b.RawData()); err != nil || !sum.Equals(b.Cid()) {
				t.Fatalf("block %s handed on with other bytes", b.Cid())
			}
			file.add(b, nd)
			return nil
		})
		if err != nil {
			return
		}
		if got := file.file(order); got != nil && !bytes.Equal(got, data) {
			t.Fatalf("accepted a file of %d bytes that is not the DAG's", len(got))
		}
	})
}
