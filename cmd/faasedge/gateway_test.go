package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	ow "github.com/apache/openwhisk-client-go/whisk"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/faasedge/faasedge/internal/testenv"
	"github.com/faasedge/faasedge/internal/wasmtest"
	"github.com/faasedge/faasedge/p2p/ring"
	"github.com/faasedge/faasedge/standalone/controller"
)

// identity writes a fresh libp2p key to dir/name and returns the key and
// its peer ID, so a test knows a node's address before it starts.
func identity(t *testing.T, dir, name string) (crypto.PrivKey, peer.ID) {
	t.Helper()
	key, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := crypto.MarshalPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return key, id
}

// TestGatewayNodeDeploy runs the three commands as an operator would:
// `faasedge node` volunteers memory, `faasedge gateway` (stock invoker
// environment) runs a virtual invoker for the REST controller and the
// Function Manager listed in the scheduler index, and `faasedge deploy`
// finds it through the index, deploys a module and prints the URL the
// action then answers on, from the edge node.
func TestGatewayNodeDeploy(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	kafka := testenv.Kafka(t)
	pouch := testenv.StartPouchDB(t)
	ctl, err := controller.New(controller.Config{
		KafkaBrokers: kafka.ListenAddrs(), CouchURL: pouch.URL, ManagedFraction: 0.9, BlackboxFraction: 0.1,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := ctl.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer ctl.Close()
	api := httptest.NewServer(ctl.Handler())
	defer api.Close()

	dir := t.TempDir()
	nodeDir, gwDir := filepath.Join(dir, "node"), filepath.Join(dir, "gateway")
	_, nodeID := identity(t, nodeDir, "identity.key")
	_, gwID := identity(t, gwDir, "identity.key")
	operator, _ := identity(t, dir, "operator.key")
	nodeAddr := fmt.Sprintf("/ip4/127.0.0.1/tcp/%d/p2p/%s", testenv.FreePort(t), nodeID)
	gwAddr := fmt.Sprintf("/ip4/127.0.0.1/tcp/%d/p2p/%s", testenv.FreePort(t), gwID)
	listen := func(full string) string { return full[:strings.Index(full, "/p2p/")] }

	var nodeLog, gwLog testenv.LockedBuffer
	done := make(chan error, 2)
	go func() {
		done <- lookup("node").run(ctx, []string{"--listen", listen(nodeAddr), "--data-dir", nodeDir,
			"--memory", "1024", "--vnodes", "2", "--scheduler", gwAddr, "--refresh", "200ms"}, nil, &nodeLog)
	}()
	// The gateway bootstraps from the node: wait until it listens.
	for {
		c, err := net.Dial("tcp", strings.TrimPrefix(strings.Replace(listen(nodeAddr), "/tcp/", ":", 1), "/ip4/"))
		if err == nil {
			c.Close()
			break
		}
		select {
		case err := <-done:
			t.Fatalf("node exited: %v\n%s", err, nodeLog.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	env := map[string]string{
		"KAFKA_HOSTS":                                    strings.Join(kafka.ListenAddrs(), ","),
		"RUNTIMES_MANIFEST":                              `{"runtimes":{"nodejs":[{"kind":"nodejs:20","default":true}]}}`,
		"WHISK_API_HOST_NAME":                            "127.0.0.1",
		"PORT":                                           strconv.Itoa(testenv.FreePort(t)),
		"CONFIG_whisk_couchdb_protocol":                  "http",
		"CONFIG_whisk_couchdb_host":                      pouch.Host,
		"CONFIG_whisk_couchdb_port":                      strconv.Itoa(pouch.Port),
		"CONFIG_whisk_couchdb_databases_WhiskEntity":     "whisks",
		"CONFIG_whisk_couchdb_databases_WhiskActivation": "activations",
	}
	for k, v := range env {
		t.Setenv(k, v)
	}
	go func() {
		done <- lookup("gateway").run(ctx, []string{"--ids", "1", "--capacity", "512", "--min-claim", "256", "--check", "200ms",
			"--listen", listen(gwAddr), "--peer", nodeAddr, "--data-dir", gwDir,
			"--api-host", api.URL, "--auth", controller.GuestAuth, "--index-key", filepath.Join(dir, "operator.key")}, nil, &gwLog)
	}()
	defer func() {
		cancel()
		for range 2 {
			if err := <-done; err != nil {
				t.Errorf("command exit: %v", err)
			}
		}
	}()

	deadline := time.Now().Add(90 * time.Second)
	for up := false; !up; {
		for _, h := range ctl.Invokers() {
			up = up || (h.ID.Instance == 1 && h.Status == controller.Healthy)
		}
		if time.Now().After(deadline) {
			t.Fatalf("virtual invoker never came up: %v\ngateway:\n%s\nnode:\n%s", ctl.Invokers(), gwLog.String(), nodeLog.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	name, err := ring.IndexName(operator.GetPublic())
	if err != nil {
		t.Fatal(err)
	}
	for !strings.Contains(gwLog.String(), "listed in the scheduler index") {
		if time.Now().After(deadline) {
			t.Fatalf("gateway never published the index:\n%s", gwLog.String())
		}
		time.Sleep(50 * time.Millisecond)
	}

	code, stdout, stderr := faasedge("deploy", "--scheduler", "/ipns/"+name.String(), "--peer", gwAddr,
		"hello", wasmtest.Path(t, wasmtest.WAT, "echo"), "--memory", "256")
	if code != 0 || strings.TrimSpace(stdout) != api.URL+"/api/v1/namespaces/guest/actions/hello" {
		t.Fatalf("deploy: exit %d, stdout %q, stderr %s\ngateway:\n%s", code, stdout, stderr, gwLog.String())
	}
	if !strings.Contains(stderr, nodeID.String()) {
		t.Errorf("deploy did not report the edge node %s: %s", nodeID, stderr)
	}

	wc, err := ow.NewClient(http.DefaultClient, &ow.Config{Host: api.URL, AuthToken: controller.GuestAuth, Namespace: "guest"})
	if err != nil {
		t.Fatal(err)
	}
	res, _, err := wc.Actions.Invoke("hello", map[string]any{"from": "edge"}, true, true)
	if err != nil {
		t.Fatalf("invoke: %v\ngateway:\n%s", err, gwLog.String())
	}
	if got, _ := json.Marshal(res); string(got) != `{"from":"edge"}` {
		t.Errorf("result %s", got)
	}
}
