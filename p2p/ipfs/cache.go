package ipfs

import (
	"context"
	"fmt"
	"math"
	"sync"

	"github.com/hashicorp/golang-lru/v2/simplelru"
	"github.com/ipfs/boxo/blockstore"
	"github.com/ipfs/boxo/ipld/merkledag"
	pin "github.com/ipfs/boxo/pinning/pinner"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	ipld "github.com/ipfs/go-ipld-format"
)

// boundedStore is the node's blockstore with a size bound. Blocks live in the
// persistent store; when their total size passes the bound, the least
// recently used blocks that no pin reaches are deleted. Bitswap, the
// blockservice and the pinner all go through it, so a block evicted here is
// simply fetched again on its next use, while pinned code is never lost.
type boundedStore struct {
	blockstore.Blockstore
	limit int64 // <= 0: no bound

	mu    sync.Mutex
	lru   *simplelru.LRU[string, entry] // by multihash, oldest first
	total int64
	holds int // eviction waits while > 0

	// pins and offline are set once after the pinner exists; offline reads
	// the raw store so walking pinned DAGs never fetches or re-enters mu.
	pins       pin.Pinner
	offline    ipld.DAGService
	pinnedKeys map[string]struct{} // nil: recompute before evicting
}

type entry struct {
	c    cid.Cid
	size int64
}

func newBoundedStore(ctx context.Context, bs blockstore.Blockstore, limit int64) (*boundedStore, error) {
	lru, err := simplelru.NewLRU[string, entry](math.MaxInt, nil)
	if err != nil {
		return nil, err
	}
	s := &boundedStore{Blockstore: bs, limit: limit, lru: lru}
	keys, err := bs.AllKeysChan(ctx)
	if err != nil {
		return nil, fmt.Errorf("ipfs: list cached blocks: %w", err)
	}
	for c := range keys {
		size, err := bs.GetSize(ctx, c)
		if err != nil {
			return nil, fmt.Errorf("ipfs: size of cached block %s: %w", c, err)
		}
		s.lru.Add(string(c.Hash()), entry{c: c, size: int64(size)})
		s.total += int64(size)
	}
	return s, ctx.Err()
}

func (s *boundedStore) setPinned(p pin.Pinner, offline ipld.DAGService) {
	s.mu.Lock()
	s.pins, s.offline, s.pinnedKeys = p, offline, nil
	s.mu.Unlock()
}

// pinsChanged makes the next eviction recompute what pins reach.
func (s *boundedStore) pinsChanged() {
	s.mu.Lock()
	s.pinnedKeys = nil
	s.mu.Unlock()
}

// holdEviction stops eviction until release runs, which then evicts what
// is over the bound. Add holds it so that the blocks of a file being
// imported are not evicted before its pin covers them: they exist nowhere
// else.
func (s *boundedStore) holdEviction() (release func(context.Context) error) {
	s.mu.Lock()
	s.holds++
	s.mu.Unlock()
	return func(ctx context.Context) error {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.holds--
		return s.evictLocked(ctx)
	}
}

// Size is the bytes of blocks held.
func (s *boundedStore) Size() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.total
}

func (s *boundedStore) touch(c cid.Cid) {
	s.mu.Lock()
	s.lru.Get(string(c.Hash()))
	s.mu.Unlock()
}

func (s *boundedStore) Get(ctx context.Context, c cid.Cid) (blocks.Block, error) {
	b, err := s.Blockstore.Get(ctx, c)
	switch {
	case err == nil:
		s.touch(c)
	case ipld.IsNotFound(err) && isEmpty(c):
		return blocks.NewBlockWithCid(nil, c)
	}
	return b, err
}

func (s *boundedStore) Has(ctx context.Context, c cid.Cid) (bool, error) {
	has, err := s.Blockstore.Has(ctx, c)
	return has || (err == nil && isEmpty(c)), err
}

// isEmpty reports whether c names the empty byte string (the one leaf of an
// empty file imported with raw leaves). Bitswap servers never send a block
// of size 0, so it would never arrive; its content is known from its CID.
func isEmpty(c cid.Cid) bool {
	sum, err := c.Prefix().Sum(nil)
	return err == nil && sum.Equals(c)
}

func (s *boundedStore) Put(ctx context.Context, b blocks.Block) error {
	return s.PutMany(ctx, []blocks.Block{b})
}

func (s *boundedStore) PutMany(ctx context.Context, bs []blocks.Block) error {
	if err := s.Blockstore.PutMany(ctx, bs); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, b := range bs {
		k := string(b.Cid().Hash())
		if _, ok := s.lru.Get(k); ok {
			continue
		}
		size := int64(len(b.RawData()))
		s.lru.Add(k, entry{c: b.Cid(), size: size})
		s.total += size
	}
	return s.evictLocked(ctx)
}

func (s *boundedStore) DeleteBlock(ctx context.Context, c cid.Cid) error {
	if err := s.Blockstore.DeleteBlock(ctx, c); err != nil {
		return err
	}
	s.mu.Lock()
	s.forgetLocked(string(c.Hash()))
	s.mu.Unlock()
	return nil
}

func (s *boundedStore) forgetLocked(k string) {
	if e, ok := s.lru.Peek(k); ok {
		s.total -= e.size
		s.lru.Remove(k)
	}
}

// evictLocked deletes unpinned blocks, oldest use first, until the store is
// within its bound. Pinned blocks alone may keep it above the bound: pins
// are the operator's word and win over the cache size.
func (s *boundedStore) evictLocked(ctx context.Context) error {
	if s.limit <= 0 || s.total <= s.limit || s.holds > 0 {
		return nil
	}
	if s.pinnedKeys == nil {
		keep, err := s.pinnedSet(ctx)
		if err != nil {
			return err
		}
		s.pinnedKeys = keep
	}
	for _, k := range s.lru.Keys() {
		if s.total <= s.limit {
			break
		}
		if _, pinned := s.pinnedKeys[k]; pinned {
			continue
		}
		e, _ := s.lru.Peek(k)
		if err := s.Blockstore.DeleteBlock(ctx, e.c); err != nil {
			return fmt.Errorf("ipfs: evict %s: %w", e.c, err)
		}
		s.forgetLocked(k)
	}
	return nil
}

// pinnedSet lists the multihashes of every block reachable from a pin that
// is held locally. Parts of a pinned DAG not (yet) held cannot be evicted
// and are skipped.
func (s *boundedStore) pinnedSet(ctx context.Context) (map[string]struct{}, error) {
	keep := map[string]struct{}{}
	if s.pins == nil {
		return keep, nil
	}
	visit := func(c cid.Cid) bool {
		k := string(c.Hash())
		if _, seen := keep[k]; seen {
			return false
		}
		keep[k] = struct{}{}
		return true
	}
	for p := range s.pins.RecursiveKeys(ctx, false) {
		if p.Err != nil {
			return nil, fmt.Errorf("ipfs: list pins: %w", p.Err)
		}
		err := merkledag.Walk(ctx, merkledag.GetLinksDirect(s.offline), p.Pin.Key, visit, merkledag.IgnoreMissing())
		if err != nil {
			return nil, fmt.Errorf("ipfs: walk pin %s: %w", p.Pin.Key, err)
		}
	}
	for p := range s.pins.DirectKeys(ctx, false) {
		if p.Err != nil {
			return nil, fmt.Errorf("ipfs: list pins: %w", p.Err)
		}
		keep[string(p.Pin.Key.Hash())] = struct{}{}
	}
	return keep, nil
}
