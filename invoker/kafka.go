package invoker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"

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
// in turn. It stands in for kafka.RangeGroupBalancer because of how
// kafka-go's group leader treats a topic it cannot see yet
// (ConsumerGroup.assignTopicPartitions): UnknownTopicOrPartition from the
// partition lookup is not an error but an empty assignment, and nothing
// rebalances afterwards when the topic's partition count never changes, so
// a group that joins while invoker{N} is being created (kfake answers so
// now and then) consumes nothing until the next rebalance: segmentio/
// kafka-go#1314, open, with fix #1315 unmerged; WatchPartitionChanges does
// not help, for the same reason. The invoker's topic has partition 0 by
// construction (EnsureTopic), so this balancer assigns it whatever the
// lookup says.
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

// producer sends records to partition 0 of their topics (OpenWhisk's
// topics have one partition) with acks=1, through kafka.Client.Produce.
// One goroutine sends: a record waits for nothing when the producer is
// idle, and records that arrive while a request is under way go together
// in the next one, which is Kafka's own producer behaviour with
// linger.ms=0. kafka.Writer has no such mode: a synchronous WriteMessages
// returns only when its batch is full or BatchTimeout (1 s by default) has
// passed (segmentio/kafka-go#1067, #1180; the redesign asked for in #852 is
// open), and BatchSize 1 sends every ack in a request of its own. Either
// costs each ack latency or the controller throughput, so the batching
// stays here.
type producer struct {
	client *kafka.Client
	reqs   chan *sendReq
}

type sendReq struct {
	topic string
	value []byte
	done  chan error
}

// recordOverhead bounds what a record adds to its value in a produce
// request; the limit (max.request.size) applies to the whole request.
const recordOverhead = 256

// maxBatch bounds the records of one produce request.
const maxBatch = 500

func newProducer(brokers []string) *producer {
	return &producer{
		client: &kafka.Client{
			Addr:      kafka.TCP(brokers...),
			Timeout:   30 * time.Second, // request.timeout.ms
			Transport: &kafka.Transport{DialTimeout: 5 * time.Second, IdleTimeout: time.Minute, MetadataTTL: 15 * time.Second},
		},
		reqs: make(chan *sendReq, maxBatch),
	}
}

// send produces value and waits for the broker's acknowledgement. A value
// over the producer's max.request.size fails with kafka.MessageSizeTooLarge
// without being sent.
func (p *producer) send(ctx context.Context, topic string, value []byte) error {
	if len(value)+recordOverhead > whisk.MaxActivationMessageBytes {
		return fmt.Errorf("%d bytes to %s: %w", len(value), topic, kafka.MessageSizeTooLarge)
	}
	r := &sendReq{topic: topic, value: value, done: make(chan error, 1)}
	select {
	case p.reqs <- r:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-r.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// run sends until ctx ends.
func (p *producer) run(ctx context.Context) {
	for {
		var batch []*sendReq
		select {
		case r := <-p.reqs:
			batch = append(batch, r)
		case <-ctx.Done():
			return
		}
	drain:
		for len(batch) < maxBatch {
			select {
			case r := <-p.reqs:
				batch = append(batch, r)
			default:
				break drain
			}
		}
		// One request per topic and size limit, in arrival order.
		for len(batch) > 0 {
			topic := batch[0].topic
			var chunk, rest []*sendReq
			size := 0
			for _, r := range batch {
				if r.topic == topic && size+len(r.value)+recordOverhead <= whisk.MaxActivationMessageBytes {
					chunk = append(chunk, r)
					size += len(r.value) + recordOverhead
				} else {
					rest = append(rest, r)
				}
			}
			p.produce(ctx, topic, chunk)
			batch = rest
		}
	}
}

func (p *producer) produce(ctx context.Context, topic string, reqs []*sendReq) {
	records := make([]kafka.Record, len(reqs))
	for i, r := range reqs {
		records[i] = kafka.Record{Value: kafka.NewBytes(r.value)}
	}
	resp, err := p.client.Produce(ctx, &kafka.ProduceRequest{
		Topic: topic, Partition: 0, RequiredAcks: kafka.RequireOne, Records: kafka.NewRecordReader(records...),
	})
	if err == nil {
		err = resp.Error
	}
	for i, r := range reqs {
		rerr := err
		if rerr == nil && resp.RecordErrors != nil {
			rerr = resp.RecordErrors[i]
		}
		if rerr != nil {
			rerr = fmt.Errorf("produce to %s: %w", topic, rerr)
		}
		r.done <- rerr
	}
}

func (p *producer) close() {
	if t, ok := p.client.Transport.(*kafka.Transport); ok {
		t.CloseIdleConnections()
	}
}

// tooLarge tells whether a send failed because the record exceeds the
// producer's or the topic's size limit.
func tooLarge(err error) bool { return errors.Is(err, kafka.MessageSizeTooLarge) }

// noTopic tells whether a send failed because its topic does not exist:
// the transport's metadata lacks it (protocol.ErrNoTopic) or the broker
// says so.
func noTopic(err error) bool {
	return errors.Is(err, protocol.ErrNoTopic) || errors.Is(err, kafka.UnknownTopicOrPartition)
}

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
