package controller

import (
	"testing"
	"time"

	"github.com/faasedge/faasedge/whisk"
)

// TestTestAckDuringSendLeavesBalancerCurrent: the health test's ack can be
// processed (on the ack consumer) before the ping that caused the test has
// finished producing it. The balancer must end with the later state
// (Healthy), not the list read before the send (Unhealthy).
func TestTestAckDuringSendLeavesBalancerCurrent(t *testing.T) {
	var pool *Pool
	var last []InvokerHealth
	pool = NewPool(func() time.Time { return time.Unix(1700000000, 0) },
		func(id whisk.InvokerInstanceID) {
			if pool.Status()[id.Instance].Status == Unhealthy {
				pool.Finished(id.Instance, Success)
			}
		},
		func(l []InvokerHealth) { last = l })
	on := true
	pool.Ping(whisk.PingMessage{Name: whisk.NewInvokerInstanceID(0, 2048*whisk.MB, "", "", nil), IsEnabled: &on})
	if got := pool.Status()[0].Status; got != Healthy {
		t.Fatalf("pool: invoker0 is %v, want healthy", got)
	}
	if last[0].Status != Healthy {
		t.Fatalf("balancer saw invoker0 as %v after its test succeeded", last[0].Status)
	}
}
