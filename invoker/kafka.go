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

// tooLarge tells whether a write failed because the record exceeds the
// producer's or the topic's size limit.
func tooLarge(err error) bool {
	var we kafka.WriteErrors
	if errors.As(err, &we) {
		for _, e := range we {
			if e != nil && errors.Is(e, kafka.MessageSizeTooLarge) {
				return true
			}
		}
	}
	return errors.Is(err, kafka.MessageSizeTooLarge)
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
