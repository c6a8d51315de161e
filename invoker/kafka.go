package invoker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/faasedge/faasedge/whisk"
)

// invokerTopicConfig is whisk.kafka.topics.invoker with dashes as dots,
// plus max.message.bytes = MAX_ACTIVATION_LIMIT (openwhisk-wire.md 1.2).
var invokerTopicConfig = []kafka.ConfigEntry{
	{ConfigName: "segment.bytes", ConfigValue: "536870912"},
	{ConfigName: "retention.bytes", ConfigValue: "1073741824"},
	{ConfigName: "retention.ms", ConfigValue: "172800000"},
	{ConfigName: "max.message.bytes", ConfigValue: strconv.Itoa(whisk.MaxActivationMessageBytes)},
}

// EnsureTopic creates topic with one partition and cfg unless it exists,
// as the stock invoker's ensureTopic does. Brokers in an OpenWhisk
// deployment do not create topics on demand, so the invoker must create its
// own before the controller can publish to it.
func EnsureTopic(ctx context.Context, brokers []string, topic string, cfg []kafka.ConfigEntry) error {
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 10 * time.Second}
	resp, err := client.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{
		Topic: topic, NumPartitions: 1, ReplicationFactor: 1, ConfigEntries: cfg,
	}}})
	if err != nil {
		return fmt.Errorf("create topic %s: %w", topic, err)
	}
	if err := resp.Errors[topic]; err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
		return fmt.Errorf("create topic %s: %w", topic, err)
	}
	return nil
}

// topicBalancer assigns the partitions of one topic to the group's members
// in turn. It stands in for the range balancer because the group leader's
// partition lookup can come back empty for a topic created moments before
// (kfake does this now and then), which leaves the group without an
// assignment until the next rebalance; the invoker's topic has partition 0
// by construction, so that lookup is not needed.
type topicBalancer struct{ topic string }

func (topicBalancer) ProtocolName() string      { return "range" }
func (topicBalancer) UserData() ([]byte, error) { return nil, nil }

func (b topicBalancer) AssignGroups(members []kafka.GroupMember, partitions []kafka.Partition) kafka.GroupMemberAssignments {
	ids := []int{}
	for _, p := range partitions {
		if p.Topic == b.topic {
			ids = append(ids, p.ID)
		}
	}
	if len(ids) == 0 {
		ids = []int{0}
	}
	slices.Sort(ids)
	names := make([]string, len(members))
	for i, m := range members {
		names[i] = m.ID
	}
	slices.Sort(names)
	out := kafka.GroupMemberAssignments{}
	for _, n := range names {
		out[n] = map[string][]int{}
	}
	for i, id := range ids {
		m := names[i%len(names)]
		out[m][b.topic] = append(out[m][b.topic], id)
	}
	return out
}

// producer sends each record on its own produce request to partition 0 of
// its topic (OpenWhisk's topics have one partition). kafka.Writer waits to
// fill a batch, which costs an ack milliseconds; here concurrent sends
// share the transport's connection and nothing waits.
type producer struct {
	client *kafka.Client
}

// recordOverhead bounds what a one-record produce request adds to the
// value: the limit (max.request.size) applies to the whole request.
const recordOverhead = 256

func newProducer(brokers []string) *producer {
	return &producer{client: &kafka.Client{
		Addr:      kafka.TCP(brokers...),
		Timeout:   30 * time.Second, // request.timeout.ms
		Transport: &kafka.Transport{DialTimeout: 5 * time.Second, IdleTimeout: time.Minute, MetadataTTL: 15 * time.Second},
	}}
}

// send produces value with acks=1. A value over the producer's
// max.request.size fails with kafka.MessageSizeTooLarge without being sent.
func (p *producer) send(ctx context.Context, topic string, value []byte) error {
	if len(value)+recordOverhead > whisk.MaxActivationMessageBytes {
		return fmt.Errorf("%d bytes to %s: %w", len(value), topic, kafka.MessageSizeTooLarge)
	}
	resp, err := p.client.Produce(ctx, &kafka.ProduceRequest{
		Topic: topic, Partition: 0, RequiredAcks: kafka.RequireOne,
		Records: kafka.NewRecordReader(kafka.Record{Value: kafka.NewBytes(value)}),
	})
	if err != nil {
		return fmt.Errorf("produce to %s: %w", topic, err)
	}
	if resp.Error != nil {
		return fmt.Errorf("produce to %s: %w", topic, resp.Error)
	}
	for _, e := range resp.RecordErrors {
		if e != nil {
			return fmt.Errorf("produce to %s: %w", topic, e)
		}
	}
	return nil
}

func (p *producer) close() {
	if t, ok := p.client.Transport.(*kafka.Transport); ok {
		t.CloseIdleConnections()
	}
}

// tooLarge tells whether a send failed because the record exceeds the
// producer's or the topic's size limit.
func tooLarge(err error) bool { return errors.Is(err, kafka.MessageSizeTooLarge) }

// backoff sleeps for *d (doubling it up to max) or until ctx ends.
func backoff(ctx context.Context, d *time.Duration, max time.Duration) error {
	t := time.NewTimer(*d)
	defer t.Stop()
	*d = min(*d*2, max)
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
