package deploy

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/faasedge/faasedge/internal/testenv"
	"github.com/faasedge/faasedge/whisk"
)

// The FaaS@Edge groups the test adds to OpenWhisk's rendered local
// inventory. invoker0 stays in OpenWhisk's [invokers] (a stock invoker
// that keeps id 0), so the FaaS@Edge invokers take 1 and 2 and the
// gateway's virtual invokers 3-6.
const faasedgeGroups = `
[faasedge_invokers]
fe-invoker0 ansible_host=127.0.0.1 ansible_connection=local
fe-invoker1 ansible_host=127.0.0.1 ansible_connection=local

[faasedge_gateways]
fe-gateway0 ansible_host=127.0.0.1 ansible_connection=local

[faasedge_nodes]
fe-node0 ansible_host=127.0.0.1 ansible_connection=local

[faasedge_kafkafeeds]
fe-feed0 ansible_host=127.0.0.1 ansible_connection=local
`

var (
	wantInvokerIDs = []int{1, 2, 3, 4, 5, 6}
	services       = []string{"faasedge-node", "invoker1", "invoker2", "faasedge-gateway", "faasedge-kafkafeed"}
)

// TestDeployBesideOpenWhisk runs the playbooks the way an operator does,
// from OpenWhisk's own ansible/ directory with its local environment, and
// checks syntax, check mode, the groups, a real deployment on loopback
// against kfake and pouchdb-server, a no-op second run and mode=clean.
func TestDeployBesideOpenWhisk(t *testing.T) {
	for _, tool := range []string{"ansible-playbook", "dockerd", "kcat", "openssl", "systemd-analyze"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not installed (run `make deps`): %v", tool, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()

	pt := freePorts(t)
	// Stand-ins on loopback: Kafka where kafka_connect_string points
	// (kafka.advertisedPort), CouchDB where db_local.ini does.
	kafka, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(pt.kafka),
		kfake.SeedTopics(1, "health", "completed0", "cacheInvalidation", "events"))
	if err != nil {
		t.Fatalf("kfake on 127.0.0.1:%d: %v", pt.kafka, err)
	}
	defer kafka.Close()
	couch := testenv.StartPouchDB(t)
	prepareCouch(t, couch.URL)

	ow := stageOpenWhisk(t, couch.Port)
	ans := &ansible{dir: filepath.Join(ow, "ansible"), env: os.Environ()}
	dataDir := t.TempDir()

	t.Run("syntax", func(t *testing.T) {
		for _, pb := range []string{"faasedge.yml", "faasedge-runtimes.yml"} {
			ans.run(ctx, t, pb, "--syntax-check")
		}
	})
	t.Run("groups", func(t *testing.T) { checkGroups(t, ow) })

	vars := []string{"-e", "faasedge_data_dir=" + dataDir, "-e", "faasedge_listen_ip=127.0.0.1",
		"-e", `{"invoker_extraEnv": {"CONFIG_whisk_blacklist_pollInterval": "7 seconds"}}`,
		"-e", fmt.Sprintf(`{"kafka": {"advertisedPort": %d}, "invoker": {"port": %d}}`, pt.kafka, pt.invoker),
		"-e", fmt.Sprintf("faasedge_node_port=%d faasedge_gateway_p2p_port=%d faasedge_invoker_p2p_port_base=%d faasedge_kafkafeed_port=%d",
			pt.node, pt.gatewayP2P, pt.invokerP2P, pt.feed)}
	// Containers where dockerd runs; systemd units where it cannot but
	// systemd is PID 1.
	var (
		eng engine
		bin string
	)
	switch dk, err := startDocker(ctx, t); {
	case err == nil:
		ans.env = append(ans.env, "DOCKER_HOST="+dk.host)
		bin = buildImages(ctx, t, dk)
		eng = dk
	case systemdIsInit():
		t.Logf("no container engine (%v)", err)
		bin = buildRelease(ctx, t, t.TempDir())
		vars = append(vars, "-e", "faasedge_runtime=systemd", "-e", "faasedge_binary="+bin)
		eng = systemdUnits{}
		t.Cleanup(func() { eng.(systemdUnits).remove() })
	default:
		t.Fatalf("no container engine (%v) and systemd is not PID 1: the roles can run neither way here", err)
	}
	t.Logf("mode: %s", eng)
	t.Run("check", func(t *testing.T) {
		// Check mode renders every task's arguments: an undefined variable
		// fails here.
		ans.run(ctx, t, "faasedge.yml", append([]string{"--check"}, vars...)...)
		out := ans.run(ctx, t, "faasedge-runtimes.yml", "--check", "--skip-tags", "controller")
		if !strings.Contains(out, "runtimes manifest with the wasm family") {
			t.Errorf("runtimes playbook did not reach its manifest task:\n%s", out)
		}
	})

	t.Run("systemd", func(t *testing.T) { checkSystemdUnits(ctx, t, ans, bin, vars, pt) })
	t.Run("replace", func(t *testing.T) { checkReplaceIDs(ctx, t, ans, vars) })

	start := time.Now()
	_, ok := ans.try(ctx, t, "faasedge.yml", vars...)
	t.Logf("deploy: %v (mode: %s)", time.Since(start).Round(time.Millisecond), eng)
	if !ok {
		t.FailNow()
	}
	checkRunning(ctx, t, eng, ow, pt)
	checkInvokerEnv(ctx, t, eng, pt)

	start = time.Now()
	out := ans.run(ctx, t, "faasedge.yml", vars...)
	t.Logf("no-op re-run: %v", time.Since(start).Round(time.Millisecond))
	requireUnchanged(t, out)

	t.Run("runtimes", func(t *testing.T) { checkRuntimes(ctx, t, ans, ow) })

	out = ans.run(ctx, t, "faasedge.yml", append([]string{"-e", "mode=clean"}, vars...)...)
	for _, c := range services {
		if _, err := eng.state(ctx, c); err == nil {
			t.Errorf("%s still exists after mode=clean", c)
		}
	}
	if left, _ := os.ReadDir(dataDir); len(left) > 0 {
		t.Errorf("mode=clean left %d entries in the data directory (%s, ...)", len(left), left[0].Name())
	}
	if t.Failed() {
		t.Logf("clean run:\n%s", out)
	}
}

