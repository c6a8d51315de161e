package controllerplugin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/faasedge/faasedge/activation"
	"github.com/faasedge/faasedge/p2p/ring"
)

// Ring is what a virtual invoker needs from the offer ring: Scheduling,
// remote runs, and the lease of a claim. *ring.Node implements it.
type Ring interface {
	Schedule(ctx context.Context, cid string, memoryMB int) (ring.Placement, error)
	Run(ctx context.Context, p ring.Placement, req ring.RunRequest) (activation.Result, error)
	Renew(ctx context.Context, p *ring.Placement) error
	Release(ctx context.Context, p ring.Placement) error
	Prepare(ctx context.Context, p ring.Placement, cid string) error
}

// claim is one placement a virtual invoker holds, with the memory its runs
// use on it right now. The supplier checks each run against the lease's
// memory only, so the sharing of a claim among concurrent runs is
// accounted here.
type claim struct {
	p      ring.Placement
	usedMB int
	gone   bool
}

func (c *claim) free() int { return c.p.MemoryMB - c.usedMB }

// backing keeps a virtual invoker's advertised capacity backed by claims on
// edge offers: it claims until the capacity is covered, renews the leases
// (which is also how it notices a supplier that left), drops claims whose
// supplier failed, and claims again to replace them.
type backing struct {
	ring     Ring
	capacity int // MB advertised to the controller
	minClaim int // smallest claim, so that any action fits one claim
	check    time.Duration
	log      *slog.Logger
	m        *invokerMetrics
	// onChange is told the backed memory after every change.
	onChange func(backedMB int)

	reportMu sync.Mutex // orders onChange calls

	mu      sync.Mutex
	claims  []*claim
	owedMB  int           // memory lost with suppliers and not yet claimed again
	changed chan struct{} // closed and replaced on every change
	kick    chan struct{}
}

func newBacking(r Ring, capacityMB, minClaimMB int, check time.Duration, m *invokerMetrics, log *slog.Logger, onChange func(int)) *backing {
	return &backing{
		ring: r, capacity: capacityMB, minClaim: min(minClaimMB, capacityMB), check: check,
		log: log, m: m, onChange: onChange,
		changed: make(chan struct{}), kick: make(chan struct{}, 1),
	}
}

// backedMB is the memory of the claims held.
func (b *backing) backedMB() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.backedLocked()
}

func (b *backing) backedLocked() int {
	n := 0
	for _, c := range b.claims {
		n += c.p.MemoryMB
	}
	return n
}

// suppliers lists the peers the claims are on.
func (b *backing) suppliers() []peer.ID {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]peer.ID, 0, len(b.claims))
	for _, c := range b.claims {
		out = append(out, c.p.Supplier())
	}
	return out
}

// placements lists the claims' placements, one per supplier.
func (b *backing) placements() []ring.Placement {
	b.mu.Lock()
	defer b.mu.Unlock()
	seen := map[peer.ID]bool{}
	var out []ring.Placement
	for _, c := range b.claims {
		if !seen[c.p.Supplier()] {
			seen[c.p.Supplier()] = true
			out = append(out, c.p)
		}
	}
	return out
}

// notifyLocked wakes everyone waiting for room on a claim.
func (b *backing) notifyLocked() {
	close(b.changed)
	b.changed = make(chan struct{})
}

// report tells onChange the backed memory. It runs outside b.mu (onChange
// pings Kafka) and reads the memory under reportMu, so the last report
// always carries the latest state.
func (b *backing) report() {
	b.reportMu.Lock()
	defer b.reportMu.Unlock()
	backed := b.backedMB()
	b.m.backed.Set(float64(backed))
	if b.onChange != nil {
		b.onChange(backed)
	}
}

// maintain runs until ctx ends: fill, renew, and again every check period
// or as soon as a claim is lost. On the way out it releases every claim.
func (b *backing) maintain(ctx context.Context) {
	t := time.NewTicker(b.check)
	defer t.Stop()
	for {
		b.renew(ctx)
		b.fill(ctx)
		select {
		case <-ctx.Done():
			b.releaseAll()
			return
		case <-t.C:
		case <-b.kick:
		}
	}
}

