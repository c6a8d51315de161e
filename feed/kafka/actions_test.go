package kafka

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"reflect"
	"testing"
	"time"
)

// resultMark precedes the action's result in the output, after its logs.
const resultMark = "RESULT:"

// nodeRun runs a feed action's code under Node.js (the stock nodejs:20
// runtime's engine) the way the runtime calls it: main(params) in the
// namespace's environment, a resolved value as the result and a rejection
// as {error: reason}.
func nodeRun(t *testing.T, action string, params map[string]any) map[string]any {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is not installed (run `make deps`): %v", err)
	}
	in, _ := json.Marshal(params)
	code := ""
	for _, a := range FeedActions() {
		if a.Name == action {
			code = a.Code
		}
	}
	script := "const resultMark = '" + resultMark + "';\n" + code + `
process.env.__OW_NAMESPACE = 'guest';
Promise.resolve(main(` + string(in) + `))
    .then(r => r, e => ({ error: e }))
    .then(r => process.stdout.write('\n' + resultMark + JSON.stringify(r)));
`
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "-")
	cmd.Stdin = bytes.NewBufferString(script)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, stderr.String())
	}
	_, result, ok := bytes.Cut(out, []byte(resultMark))
	var res map[string]any
	if err := json.Unmarshal(result, &res); !ok || err != nil {
		t.Fatalf("result %q: %v", out, err)
	}
	return res
}

// TestFeedActionsOnNode drives the feed actions' lifecycle on Node.js
// against a real provider: the results the CLI sees are upstream's.
func TestFeedActionsOnNode(t *testing.T) {
	e := newEnv(t, "node")
	rp := e.start(t, e.options("worker0"))
	base := func(event string, extra map[string]any) map[string]any {
		p := map[string]any{"lifecycleEvent": event, "triggerName": "/_/nt", "authKey": testKey, "endpoint": rp.url}
		for k, v := range extra {
			p[k] = v
		}
		return p
	}
	if got := nodeRun(t, "kafkaFeed", base("CREATE", map[string]any{"brokers": rp.brokers})); !reflect.DeepEqual(got, map[string]any{"error": "You must supply a 'topic' parameter."}) {
		t.Errorf("CREATE without topic: %v", got)
	}
	if got := nodeRun(t, "kafkaFeed", base("CREATE", map[string]any{"topic": "node", "isJSONData": true, "isBinaryValue": "true", "brokers": rp.brokers})); !reflect.DeepEqual(got, map[string]any{"error": "isJSONData and isBinaryValue cannot both be enabled."}) {
		t.Errorf("CREATE with both flags: %v", got)
	}
	if got := nodeRun(t, "messageHubFeed", base("CREATE", map[string]any{"topic": "node", "kafka_brokers_sasl": rp.brokers})); !reflect.DeepEqual(got, map[string]any{"error": "You must supply a 'user' parameter to authenticate with Message Hub."}) {
		t.Errorf("messageHubFeed CREATE without user: %v", got)
	}
	if got := nodeRun(t, "kafkaFeed", base("CREATE", map[string]any{"topic": "node", "brokers": rp.brokers, "authKey": "x:y"})); !reflect.DeepEqual(got, map[string]any{"error": "You are not authorized for this trigger."}) {
		t.Errorf("CREATE with a wrong key: %v", got)
	}
	created := nodeRun(t, "kafkaFeed", base("CREATE", map[string]any{"topic": "node", "brokers": rp.brokers, "isJSONData": "true"}))
	uuid, _ := created["uuid"].(string)
	if len(uuid) != 36 {
		t.Fatalf("CREATE: %v", created)
	}
	rp.waitState(t, uuid, stateRunning)
	read := nodeRun(t, "kafkaFeed", base("READ", nil))
	cfg, _ := read["config"].(map[string]any)
	if cfg["triggerName"] != "/guest/nt" || cfg["isJSONData"] != true || cfg["topic"] != "node" {
		t.Errorf("READ: %v", read)
	}
	if got := nodeRun(t, "kafkaFeed", base("UPDATE", map[string]any{"isBinaryKey": true})); len(got) != 0 {
		t.Errorf("UPDATE: %v", got)
	}
	if got := nodeRun(t, "kafkaFeed", base("UPDATE", nil)); !reflect.DeepEqual(got, map[string]any{"error": "At least one of isJsonData, isBinaryKey, or isBinaryValue must be supplied."}) {
		t.Errorf("UPDATE without flags: %v", got)
	}
	if got := nodeRun(t, "kafkaFeed", base("DELETE", nil)); len(got) != 0 {
		t.Errorf("DELETE: %v", got)
	}
	if got := nodeRun(t, "kafkaFeed", base("SHRUG", nil)); !reflect.DeepEqual(got, map[string]any{"error": "unsupported lifecycleEvent"}) {
		t.Errorf("unknown event: %v", got)
	}
	if got := nodeRun(t, "kafkaFeed", base("READ", map[string]any{"endpoint": "http://127.0.0.1:1"})); got["error"] == nil {
		t.Errorf("READ with the provider unreachable: %v", got)
	}
}