// ports are one run's ports. The defaults (OpenWhisk's Kafka on 9093,
// invokers on 12001+N, the roles' 4001, 5000, ...) would collide with
// another run of this test on the machine, so each run takes free ones and
// passes them as an operator overrides group_vars: kafka.advertisedPort
// and invoker.port through -e (OpenWhisk's ansible.cfg merges dictionaries).
type ports struct {
	kafka, node, gatewayP2P, feed int
	invoker                       int // ids 1-3 listen on invoker+1 .. invoker+3
	invokerP2P                    int // ids 1-2 on invokerP2P+1, +2
}

func freePorts(t *testing.T) ports {
	return ports{kafka: testenv.FreePort(t), node: testenv.FreePort(t), gatewayP2P: testenv.FreePort(t), feed: testenv.FreePort(t),
		invoker: freeRange(t, 4), invokerP2P: freeRange(t, 3)}
}

// freeRange finds a base port with base..base+n-1 free a moment ago.
func freeRange(t *testing.T, n int) int {
	t.Helper()
	for range 100 {
		base, free := testenv.FreePort(t), true
		for p := base; p < base+n && free; p++ {
			l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
			if free = err == nil; free {
				l.Close()
			}
		}
		if free {
			return base
		}
	}
	t.Fatalf("no %d free ports in a row", n)
	return 0
}

