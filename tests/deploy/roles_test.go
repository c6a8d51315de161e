// Package deploy tests the Ansible roles and the Docker image against the
// real things they meet: OpenWhisk's own ansible/ tree (a pinned snapshot
// in testdata/openwhisk), Debian's ansible-core, dockerd, kfake and
// pouchdb-server. roles_test.go holds the checks that need no tools;
// openwhisk_test.go deploys for real.
package deploy

import (
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v2"

	"github.com/faasedge/faasedge/feed/kafka"
	"github.com/faasedge/faasedge/invoker"
)

var (
	repoRoot   = filepath.Join("..", "..")
	rolesDir   = filepath.Join(repoRoot, "ansible", "roles")
	stockAnsib = filepath.Join("testdata", "openwhisk", "ansible")
)

func readYAML(t *testing.T, path string, into any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, into); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// stockInvokerEnv is the environment the stock invoker role builds
// ("populate environment variables for invoker"), key to Jinja expression.
func stockInvokerEnv(t *testing.T) map[string]string {
	t.Helper()
	var tasks []map[string]any
	readYAML(t, filepath.Join(stockAnsib, "roles", "invoker", "tasks", "deploy.yml"), &tasks)
	for _, tk := range tasks {
		if tk["name"] != "populate environment variables for invoker" {
			continue
		}
		sf, _ := tk["set_fact"].(map[any]any)
		env, _ := sf["env"].(map[any]any)
		out := map[string]string{}
		for k, v := range env {
			out[k.(string)] = v.(string)
		}
		return out
	}
	t.Fatal("stock invoker role: no 'populate environment variables for invoker' task")
	return nil
}

// ourStockEnv is faasedge_stock_env from the common role's defaults.
func ourStockEnv(t *testing.T) map[string]string {
	t.Helper()
	var defaults struct {
		Env map[string]string `yaml:"faasedge_stock_env"`
	}
	readYAML(t, filepath.Join(rolesDir, "faasedge-common", "defaults", "main.yml"), &defaults)
	if len(defaults.Env) == 0 {
		t.Fatal("faasedge-common defaults: no faasedge_stock_env")
	}
	return defaults.Env
}

// serviceVars are the vars of a role's include of the common service tasks.
func serviceVars(t *testing.T, role string) map[any]any {
	t.Helper()
	var tasks []map[string]any
	readYAML(t, filepath.Join(rolesDir, role, "tasks", "main.yml"), &tasks)
	for _, tk := range tasks {
		if ir, ok := tk["include_role"].(map[any]any); ok && ir["tasks_from"] == "service" {
			vars, _ := tk["vars"].(map[any]any)
			return vars
		}
	}
	t.Fatalf("%s: no include of faasedge-common's service tasks", role)
	return nil
}

// Deliberate differences from the stock role's expressions, each explained
// where faasedge_stock_env sets it.
var differs = map[string]bool{
	"CONFIG_whisk_containerPool_userMemory": true, // the host's own user_memory, not invokers[index]'s
	"CONFIG_whisk_invoker_resource_tags":    true, // a plain comma list instead of " '' "
}

// invokerReads lists the variables `faasedge invoker` reads: every one
// invoker.FromEnv asks for, and the FAASEDGE_ ones of the command.
func invokerReads(t *testing.T) map[string]bool {
	t.Helper()
	read := map[string]bool{}
	sample := map[string]string{
		"KAFKA_HOSTS": "127.0.0.1:9093", "RUNTIMES_MANIFEST": `{"runtimes":{}}`, "WHISK_API_HOST_NAME": "edge",
		"CONFIG_whisk_couchdb_host": "db", "CONFIG_whisk_couchdb_port": "5984",
		"CONFIG_whisk_couchdb_databases_WhiskEntity": "a", "CONFIG_whisk_couchdb_databases_WhiskActivation": "b",
	}
	if _, err := invoker.FromEnv(func(k string) string { read[k] = true; return sample[k] }); err != nil {
		t.Fatalf("invoker.FromEnv with sample values: %v", err)
	}
	// The variables read outside FromEnv: the command's own and the TLS
	// settings (TLSFromEnv needs real key files to read them all).
	for _, file := range []string{"cmd/faasedge/invoker.go", "invoker/tls.go"} {
		src, err := os.ReadFile(filepath.Join(repoRoot, file))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range regexp.MustCompile(`"((?:FAASEDGE|CONFIG_whisk)_[A-Za-z_]+)"`).FindAllStringSubmatch(string(src), -1) {
			read[m[1]] = true
		}
	}
	return read
}

