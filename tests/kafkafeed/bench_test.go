package kafkafeed_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/apache/openwhisk-client-go/whisk"
	"github.com/twmb/franz-go/pkg/kgo"
)

// BenchmarkProduceToAction measures, through the whole standalone, the
// time from producing a message to the end of the rule's action it
// triggers (the activation record's end): the provider's batching (it
// fires after 1 s without a further message, as upstream), the trigger
// fire, the rule, Kafka to the invoker and the nodejs action. One message
// per op; p50 and p99 over the ops.
func BenchmarkProduceToAction(b *testing.B) {
	s := startStack(b)
	c := client(b, s)
	code := `function main(p) { return {i: p.messages[0].value.i}; }`
	if _, _, err := c.Actions.Insert(&whisk.Action{Name: "lat", Exec: &whisk.Exec{Kind: "nodejs:20", Code: &code}}, true); err != nil {
		b.Fatal(err)
	}
	if _, _, err := c.Triggers.Insert(&whisk.Trigger{Name: "T"}, false); err != nil {
		b.Fatal(err)
	}
	uuid, _ := feed(b, c, "CREATE", "T", map[string]any{"topic": "lat", "brokers": s.KafkaBrokers(), "isJSONData": true})["uuid"].(string)
	if _, _, err := c.Rules.Insert(&whisk.Rule{Name: "R", Trigger: "/_/T", Action: "/_/lat"}, false); err != nil {
		b.Fatal(err)
	}
	waitFor(b, "the consumer running", func() bool { return consumerRunning(b, s, uuid) })
	kcl, err := kgo.NewClient(kgo.SeedBrokers(s.KafkaBrokers()...))
	if err != nil {
		b.Fatal(err)
	}
	defer kcl.Close()
	var lat []time.Duration
	b.ResetTimer()
	for i := range b.N {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		start := time.Now()
		if err := kcl.ProduceSync(ctx, &kgo.Record{Topic: "lat", Value: fmt.Appendf(nil, `{"i":%d}`, i)}).FirstErr(); err != nil {
			b.Fatal(err)
		}
		cancel()
		var end time.Time
		waitFor(b, fmt.Sprintf("activation of message %d", i), func() bool {
			acts, _, err := c.Activations.List(&whisk.ActivationListOptions{Name: "lat", Docs: true, Limit: 5})
			if err != nil {
				return false
			}
			for _, a := range acts {
				var r struct{ I *int }
				raw, _ := json.Marshal(a.Response.Result)
				if json.Unmarshal(raw, &r) == nil && r.I != nil && *r.I == i {
					end = time.UnixMilli(a.End)
					return true
				}
			}
			time.Sleep(20 * time.Millisecond)
			return false
		})
		lat = append(lat, end.Sub(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Milliseconds()), "p50-ms")
	b.ReportMetric(float64(lat[(len(lat)*99)/100].Milliseconds()), "p99-ms")
}
