package controller

import (
	"testing"
	"time"

	"github.com/faasedge/faasedge/whisk"
)

// poolHarness drives a Pool with a manual clock and records test actions.
type poolHarness struct {
	pool  *Pool
	now   time.Time
	tests []int
	last  []InvokerHealth
}

func newPoolHarness() *poolHarness {
	h := &poolHarness{now: time.Unix(1700000000, 0)}
	h.pool = NewPool(func() time.Time { return h.now },
		func(id whisk.InvokerInstanceID) { h.tests = append(h.tests, id.Instance) },
		func(l []InvokerHealth) { h.last = l })
	return h
}

func (h *poolHarness) ping(i int, enabled bool) {
	h.pool.Ping(whisk.PingMessage{Name: whisk.NewInvokerInstanceID(i, 2048*whisk.MB, "", "", nil), IsEnabled: &enabled})
}

func (h *poolHarness) advance(d time.Duration) {
	h.now = h.now.Add(d)
	h.pool.Tick()
}

func (h *poolHarness) state(t *testing.T, i int, want InvokerState) {
	t.Helper()
	if got := h.pool.Status()[i].Status; got != want {
		t.Fatalf("invoker%d is %v, want %v", i, got, want)
	}
	if h.last[i].Status != want {
		t.Fatalf("balancer saw invoker%d as %v, want %v", i, h.last[i].Status, want)
	}
}

// TestSupervision follows InvokerSupervisionTests' scenarios.
func TestSupervision(t *testing.T) {
	t.Run("registration pads and sends a test action", func(t *testing.T) {
		h := newPoolHarness()
		h.ping(2, true)
		if len(h.last) != 3 || h.last[0].Status != Offline || h.last[0].ID.UserMemory != 2048*whisk.MB {
			t.Fatalf("status list %+v", h.last)
		}
		h.state(t, 2, Unhealthy)
		if len(h.tests) != 1 || h.tests[0] != 2 {
			t.Fatalf("test actions %v", h.tests)
		}
		// One success makes it healthy; while unhealthy a success also
		// sends another test action.
		h.pool.Finished(2, Success)
		h.state(t, 2, Healthy)
		if len(h.tests) != 2 {
			t.Fatalf("test actions %v", h.tests)
		}
	})
	t.Run("silence goes offline, a ping brings it back unhealthy", func(t *testing.T) {
		h := newPoolHarness()
		h.ping(0, true)
		h.pool.Finished(0, Success)
		h.advance(9 * time.Second)
		h.state(t, 0, Healthy)
		h.advance(time.Second)
		h.state(t, 0, Offline)
		h.ping(0, true)
		h.state(t, 0, Unhealthy)
	})
	t.Run("disabled ping goes offline", func(t *testing.T) {
		h := newPoolHarness()
		h.ping(0, true)
		h.pool.Finished(0, Success)
		h.ping(0, false)
		h.state(t, 0, Offline)
		h.pool.Finished(0, Success) // Offline ignores results
		h.state(t, 0, Offline)
	})
	t.Run("system errors make it unhealthy, timeouts unresponsive", func(t *testing.T) {
		h := newPoolHarness()
		h.ping(0, true)
		for range 4 {
			h.pool.Finished(0, Success)
		}
		for range 3 {
			h.pool.Finished(0, SystemError)
		}
		h.state(t, 0, Healthy) // 3 errors in a buffer of 7 are within tolerance
		h.pool.Finished(0, SystemError)
		h.state(t, 0, Unhealthy)

		h = newPoolHarness()
		h.ping(0, true)
		h.pool.Finished(0, Success)
		h.pool.Finished(0, SystemError) // a young buffer judges at once
		h.state(t, 0, Unhealthy)

		h = newPoolHarness()
		h.ping(0, true)
		for range 4 {
			h.pool.Finished(0, Success)
		}
		for range 4 {
			h.pool.Finished(0, Timeout)
		}
		h.state(t, 0, Unresponsive)
	})
	t.Run("test action every minute while unhealthy", func(t *testing.T) {
		h := newPoolHarness()
		h.ping(0, true)
		for range 7 { // keep it alive with pings
			h.advance(10*time.Second - time.Millisecond)
			h.ping(0, true)
		}
		if len(h.tests) != 2 {
			t.Fatalf("after a minute: %d test actions, want 2", len(h.tests))
		}
	})
}
