package kafkafeed_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/faasedge/faasedge/internal/testenv"
	"github.com/faasedge/faasedge/standalone/controller"
)

// tool finds a binary `make deps` installs: wsk under .tools/bin, kcat on
// the PATH.
func tool(t *testing.T, name string) string {
	t.Helper()
	if name == "wsk" {
		p := filepath.Join(testenv.ModuleRoot(t), ".tools", "bin", "wsk")
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("wsk is not built (run `make deps`): %v", err)
		}
		return p
	}
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is not installed (run `make deps`): %v", name, err)
	}
	return p
}

// TestWskAndKcat is the user's session from the issue: the stock wsk CLI
// creates a trigger on the feed and a rule, kcat produces to a topic that
// does not exist yet, and the rule's action runs with the message.
func TestWskAndKcat(t *testing.T) {
	s := startStack(t)
	wskBin, kcat := tool(t, "wsk"), tool(t, "kcat")
	dir := t.TempDir()
	env := append(os.Environ(), "WSK_CONFIG_FILE="+filepath.Join(dir, "wskprops"))
	wsk := func(wantOK bool, args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, wskBin, args...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if (err == nil) != wantOK {
			t.Fatalf("wsk %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	wsk(true, "property", "set", "--apihost", s.APIHost(), "--auth", controller.GuestAuth)
	code := filepath.Join(dir, "echo.js")
	if err := os.WriteFile(code, []byte(echo), 0o644); err != nil {
		t.Fatal(err)
	}
	wsk(true, "action", "create", "echo", code, "--kind", "nodejs:20")
	broker := s.KafkaBrokers()[0]

	// A bad parameter: upstream's text, and the CLI deletes the trigger.
	out := wsk(false, "trigger", "create", "bad", "--feed", "/whisk.system/messaging/kafkaFeed", "-p", "brokers", `["`+broker+`"]`)
	if !strings.Contains(out, "You must supply a 'topic' parameter.") {
		t.Errorf("trigger create without a topic:\n%s", out)
	}
	if out := wsk(false, "trigger", "get", "bad"); !strings.Contains(out, "does not exist") {
		t.Errorf("the failed trigger was not deleted:\n%s", out)
	}

	out = wsk(true, "trigger", "create", "orders", "--feed", "/whisk.system/messaging/kafkaFeed",
		"-p", "brokers", `["`+broker+`"]`, "-p", "topic", "orders", "-p", "isJSONData", "true")
	if !strings.Contains(out, "ok: created trigger orders") {
		t.Fatalf("trigger create:\n%s", out)
	}
	wsk(true, "rule", "create", "r", "orders", "echo")

	kcatProduce := func(msg string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, kcat, "-P", "-b", broker, "-t", "orders")
		cmd.Stdin = strings.NewReader(msg + "\n")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("kcat: %v\n%s", err, out)
		}
	}
	kcatProduce(`{"n":1}`)
	c := client(t, s)
	var msgs []map[string]any
	waitFor(t, "the rule's action", func() bool { msgs = messagesOf(t, c, "echo"); return len(msgs) > 0 })
	if len(msgs) != 1 || !reflect.DeepEqual(msgs[0]["value"], map[string]any{"n": 1.0}) || msgs[0]["topic"] != "orders" {
		t.Fatalf("the action got %v", msgs)
	}
	kcatProduce(`{"n":2}`)
	waitFor(t, "the second message", func() bool { msgs = messagesOf(t, c, "echo"); return len(msgs) > 1 })
	if len(msgs) != 2 || !reflect.DeepEqual(msgs[1]["value"], map[string]any{"n": 2.0}) {
		t.Fatalf("the action got %v", msgs)
	}

	// `wsk trigger get` prints the feed's READ activation.
	out = wsk(true, "trigger", "get", "orders")
	start := strings.Index(out, "{")
	var act struct {
		Response struct {
			Result struct {
				Config map[string]any `json:"config"`
				Status map[string]any `json:"status"`
			} `json:"result"`
		} `json:"response"`
	}
	read := &act.Response.Result
	if start < 0 || json.NewDecoder(bytes.NewReader([]byte(out[start:]))).Decode(&act) != nil ||
		read.Config["topic"] != "orders" || read.Status["active"] != true {
		t.Errorf("trigger get:\n%s", out)
	}
	wsk(true, "rule", "delete", "r")
	if out := wsk(true, "trigger", "delete", "orders"); !strings.Contains(out, "ok: deleted trigger orders") {
		t.Errorf("trigger delete:\n%s", out)
	}
}
