package ipfs

import (
	"context"
	"errors"
	"fmt"

	"github.com/ipfs/go-cid"
	ipld "github.com/ipfs/go-ipld-format"
)

// Pin fetches the whole DAG under c (from peers if needed) and keeps it out
// of the cache's eviction until Unpin. Invokers pin the code of the actions
// they run so it survives cache pressure.
func (n *Node) Pin(ctx context.Context, c cid.Cid) (err error) {
	// Blocks fetched for the pin must not be evicted before it covers them.
	release := n.store.holdEviction()
	defer func() { err = errors.Join(err, release(ctx)) }()
	nd, err := n.dag.Get(ctx, c)
	if err != nil {
		return fmt.Errorf("ipfs: pin %s: %w", c, err)
	}
	if err := n.pin(ctx, nd, "pin"); err != nil {
		return err
	}
	n.provide(ctx, c)
	return nil
}

func (n *Node) pin(ctx context.Context, nd ipld.Node, name string) error {
	defer n.store.pinsChanged()
	if err := n.pins.Pin(ctx, nd, true, name); err != nil {
		return fmt.Errorf("ipfs: pin %s: %w", nd.Cid(), err)
	}
	if err := n.pins.Flush(ctx); err != nil {
		return fmt.Errorf("ipfs: pin %s: %w", nd.Cid(), err)
	}
	return nil
}

// Unpin lets the cache evict the DAG under c again. Unpinning a CID that is
// not pinned is an error.
func (n *Node) Unpin(ctx context.Context, c cid.Cid) error {
	defer n.store.pinsChanged()
	if err := n.pins.Unpin(ctx, c, true); err != nil {
		return fmt.Errorf("ipfs: unpin %s: %w", c, err)
	}
	if err := n.pins.Flush(ctx); err != nil {
		return fmt.Errorf("ipfs: unpin %s: %w", c, err)
	}
	return nil
}

// Pins lists the pinned roots.
func (n *Node) Pins(ctx context.Context) ([]cid.Cid, error) {
	var out []cid.Cid
	for p := range n.pins.RecursiveKeys(ctx, false) {
		if p.Err != nil {
			return nil, fmt.Errorf("ipfs: list pins: %w", p.Err)
		}
		out = append(out, p.Pin.Key)
	}
	return out, nil
}

// pinnedRoots feeds the reprovider: pinned roots are announced again every
// reprovide interval so their provider records do not expire.
func (n *Node) pinnedRoots(ctx context.Context) (<-chan cid.Cid, error) {
	out := make(chan cid.Cid)
	go func() {
		defer close(out)
		for p := range n.pins.RecursiveKeys(ctx, false) {
			if p.Err != nil {
				n.log.Warn("ipfs: reprovide: list pins", "err", p.Err)
				return
			}
			select {
			case out <- p.Pin.Key:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}
