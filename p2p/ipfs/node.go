// Package ipfs gives FaaS@Edge nodes action code and data by IPFS content id
// (CID): a persistent, size-bounded block cache, bitswap client and server on
// the node's libp2p host, a one-request CAR stream of a whole DAG from a peer
// known to hold it (ProtoCAR, with bitswap behind it), provider records in
// the ring's DHT, UnixFS import that gives the same CIDs as Kubo's `ipfs
// add`, pins, and a read-only fs.FS for the /ipfs mount that functions read
// data through.
//
// Every piece of IPFS machinery is boxo's, and the CAR format go-car's; this
// package wires them to the p2p.Host and adds the cache bound, the CAR
// stream's protocol and checks, and the error texts activations report.
package ipfs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/ipfs/boxo/bitswap"
	bsnet "github.com/ipfs/boxo/bitswap/network/bsnet"
	"github.com/ipfs/boxo/blockservice"
	"github.com/ipfs/boxo/blockstore"
	"github.com/ipfs/boxo/exchange"
	"github.com/ipfs/boxo/gateway"
	"github.com/ipfs/boxo/ipld/merkledag"
	"github.com/ipfs/boxo/peering"
	pin "github.com/ipfs/boxo/pinning/pinner"
	"github.com/ipfs/boxo/pinning/pinner/dspinner"
	"github.com/ipfs/boxo/provider"
	cid "github.com/ipfs/go-cid"
	"github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	pebbleds "github.com/ipfs/go-ds-pebble"
	ipld "github.com/ipfs/go-ipld-format"
	dht "github.com/libp2p/go-libp2p-kad-dht"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/faasedge/faasedge/internal/closer"
	"github.com/faasedge/faasedge/p2p"
)

// DefaultCacheSize bounds the block cache when no WithCacheSize is given.
const DefaultCacheSize = 1 << 30

// DefaultMountTimeout bounds each /ipfs mount operation and open file; it
// is OpenWhisk's default action time limit.
const DefaultMountTimeout = time.Minute

// DefaultGatewayDelay is how long a block is sought from peers before the
// gateway fallback is asked as well.
const DefaultGatewayDelay = time.Second

type config struct {
	dataDir      string
	cacheSize    int64
	peers        []string
	gatewayURL   string
	gatewayDelay time.Duration
	mountTimeout time.Duration
	findTimeout  time.Duration
	maxFetch     int64
	streamIdle   time.Duration
	logger       *slog.Logger
}

// Option configures a Node.
type Option func(*config)

// WithDataDir keeps blocks, pins and the provide queue in a pebble database
// under dir/ipfs, so a restarted node still holds and serves its code. Without
// it everything is kept in memory.
func WithDataDir(dir string) Option { return func(c *config) { c.dataDir = dir } }

// WithCacheSize bounds the bytes of blocks kept; past it the least recently
// used blocks that no pin reaches are evicted. Zero or less: no bound.
func WithCacheSize(bytes int64) Option { return func(c *config) { c.cacheSize = bytes } }

// WithPeers names peers (full multiaddrs with /p2p/<id>) the node stays
// connected to, for small setups where the DHT has few members.
func WithPeers(addrs ...string) Option {
	return func(c *config) { c.peers = append(c.peers, addrs...) }
}

// WithGateway adds an HTTP trustless gateway (https://specs.ipfs.tech/http-gateways/trustless-gateway/)
// an operator runs as a fallback source: a block that no peer has delivered
// after delay is asked from it too. Every block it returns is checked against
// its CID. Off by default.
func WithGateway(url string, delay time.Duration) Option {
	return func(c *config) { c.gatewayURL, c.gatewayDelay = url, delay }
}

// WithMountTimeout bounds each operation of the file systems FS returns,
// and each file opened in them from open to close.
func WithMountTimeout(d time.Duration) Option { return func(c *config) { c.mountTimeout = d } }

// DefaultFindTimeout is how long a fetch of a root this node does not hold
// waits for a peer to deliver it before it asks the DHT whether anyone
// provides it at all (and then gives up, when no one does).
const DefaultFindTimeout = 5 * time.Second

