package ipfs

import (
	"context"
	"sync"
	"time"

	"github.com/ipfs/boxo/blockstore"
	"github.com/ipfs/boxo/exchange"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
)

// fallbackExchange is bitswap with an HTTP trustless gateway behind it: a
// block bitswap has not delivered after delay is also asked from the
// gateway, and whichever comes first is used. The gateway store (boxo's
// remote blockstore) checks each block against its CID before handing it on.
type fallbackExchange struct {
	exchange.SessionExchange
	gateway blockstore.Blockstore
	delay   time.Duration
}

func (f *fallbackExchange) GetBlock(ctx context.Context, c cid.Cid) (blocks.Block, error) {
	return getOne(ctx, c, f.GetBlocks)
}

func (f *fallbackExchange) GetBlocks(ctx context.Context, cs []cid.Cid) (<-chan blocks.Block, error) {
	return f.race(ctx, cs, f.SessionExchange)
}

func (f *fallbackExchange) NewSession(ctx context.Context) exchange.Fetcher {
	return &fallbackSession{f: f, s: f.SessionExchange.NewSession(ctx)}
}

type fallbackSession struct {
	f *fallbackExchange
	s exchange.Fetcher
}

func (s *fallbackSession) GetBlock(ctx context.Context, c cid.Cid) (blocks.Block, error) {
	return getOne(ctx, c, s.GetBlocks)
}

func (s *fallbackSession) GetBlocks(ctx context.Context, cs []cid.Cid) (<-chan blocks.Block, error) {
	return s.f.race(ctx, cs, s.s)
}

func getOne(ctx context.Context, c cid.Cid, get func(context.Context, []cid.Cid) (<-chan blocks.Block, error)) (blocks.Block, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch, err := get(ctx, []cid.Cid{c})
	if err != nil {
		return nil, err
	}
	select {
	case b, ok := <-ch:
		if ok {
			return b, nil
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		return nil, context.Canceled
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// race delivers each wanted block once, from bitswap or, after the delay,
// from the gateway. A gateway error (including a hash mismatch) is dropped:
// bitswap keeps looking until ctx ends.
func (f *fallbackExchange) race(ctx context.Context, cs []cid.Cid, primary exchange.Fetcher) (<-chan blocks.Block, error) {
	ctx, cancel := context.WithCancel(ctx)
	fromPeers, err := primary.GetBlocks(ctx, cs)
	if err != nil {
		cancel()
		return nil, err
	}
	out := make(chan blocks.Block)
	fromGateway := make(chan blocks.Block)
	var wg sync.WaitGroup
	go func() {
		defer close(out)
		defer wg.Wait()
		defer cancel()
		missing := make(map[cid.Cid]struct{}, len(cs))
		for _, c := range cs {
			missing[c] = struct{}{}
		}
		timer := time.NewTimer(f.delay)
		defer timer.Stop()
		for len(missing) > 0 {
			var b blocks.Block
			select {
			case v, ok := <-fromPeers:
				if !ok {
					fromPeers = nil
					continue
				}
				b = v
			case b = <-fromGateway:
			case <-timer.C:
				for c := range missing {
					wg.Add(1)
					go func() {
						defer wg.Done()
						blk, err := f.gateway.Get(ctx, c)
						if err != nil {
							return
						}
						select {
						case fromGateway <- blk:
						case <-ctx.Done():
						}
					}()
				}
				continue
			case <-ctx.Done():
				return
			}
			if _, want := missing[b.Cid()]; !want {
				continue
			}
			delete(missing, b.Cid())
			select {
			case out <- b:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}
