// Package standalone runs the whole FaaS@Edge stack in one process on
// loopback, the way `java -jar openwhisk-standalone.jar` runs OpenWhisk: an
// embedded Kafka-protocol broker (franz-go's kfake) with the stock topics, a
// CouchDB-compatible document store (embedded and persistent, or a real
// CouchDB), the lean controller serving the REST API on port 3233,
// in-process invoker engines that run WebAssembly and plain-JS actions, and
// an IPFS node on loopback that resolves ipfs://<CID> code.
//
// The pieces talk to each other only over the wire protocols a real
// deployment uses (Kafka topics and messages, CouchDB HTTP), so the
// standalone exercises the real invoker protocol rather than bypassing it.
package standalone

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/faasedge/faasedge/executor"
	"github.com/faasedge/faasedge/invoker"
	"github.com/faasedge/faasedge/p2p"
	"github.com/faasedge/faasedge/p2p/ipfs"
	"github.com/faasedge/faasedge/standalone/controller"
	"github.com/faasedge/faasedge/standalone/docstore"
	"github.com/faasedge/faasedge/whisk"
)

// Config is the stack's configuration; zero values take the defaults.
type Config struct {
	// APIAddr is where the REST API listens (127.0.0.1:3233, the port of
	// OpenWhisk's standalone).
	APIAddr string
	// DataDir holds the embedded document store and the compiled-module
	// cache. Required.
	DataDir string
	// CouchURL selects a real CouchDB (or pouchdb-server) instead of the
	// embedded store; credentials may be in the URL.
	CouchURL string
	// Invokers is the number of invoker engines (1).
	Invokers int
	// UserMemory is each invoker's memory for actions (2048 MB).
	UserMemory whisk.ByteSize
	// IPFSPeers are multiaddrs (with /p2p/<id>) of IPFS peers that serve
	// the code of ipfs://<CID> actions the stack's own node does not hold.
	IPFSPeers []string
	// Logger receives every component's logs (discarded when nil).
	Logger *slog.Logger
}

// Stack is a running standalone.
type Stack struct {
	cfg     Config
	log     *slog.Logger
	kafka   *kfake.Cluster
	store   *docstore.Store
	storeLn net.Listener
	storeHS *http.Server
	couch   string // the store's URL, without credentials
	couchUP *url.Userinfo
	ctrl    *controller.Controller
	host    *p2p.Host
	ipfs    *ipfs.Node
	exec    *executor.Executor
	engines []*invoker.Engine
	apiLn   net.Listener
	apiHS   *http.Server
}

