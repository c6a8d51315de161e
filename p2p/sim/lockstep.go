package sim

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/faasedge/faasedge/p2p/ring"
)

// lockstep runs concurrent operations (one per scheduler) so that what
// they do depends only on what they are, never on how the goroutines that
// run them are scheduled: the simulator's figures must not change with
// GOMAXPROCS or the machine's load.
//
// The operations run in rounds. In a round's parallel part every
// operation computes on its own until it needs the ring's shared state: a
// message (Call) to another node, or one of the runner's own steps (a
// departure, the bookkeeping of a result). It then waits. When all wait
// (or are done), the serial part runs each waiting operation's step, one
// at a time, in the order of their arrivals, and the next round starts.
// What runs in parallel is thus what reads only the operation's own node,
// the network's fixed view (trader lookups, ordering offers, the
// scheduler's own lists) and the offers a trader holds (finds), which
// change only in serial parts; every other read and every write of
// another node's state happens in a fixed order. A find at a scheduler is
// a step too: a scheduler's clock moves with the operation it drives. Concurrent schedulers still race for the same
// offers, as on a real ring: two that found the same offer in a round
// both claim it in the next, and the earlier arrival wins.
type lockstep struct {
	// drivers are the nodes that drive the operations.
	drivers map[peer.ID]bool
	mu      sync.Mutex
	running int     // operations in a parallel part
	waiting []*turn // their steps, waiting for the serial part
	serial  atomic.Bool
	// The serial part under way: its turns in order and the next one.
	round []*turn
	next  int
	end   chan struct{} // closed when the serial part ends
}

type turn struct {
	order int           // the operation's arrival
	go_   chan struct{} // closed when it is this step's turn
	end   chan struct{}
}

// newLockstep expects one operation per driver.
func newLockstep(drivers []peer.ID) *lockstep {
	l := &lockstep{running: len(drivers), drivers: map[peer.ID]bool{}}
	for _, d := range drivers {
		l.drivers[d] = true
	}
	return l
}

// step runs f in the serial part of the round, in arrival order (order);
// it returns when the round's serial part is over.
func (l *lockstep) step(order int, f func()) {
	t := &turn{order: order, go_: make(chan struct{})}
	l.mu.Lock()
	l.running--
	l.waiting = append(l.waiting, t)
	l.startLocked()
	l.mu.Unlock()
	<-t.go_
	f()
	l.mu.Lock()
	l.next++
	if l.next < len(l.round) {
		close(l.round[l.next].go_)
	} else {
		l.running += len(l.round)
		l.round = nil
		l.serial.Store(false)
		close(l.end)
	}
	l.mu.Unlock()
	<-t.end
}

// done says an operation has nothing more to do.
func (l *lockstep) done() {
	l.mu.Lock()
	l.running--
	l.startLocked()
	l.mu.Unlock()
}

// startLocked starts the serial part once no operation computes.
func (l *lockstep) startLocked() {
	if l.running > 0 || len(l.waiting) == 0 {
		return
	}
	l.round, l.waiting, l.next = l.waiting, nil, 0
	slices.SortFunc(l.round, func(a, b *turn) int { return a.order - b.order })
	l.end = make(chan struct{})
	for _, t := range l.round {
		t.end = l.end
	}
	l.serial.Store(true)
	close(l.round[0].go_)
}

type opKey struct{}

// op is an operation under a lockstep, carried in the context of what it
// drives, so that MemNet makes its messages serial steps.
type op struct {
	l     *lockstep
	order int
}

func withOp(ctx context.Context, l *lockstep, order int) context.Context {
	return context.WithValue(ctx, opKey{}, op{l, order})
}

// inStep runs f, a message on proto to peer to, as a step of the
// operation ctx carries, if any, unless a serial part runs (a message a
// step sends runs within that step) or it is a find at a node that drives
// no operation.
func inStep(ctx context.Context, proto protocol.ID, to peer.ID, f func()) {
	if o, ok := ctx.Value(opKey{}).(op); ok && !o.l.serial.Load() && (proto != ring.ProtoFind || o.l.drivers[to]) {
		o.l.step(o.order, f)
		return
	}
	f()
}
