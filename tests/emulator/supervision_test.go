package emulator

import (
	"testing"

	"github.com/faasedge/faasedge/whisk"
)

// Vectors from OpenWhisk's InvokerSupervisionTests.

func repeat(a *Actor, r InvocationResult, n int) {
	for range n {
		a.Finished(r)
	}
}

func TestActorStaysUnhealthyUntilThreshold(t *testing.T) {
	a := NewActor(nil, nil)
	for range BufferErrorTolerance + 1 {
		a.Finished(SystemError)
		if a.State() != Unhealthy {
			t.Fatalf("state %v after system errors", a.State())
		}
	}
	for range BufferSize - BufferErrorTolerance - 1 {
		a.Finished(Success)
		if a.State() != Unhealthy {
			t.Fatalf("state %v while errors still exceed tolerance", a.State())
		}
	}
	a.Finished(Success)
	if a.State() != Healthy {
		t.Fatalf("state %v, want up", a.State())
	}
}

func TestActorRevertsDuringStartup(t *testing.T) {
	a := NewActor(nil, nil)
	for i, tc := range []struct {
		r    InvocationResult
		want InvokerState
	}{{SystemError, Unhealthy}, {Success, Healthy}, {SystemError, Unhealthy}} {
		a.Finished(tc.r)
		if a.State() != tc.want {
			t.Fatalf("step %d: %v, want %v", i, a.State(), tc.want)
		}
	}
}

func TestActorTransitions(t *testing.T) {
	for _, tc := range []struct {
		name string
		run  func(a *Actor)
		want []InvokerState // states after each step
	}{
		{"timeout then ping", func(a *Actor) { a.StateTimeout(); a.Ping(true) }, []InvokerState{Offline, Unhealthy}},
		{"healthy, errors, healthy again", func(a *Actor) {
			repeat(a, Success, BufferSize)
			repeat(a, SystemError, BufferSize)
			repeat(a, Success, BufferSize-BufferErrorTolerance)
		}, []InvokerState{Healthy, Unhealthy, Healthy}},
		{"healthy, timeouts, healthy again", func(a *Actor) {
			repeat(a, Success, BufferSize)
			repeat(a, Timeout, BufferSize)
			repeat(a, Success, BufferSize-BufferErrorTolerance)
		}, []InvokerState{Healthy, Unresponsive, Healthy}},
		{"disabled pings", func(a *Actor) { a.Ping(false); a.Ping(false) }, []InvokerState{Offline}},
		{"healthy then disabled", func(a *Actor) {
			repeat(a, Success, BufferSize-BufferErrorTolerance)
			a.Ping(false)
		}, []InvokerState{Healthy, Offline}},
		{"offline ignores results", func(a *Actor) { a.StateTimeout(); repeat(a, Success, 3) }, []InvokerState{Offline}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []InvokerState
			a := NewActor(nil, func(_, to InvokerState) { got = append(got, to) })
			tc.run(a)
			if len(got) != len(tc.want) {
				t.Fatalf("transitions %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("transitions %v, want %v", got, tc.want)
				}
			}
		})
	}
}

func TestActorTestActions(t *testing.T) {
	tests := 0
	a := NewActor(func() { tests++ }, nil)
	a.Init()
	if tests != 1 || !a.TickActive() {
		t.Fatalf("a new actor sends one test action and starts its timer: %d, %v", tests, a.TickActive())
	}
	a.Tick()
	if tests != 2 {
		t.Fatalf("tick: %d test actions", tests)
	}
	// Each success while unhealthy sends another test action; the first
	// makes the invoker healthy, which stops the timer.
	a.Finished(Success)
	if tests != 3 || a.State() != Healthy || a.TickActive() {
		t.Fatalf("after success: %d tests, state %v, timer %v", tests, a.State(), a.TickActive())
	}
	a.Tick()
	if tests != 3 {
		t.Error("healthy invoker got a test action")
	}
}

func TestPoolPadsAndKeysByFullID(t *testing.T) {
	var lists [][]InvokerHealth
	p := NewPool(func(int) *Actor { return NewActor(nil, nil) }, func(h []InvokerHealth) { lists = append(lists, h) })
	mem := 2 * whisk.GB
	p.Ping(whisk.PingMessage{Name: whisk.NewInvokerInstanceID(2, mem, "10.x.x.x", "invoker-xyz", nil)})
	h := p.Health()
	if len(h) != 3 || h[0].Status != Offline || h[1].Status != Offline || h[2].Status != Unhealthy || h[0].UserMemoryMB != 2048 {
		t.Fatalf("padded list %+v", h)
	}
	states := p.States()
	if states["invoker2/10.x.x.x/invoker-xyz"] != "unhealthy" || states["invoker0"] != "down" {
		t.Errorf("states %v", states)
	}
	if len(lists) == 0 {
		t.Error("no status list update")
	}
}