// Start brings the stack up. It returns once the API listens; call
// WaitReady to wait for the invokers to be healthy.
func Start(ctx context.Context, cfg Config) (s *Stack, err error) {
	if cfg.APIAddr == "" {
		cfg.APIAddr = "127.0.0.1:3233"
	}
	if cfg.Invokers <= 0 {
		cfg.Invokers = 1
	}
	if cfg.UserMemory == 0 {
		cfg.UserMemory = 2048 * whisk.MB
	}
	if cfg.DataDir == "" {
		return nil, errors.New("standalone: a data directory is required")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s = &Stack{cfg: cfg, log: log}
	defer func() {
		if err != nil {
			s.Close(context.WithoutCancel(ctx))
		}
	}()

	// Listen first: the invokers need the API host for __OW_API_HOST.
	if s.apiLn, err = net.Listen("tcp", cfg.APIAddr); err != nil {
		return nil, fmt.Errorf("standalone: API listen: %w", err)
	}

	// Kafka: like an OpenWhisk deployment, the broker does not create
	// topics on demand; the controller and the invokers create theirs.
	if s.kafka, err = kfake.NewCluster(kfake.NumBrokers(1)); err != nil {
		return nil, fmt.Errorf("standalone: kafka: %w", err)
	}
	brokers := s.kafka.ListenAddrs()

	couchURL, couchUser, couchPass, err := s.startStore(cfg)
	if err != nil {
		return nil, err
	}
	s.couch = couchURL
	if couchUser != "" {
		s.couchUP = url.UserPassword(couchUser, couchPass)
	}

	s.ctrl, err = controller.New(controller.WithConfig(controller.Config{
		KafkaBrokers: brokers,
		CouchURL:     couchURL, CouchUser: couchUser, CouchPassword: couchPass,
		NodejsDefault: invoker.DefaultNodejsKind,
	}), controller.WithLogger(log.With("component", "controller")))
	if err != nil {
		return nil, err
	}
	if err := s.ctrl.Start(ctx); err != nil {
		return nil, err
	}

	// An IPFS node on loopback resolves ipfs://<CID> code and serves the
	// /ipfs mount; it keeps its identity and blocks under the data dir.
	ipfsDir := filepath.Join(cfg.DataDir, "ipfs")
	if s.host, err = p2p.NewHost(ctx, p2p.Config{DataDir: ipfsDir, Bootstrap: cfg.IPFSPeers, DHTClient: true}); err != nil {
		return nil, fmt.Errorf("standalone: p2p host: %w", err)
	}
	if s.ipfs, err = ipfs.New(ctx, s.host, ipfs.WithDataDir(ipfsDir), ipfs.WithPeers(cfg.IPFSPeers...),
		ipfs.WithLogger(log.With("component", "ipfs"))); err != nil {
		return nil, fmt.Errorf("standalone: ipfs: %w", err)
	}
	s.exec, err = executor.New(ctx,
		executor.WithMemoryBudget(int64(cfg.UserMemory)*int64(cfg.Invokers)),
		executor.WithDataDir(filepath.Join(cfg.DataDir, "modules")),
		executor.WithFetcher(s.ipfs), executor.WithMount("/ipfs", s.ipfs.FS(context.WithoutCancel(ctx))),
		executor.WithLogger(log.With("component", "executor")))
	if err != nil {
		return nil, fmt.Errorf("standalone: executor: %w", err)
	}
	apiHost := s.APIHost()
	for i := range cfg.Invokers {
		eng, err := invoker.New(ctx,
			invoker.WithConfig(invoker.Config{
				Instance: i, UniqueName: strconv.Itoa(i),
				UserMemory:   cfg.UserMemory,
				KafkaBrokers: brokers,
				Couch: invoker.CouchConfig{
					URL: couchURL, Username: couchUser, Password: couchPass,
					ActionsDB: "whisks", ActivationsDB: "activations", AuthDB: "subjects",
				},
				APIHost:       apiHost,
				NodejsDefault: invoker.DefaultNodejsKind,
				Limits:        controller.LimitRanges(),
			}),
			invoker.WithRunner(invoker.LocalRunner(s.exec)),
			invoker.WithLogger(log.With("component", "invoker"+strconv.Itoa(i))))
		if err != nil {
			return nil, fmt.Errorf("standalone: invoker %d: %w", i, err)
		}
		if err := eng.Start(ctx); err != nil {
			return nil, fmt.Errorf("standalone: invoker %d: %w", i, err)
		}
		s.engines = append(s.engines, eng)
	}

	s.apiHS = &http.Server{Handler: s.ctrl.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := s.apiHS.Serve(s.apiLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("standalone: API server", "err", err)
		}
	}()
	return s, nil
}

// startStore opens the embedded store and serves it on a loopback port
// with generated admin credentials, or parses the --couchdb URL.
func (s *Stack) startStore(cfg Config) (u, user, pass string, err error) {
	if cfg.CouchURL != "" {
		p, err := url.Parse(cfg.CouchURL)
		if err != nil || p.Host == "" {
			return "", "", "", fmt.Errorf("standalone: --couchdb %q is not a URL like http://user:pass@host:5984", cfg.CouchURL)
		}
		if p.User != nil {
			user = p.User.Username()
			pass, _ = p.User.Password()
			p.User = nil
		}
		return strings.TrimRight(p.String(), "/"), user, pass, nil
	}
	user, pass = "whisk_admin", randomHex(16)
	s.store, err = docstore.Open(filepath.Join(cfg.DataDir, "db"),
		docstore.WithCredentials(user, pass),
		docstore.WithView("subjects", "namespaceThrottlings", "blockedNamespaces", BlockedNamespaces),
		docstore.WithLogger(s.log.With("component", "docstore")))
	if err != nil {
		return "", "", "", err
	}
	if s.storeLn, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		return "", "", "", fmt.Errorf("standalone: document store listen: %w", err)
	}
	s.storeHS = &http.Server{Handler: s.store, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := s.storeHS.Serve(s.storeLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("standalone: document store server", "err", err)
		}
	}()
	return "http://" + s.storeLn.Addr().String(), user, pass, nil
}

