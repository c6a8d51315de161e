// Package p2p holds FaaS@Edge's peer-to-peer layer: the libp2p host every
// edge node, invoker and scheduler runs, and the Kademlia DHT (under the
// private /faasedge protocol prefix, never the public IPFS network) that the
// offer ring (p2p/ring) and content routing for code (p2p/ipfs) share.
package p2p

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/libp2p/go-libp2p"
	dht "github.com/libp2p/go-libp2p-kad-dht"
	"github.com/libp2p/go-libp2p/core/control"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/metrics"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/pnet"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"
)

// ProtocolPrefix keeps the DHT apart from the public IPFS DHT: peers
// speaking /ipfs/kad/1.0.0 never join the ring.
const ProtocolPrefix = "/faasedge"

// DefaultListenAddrs binds loopback only; an operator opens the node to the
// network explicitly.
var DefaultListenAddrs = []string{"/ip4/127.0.0.1/tcp/0"}

// Config describes a node's host. The zero value is a loopback host with a
// fresh in-memory identity and no bootstrap peers.
type Config struct {
	// DataDir holds the identity key (identity.key). Empty: ephemeral key.
	DataDir string
	// Key, when set, is the identity and DataDir's key is not used: the
	// simulator and tests that sign with the key before the host starts.
	Key crypto.PrivKey
	// ListenAddrs are multiaddrs; empty means DefaultListenAddrs.
	ListenAddrs []string
	// Bootstrap peers are full multiaddrs with /p2p/<id>.
	Bootstrap []string
	// PSK, when set, makes this a private network (libp2p pnet): only peers
	// holding the same 32-byte key can connect.
	PSK pnet.PSK
	// AllowPeers, when non-empty, is the only set of peers this host talks to.
	AllowPeers []peer.ID
	// DHTClient runs the DHT in client mode (schedulers' clients, CLI tools)
	// so the node never becomes a trader.
	DHTClient bool
	// Bandwidth, when set, counts the bytes of every stream by protocol
	// and peer (the evaluation reads it from a node's metrics).
	Bandwidth metrics.Reporter
	// Host, when set, is the libp2p host the DHT runs on instead of a new
	// one (the simulator's, on a mocknet); the fields above that build a
	// host are not used then.
	Host host.Host
}

// Host is a libp2p host with the ring's DHT.
type Host struct {
	host.Host
	DHT *dht.IpfsDHT
}

// NewHost starts the host and its DHT and connects to the bootstrap peers.
// A bootstrap peer that cannot be reached is logged by the caller through the
// returned error only if none could be reached.
func NewHost(ctx context.Context, cfg Config) (*Host, error) {
	boot, err := ParseAddrInfos(cfg.Bootstrap)
	if err != nil {
		return nil, fmt.Errorf("p2p: bootstrap: %w", err)
	}
	h := cfg.Host
	if h == nil {
		if h, err = newLibp2pHost(cfg); err != nil {
			return nil, err
		}
	}
	mode := dht.ModeServer
	if cfg.DHTClient {
		mode = dht.ModeClient
	}
	d, err := dht.New(h,
		dht.Mode(mode),
		dht.ProtocolPrefix(ProtocolPrefix),
		dht.BootstrapPeers(boot...),
		// Edge rings are small; without this a two-node ring never fills
		// its routing table because both sides filter the other out.
		dht.RoutingTableFilter(nil),
	)
	if err != nil {
		h.Close()
		return nil, fmt.Errorf("p2p: start dht: %w", err)
	}
	n := &Host{Host: h, DHT: d}
	var reached int
	var lastErr error
	for _, ai := range boot {
		if ai.ID == h.ID() {
			continue
		}
		if err := h.Connect(ctx, ai); err != nil {
			lastErr = fmt.Errorf("p2p: connect %s: %w", ai.ID, err)
			continue
		}
		reached++
	}
	if len(boot) > 0 && reached == 0 && lastErr != nil {
		n.Close()
		return nil, lastErr
	}
	if err := d.Bootstrap(ctx); err != nil {
		n.Close()
		return nil, fmt.Errorf("p2p: bootstrap dht: %w", err)
	}
	return n, nil
}

