package standalone

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/apache/openwhisk-client-go/whisk"
	"github.com/faasedge/faasedge/internal/testenv"
	"github.com/faasedge/faasedge/standalone/controller"
)

// TestWskCLI drives the stock wsk CLI through what a user does first:
// properties, a package and a binding, an action in the package, a
// trigger with a rule, a fire, the activation list, a sequence, a web
// action fetched over plain HTTP, and the namespace listing.
func TestWskCLI(t *testing.T) {
	s := startStack(t, Config{})
	bin := testenv.Wsk(t)
	dir := t.TempDir()
	env := append(os.Environ(), "WSK_CONFIG_FILE="+filepath.Join(dir, "wskprops"))
	wsk := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("wsk %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	write := func(name, code string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(code), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	wsk("property", "set", "--apihost", s.APIHost(), "--auth", controller.GuestAuth)
	if out := wsk("property", "get", "--apibuild"); !strings.Contains(out, "whisk API build") {
		t.Fatalf("property get --apibuild: %s", out)
	}
	wsk("package", "create", "lib", "-p", "greeting", "hello")
	wsk("package", "bind", "/guest/lib", "mybind", "-p", "greeting", "hi")
	wsk("action", "create", "lib/greet", write("greet.js", `function main(p) { return {msg: p.greeting + " " + (p.name || "you")}; }`))
	if out := wsk("action", "invoke", "mybind/greet", "-r", "-p", "name", "wsk"); !jsonEqual(out, `{"msg":"hi wsk"}`) {
		t.Fatalf("invoke through the binding: %s", out)
	}
	wsk("trigger", "create", "tick", "-p", "name", "trigger")
	wsk("rule", "create", "onTick", "tick", "lib/greet")
	fired := wsk("trigger", "fire", "tick")
	m := regexp.MustCompile(`with id ([0-9a-f]{32})`).FindStringSubmatch(fired)
	if m == nil {
		t.Fatalf("trigger fire: %s", fired)
	}
	c := wskClient(t, s.APIHost(), controller.GuestAuth)
	rec := waitActivation(t, c, m[1])
	var line struct {
		ActivationID string `json:"activationId"`
	}
	if len(rec.Logs) != 1 || json.Unmarshal([]byte(rec.Logs[0]), &line) != nil {
		t.Fatalf("trigger record logs: %q", rec.Logs)
	}
	if act := waitActivation(t, c, line.ActivationID); act.Name != "greet" {
		t.Fatalf("rule's activation: %+v", act)
	}
	if out := wsk("activation", "list"); !strings.Contains(out, "tick") || !strings.Contains(out, "greet") {
		t.Fatalf("activation list:\n%s", out)
	}
	wsk("action", "create", "twice", "--sequence", "lib/greet,lib/greet")
	if out := wsk("action", "invoke", "twice", "-r", "-p", "name", "x"); !strings.Contains(out, `"msg"`) {
		t.Fatalf("sequence: %s", out)
	}
	wsk("action", "create", "page", write("page.js", `function main(p) { return {body: "hello " + (p.who || "web")}; }`), "--web", "true")
	resp, err := http.Get(s.APIHost() + "/api/v1/web/guest/default/page.http?who=curl")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "hello curl" {
		t.Fatalf("web action: %d %s", resp.StatusCode, body)
	}
	// A feed: the CLI creates the trigger with its feed annotation, then
	// invokes the feed action with the lifecycle event; delete likewise.
	wsk("package", "create", "feeds")
	wsk("action", "create", "feeds/feed", write("feed.js", `function main(p) { return {event: p.lifecycleEvent, trigger: p.triggerName, key: !!p.authKey}; }`))
	wsk("trigger", "create", "fed", "--feed", "feeds/feed")
	tr, _, err := c.Triggers.Get("fed")
	if err != nil || tr.Annotations.GetValue("feed") != "/_/feeds/feed" {
		t.Fatalf("trigger with a feed: %+v %v", tr, err)
	}
	wsk("trigger", "delete", "fed")
	acts, _, err := c.Activations.List(&whisk.ActivationListOptions{Name: "feeds/feed", Docs: true})
	if err != nil || len(acts) != 2 {
		t.Fatalf("feed activations: %+v %v", acts, err)
	}
	var events []string
	for _, a := range acts {
		r, _ := json.Marshal(a.Response.Result)
		events = append(events, string(r))
	}
	if !jsonEqual(events[1], `{"event":"CREATE","trigger":"/_/fed","key":true}`) || !jsonEqual(events[0], `{"event":"DELETE","trigger":"/_/fed","key":true}`) {
		t.Fatalf("feed lifecycle: %q", events)
	}
	for _, args := range [][]string{{"namespace", "get"}, {"list"}} {
		out := wsk(args...)
		for _, want := range []string{"lib", "mybind", "tick", "onTick", "twice", "page"} {
			if !strings.Contains(out, want) {
				t.Fatalf("wsk %s lacks %s:\n%s", strings.Join(args, " "), want, out)
			}
		}
	}
}