// BlockedNamespaces is the namespaceThrottlings/blockedNamespaces view of
// the subjects database (ansible/files/namespace_throttlings_design_document
// _for_subjects_db.json) in Go, for the embedded store: the invoker's
// blacklist polls it.
var BlockedNamespaces = docstore.View{
	Map: func(doc map[string]any, emit func(key, value any)) {
		id, _ := doc["_id"].(string)
		if ns, ok := strings.CutSuffix(id, "/limits"); ok {
			if doc["concurrentInvocations"] == float64(0) || doc["invocationsPerMinute"] == float64(0) {
				emit(ns, 1)
			}
			return
		}
		nss, _ := doc["namespaces"].([]any)
		if doc["subject"] != nil && nss != nil && doc["blocked"] == true {
			for _, n := range nss {
				if m, ok := n.(map[string]any); ok {
					emit(m["name"], 1)
				}
			}
		}
	},
	SumReduce: true,
}

// WaitReady waits until every invoker is healthy in the controller, that
// is, has run its health test action.
func (s *Stack) WaitReady(ctx context.Context) error {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		up := 0
		for _, h := range s.ctrl.Invokers() {
			if h.Status == controller.Healthy {
				up++
			}
		}
		if up == len(s.engines) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("standalone: %d of %d invokers healthy: %w", up, len(s.engines), ctx.Err())
		case <-t.C:
		}
	}
}

// APIHost is the API's base URL, for wsk --apihost.
func (s *Stack) APIHost() string { return "http://" + s.apiLn.Addr().String() }

// KafkaBrokers is the embedded broker's address (for kcat).
func (s *Stack) KafkaBrokers() []string { return s.kafka.ListenAddrs() }

// IPFS is the stack's IPFS node: what is added to it can be deployed as
// ipfs://<CID> code.
func (s *Stack) IPFS() *ipfs.Node { return s.ipfs }

// Invokers is the controller's view of the invokers.
func (s *Stack) Invokers() []controller.InvokerHealth { return s.ctrl.Invokers() }

// Close stops the stack in dependency order: the API stops taking
// requests, the invokers finish what they hold (acks and records
// included), then the controller, the store (flushed to disk) and the
// broker stop. ctx bounds the invokers' drain.
func (s *Stack) Close(ctx context.Context) error {
	var errs []error
	if s.apiHS != nil {
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		errs = append(errs, s.apiHS.Shutdown(sctx))
		cancel()
	} else if s.apiLn != nil {
		errs = append(errs, s.apiLn.Close())
	}
	for _, e := range s.engines {
		errs = append(errs, e.Shutdown(ctx))
	}
	if s.ctrl != nil {
		s.ctrl.Close()
	}
	if s.exec != nil {
		errs = append(errs, s.exec.Close(ctx))
	}
	if s.ipfs != nil {
		errs = append(errs, s.ipfs.Close())
	}
	if s.host != nil {
		errs = append(errs, s.host.Close())
	}
	if s.storeHS != nil {
		errs = append(errs, s.storeHS.Close())
	}
	if s.store != nil {
		errs = append(errs, s.store.Close())
	}
	if s.kafka != nil {
		s.kafka.Close()
	}
	return errors.Join(errs...)
}

// Banner is what the standalone prints once ready: where the API is, the
// guest key, and a copy-paste example.
func (s *Stack) Banner(w io.Writer) {
	fmt.Fprintf(w, `FaaS@Edge standalone is ready.

  API host:   %s
  Auth key:   %s
  Namespace:  %s
  Kafka:      %s   (kcat -b %s -L)
  CouchDB:    %s
  IPFS:       %s
  Invokers:   %d x %s

Try it with the wsk CLI:

  wsk property set --apihost %s --auth %s
  wsk action create hello hello.zip --kind wasm:wasip1
  wsk action invoke hello -r -p name World

Press Ctrl-C to stop; what was written stays in %s.
`, s.APIHost(), controller.GuestAuth, controller.GuestNamespace,
		strings.Join(s.KafkaBrokers(), ","), s.KafkaBrokers()[0], s.couchDescription(), strings.Join(s.host.FullAddrs(), " "),
		len(s.engines), fmt.Sprintf("%d MB", s.cfg.UserMemory.MB()),
		s.APIHost(), controller.GuestAuth, s.cfg.DataDir)
}

// couchDescription shows the embedded store's URL with its (per-run,
// loopback-only) credentials, so that other processes, such as a `faasedge
// invoker` or `faasedge gateway`, can join this stack.
func (s *Stack) couchDescription() string {
	if s.store == nil {
		return s.couch
	}
	u, err := url.Parse(s.couch)
	if err != nil {
		return s.couch
	}
	u.User = s.couchUP
	return u.String() + " (embedded, " + filepath.Join(s.cfg.DataDir, "db") + ")"
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