// stageOpenWhisk copies the OpenWhisk snapshot, links the FaaS@Edge
// playbooks and roles into its ansible/ directory as ansible/README.md
// tells operators to, renders the local environment with OpenWhisk's
// setup.yml and adds the FaaS@Edge groups.
func stageOpenWhisk(t *testing.T, couchPort int) string {
	t.Helper()
	ow := filepath.Join(t.TempDir(), "openwhisk")
	if out, err := exec.Command("cp", "-r", filepath.Join("testdata", "openwhisk"), ow).CombinedOutput(); err != nil {
		t.Fatalf("copy snapshot: %v\n%s", err, out)
	}
	ansDir := filepath.Join(ow, "ansible")
	ours, err := filepath.Abs(filepath.Join(repoRoot, "ansible"))
	if err != nil {
		t.Fatal(err)
	}
	links, _ := filepath.Glob(filepath.Join(ours, "faasedge*.yml"))
	roles, _ := filepath.Glob(filepath.Join(ours, "roles", "faasedge-*"))
	for _, src := range links {
		mustSymlink(t, src, filepath.Join(ansDir, filepath.Base(src)))
	}
	for _, src := range roles {
		mustSymlink(t, src, filepath.Join(ansDir, "roles", filepath.Base(src)))
	}
	a := &ansible{dir: ansDir, env: append(os.Environ(), "OW_DB_HOST=127.0.0.1", "OW_DB_PORT="+strconv.Itoa(couchPort))}
	a.run(context.Background(), t, "setup.yml")
	hosts := filepath.Join(ansDir, "environments", "local", "hosts")
	b, err := os.ReadFile(hosts)
	if err != nil {
		t.Fatal(err)
	}
	// The local environment's hosts are docker0's address; the test keeps
	// to loopback.
	b = append(bytes.ReplaceAll(b, []byte("172.17.0.1"), []byte("127.0.0.1")), faasedgeGroups...)
	if err := os.WriteFile(hosts, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return ow
}

func mustSymlink(t *testing.T, src, dst string) {
	t.Helper()
	if err := os.Symlink(src, dst); err != nil {
		t.Fatal(err)
	}
}

type ansible struct {
	dir string
	env []string
}

// run runs ansible-playbook from OpenWhisk's ansible/ directory with its
// local environment, failing t if it fails.
func (a *ansible) run(ctx context.Context, t *testing.T, playbook string, args ...string) string {
	t.Helper()
	out, _ := a.try(ctx, t, playbook, args...)
	return out
}

func (a *ansible) try(ctx context.Context, t *testing.T, playbook string, args ...string) (string, bool) {
	t.Helper()
	cmd := exec.CommandContext(ctx, "ansible-playbook", append([]string{"-i", "environments/local", playbook}, args...)...)
	cmd.Dir = a.dir
	cmd.Env = append(a.env, "ANSIBLE_NOCOLOR=1", "ANSIBLE_DEPRECATION_WARNINGS=false", "ANSIBLE_FORCE_COLOR=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Errorf("ansible-playbook %s %s: %v\n%s", playbook, strings.Join(args, " "), err, out)
	}
	return string(out), err == nil
}

// checkGroups: no FaaS@Edge play targets one of OpenWhisk's groups.
func checkGroups(t *testing.T, ow string) {
	b, err := os.ReadFile(filepath.Join(ow, "ansible", "environments", "local", "hosts.j2.ini"))
	if err != nil {
		t.Fatal(err)
	}
	stock := map[string]bool{"all": true, "ungrouped": true}
	for _, m := range regexp.MustCompile(`(?m)^\[([a-z_]+)(?::children)?\]`).FindAllStringSubmatch(string(b), -1) {
		stock[m[1]] = true
	}
	if !stock["edge"] || !stock["invokers"] {
		t.Fatalf("no OpenWhisk groups found in hosts.j2.ini: %v", stock)
	}
	for _, pb := range []string{"faasedge.yml", "faasedge-runtimes.yml"} {
		var plays []map[string]any
		readYAML(t, filepath.Join(repoRoot, "ansible", pb), &plays)
		for _, p := range plays {
			hosts, ok := p["hosts"].(string)
			if !ok {
				continue // import_playbook of OpenWhisk's own controller.yml
			}
			for _, g := range strings.Split(hosts, ":") {
				if g != "localhost" && (stock[g] || !strings.HasPrefix(g, "faasedge_")) {
					t.Errorf("%s: a play targets %q, not a FaaS@Edge group", pb, g)
				}
			}
		}
	}
}

type docker struct {
	host string
	bin  string
}

func (d *docker) cmd(ctx context.Context, args ...string) *exec.Cmd {
	c := exec.CommandContext(ctx, d.bin, args...)
	c.Env = append(os.Environ(), "DOCKER_HOST="+d.host, "DOCKER_BUILDKIT=1")
	return c
}

// engine is what the roles ran the services on.
type engine interface {
	fmt.Stringer
	// state fails when the service does not exist.
	state(ctx context.Context, name string) (serviceState, error)
	env(ctx context.Context, name string) ([]string, error)
	logs(ctx context.Context, name string) string
}

type serviceState struct {
	running  bool
	restarts int
	started  string
}

var _ engine = (*docker)(nil)

func (d *docker) String() string { return "docker" }

type containerState struct {
	State struct {
		Running   bool
		StartedAt string
	}
	RestartCount int
	Config       struct{ Env []string }
}

func (d *docker) inspect(ctx context.Context, name string) (containerState, error) {
	var s []containerState
	out, err := d.cmd(ctx, "inspect", name).Output()
	if err == nil {
		err = json.Unmarshal(out, &s)
	}
	if err != nil || len(s) != 1 {
		return containerState{}, fmt.Errorf("inspect %s: %v", name, err)
	}
	return s[0], nil
}

func (d *docker) state(ctx context.Context, name string) (serviceState, error) {
	s, err := d.inspect(ctx, name)
	return serviceState{s.State.Running, s.RestartCount, s.State.StartedAt}, err
}

func (d *docker) env(ctx context.Context, name string) ([]string, error) {
	s, err := d.inspect(ctx, name)
	return s.Config.Env, err
}

func (d *docker) logs(ctx context.Context, name string) string {
	out, _ := d.cmd(ctx, "logs", "--tail", "30", name).CombinedOutput()
	return string(out)
}

// systemdUnits reads the units of faasedge_runtime=systemd.
type systemdUnits struct{}

var _ engine = systemdUnits{}

func (systemdUnits) String() string { return "systemd" }

func systemdIsInit() bool {
	comm, err := os.ReadFile("/proc/1/comm")
	return err == nil && strings.TrimSpace(string(comm)) == "systemd"
}

func (systemdUnits) state(ctx context.Context, name string) (serviceState, error) {
	out, err := exec.CommandContext(ctx, "systemctl", "show", name, "-p", "LoadState,ActiveState,NRestarts,ExecMainStartTimestamp").Output()
	if err != nil {
		return serviceState{}, err
	}
	p := map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			p[k] = v
		}
	}
	if p["LoadState"] != "loaded" {
		return serviceState{}, fmt.Errorf("unit %s: %s", name, p["LoadState"])
	}
	n, _ := strconv.Atoi(p["NRestarts"])
	return serviceState{p["ActiveState"] == "active", n, p["ExecMainStartTimestamp"]}, nil
}

