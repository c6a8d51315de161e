package emulator

import (
	"sync"

	"github.com/faasedge/faasedge/whisk"
)

// This file ports InvokerPool and InvokerActor again, apart from
// standalone/controller/supervision.go on purpose (see the package doc).

// InvocationResult is InvocationFinishedResult: how an activation ended,
// for the invoker's health.
type InvocationResult int

const (
	Success InvocationResult = iota
	SystemError
	Timeout
)

// The InvokerActor constants.
const (
	BufferSize           = 10
	BufferErrorTolerance = 3
)

// Actor is InvokerActor's state machine without its clock: the caller
// delivers pings, results, state timeouts (10 s without any event in
// Healthy, Unhealthy or Unresponsive) and ticks (every minute in Unhealthy
// and Unresponsive). SendTest is called whenever the Scala actor would
// send a health test action; OnTransition on every state change.
type Actor struct {
	state    InvokerState
	buffer   []InvocationResult // ring buffer of the last BufferSize results
	SendTest func()
	// OnTransition is called after the state changed.
	OnTransition func(from, to InvokerState)
}

// NewActor starts in Unhealthy. Like the FSM's initialize, it fires the
// Unhealthy transition handler, so a test action goes out at once (call
// Init once the callbacks are set).
func NewActor(sendTest func(), onTransition func(from, to InvokerState)) *Actor {
	return &Actor{state: Unhealthy, SendTest: sendTest, OnTransition: onTransition}
}

// Init fires the initial transition handler.
func (a *Actor) Init() { a.sendTest() }

// State is the current state.
func (a *Actor) State() InvokerState { return a.state }

// HasTimeout tells whether the current state has the 10 s state timeout.
func (a *Actor) HasTimeout() bool { return a.state != Offline }

// TickActive tells whether the 1-minute test-action timer runs.
func (a *Actor) TickActive() bool { return a.state == Unhealthy || a.state == Unresponsive }

func (a *Actor) sendTest() {
	if a.SendTest != nil {
		a.SendTest()
	}
}

func (a *Actor) goTo(s InvokerState) {
	from := a.state
	a.state = s
	// healthPingingTransitionHandler: entering Unhealthy or Unresponsive
	// (even from itself via goto) sends a test action.
	if s == Unhealthy || s == Unresponsive {
		a.sendTest()
	}
	if a.OnTransition != nil && from != s {
		a.OnTransition(from, s)
	}
}

func (a *Actor) gotoIfNotThere(s InvokerState) {
	if a.state != s {
		a.goTo(s)
	}
}

// Ping delivers a PingMessage.
func (a *Actor) Ping(enabled bool) {
	switch a.state {
	case Offline:
		if enabled {
			a.goTo(Unhealthy)
		}
	default:
		if !enabled {
			a.goTo(Offline)
		}
	}
}

// StateTimeout delivers the 10 s state timeout.
func (a *Actor) StateTimeout() {
	if a.state != Offline {
		a.goTo(Offline)
	}
}

// Tick delivers the test-action timer.
func (a *Actor) Tick() {
	if a.TickActive() {
		a.sendTest()
	}
}

// Finished delivers an InvocationFinishedMessage (handleCompletionMessage).
func (a *Actor) Finished(r InvocationResult) {
	a.buffer = append(a.buffer, r)
	if len(a.buffer) > BufferSize {
		a.buffer = a.buffer[1:]
	}
	if r == Success && a.state == Unhealthy {
		a.sendTest()
	}
	if (a.state == Healthy && r == Success) || a.state == Offline {
		return
	}
	var sysErrs, timeouts int
	for _, e := range a.buffer {
		switch e {
		case SystemError:
			sysErrs++
		case Timeout:
			timeouts++
		}
	}
	switch {
	case sysErrs > BufferErrorTolerance:
		a.gotoIfNotThere(Unhealthy)
	case timeouts > BufferErrorTolerance:
		a.gotoIfNotThere(Unresponsive)
	case r == Success:
		a.gotoIfNotThere(Healthy)
	case r == SystemError && len(a.buffer) <= BufferErrorTolerance:
		a.gotoIfNotThere(Unhealthy)
	case r == Timeout && len(a.buffer) <= BufferErrorTolerance:
		a.gotoIfNotThere(Unresponsive)
	}
}

// Pool is InvokerPool's bookkeeping: invokers are discovered from pings,
// the status list is padded with Offline placeholders for missing ids and
// never shrinks, and each registered id has an Actor.
type Pool struct {
	mu     sync.Mutex
	ids    []whisk.InvokerInstanceID
	status []InvokerState
	actors map[int]*Actor
	// NewActor makes the actor for a newly registered id; the pool wires
	// its transitions into the status list.
	newActor func(id int) *Actor
	// onChange is called (outside the lock) with the new status list.
	onChange func([]InvokerHealth)
}

// NewPool makes an empty pool. newActor gets the instance id; onChange is
// called with every new status list.
func NewPool(newActor func(id int) *Actor, onChange func([]InvokerHealth)) *Pool {
	return &Pool{actors: map[int]*Actor{}, newActor: newActor, onChange: onChange}
}

// Ping handles a PingMessage: register (padding the list) and forward.
func (p *Pool) Ping(ping whisk.PingMessage) {
	id := ping.Name.Instance
	p.mu.Lock()
	a, known := p.actors[id]
	changed := false
	if !known {
		for len(p.ids) < id+1 {
			i := len(p.ids)
			p.ids = append(p.ids, whisk.InvokerInstanceID{Instance: i, UserMemory: ping.Name.UserMemory, InstanceType: "invoker"})
			p.status = append(p.status, Offline)
		}
		p.ids[id] = ping.Name
		p.status[id] = Unhealthy
		changed = true
	} else if !sameID(p.ids[id], ping.Name) {
		p.ids[id] = ping.Name
		changed = true
	}
	p.mu.Unlock()
	if !known {
		a = p.newActor(id)
		prev := a.OnTransition
		a.OnTransition = func(from, to InvokerState) {
			p.setStatus(id, to)
			if prev != nil {
				prev(from, to)
			}
		}
		p.mu.Lock()
		p.actors[id] = a
		p.mu.Unlock()
		if changed {
			p.notify()
		}
		a.Init()
	} else if changed {
		p.notify()
	}
	a.Ping(ping.Enabled())
}

func sameID(a, b whisk.InvokerInstanceID) bool {
	return a.Instance == b.Instance && a.UserMemory == b.UserMemory && a.UniqueName == b.UniqueName && a.DisplayedName == b.DisplayedName
}

// Actor returns id's actor.
func (p *Pool) Actor(id int) (*Actor, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	a, ok := p.actors[id]
	return a, ok
}

func (p *Pool) setStatus(id int, s InvokerState) {
	p.mu.Lock()
	p.status[id] = s
	p.mu.Unlock()
	p.notify()
}

func (p *Pool) notify() {
	if p.onChange != nil {
		p.onChange(p.Health())
	}
}

// Health is the status list, indexed by instance id.
func (p *Pool) Health() []InvokerHealth {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]InvokerHealth, len(p.ids))
	for i, id := range p.ids {
		out[i] = InvokerHealth{ID: i, UserMemoryMB: id.UserMemory.MB(), Status: p.status[i]}
	}
	return out
}

// States is GET /invokers: {"invoker0/0": "up", ...}.
func (p *Pool) States() map[string]string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[string]string{}
	for i, id := range p.ids {
		out[id.String()] = p.status[i].String()
	}
	return out
}
