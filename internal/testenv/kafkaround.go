package testenv

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// KafkaRoundTrips publishes n records one interval apart to a topic on
// brokers, where an echo consumes each and produces it to a second topic,
// and returns each record's time from publish to its echo being consumed:
// an activation's two Kafka hops with nothing between them. The clients
// are configured as the emulated controller's (no linger, leader acks).
func KafkaRoundTrips(b testing.TB, ctx context.Context, brokers string, n int, interval time.Duration) []time.Duration {
	b.Helper()
	in, out := "bench-in-"+strconv.FormatInt(time.Now().UnixNano(), 36), "bench-out-"+strconv.FormatInt(time.Now().UnixNano(), 36)
	client := func(opts ...kgo.Opt) *kgo.Client {
		cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(brokers), kgo.ProducerLinger(0),
			kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite()}, opts...)...)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(cl.Close)
		return cl
	}
	prod := client()
	if _, err := kadm.NewClient(prod).CreateTopics(ctx, 1, 1, nil, in, out); err != nil {
		b.Fatal(err)
	}
	echo := client(kgo.ConsumeTopics(in), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	recv := client(kgo.ConsumeTopics(out), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ectx, stop := context.WithCancel(ctx)
	defer stop()
	go func() {
		for ectx.Err() == nil {
			echo.PollFetches(ectx).EachRecord(func(r *kgo.Record) {
				echo.Produce(ectx, &kgo.Record{Topic: out, Value: r.Value}, nil)
			})
		}
	}()
	got := make(chan time.Time, n)
	go func() {
		for ectx.Err() == nil {
			recv.PollFetches(ectx).EachRecord(func(*kgo.Record) { got <- time.Now() })
		}
	}()
	// Records are echoed in order on one partition each, so the i-th
	// consumed is the i-th sent.
	sent := make([]time.Time, n)
	t0 := time.Now()
	for i := range n {
		time.Sleep(time.Until(t0.Add(time.Duration(i) * interval)))
		sent[i] = time.Now()
		prod.Produce(ctx, &kgo.Record{Topic: in, Value: []byte(strconv.Itoa(i))}, nil)
	}
	lat := make([]time.Duration, n)
	for i := range n {
		select {
		case at := <-got:
			lat[i] = at.Sub(sent[i])
		case <-ctx.Done():
			b.Fatalf("bare Kafka: %d of %d records came back", i, n)
		}
	}
	return lat
}