// newLibp2pHost builds the TCP host cfg describes.
func newLibp2pHost(cfg Config) (host.Host, error) {
	key := cfg.Key
	if key == nil {
		var err error
		if key, err = loadOrCreateKey(cfg.DataDir); err != nil {
			return nil, err
		}
	}
	listen := cfg.ListenAddrs
	if len(listen) == 0 {
		listen = DefaultListenAddrs
	}
	opts := []libp2p.Option{
		libp2p.Identity(key),
		libp2p.ListenAddrStrings(listen...),
		// TCP only: QUIC and WebRTC add start-up time and goroutines that
		// nothing here needs, and pnet works only over stream transports.
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.DisableRelay(),
	}
	if cfg.Bandwidth != nil {
		opts = append(opts, libp2p.BandwidthReporter(cfg.Bandwidth))
	}
	if cfg.PSK != nil {
		opts = append(opts, libp2p.PrivateNetwork(cfg.PSK))
	}
	if len(cfg.AllowPeers) > 0 {
		g := &allowGater{allow: map[peer.ID]bool{}}
		for _, p := range cfg.AllowPeers {
			g.allow[p] = true
		}
		opts = append(opts, libp2p.ConnectionGater(g))
	}
	h, err := libp2p.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("p2p: start host: %w", err)
	}
	return h, nil
}

// Close stops the DHT and the host.
func (n *Host) Close() error {
	return errors.Join(n.DHT.Close(), n.Host.Close())
}

// FullAddrs returns the host's full multiaddrs (with /p2p/<id>), ready to hand to
// another node as a bootstrap or --peer value.
func (n *Host) FullAddrs() []string {
	out := make([]string, 0, len(n.Addrs()))
	for _, a := range n.Addrs() {
		out = append(out, a.String()+"/p2p/"+n.ID().String())
	}
	return out
}

// ParseAddrInfos parses full multiaddrs, merging addresses of the same peer.
func ParseAddrInfos(addrs []string) ([]peer.AddrInfo, error) {
	mas := make([]ma.Multiaddr, 0, len(addrs))
	for _, s := range addrs {
		m, err := ma.NewMultiaddr(s)
		if err != nil {
			return nil, fmt.Errorf("%q: %w", s, err)
		}
		mas = append(mas, m)
	}
	infos, err := peer.AddrInfosFromP2pAddrs(mas...)
	if err != nil {
		return nil, err
	}
	return infos, nil
}

const keyFile = "identity.key"

// loadOrCreateKey keeps a node's peer ID stable across restarts, so the
// offers it published and the provider records it announced stay valid.
func loadOrCreateKey(dir string) (crypto.PrivKey, error) {
	if dir == "" {
		k, _, err := crypto.GenerateEd25519Key(rand.Reader)
		return k, err
	}
	path := filepath.Join(dir, keyFile)
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		k, err := crypto.UnmarshalPrivateKey(b)
		if err != nil {
			return nil, fmt.Errorf("p2p: identity key %s: %w", path, err)
		}
		return k, nil
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("p2p: identity key: %w", err)
	}
	k, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		return nil, err
	}
	b, err = crypto.MarshalPrivateKey(k)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("p2p: data dir: %w", err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return nil, fmt.Errorf("p2p: identity key: %w", err)
	}
	return k, nil
}

// allowGater refuses every connection with a peer outside the allow-list.
type allowGater struct{ allow map[peer.ID]bool }

func (g *allowGater) InterceptPeerDial(p peer.ID) bool { return g.allow[p] }
func (g *allowGater) InterceptAddrDial(p peer.ID, _ ma.Multiaddr) bool {
	return g.allow[p]
}
func (g *allowGater) InterceptAccept(network.ConnMultiaddrs) bool { return true }
func (g *allowGater) InterceptSecured(_ network.Direction, p peer.ID, _ network.ConnMultiaddrs) bool {
	return g.allow[p]
}
func (g *allowGater) InterceptUpgraded(network.Conn) (bool, control.DisconnectReason) {
	return true, 0
}
