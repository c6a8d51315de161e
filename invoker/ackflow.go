package invoker

import (
	"context"
	"sync"
)

// ackFlow tracks whether acks reach the controllers. A controller judges an
// invoker by its pings, which go to another topic; an invoker that pings
// but cannot deliver acks would keep receiving work that can only end in
// forced timeouts. The rule: once an ack is dropped for any reason but a
// missing completed{C} topic, the invoker withholds its pings; every ping
// period it retries that ack once (bounded by the ping interval), and the
// first ack delivered, that retry or any other, resumes the pings. While
// pings are withheld the controller marks the invoker offline after its
// ping timeout (10 s as stock) and sends it nothing new; the invoker keeps
// consuming what it already has. The retried ack reaches its controller
// late, which the controller logs and ignores, as it does a stock ack
// that arrives after a forced completion.
type ackFlow struct {
	mu       sync.Mutex
	stuck    *droppedAck
	withheld bool
}

type droppedAck struct {
	topic string
	value []byte
}

func (f *ackFlow) failed(topic string, value []byte) {
	f.mu.Lock()
	f.stuck = &droppedAck{topic, value}
	f.mu.Unlock()
}

func (f *ackFlow) delivered() {
	f.mu.Lock()
	f.stuck = nil
	f.mu.Unlock()
}

// acksGetThrough reports whether the invoker may ping healthy, retrying the
// dropped ack once if there is one.
func (e *Engine) acksGetThrough(ctx context.Context) bool {
	f := &e.acksFlow
	f.mu.Lock()
	d := f.stuck
	f.mu.Unlock()
	if d == nil {
		return true
	}
	pctx, cancel := context.WithTimeout(ctx, e.cfg.PingInterval)
	err := e.kafka.send(pctx, d.topic, d.value)
	cancel()
	f.mu.Lock()
	defer f.mu.Unlock()
	if err != nil && !noTopic(err) {
		e.m.pingsWithheld.Inc()
		if !f.withheld {
			e.log.Error("acks do not get through: health pings withheld until one does", "topic", d.topic, "err", err)
		}
		f.withheld = true
		return false
	}
	if f.stuck == d {
		f.stuck = nil
	}
	if f.withheld {
		e.log.Info("acks get through again: health pings resume", "topic", d.topic)
	}
	f.withheld = false
	return true
}