// env reads the unit's environment file (KEY="JSON string" lines).
func (systemdUnits) env(_ context.Context, name string) ([]string, error) {
	b, err := os.ReadFile("/etc/faasedge/" + name + ".env")
	var env []string
	for _, line := range strings.Split(string(b), "\n") {
		var v string
		if k, q, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") && json.Unmarshal([]byte(q), &v) == nil {
			env = append(env, k+"="+v)
		}
	}
	return env, err
}

func (systemdUnits) logs(ctx context.Context, name string) string {
	out, _ := exec.CommandContext(ctx, "journalctl", "-n", "30", "--no-pager", "-u", name).CombinedOutput()
	return string(out)
}

// remove stops and deletes the units a failed test may leave behind.
func (systemdUnits) remove() {
	for _, s := range services {
		_ = exec.Command("systemctl", "disable", "--now", s).Run()
		_ = os.Remove("/etc/systemd/system/" + s + ".service")
		_ = os.Remove("/etc/faasedge/" + s + ".env")
	}
	_ = exec.Command("systemctl", "daemon-reload").Run()
}

// startDocker starts a private dockerd: its own socket and state, no bridge
// and no iptables rules (every container uses the host's network).
func startDocker(ctx context.Context, t *testing.T) (*docker, error) {
	t.Helper()
	dir, err := os.MkdirTemp("", "fe-dk") // short: containerd's socket path is limited
	if err != nil {
		t.Fatal(err)
	}
	d := &docker{host: "unix://" + filepath.Join(dir, "docker.sock"), bin: "docker"}
	// Debian's docker.io client builds with BuildKit without buildx.
	if _, err := os.Stat("/usr/bin/docker"); err == nil {
		d.bin = "/usr/bin/docker"
	}
	var log bytes.Buffer
	cmd := exec.Command("dockerd", "--host", d.host, "--data-root", filepath.Join(dir, "root"),
		"--exec-root", filepath.Join(dir, "exec"), "--pidfile", filepath.Join(dir, "pid"),
		"--bridge", "none", "--iptables=false", "--ip-masq=false")
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("dockerd: %w", err)
	}
	t.Cleanup(func() {
		rm := d.cmd(context.Background(), "ps", "-aq")
		if ids, err := rm.Output(); err == nil && len(bytes.TrimSpace(ids)) > 0 {
			_ = d.cmd(context.Background(), append([]string{"rm", "-f"}, strings.Fields(string(ids))...)...).Run()
		}
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
		// dockerd leaves its network namespace mounted.
		_ = syscall.Unmount(filepath.Join(dir, "exec", "netns", "default"), syscall.MNT_DETACH)
		if err := os.RemoveAll(dir); err != nil {
			t.Errorf("dockerd's state: %v", err)
		}
	})
	for i := 0; ; i++ {
		if err := d.cmd(ctx, "version").Run(); err == nil {
			return d, nil
		}
		if i == 120 {
			return nil, fmt.Errorf("dockerd did not start:\n%s", log.String())
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// buildImages builds faasedge/faasedge (no --target) and
// faasedge/action-wasm with the project's Dockerfile around a static
// binary built here, FROM scratch since no registry is reachable.
func buildImages(ctx context.Context, t *testing.T, d *docker) (binary string) {
	t.Helper()
	bctx := t.TempDir()
	arch := runtime.GOARCH
	binary = buildRelease(ctx, t, filepath.Join(bctx, "dist"))
	df := filepath.Join(repoRoot, "docker", "Dockerfile")
	for _, img := range []struct{ tag, target string }{
		{"faasedge/faasedge:latest", ""},
		{"faasedge/action-wasm:latest", "action-wasm"},
	} {
		args := []string{"build", "-q", "-f", df, "--build-arg", "BINARY=prebuilt", "--build-arg", "BASE_IMAGE=scratch",
			"--build-arg", "TARGETARCH=" + arch, "-t", img.tag}
		if img.target != "" {
			args = append(args, "--target", img.target)
		}
		if out, err := d.cmd(ctx, append(args, bctx)...).CombinedOutput(); err != nil {
			t.Fatalf("docker build %s: %v\n%s", img.tag, err, out)
		}
		out, err := d.cmd(ctx, "image", "inspect", "-f", "{{.Size}} {{json .Config.Cmd}}", img.tag).Output()
		if err != nil {
			t.Fatalf("inspect %s: %v", img.tag, err)
		}
		size, cmd, _ := strings.Cut(strings.TrimSpace(string(out)), " ")
		n, _ := strconv.ParseInt(size, 10, 64)
		t.Logf("image %s: %.1f MB, CMD %s", img.tag, float64(n)/1e6, cmd)
		want := `["help"]`
		if img.target == "action-wasm" {
			want = `["exec","--proxy",":8080"]`
		}
		if cmd != want {
			t.Errorf("%s: CMD %s, want %s (wrong stage built)", img.tag, cmd, want)
		}
	}
	return binary
}

// buildRelease builds the static binary as `make release` does for this
// machine's architecture, into dir as faasedge-linux-<arch>.
func buildRelease(ctx context.Context, t *testing.T, dir string) string {
	t.Helper()
	out := filepath.Join(dir, "faasedge-linux-"+runtime.GOARCH)
	build := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", "-s -w", "-o", out, "./cmd/faasedge")
	build.Dir = repoRoot
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if msg, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, msg)
	}
	return out
}

