// Package deploy checks the deployment files against the code they deploy,
// so a renamed flag or variable cannot silently break an Ansible roll-out.
package deploy

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v2"

	"github.com/faasedge/faasedge/invoker"
)

// Sample values for the Jinja expressions of the roles, as OpenWhisk's
// group_vars would render them.
var samples = map[string]string{
	"PORT":                                  "8080",
	"KAFKA_HOSTS":                           "kafka0:9092,kafka1:9092",
	"CONFIG_whisk_couchdb_protocol":         "https",
	"CONFIG_whisk_couchdb_port":             "5984",
	"CONFIG_whisk_containerPool_userMemory": "2048m",
	"CONFIG_whisk_userEvents_enabled":       "false",
	"RUNTIMES_MANIFEST":                     `{"runtimes":{"nodejs":[{"kind":"nodejs:20","default":true}]}}`,
	"WHISK_API_HOST_PROTO":                  "https",
	"WHISK_API_HOST_PORT":                   "443",
}

type task struct {
	Name            string         `yaml:"name"`
	DockerContainer map[string]any `yaml:"docker_container"`
}

func loadTasks(t *testing.T, role string) []task {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "ansible", "roles", role, "tasks", "main.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var tasks []task
	if err := yaml.Unmarshal(b, &tasks); err != nil {
		t.Fatalf("%s: %v", role, err)
	}
	return tasks
}

// startTask is the role's docker_container task that starts the service.
func startTask(t *testing.T, role string) map[string]any {
	t.Helper()
	for _, tk := range loadTasks(t, role) {
		if tk.DockerContainer != nil && tk.DockerContainer["state"] == "started" {
			return tk.DockerContainer
		}
	}
	t.Fatalf("%s: no docker_container task that starts the service", role)
	return nil
}

func renderedEnv(t *testing.T, dc map[string]any) map[string]string {
	t.Helper()
	env := map[string]string{}
	raw, _ := dc["env"].(map[any]any)
	if len(raw) == 0 {
		t.Fatal("task has no env")
	}
	for k, v := range raw {
		key := k.(string)
		val := samples[key]
		if val == "" {
			val = "sample"
		}
		if s, ok := v.(string); ok && !strings.Contains(s, "{{") {
			val = s
		}
		env[key] = val
	}
	return env
}

// The invoker role must hand the container every variable the invoker
// requires, and only variables that something reads: a misspelt name (as the
// stock role's CONFIG_whisk_kakfa_...) would otherwise be dropped silently.
func TestInvokerRoleMatchesInvokerConfig(t *testing.T) {
	dc := startTask(t, "faasedge-invoker")
	env := renderedEnv(t, dc)
	read := map[string]bool{}
	cfg, err := invoker.FromEnv(func(k string) string { read[k] = true; return env[k] })
	if err != nil {
		t.Fatalf("the role's environment does not configure the invoker: %v", err)
	}
	if cfg.UserMemory.MB() != 2048 || len(cfg.KafkaBrokers) != 2 {
		t.Errorf("config not taken from the role: %+v", cfg)
	}
	// FAASEDGE_* variables are the invoker command's own, not FromEnv's.
	src, err := os.ReadFile(filepath.Join("..", "..", "cmd", "faasedge", "invoker.go"))
	if err != nil {
		t.Fatal(err)
	}
	for k := range env {
		if strings.HasPrefix(k, "FAASEDGE_") && strings.Contains(string(src), `"`+k+`"`) {
			read[k] = true
		}
	}
	for k := range env {
		if !read[k] {
			t.Errorf("the role sets %s, which the invoker never reads", k)
		}
	}
	cmd := toStrings(dc["command"])
	if !slices.Equal(cmd[:1], []string{"invoker"}) || !slices.Contains(cmd, "--id") || !slices.Contains(cmd, "--uniqueName") {
		t.Errorf("invoker command %q is not the stock form", cmd)
	}
}

var flagRE = regexp.MustCompile(`'(--[a-z-]+)`)

// Every flag the node and gateway roles pass must exist on the subcommand.
func TestRoleFlagsExist(t *testing.T) {
	for _, tc := range []struct {
		role, source string
	}{
		{"faasedge-node", "node.go"},
		{"faasedge-gateway", "gateway.go"},
	} {
		dc := startTask(t, tc.role)
		src, err := os.ReadFile(filepath.Join("..", "..", "cmd", "faasedge", tc.source))
		if err != nil {
			t.Fatal(err)
		}
		cmd, _ := dc["command"].(string)
		flags := flagRE.FindAllStringSubmatch(cmd, -1)
		if len(flags) == 0 {
			t.Fatalf("%s: no flags found in %q", tc.role, cmd)
		}
		for _, f := range flags {
			name := strings.TrimPrefix(f[1], "--")
			if !strings.Contains(string(src), `"`+name+`"`) {
				t.Errorf("%s passes --%s, which faasedge %s does not define", tc.role, name, strings.TrimSuffix(tc.source, ".go"))
			}
		}
	}
}

func toStrings(v any) []string {
	var out []string
	list, _ := v.([]any)
	for _, x := range list {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}