// Every stock variable the invoker reads is passed with the stock role's
// own expression, and nothing is passed that the invoker never reads (a
// misspelt name, as the stock role's CONFIG_whisk_kakfa_..., would be
// dropped silently).
func TestInvokerEnvironmentCoversStock(t *testing.T) {
	stock, ours, read := stockInvokerEnv(t), ourStockEnv(t), invokerReads(t)
	own, _ := serviceVars(t, "faasedge-invoker")["svc_own_env"].(map[any]any)
	passed := maps.Clone(ours)
	for k := range own {
		passed[k.(string)] = "own"
	}
	var readStock, passedStock []string
	for k, expr := range stock {
		if !read[k] {
			continue
		}
		readStock = append(readStock, k)
		got, ok := passed[k]
		switch {
		case !ok:
			t.Errorf("the stock role passes %s, which faasedge invoker reads, but the role does not", k)
		case k == "PORT" || differs[k] || got == "own":
			passedStock = append(passedStock, k)
		case got != expr:
			t.Errorf("%s: role passes %q, stock passes %q", k, got, expr)
		default:
			passedStock = append(passedStock, k)
		}
	}
	for k := range passed {
		if !read[k] {
			t.Errorf("the role passes %s, which faasedge invoker never reads", k)
		}
	}
	slices.Sort(readStock)
	t.Logf("stock invoker role passes %d variables; faasedge invoker reads %d of them, the role passes %d of those: %s",
		len(stock), len(readStock), len(passedStock), strings.Join(readStock, " "))
}

var flagRE = regexp.MustCompile(`'--([a-z-]+)'`)

// Every flag a role passes exists on its subcommand: the binary's usage
// of the subcommand lists it.
func TestRoleFlagsExist(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "faasedge")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/faasedge").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	for _, tc := range []struct{ role, command string }{
		{"faasedge-node", "node"},
		{"faasedge-gateway", "gateway"},
		{"faasedge-invoker", "invoker"},
		{"faasedge-kafkafeed", "kafkafeed"},
	} {
		// -h prints the usage and exits 0.
		usage, err := exec.Command(bin, tc.command, "-h").CombinedOutput()
		if err != nil {
			t.Fatalf("faasedge %s -h: %v\n%s", tc.command, err, usage)
		}
		var args string
		switch v := serviceVars(t, tc.role)["svc_args"].(type) {
		case string:
			args = v
		case []any:
			for _, a := range v {
				args += "'" + a.(string) + "' "
			}
		}
		flags := flagRE.FindAllStringSubmatch(args, -1)
		if len(flags) == 0 {
			t.Fatalf("%s: no flags in %q", tc.role, args)
		}
		for _, f := range flags {
			if !regexp.MustCompile(`(?m)^  --` + f[1] + `( |$)`).Match(usage) {
				t.Errorf("%s passes --%s, which faasedge %s does not define", tc.role, f[1], tc.command)
			}
		}
	}
}

// The Kafka feed role passes only variables `faasedge kafkafeed` reads
// (openwhisk-package-kafka's provider environment).
func TestKafkafeedRoleEnvironment(t *testing.T) {
	vars := serviceVars(t, "faasedge-kafkafeed")
	env, _ := vars["svc_feed_env"].(map[any]any)
	if len(env) == 0 {
		t.Fatal("faasedge-kafkafeed: no svc_feed_env")
	}
	// The catalog installation's variables are merged in by svc_env.
	catalog, _ := vars["svc_env"].(string)
	for _, m := range regexp.MustCompile(`'([A-Z_]+)':`).FindAllStringSubmatch(catalog, -1) {
		env[m[1]] = "catalog"
	}
	read := map[string]bool{}
	if _, err := kafka.OptionsFromEnv(func(k string) string { read[k] = true; return "" }); err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(filepath.Join(repoRoot, "cmd", "faasedge", "kafkafeed.go"))
	if err != nil {
		t.Fatal(err)
	}
	for k := range env {
		if name := k.(string); !read[name] && !strings.Contains(string(src), `"`+name+`"`) {
			t.Errorf("the role passes %s, which faasedge kafkafeed never reads", name)
		}
	}
	for _, want := range []string{"DB_URL", "DB_USER", "DB_PASS", "DB_PREFIX", "API_HOST", "LOCAL_DEV", "PAYLOAD_LIMIT", "WORKER"} {
		if _, ok := env[want]; !ok {
			t.Errorf("the role does not pass %s", want)
		}
	}
}