// fill claims offers until the capacity is backed: first the whole missing
// memory in one claim, then halves of it, and minClaim last, when no
// single offer fits (halving 3 x 512 MB never reaches 512 MB).
func (b *backing) fill(ctx context.Context) {
	for ctx.Err() == nil {
		missing := b.capacity - b.backedMB()
		if missing < b.minClaim {
			return
		}
		size := missing
		var p ring.Placement
		var err error
		for {
			p, err = b.ring.Schedule(ctx, "", size)
			b.m.scheduled(p.Stats, err)
			if err == nil || !errors.Is(err, ring.ErrNoOffer) || size == b.minClaim {
				break
			}
			size = max(size/2, b.minClaim)
		}
		if err != nil {
			b.m.claims.WithLabelValues("failed").Inc()
			if ctx.Err() == nil {
				b.log.Debug("no offer to back the capacity", "missingMB", missing, "err", err)
			}
			return
		}
		b.m.claims.WithLabelValues("granted").Inc()
		b.mu.Lock()
		if b.owedMB > 0 {
			b.m.reclaims.Inc()
			b.owedMB = max(b.owedMB-p.MemoryMB, 0)
		}
		b.claims = append(b.claims, &claim{p: p})
		b.notifyLocked()
		b.mu.Unlock()
		b.report()
		b.log.Info("claimed edge memory", "supplier", p.Supplier(), "memoryMB", p.MemoryMB, "fromBackup", p.FromBackup)
	}
}

// renew extends every lease; a supplier that does not answer has left, and
// its claim is dropped.
func (b *backing) renew(ctx context.Context) {
	b.mu.Lock()
	cs := append([]*claim(nil), b.claims...)
	b.mu.Unlock()
	for _, c := range cs {
		rctx, cancel := context.WithTimeout(ctx, max(b.check, time.Second))
		b.mu.Lock()
		p := c.p
		b.mu.Unlock()
		err := b.ring.Renew(rctx, &p)
		cancel()
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			b.drop(c, fmt.Errorf("renew: %w", err))
			continue
		}
		b.mu.Lock()
		c.p.Expiry = p.Expiry
		b.mu.Unlock()
	}
}

// drop forgets a claim whose supplier failed and asks for a replacement.
func (b *backing) drop(c *claim, why error) {
	b.mu.Lock()
	if c.gone {
		b.mu.Unlock()
		return
	}
	c.gone = true
	for i, x := range b.claims {
		if x == c {
			b.claims = append(b.claims[:i:i], b.claims[i+1:]...)
			break
		}
	}
	b.owedMB += c.p.MemoryMB
	b.m.lost.Inc()
	b.notifyLocked()
	b.mu.Unlock()
	b.report()
	b.log.Warn("edge claim lost, claiming again", "supplier", c.p.Supplier(), "memoryMB", c.p.MemoryMB, "err", why)
	// A supplier that only failed one request gets its memory back now
	// rather than when the lease expires; a departed one fails fast.
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = b.ring.Release(ctx, c.p)
	}()
	select {
	case b.kick <- struct{}{}:
	default:
	}
}

// acquire reserves memMB on a claim, preferring the one with most room so
// runs spread over suppliers, and avoiding the supplier avoid (the one a
// first attempt died on). It waits for room until ctx ends.
func (b *backing) acquire(ctx context.Context, memMB int, avoid peer.ID) (*claim, error) {
	for {
		b.mu.Lock()
		var best *claim
		for _, c := range b.claims {
			if c.free() >= memMB && c.p.Supplier() != avoid && (best == nil || c.free() > best.free()) {
				best = c
			}
		}
		if best != nil {
			best.usedMB += memMB
			b.mu.Unlock()
			return best, nil
		}
		changed := b.changed
		b.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// placement is c's placement as renew last updated it.
func (b *backing) placement(c *claim) ring.Placement {
	b.mu.Lock()
	defer b.mu.Unlock()
	return c.p
}

// release returns memMB of c.
func (b *backing) release(c *claim, memMB int) {
	b.mu.Lock()
	c.usedMB -= memMB
	b.notifyLocked()
	b.mu.Unlock()
}

// releaseAll gives every claim back to its supplier (best effort: a
// supplier that is gone lets the lease expire).
func (b *backing) releaseAll() {
	b.mu.Lock()
	cs := b.claims
	b.claims = nil
	b.notifyLocked()
	b.mu.Unlock()
	b.report()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for _, c := range cs {
		if err := b.ring.Release(ctx, c.p); err != nil {
			b.log.Debug("releasing a claim", "supplier", c.p.Supplier(), "err", err)
		}
	}
}