// checkRunning: every service answers its health check, the invokers'
// ids on the health topic are the expected ones and unique, and no
// container restarts over 20 s.
func checkRunning(ctx context.Context, t *testing.T, eng engine, ow string, pt ports) {
	t.Helper()
	before := map[string]serviceState{}
	for _, c := range services {
		s, err := eng.state(ctx, c)
		if err != nil || !s.running {
			t.Errorf("%s is not running after the deploy (%v)", c, err)
		}
		before[c] = s
	}
	client := invokerClient(t, ow)
	for end := time.Now().Add(20 * time.Second); time.Now().Before(end); time.Sleep(5 * time.Second) {
		for _, u := range []string{
			fmt.Sprintf("https://127.0.0.1:%d/ping", pt.invoker+1), fmt.Sprintf("https://127.0.0.1:%d/ping", pt.invoker+2),
			fmt.Sprintf("http://127.0.0.1:%d/invokers/3/ping", pt.invoker+3), fmt.Sprintf("http://127.0.0.1:%d/invokers/6/ping", pt.invoker+3),
			fmt.Sprintf("http://127.0.0.1:%d/health", pt.feed),
		} {
			if err := get(ctx, client, u); err != nil {
				t.Errorf("health: %v", err)
			}
		}
		if c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(pt.node), 5*time.Second); err != nil {
			t.Errorf("health: edge node's libp2p port: %v", err)
		} else {
			c.Close()
		}
		if t.Failed() {
			return
		}
	}
	for _, c := range services {
		s, err := eng.state(ctx, c)
		if err != nil || !s.running || s.restarts != before[c].restarts || s.started != before[c].started {
			t.Errorf("%s restarted or stopped within 20 s (restarts %d -> %d, %v):\n%s", c, before[c].restarts, s.restarts, err, eng.logs(ctx, c))
		}
	}
	checkHealthTopic(ctx, t, pt.kafka)
}

