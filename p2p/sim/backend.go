package sim

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	mocknet "github.com/libp2p/go-libp2p/p2p/net/mock"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/faasedge/faasedge/p2p"
	"github.com/faasedge/faasedge/p2p/ring"
)

// memBackend runs nodes on a MemNet.
type memBackend struct {
	net *MemNet
	rnd *rand.Rand
}

func newMemBackend(cfg Config) *memBackend {
	useSigMemo()
	return &memBackend{
		net: NewMemNet(NewClock(time.Unix(1_700_000_000, 0)), cfg.Latency),
		rnd: rand.New(rand.NewPCG(cfg.Seed, 11)),
	}
}

// randReader feeds key generation from the run's seed, so node IDs (and so
// the whole run) are reproducible.
type randReader struct{ r *rand.Rand }

func (rr randReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(rr.r.Uint32())
	}
	return len(p), nil
}

func (b *memBackend) add(_ context.Context, opts ...ring.Option) (*ring.Node, peer.AddrInfo, error) {
	k, _, err := crypto.GenerateEd25519Key(randReader{b.rnd})
	if err != nil {
		return nil, peer.AddrInfo{}, err
	}
	key, err := newMemoKey(k)
	if err != nil {
		return nil, peer.AddrInfo{}, err
	}
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		return nil, peer.AddrInfo{}, err
	}
	ep := b.net.Join(id)
	n, err := ring.New(ep, key, append(opts, ring.WithClock(ep.Now), ring.WithSelfCalls())...)
	if err != nil {
		return nil, peer.AddrInfo{}, err
	}
	return n, peer.AddrInfo{ID: id}, nil
}

func (b *memBackend) remove(id peer.ID)       { b.net.Leave(id) }
func (b *memBackend) now() time.Time          { return b.net.Clock.Now() }
func (b *memBackend) advance(d time.Duration) { b.net.Clock.Advance(d) }
func (b *memBackend) begin(id peer.ID, offset time.Duration) {
	if ep, ok := b.net.eps[id]; ok {
		ep.Begin(offset)
	}
}
func (b *memBackend) close() {}
func (b *memBackend) newPeriod() {
	memo.rotate()
	b.net.Forget()
}
func (b *memBackend) trafficBytes() (n int64) {
	for _, ep := range b.net.eps {
		n += ep.BytesIn.Load() + ep.BytesOut.Load()
	}
	return n
}

// hostBackend runs nodes as real libp2p hosts with the DHT: on loopback
// TCP, or on a mocknet whose links add a latency.
type hostBackend struct {
	boot  []string
	hosts map[peer.ID]*hostNode
	// mn, when set, carries the hosts' streams, each write delayed by its
	// links' latency.
	mn mocknet.Mocknet
}

type hostNode struct {
	h  *p2p.Host
	tr *ring.HostTransport
}

func newHostBackend(Config) *hostBackend { return &hostBackend{hosts: map[peer.ID]*hostNode{}} }

// newMockBackend runs the hosts on a mocknet with cfg.Latency one way on
// every link: real libp2p, DHT and ring code, with a network latency that
// loopback lacks, measured on the wall clock.
func newMockBackend(cfg Config) *hostBackend {
	b := newHostBackend(cfg)
	b.mn = mocknet.New()
	b.mn.SetLinkDefaults(mocknet.LinkOptions{Latency: cfg.Latency})
	return b
}

// hostTimers keep offers alive across the ticks the simulator drives by
// request count rather than by wall time.
var hostTimers = ring.WithTimers(10*time.Second, 10*time.Minute, time.Hour)

func (b *hostBackend) add(ctx context.Context, opts ...ring.Option) (*ring.Node, peer.AddrInfo, error) {
	key, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		return nil, peer.AddrInfo{}, err
	}
	hc := p2p.Config{Key: key, Bootstrap: b.boot}
	if b.mn != nil {
		// Addresses in 100::/64, the discard prefix: nothing leaves the
		// process.
		a := ma.StringCast(fmt.Sprintf("/ip6/100::%x/tcp/4001", len(b.mn.Peers())+1))
		if hc.Host, err = b.mn.AddPeer(key, a); err != nil {
			return nil, peer.AddrInfo{}, fmt.Errorf("sim: mocknet peer: %w", err)
		}
		if err := b.mn.LinkAll(); err != nil {
			return nil, peer.AddrInfo{}, fmt.Errorf("sim: mocknet links: %w", err)
		}
	}
	h, err := p2p.NewHost(ctx, hc)
	if err != nil {
		return nil, peer.AddrInfo{}, fmt.Errorf("sim: start host: %w", err)
	}
	if len(b.boot) < 3 {
		b.boot = append(b.boot, h.FullAddrs()...)
	}
	tr := ring.NewHostTransport(h, nil)
	n, err := ring.New(tr, key, append(opts, hostTimers)...)
	if err != nil {
		h.Close()
		return nil, peer.AddrInfo{}, err
	}
	b.hosts[h.ID()] = &hostNode{h: h, tr: tr}
	return n, peer.AddrInfo{ID: h.ID(), Addrs: h.Addrs()}, nil
}

func (b *hostBackend) remove(id peer.ID) {
	if hn, ok := b.hosts[id]; ok {
		hn.tr.Close()
		hn.h.Close()
		delete(b.hosts, id)
	}
}

func (b *hostBackend) now() time.Time               { return time.Now() }
func (b *hostBackend) advance(time.Duration)        {}
func (b *hostBackend) begin(peer.ID, time.Duration) {}
func (b *hostBackend) trafficBytes() int64          { return 0 }
func (b *hostBackend) newPeriod()                   {}
func (b *hostBackend) close() {
	for id := range b.hosts {
		b.remove(id)
	}
	if b.mn != nil {
		b.mn.Close()
	}
}
