package controller

import (
	"sync"
	"time"

	"github.com/faasedge/faasedge/whisk"
)

// This file ports InvokerPool and InvokerActor (openwhisk-wire.md 3.1):
// invokers are discovered by their pings, start Unhealthy, get a health
// test action at once and every minute until one succeeds, go Offline
// after 10 s without a message, and are judged on the last 10 outcomes
// with a tolerance of 3.
//
// tests/emulator/supervision.go is a second, independent port of the
// same actors (see sharding.go for why the pair stays).

// Outcome is InvocationFinishedResult.
type Outcome int

const (
	Success Outcome = iota
	SystemError
	Timeout
)

const (
	healthyTimeout       = 10 * time.Second
	testActionInterval   = time.Minute
	bufferSize           = 10
	bufferErrorTolerance = 3
)

type invokerActor struct {
	state    InvokerState
	buffer   []Outcome // ring of the last bufferSize outcomes
	deadline time.Time // stateTimeout, reset by every message
	nextTest time.Time // zero unless Unhealthy or Unresponsive
}

// Pool tracks invoker health from pings and completions. It is safe for
// concurrent use; call Tick about once a second for the timers.
type Pool struct {
	mu       sync.Mutex
	status   []InvokerHealth
	actors   []*invokerActor // nil for padded entries that never pinged
	now      func() time.Time
	sendTest func(whisk.InvokerInstanceID)
	onChange func([]InvokerHealth)
	flushMu  sync.Mutex // orders onChange calls
}

// NewPool makes an empty pool. sendTest publishes a health test action to
// an invoker; onChange receives the status list after every change. Both
// are called without the pool's lock held.
func NewPool(now func() time.Time, sendTest func(whisk.InvokerInstanceID), onChange func([]InvokerHealth)) *Pool {
	return &Pool{now: now, sendTest: sendTest, onChange: onChange}
}

// effects are the calls an event causes, made after unlocking.
type effects struct {
	tests   []whisk.InvokerInstanceID
	changed bool
}

func (p *Pool) flush(e effects) {
	for _, id := range e.tests {
		p.sendTest(id)
	}
	if e.changed {
		// Events arrive on several goroutines (pings, acks, the clock) and a
		// test's ack can come back while sendTest is still producing: read
		// the list under flushMu, so the last list handed on is the latest.
		p.flushMu.Lock()
		p.onChange(p.Status())
		p.flushMu.Unlock()
	}
}

// Status is a copy of the status list, indexed by instance.
func (p *Pool) Status() []InvokerHealth {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]InvokerHealth(nil), p.status...)
}

// Ping handles a PingMessage from the health topic.
func (p *Pool) Ping(ping whisk.PingMessage) {
	var e effects
	p.mu.Lock()
	id := ping.Name
	n := id.Instance
	if n < 0 {
		p.mu.Unlock()
		return
	}
	if n >= len(p.actors) || p.actors[n] == nil {
		// registerInvoker: pad the list with Offline placeholders that
		// carry the pinging invoker's memory, then start an actor.
		for i := len(p.status); i <= n; i++ {
			p.status = append(p.status, InvokerHealth{ID: whisk.NewInvokerInstanceID(i, id.UserMemory, "", "", nil), Status: Offline})
			p.actors = append(p.actors, nil)
		}
		p.status[n] = InvokerHealth{ID: id, Status: Offline}
		a := &invokerActor{}
		p.actors[n] = a
		p.transition(n, Unhealthy, &e) // initialize() fires the initial transition
		e.changed = true
	} else if !sameID(p.status[n].ID, id) {
		p.status[n].ID = id
		e.changed = true
	}
	a := p.actors[n]
	a.deadline = p.now().Add(healthyTimeout)
	switch {
	case a.state == Offline && ping.Enabled():
		p.transition(n, Unhealthy, &e)
	case a.state != Offline && !ping.Enabled():
		p.transition(n, Offline, &e)
	}
	p.mu.Unlock()
	p.flush(e)
}

func sameID(a, b whisk.InvokerInstanceID) bool {
	return a.UniqueName == b.UniqueName && a.DisplayedName == b.DisplayedName && a.UserMemory == b.UserMemory
}

// Finished records the outcome of an activation on invoker instance.
func (p *Pool) Finished(instance int, r Outcome) {
	var e effects
	p.mu.Lock()
	if instance < 0 || instance >= len(p.actors) || p.actors[instance] == nil {
		p.mu.Unlock()
		return
	}
	a := p.actors[instance]
	a.deadline = p.now().Add(healthyTimeout)
	a.buffer = append(a.buffer, r)
	if len(a.buffer) > bufferSize {
		a.buffer = a.buffer[1:]
	}
	if r == Success && a.state == Unhealthy {
		e.tests = append(e.tests, p.status[instance].ID)
	}
	if !((a.state == Healthy && r == Success) || a.state == Offline) {
		var sysErrs, timeouts int
		for _, o := range a.buffer {
			switch o {
			case SystemError:
				sysErrs++
			case Timeout:
				timeouts++
			}
		}
		switch {
		case sysErrs > bufferErrorTolerance:
			p.gotoIfNotThere(instance, Unhealthy, &e)
		case timeouts > bufferErrorTolerance:
			p.gotoIfNotThere(instance, Unresponsive, &e)
		case r == Success:
			p.gotoIfNotThere(instance, Healthy, &e)
		case r == SystemError && len(a.buffer) <= bufferErrorTolerance:
			p.gotoIfNotThere(instance, Unhealthy, &e)
		case r == Timeout && len(a.buffer) <= bufferErrorTolerance:
			p.gotoIfNotThere(instance, Unresponsive, &e)
		}
	}
	p.mu.Unlock()
	p.flush(e)
}

// Tick fires due state timeouts and test-action timers.
func (p *Pool) Tick() {
	var e effects
	p.mu.Lock()
	now := p.now()
	for i, a := range p.actors {
		if a == nil || a.state == Offline {
			continue
		}
		if !now.Before(a.deadline) {
			p.transition(i, Offline, &e)
			continue
		}
		if !a.nextTest.IsZero() && !now.Before(a.nextTest) {
			e.tests = append(e.tests, p.status[i].ID)
			a.nextTest = a.nextTest.Add(testActionInterval)
		}
	}
	p.mu.Unlock()
	p.flush(e)
}

func (p *Pool) gotoIfNotThere(i int, s InvokerState, e *effects) {
	if p.actors[i].state != s {
		p.transition(i, s, e)
	}
}

// transition is goto: the state timeout restarts, and entering Unhealthy or
// Unresponsive sends a test action and starts the one-minute timer.
func (p *Pool) transition(i int, s InvokerState, e *effects) {
	a := p.actors[i]
	a.state = s
	a.deadline = p.now().Add(healthyTimeout)
	a.nextTest = time.Time{}
	if s == Unhealthy || s == Unresponsive {
		e.tests = append(e.tests, p.status[i].ID)
		a.nextTest = p.now().Add(testActionInterval)
	}
	p.status[i].Status = s
	e.changed = true
}