// invokerClient speaks to the invokers as OpenWhisk's own tooling does:
// https (the local environment's invoker_protocol) with the invoker
// certificate as client certificate.
func invokerClient(t *testing.T, ow string) *http.Client {
	t.Helper()
	files := filepath.Join(ow, "ansible", "roles", "invoker", "files")
	cert, err := tls.LoadX509KeyPair(filepath.Join(files, "invoker-openwhisk-server-cert.pem"), filepath.Join(files, "invoker-openwhisk-server-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{Certificates: []tls.Certificate{cert}, InsecureSkipVerify: true}, // self-signed, as stock's ping (validate_certs: no)
	}}
}

func get(ctx context.Context, c *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	return nil
}

// checkHealthTopic reads the health topic with kcat until every expected
// invoker id has pinged, and fails on an id pinged under two names.
func checkHealthTopic(ctx context.Context, t *testing.T, kafkaPort int) {
	t.Helper()
	var names map[int]map[string]bool
	for i := 0; i < 30; i++ {
		out, err := exec.CommandContext(ctx, "kcat", "-b", "127.0.0.1:"+strconv.Itoa(kafkaPort), "-C", "-t", "health", "-o", "beginning", "-e", "-q").Output()
		if err != nil {
			t.Fatalf("kcat: %v", err)
		}
		names = map[int]map[string]bool{}
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			var p whisk.PingMessage
			if json.Unmarshal([]byte(line), &p) != nil {
				continue
			}
			if names[p.Name.Instance] == nil {
				names[p.Name.Instance] = map[string]bool{}
			}
			names[p.Name.Instance][p.Name.UniqueName] = true
		}
		if len(names) >= len(wantInvokerIDs) {
			break
		}
		time.Sleep(2 * time.Second)
	}
	var ids []int
	for id, n := range names {
		ids = append(ids, id)
		if len(n) != 1 {
			t.Errorf("invoker id %d pinged under %d names: %v", id, len(n), n)
		}
	}
	slices.Sort(ids)
	if !slices.Equal(ids, wantInvokerIDs) {
		t.Errorf("invoker ids on the health topic: %v, want %v", ids, wantInvokerIDs)
	}
	t.Logf("health topic: ids %v, names %v", ids, names)
}

// checkInvokerEnv: invoker.extraEnv is merged, and the https settings
// reach the invoker.
func checkInvokerEnv(ctx context.Context, t *testing.T, eng engine, pt ports) {
	t.Helper()
	env, err := eng.env(ctx, "invoker1")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"CONFIG_whisk_blacklist_pollInterval=7 seconds", "CONFIG_whisk_invoker_protocol=https",
		"CONFIG_whisk_concurrencyLimit_max=500", fmt.Sprintf("PORT=%d", pt.invoker+1), fmt.Sprintf("KAFKA_HOSTS=127.0.0.1:%d", pt.kafka)} {
		if !slices.Contains(env, want) {
			t.Errorf("invoker1's environment lacks %s", want)
		}
	}
}

var recapRE = regexp.MustCompile(`(?m)^(\S+)\s+: ok=\d+\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)`)

// requireUnchanged: every host of the run reports changed=0.
func requireUnchanged(t *testing.T, out string) {
	t.Helper()
	recaps := recapRE.FindAllStringSubmatch(out, -1)
	if len(recaps) == 0 {
		t.Fatalf("no play recap in:\n%s", out)
	}
	for _, r := range recaps {
		if r[2] != "0" || r[3] != "0" || r[4] != "0" {
			t.Errorf("second run: %s changed=%s unreachable=%s failed=%s", r[1], r[2], r[3], r[4])
		}
	}
	if t.Failed() {
		t.Logf("second run:\n%s", out)
	}
}