// WithFindTimeout sets the find timeout (DefaultFindTimeout); 0 waits for
// the fetch's deadline however hopeless. With a gateway fallback the fetch
// always waits for its deadline: the gateway may serve what no peer
// provides.
func WithFindTimeout(d time.Duration) Option { return func(c *config) { c.findTimeout = d } }

// DefaultMaxFetch bounds the bytes of one fetched file: the executor's
// bound on a module.
const DefaultMaxFetch = 256 << 20

// WithMaxFetch bounds the bytes of a file Fetch returns, and of the blocks
// a CAR stream may deliver for it.
func WithMaxFetch(bytes int64) Option { return func(c *config) { c.maxFetch = bytes } }

// WithStreamIdle sets how long a CAR stream may stall, on either side,
// before it is cut (DefaultStreamIdle).
func WithStreamIdle(d time.Duration) Option { return func(c *config) { c.streamIdle = d } }

// WithLogger sets the logger; the default is slog.Default().
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// The node's worker pools: it provides pinned roots only and serves its
// blocks from a local store, so a few workers keep up.
const (
	provideWorkers    = 4
	blockstoreWorkers = 8
)

// Node is an IPFS node on a FaaS@Edge host.
type Node struct {
	host     *p2p.Host
	log      *slog.Logger
	ds       datastore.Batching
	store    *boundedStore
	bitswap  *bitswap.Bitswap
	blocks   blockservice.BlockService
	dag      ipld.DAGService
	pins     pin.Pinner
	provider provider.System
	peering  *peering.PeeringService

	mountTimeout time.Duration
	findTimeout  time.Duration // 0: never give up before the deadline
	maxFetch     int64
	streamIdle   time.Duration
	directPeers  []peer.ID // the --peer list: where a stream is tried first
	carSlots     carSlots
	metrics      *metrics
	links        *lru.Cache[dirLink, cid.Cid] // directory entries the mounts resolved
}

// New starts the node's block exchange on h. ctx bounds the start only; the
// node runs until Close. The caller closes the Node before the host.
func New(ctx context.Context, h *p2p.Host, opts ...Option) (*Node, error) {
	cfg := config{cacheSize: DefaultCacheSize, gatewayDelay: DefaultGatewayDelay, mountTimeout: DefaultMountTimeout,
		findTimeout: DefaultFindTimeout, maxFetch: DefaultMaxFetch, streamIdle: DefaultStreamIdle, logger: slog.Default()}
	for _, o := range opts {
		o(&cfg)
	}
	n := &Node{host: h, log: cfg.logger, mountTimeout: cfg.mountTimeout, maxFetch: cfg.maxFetch,
		streamIdle: cfg.streamIdle, metrics: newMetrics()}
	n.links, _ = lru.New[dirLink, cid.Cid](dirLinks) // fails only for a size <= 0
	if cfg.gatewayURL == "" {
		n.findTimeout = cfg.findTimeout
	}
	ok := false
	defer func() {
		if !ok {
			n.Close()
		}
	}()

	if cfg.dataDir == "" {
		n.ds = dssync.MutexWrap(datastore.NewMapDatastore())
	} else {
		dir := filepath.Join(cfg.dataDir, "ipfs")
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("ipfs: data dir: %w", err)
		}
		ds, err := pebbleds.NewDatastore(dir)
		if err != nil {
			return nil, fmt.Errorf("ipfs: open block store %s: %w", dir, err)
		}
		n.ds = ds
	}

	raw := blockstore.NewBlockstore(n.ds)
	store, err := newBoundedStore(ctx, raw, cfg.cacheSize)
	if err != nil {
		return nil, err
	}
	n.store = store

	// Roots are announced in the DHT through boxo's persistent provide
	// queue; bitswap sessions find the rest of a DAG at the root's providers.
	// Only pinned roots are announced, a few at a time: boxo's default 64
	// provide workers and bitswap's 128 blockstore workers would be
	// goroutines parked for nothing, memory an idle node keeps.
	n.provider, err = provider.New(n.ds,
		provider.Online(readyDHT{h.DHT}),
		provider.KeyProvider(n.pinnedRoots),
		provider.ProvideWorkerCount(provideWorkers),
	)
	if err != nil {
		return nil, fmt.Errorf("ipfs: provider: %w", err)
	}

	// Bitswap lives as long as the context it is given: the node's life.
	n.bitswap = bitswap.New(context.WithoutCancel(ctx), bsnet.NewFromIpfsHost(h), h.DHT, store,
		bitswap.EngineBlockstoreWorkerCount(blockstoreWorkers))
	var ex exchange.Interface = n.bitswap
	if cfg.gatewayURL != "" {
		gw, err := gateway.NewRemoteBlockstore([]string{cfg.gatewayURL}, &http.Client{})
		if err != nil {
			return nil, fmt.Errorf("ipfs: gateway: %w", err)
		}
		ex = &fallbackExchange{SessionExchange: n.bitswap, gateway: gw, delay: cfg.gatewayDelay}
	}
	n.blocks = blockservice.New(store, ex)
	n.dag = merkledag.NewDAGService(n.blocks)

	n.pins, err = dspinner.New(ctx, n.ds, n.dag)
	if err != nil {
		return nil, fmt.Errorf("ipfs: pins: %w", err)
	}
	// The cache walks pinned DAGs over the raw store only, so computing what
	// to keep never fetches from the network nor re-enters the cache's lock.
	store.setPinned(n.pins, merkledag.NewDAGService(blockservice.New(raw, nil)))

	if len(cfg.peers) > 0 {
		infos, err := p2p.ParseAddrInfos(cfg.peers)
		if err != nil {
			return nil, fmt.Errorf("ipfs: --peer: %w", err)
		}
		n.peering = peering.NewPeeringService(h)
		for _, ai := range infos {
			n.peering.AddPeer(ai)
			n.directPeers = append(n.directPeers, ai.ID)
		}
		if err := n.peering.Start(); err != nil {
			return nil, fmt.Errorf("ipfs: peering: %w", err)
		}
		// Connect once now so the first fetch does not wait for the
		// peering service's first round.
		for _, ai := range infos {
			if err := h.Connect(ctx, ai); err != nil {
				n.log.Warn("ipfs: direct peer unreachable", "peer", ai.ID, "err", err)
			}
		}
	}
	h.SetStreamHandler(ProtoCAR, n.serveCAR)
	ok = true
	return n, nil
}

