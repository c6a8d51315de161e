package invoker

import (
	"context"
	"errors"
	"fmt"
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
	// A consumer group formed before the broker's metadata shows the new
	// partition gets no assignment, so wait until it does.
	for wait := 20 * time.Millisecond; ; {
		md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
		if err == nil {
			for _, t := range md.Topics {
				if t.Name == topic && t.Error == nil && len(t.Partitions) > 0 {
					return nil
				}
			}
		}
		if backoff(ctx, &wait, time.Second) != nil {
			return fmt.Errorf("topic %s has no partitions yet: %w", topic, ctx.Err())
		}
	}
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