// checkRuntimes writes the manifest with wasm:wasip1 (the controller
// restart, OpenWhisk's controller.yml, needs OpenWhisk's images and is
// skipped here), and is idempotent.
func checkRuntimes(ctx context.Context, t *testing.T, a *ansible, ow string) {
	a.run(ctx, t, "faasedge-runtimes.yml", "--skip-tags", "controller")
	var m struct {
		Runtimes map[string][]struct {
			Kind  string
			Image struct{ Prefix, Name, Tag string }
		}
	}
	b, err := os.ReadFile(filepath.Join(ow, "ansible", "files", "runtimes-faasedge.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if len(m.Runtimes["wasm"]) != 1 || m.Runtimes["wasm"][0].Kind != "wasm:wasip1" || m.Runtimes["wasm"][0].Image.Name != "action-wasm" {
		t.Errorf("manifest's wasm family: %+v", m.Runtimes["wasm"])
	}
	if len(m.Runtimes["nodejs"]) == 0 {
		t.Errorf("manifest lost OpenWhisk's runtimes: %v", m.Runtimes)
	}
	requireUnchanged(t, a.run(ctx, t, "faasedge-runtimes.yml", "--skip-tags", "controller"))
	// The controller redeploy, OpenWhisk's controller.yml, in check mode:
	// the controller's environment gets the manifest with wasm:wasip1.
	// The stock role itself cannot finish in check mode (its container
	// task templates ports from tasks check mode skips), so this reads the
	// environment task and not the exit status.
	cmd := exec.CommandContext(ctx, "ansible-playbook", "-i", "environments/local", "faasedge-runtimes.yml", "--check", "-v")
	cmd.Dir = a.dir
	cmd.Env = append(a.env, "ANSIBLE_NOCOLOR=1", "ANSIBLE_DEPRECATION_WARNINGS=false")
	b, _ = cmd.CombinedOutput()
	out := string(b)
	task := "TASK [controller : populate environment variables for controller]"
	i := strings.Index(out, task)
	if i < 0 {
		t.Fatalf("OpenWhisk's controller.yml did not reach %q:\n%s", task, out)
	}
	env, _, _ := strings.Cut(out[i+len(task):], "TASK [")
	if !strings.Contains(env, "wasm:wasip1") || !strings.Contains(env, "action-wasm") {
		t.Errorf("the controller's environment in check mode lacks wasm:wasip1:\n%s", env)
	}
}

// checkSystemdUnits runs the deploy in check mode with
// faasedge_runtime=systemd (systemd need not be PID 1, so systemctl is
// left out; the Kafka feed provider also installs the catalog) and verifies every rendered unit with systemd-analyze and every
// environment file's quoting.
func checkSystemdUnits(ctx context.Context, t *testing.T, a *ansible, bin string, vars []string, pt ports) {
	out := a.run(ctx, t, "faasedge.yml", append([]string{"--check", "--diff", "--skip-tags", "faasedge-systemctl",
		"-e", "faasedge_runtime=systemd", "-e", "faasedge_binary=" + bin, "-e", "faasedge_kafkafeed_install_catalog=true"}, vars...)...)
	for _, want := range []string{"kafkafeed --install-catalog", `CATALOG_AUTH="`, fmt.Sprintf(`CATALOG_ENDPOINT="http://127.0.0.1:%d"`, pt.feed)} {
		if !strings.Contains(out, want) {
			t.Errorf("the Kafka feed provider with the catalog installation lacks %s", want)
		}
	}
	units := renderedFiles(out, "faasedge.service.j2")
	envs := renderedFiles(out, "faasedge.env.j2")
	if len(units) != 5 || len(envs) != 5 {
		t.Fatalf("rendered %d units and %d environment files, want 5 each (node, 2 invokers, gateway, kafkafeed):\n%s", len(units), len(envs), out)
	}
	dir := t.TempDir()
	for i, u := range units {
		// systemd-analyze checks that ExecStart's binary exists.
		u = strings.Replace(u, "ExecStart=/usr/local/bin/faasedge ", "ExecStart="+bin+" ", 1)
		f := filepath.Join(dir, fmt.Sprintf("faasedge-%d.service", i))
		if err := os.WriteFile(f, []byte(u), 0o644); err != nil {
			t.Fatal(err)
		}
		if msg, err := exec.CommandContext(ctx, "systemd-analyze", "verify", "--man=no", f).CombinedOutput(); err != nil || len(msg) > 0 {
			t.Errorf("systemd-analyze verify: %v %s\n%s", err, msg, u)
		}
	}
	for _, e := range envs {
		for _, line := range strings.Split(e, "\n") {
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			k, v, ok := strings.Cut(line, "=")
			var s string
			if !ok || json.Unmarshal([]byte(v), &s) != nil {
				t.Errorf("environment file line %q is not KEY=\"quoted\"", line)
			}
			if k == "RUNTIMES_MANIFEST" && !json.Valid([]byte(s)) {
				t.Errorf("RUNTIMES_MANIFEST does not survive the quoting: %s", s)
			}
		}
	}
}

// renderedFiles collects the contents --diff shows for new files rendered
// from template src.
func renderedFiles(out, src string) []string {
	var files []string
	for _, block := range strings.Split(out, "+++ after: ")[1:] {
		head, body, _ := strings.Cut(block, "\n")
		if !strings.HasSuffix(head, "/"+src) {
			continue
		}
		var b strings.Builder
		for _, line := range strings.Split(body, "\n") {
			if strings.HasPrefix(line, "@@") {
				continue
			}
			if !strings.HasPrefix(line, "+") {
				break
			}
			b.WriteString(strings.TrimPrefix(line, "+") + "\n")
		}
		files = append(files, b.String())
	}
	return files
}

// checkReplaceIDs: with the stock invoker's host moved from [invokers] to
// [faasedge_invokers], the FaaS@Edge invokers take ids 0-2 and the
// gateway's virtual invokers start at 3 (check mode shows the names).
func checkReplaceIDs(ctx context.Context, t *testing.T, a *ansible, vars []string) {
	env := filepath.Join(a.dir, "environments", "local")
	rep := filepath.Join(a.dir, "environments", "replace")
	if err := os.MkdirAll(rep, 0o755); err != nil {
		t.Fatal(err)
	}
	mustSymlink(t, filepath.Join(env, "group_vars"), filepath.Join(rep, "group_vars"))
	b, err := os.ReadFile(filepath.Join(env, "hosts"))
	if err != nil {
		t.Fatal(err)
	}
	hosts := regexp.MustCompile(`(?m)^invoker0 .*\n`).ReplaceAllString(string(b), "")
	hosts = strings.Replace(hosts, "[faasedge_invokers]\n", "[faasedge_invokers]\ninvoker0 ansible_host=127.0.0.1 ansible_connection=local\n", 1)
	if err := os.WriteFile(filepath.Join(rep, "hosts"), []byte(hosts), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, "ansible-playbook", append([]string{"-i", "environments/replace", "faasedge.yml", "--check",
		"-l", "faasedge_invokers:faasedge_gateways"}, vars...)...)
	cmd.Dir = a.dir
	cmd.Env = append(a.env, "ANSIBLE_NOCOLOR=1", "ANSIBLE_DEPRECATION_WARNINGS=false")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("check with invokers replaced: %v\n%s", err, out)
	}
	for _, want := range []string{"invoker0: container", "invoker1: container", "invoker2: container", "/invokers/3/ping"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("with the stock invoker replaced, the run lacks %q:\n%s", want, out)
		}
	}
}

// prepareCouch does for pouchdb-server what OpenWhisk's couchdb role,
// initdb.yml and wipe.yml do for CouchDB: the admin and the invoker user of
// db_local.ini (OpenWhisk's defaults) and the local environment's whisk
// databases.
func prepareCouch(t *testing.T, url string) {
	t.Helper()
	put := func(path, body string) {
		req, err := http.NewRequest(http.MethodPut, url+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			t.Fatalf("PUT %s: %s", path, resp.Status)
		}
	}
	put("/_users/org.couchdb.user:whisk_local_invoker0", `{"name":"whisk_local_invoker0","password":"some_invoker_passw0rd","roles":[],"type":"user"}`)
	for _, db := range []string{"whisk_local_subjects", "whisk_local_whisks", "whisk_local_activations"} {
		put("/"+db, "")
	}
	// Last: the server admin ends the admin party.
	put("/_config/admins/whisk_admin", `"some_passw0rd"`)
}