// Close stops the exchange and closes the store. The host stays up.
func (n *Node) Close() error {
	var errs []error
	n.host.RemoveStreamHandler(ProtoCAR)
	if n.peering != nil {
		n.peering.Stop()
	}
	if n.blocks != nil {
		errs = append(errs, n.blocks.Close())
	} else if n.bitswap != nil {
		errs = append(errs, n.bitswap.Close())
	}
	errs = append(errs, closer.Close(n.provider), closer.Close(n.pins), closer.Close(n.ds))
	return errors.Join(errs...)
}

// Host is the libp2p host the node exchanges blocks on.
func (n *Node) Host() *p2p.Host { return n.host }

// provide queues a root for announcement in the DHT. A failure only delays
// discovery by others, so it is logged, not returned.
func (n *Node) provide(ctx context.Context, c cid.Cid) {
	if err := n.provider.Provide(ctx, c, true); err != nil {
		n.log.Warn("ipfs: provide", "cid", c, "err", err)
	}
}

// readyDHT holds each announcement until the DHT knows a peer. An
// announcement made with an empty routing table (a node that has just
// started) would fail and wait for the next reprovide, hours later.
type readyDHT struct{ dht *dht.IpfsDHT }

func (r readyDHT) Provide(ctx context.Context, c cid.Cid, announce bool) error {
	if !r.wait(ctx, 100*time.Millisecond) {
		// The node is closing before it ever met a peer (a CLI run):
		// there was no one to tell, which is not an error to log. Nor is
		// an announcement cut short by Close, below.
		return nil
	}
	if err := r.dht.Provide(ctx, c, announce); err != nil && ctx.Err() == nil {
		return err
	}
	return nil
}

// wait polls every period until the DHT knows a peer; false if ctx ends
// first.
func (r readyDHT) wait(ctx context.Context, period time.Duration) bool {
	tick := time.NewTicker(period)
	defer tick.Stop()
	for !r.Ready() {
		select {
		case <-tick.C:
		case <-ctx.Done():
			return false
		}
	}
	return true
}

// Ready also makes boxo's reprovider wait for a peer before reproviding.
func (r readyDHT) Ready() bool { return r.dht.RoutingTable().Size() > 0 }
