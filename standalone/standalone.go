// Package standalone runs the whole FaaS@Edge stack in one process on
// loopback, the way `java -jar openwhisk-standalone.jar` runs OpenWhisk: an
// embedded Kafka-protocol broker (franz-go's kfake) with the stock topics, a
// CouchDB-compatible document store (embedded and persistent, or a real
// CouchDB), the lean controller serving the REST API on port 3233,
// in-process invoker engines that run WebAssembly and plain-JS actions, an
// IPFS node on loopback that resolves ipfs://<CID> code, an embedded
// key-value store for actions (or a Redis server) and, when asked, a
// few edge nodes of the offer ring on loopback with the controller plugin's
// gateway, whose virtual invokers (ids after the regular invokers') lend
// the edge capacity to the controller as a stock controller would see it.
//
// The pieces talk to each other only over the wire protocols a real
// deployment uses (Kafka topics and messages, CouchDB HTTP), so the
// standalone exercises the real invoker protocol rather than bypassing it.
package standalone

import (
	"context"
	"crypto/rand"
	"encoding/json"
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

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kfake"

	controllerplugin "github.com/faasedge/faasedge/controller-plugin"
	"github.com/faasedge/faasedge/executor"
	kafkafeed "github.com/faasedge/faasedge/feed/kafka"
	"github.com/faasedge/faasedge/internal/closer"
	"github.com/faasedge/faasedge/internal/httpserve"
	"github.com/faasedge/faasedge/invoker"
	"github.com/faasedge/faasedge/p2p"
	"github.com/faasedge/faasedge/p2p/edge"
	"github.com/faasedge/faasedge/p2p/ipfs"
	"github.com/faasedge/faasedge/standalone/controller"
	"github.com/faasedge/faasedge/standalone/docstore"
	"github.com/faasedge/faasedge/whisk"
	"github.com/faasedge/faasedge/worker"
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
	// ModulesDir holds the compilation cache of action modules
	// (DataDir/modules).
	ModulesDir string
	// RedisURL selects a Redis server (redis://host:port[/db]) for the
	// key-value store of actions annotated faasedge-kv, instead of the
	// embedded one under DataDir.
	RedisURL string
	// DataMount is a host directory that every action the stack runs, on
	// its invokers and on its edge nodes, reads at /data, read-only (the
	// evaluation's local data placement). Empty: no /data.
	DataMount string
	// Invokers is the number of invoker engines (1).
	Invokers int
	// UserMemory is each invoker's memory for actions (2048 MB).
	UserMemory whisk.ByteSize
	// IPFSPeers are multiaddrs (with /p2p/<id>) of IPFS peers that serve
	// the code of ipfs://<CID> actions the stack's own node does not hold.
	IPFSPeers []string
	// EdgeNodes is the number of edge nodes started on loopback (none by
	// default; `faasedge standalone` starts 2). With any, a gateway of
	// virtual invokers backed by their offers joins the regular invokers.
	EdgeNodes int
	// EdgeMemory is the memory each edge node volunteers, in two offers
	// (1024 MB). Actions with more memory than one offer never run on the
	// edge.
	EdgeMemory whisk.ByteSize
	// ExternalEdgeNodes is the number of edge nodes running outside this
	// process (`faasedge node`, each volunteering EdgeMemory in two
	// offers) that the gateway counts on; they bootstrap from
	// EdgeAddrs. With any, the gateway starts even without EdgeNodes.
	ExternalEdgeNodes int
	// EdgeListen are the libp2p listen multiaddrs of the stack's IPFS node
	// and of the gateway's ring member (loopback when empty): where
	// external edge nodes reach them.
	EdgeListen []string
	// EdgeOnly runs no regular invoker: every activation runs on the
	// edge, as the evaluation's testbed measures it.
	EdgeOnly bool
	// VirtualInvokers is the number of virtual invokers the edge capacity
	// is shared among (1 when there are edge nodes).
	VirtualInvokers int
	// Compile bounds compiling wasm modules ahead of time, when an action
	// is created or updated (executor's defaults when zero).
	Compile executor.CompileBudget
	// HTTP bounds the connections of the REST API and of the embedded
	// document store (httpserve's defaults when zero).
	HTTP httpserve.Limits
	// FeedPayloadLimit bounds a batch the Kafka feed provider fires, in
	// bytes of the messages' JSON (its PAYLOAD_LIMIT, 900000 when zero).
	FeedPayloadLimit int
	// Logger receives every component's logs (discarded when nil).
	Logger *slog.Logger
}

// edgeRefresh is how often the standalone's edge nodes re-publish their
// offers, and edgeCheck how often its virtual invokers renew their
// leases: short, since everything is on loopback, so that the edge
// capacity is claimed within a second or two of start-up.
const (
	edgeRefresh = 2 * time.Second
	edgeCheck   = time.Second
)

// Stack is a running standalone.
type Stack struct {
	cfg   Config
	log   *slog.Logger
	kafka *kfake.Cluster
	// The Kafka feed provider, run until feedStop; feedDone closes when
	// it has stopped its consumers.
	feed     *kafkafeed.Provider
	feedStop context.CancelFunc
	feedDone chan struct{}
	store    *docstore.Store
	storeLn  net.Listener
	storeHS  *http.Server
	couch    string // the store's URL, without credentials
	couchUP  *url.Userinfo
	ctrl     *controller.Controller
	work     *worker.Worker // the invokers' executor, IPFS node and key-value store
	engines  []*invoker.Engine
	js       *invoker.JSRunner // the engines' nodejs runner
	sched    *edge.Node        // the gateway's ring member
	edges    []*edge.Node      // the edge nodes
	gateway  *controllerplugin.Gateway
	apiLn    net.Listener
	apiHS    *http.Server
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
	if cfg.EdgeOnly {
		cfg.Invokers = 0
	}
	if cfg.UserMemory == 0 {
		cfg.UserMemory = 2048 * whisk.MB
	}
	if cfg.DataDir == "" {
		return nil, errors.New("standalone: a data directory is required")
	}
	if cfg.ModulesDir == "" {
		cfg.ModulesDir = filepath.Join(cfg.DataDir, "modules")
	}
	if cfg.EdgeNodes < 0 || cfg.ExternalEdgeNodes < 0 || cfg.VirtualInvokers < 0 {
		return nil, fmt.Errorf("standalone: %d edge nodes, %d external, %d virtual invokers", cfg.EdgeNodes, cfg.ExternalEdgeNodes, cfg.VirtualInvokers)
	}
	edgeNodes := cfg.EdgeNodes + cfg.ExternalEdgeNodes
	if cfg.EdgeOnly && edgeNodes == 0 {
		return nil, errors.New("standalone: edge only, but no edge nodes")
	}
	if edgeNodes > 0 {
		if cfg.EdgeMemory == 0 {
			cfg.EdgeMemory = 1024 * whisk.MB
		}
		if cfg.VirtualInvokers == 0 {
			cfg.VirtualInvokers = 1
		}
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s = &Stack{cfg: cfg, log: log}
	// The failing return sets s to nil; close what was started through
	// another name.
	started := s
	defer func() {
		if err != nil {
			started.Close(context.WithoutCancel(ctx))
		}
	}()

	// Listen first: the invokers need the API host for __OW_API_HOST.
	if s.apiLn, err = net.Listen("tcp", cfg.APIAddr); err != nil {
		return nil, fmt.Errorf("standalone: API listen: %w", err)
	}

	// Kafka: the controller and the invokers create their topics as
	// stock; a user's topic is created on first produce (one partition),
	// as Kafka's default auto.create.topics.enable=true does, so that kcat
	// can feed a Kafka trigger without an admin step.
	if s.kafka, err = kfake.NewCluster(kfake.NumBrokers(1), kfake.AllowAutoTopicCreation(), kfake.DefaultNumPartitions(1)); err != nil {
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

	// An IPFS node on loopback resolves ipfs://<CID> code and serves the
	// /ipfs mount; it keeps its identity and blocks under the data dir.
	wcfg := worker.Config{
		Node:       &worker.Node{Host: p2p.Config{DataDir: filepath.Join(cfg.DataDir, "ipfs"), ListenAddrs: cfg.EdgeListen, Bootstrap: cfg.IPFSPeers}},
		ModulesDir: cfg.ModulesDir, Memory: cfg.UserMemory * whisk.ByteSize(max(cfg.Invokers, 1)), Compile: cfg.Compile,
		DataMount: cfg.DataMount, RedisURL: cfg.RedisURL, KVDir: filepath.Join(cfg.DataDir, "kv"), Logger: log,
	}
	if s.work, err = worker.Open(ctx, wcfg); err != nil {
		return nil, fmt.Errorf("standalone: %w", err)
	}
	s.ctrl, err = controller.New(controller.Config{
		KafkaBrokers: brokers,
		CouchURL:     couchURL, CouchUser: couchUser, CouchPassword: couchPass,
		NodejsDefault: whisk.KindNodejs,
		Precompiler:   s.work.Executor(),
		Logger:        log.With("component", "controller"),
	})
	if err != nil {
		return nil, err
	}
	if err := s.ctrl.Start(ctx); err != nil {
		return nil, err
	}

	dbs := whisk.DatabasesFor("") // the controller's: the standalone has no db prefix
	base := invoker.Config{
		KafkaBrokers: brokers,
		Couch: invoker.CouchConfig{
			URL: couchURL, Username: couchUser, Password: couchPass,
			ActionsDB: dbs.Entities, ActivationsDB: dbs.Activations, AuthDB: dbs.Subjects,
		},
		APIHost:       s.APIHost(),
		NodejsDefault: whisk.KindNodejs,
		Limits:        controller.LimitRanges(),
	}
	// The invokers share one pool of warm nodejs VMs. Everything the
	// standalone runs is on loopback, so fetch may reach it, as actions
	// of OpenWhisk's standalone reach the host.
	s.js = &invoker.JSRunner{HostNetwork: true}
	for i := range cfg.Invokers {
		ic := base
		ic.Instance, ic.UniqueName, ic.UserMemory = i, strconv.Itoa(i), cfg.UserMemory
		ic.Runner, ic.Logger = invoker.LocalRunner(s.work.Executor(), s.js), log.With("component", "invoker"+strconv.Itoa(i))
		// The invokers' IPFS node: each one's /metrics shows its fetches.
		ic.Metrics = []prometheus.Collector{s.work.IPFS().Metrics()}
		eng, err := invoker.New(ctx, ic)
		if err != nil {
			return nil, fmt.Errorf("standalone: invoker %d: %w", i, err)
		}
		if err := eng.Start(ctx); err != nil {
			return nil, fmt.Errorf("standalone: invoker %d: %w", i, err)
		}
		s.engines = append(s.engines, eng)
	}
	if edgeNodes > 0 {
		if err := s.startEdge(ctx, base); err != nil {
			return nil, err
		}
	}

	if err := s.startKafkaFeed(ctx); err != nil {
		return nil, err
	}

	s.apiHS = httpserve.Server(s.ctrl.Handler(), cfg.HTTP)
	go func() {
		if err := s.apiHS.Serve(s.apiLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("standalone: API server", "err", err)
		}
	}()
	if err := s.installCatalog(ctx, couchUser, couchPass); err != nil {
		return nil, err
	}
	return s, nil
}

// startKafkaFeed runs the Kafka feed provider on the stack's store and
// installs /whisk.system/messaging with its feed actions bound to it.
func (s *Stack) startKafkaFeed(ctx context.Context) error {
	if err := s.runKafkaFeed(ctx, "127.0.0.1:0"); err != nil {
		return err
	}
	pkg := controller.CatalogPackage{Namespace: "whisk.system", Name: "messaging", Publish: true,
		Parameters: []whisk.Parameter{{Key: "endpoint", Value: jsonString(s.FeedEndpoint())}}}
	pkg.Annotations.Set("description", kafkafeed.PackageDescription)
	for _, a := range kafkafeed.FeedActions() {
		ca := controller.CatalogAction{Name: a.Name, Kind: "nodejs:20", Code: a.Code}
		ca.Annotations.Set("feed", true)
		ca.Annotations.Set("description", a.Description)
		ca.Annotations.Set("parameters", a.Parameters)
		pkg.Actions = append(pkg.Actions, ca)
	}
	if err := s.ctrl.Install(ctx, pkg); err != nil {
		return fmt.Errorf("standalone: kafka feed catalog: %w", err)
	}
	return nil
}

// runKafkaFeed starts the provider listening on listen.
func (s *Stack) runKafkaFeed(ctx context.Context, listen string) error {
	o := kafkafeed.Options{DBURL: s.couch, APIHost: s.APIHost(), Listen: listen,
		PayloadLimit: s.cfg.FeedPayloadLimit, Logger: s.log.With("component", "kafkafeed")}
	if s.couchUP != nil {
		o.DBUser = s.couchUP.Username()
		o.DBPass, _ = s.couchUP.Password()
	}
	p, err := kafkafeed.New(ctx, o)
	if err != nil {
		return fmt.Errorf("standalone: kafka feed: %w", err)
	}
	fctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	s.feed, s.feedStop, s.feedDone = p, stop, make(chan struct{})
	go func() {
		defer close(s.feedDone)
		if err := p.Run(fctx); err != nil {
			s.log.Error("standalone: kafka feed", "err", err)
		}
	}()
	return nil
}

// RestartKafkaFeed stops the Kafka feed provider gracefully and starts a
// new one on the same address (the catalog's bound endpoint), as an
// operator restarting the provider alone: it resumes every trigger from
// its consumer group's committed offsets.
func (s *Stack) RestartKafkaFeed(ctx context.Context) error {
	addr := s.feed.Addr()
	s.feedStop()
	<-s.feedDone
	return s.runKafkaFeed(ctx, addr)
}

func jsonString(v string) json.RawMessage {
	b, _ := json.Marshal(v)
	return b
}

// FeedEndpoint is the Kafka feed provider's lifecycle address, bound as
// /whisk.system/messaging's endpoint; /health is under it.
func (s *Stack) FeedEndpoint() string { return "http://" + s.feed.Addr() }

// startEdge starts a ring member for the gateway, the edge nodes
// bootstrapped from it (fetching code from the stack's IPFS node), and the
// gateway's virtual invokers, which share the edge memory and take the ids
// after the regular invokers'.
func (s *Stack) startEdge(ctx context.Context, base invoker.Config) (err error) {
	cfg := s.cfg
	loopback := []string{"/ip4/127.0.0.1/tcp/0"}
	listen := loopback
	if len(cfg.EdgeListen) > 0 {
		listen = cfg.EdgeListen
	}
	if s.sched, err = edge.Start(ctx, edge.Config{
		Host:    p2p.Config{ListenAddrs: listen},
		Refresh: edgeRefresh,
		Logger:  s.log.With("component", "edge-scheduler"),
	}); err != nil {
		return fmt.Errorf("standalone: edge scheduler: %w", err)
	}
	schedAddrs := s.sched.Host().FullAddrs()
	scheds, err := p2p.ParseAddrInfos(schedAddrs)
	if err != nil {
		return fmt.Errorf("standalone: edge scheduler: %w", err)
	}
	offer := int(cfg.EdgeMemory.MB() / 2)
	for i := range cfg.EdgeNodes {
		n, err := edge.Start(ctx, edge.Config{
			Host: p2p.Config{
				DataDir: filepath.Join(cfg.DataDir, "edge", strconv.Itoa(i)), ListenAddrs: loopback, Bootstrap: schedAddrs,
			},
			ModulesDir: cfg.ModulesDir, DataMount: cfg.DataMount,
			IPFSPeers: s.work.Host().FullAddrs(), OffersMB: []int{offer, offer}, Schedulers: scheds,
			// One operator runs the whole stack: its edge nodes let actions
			// reach what their annotations allow, and share its store.
			AllowedHosts: []string{"*"}, KeyValue: s.work.KeyValue(),
			Refresh: edgeRefresh,
			Logger:  s.log.With("component", "edge"+strconv.Itoa(i)),
		})
		if err != nil {
			return fmt.Errorf("standalone: edge node %d: %w", i, err)
		}
		s.edges = append(s.edges, n)
	}
	ids := make([]int, cfg.VirtualInvokers)
	for i := range ids {
		ids[i] = cfg.Invokers + i
	}
	capacity := (cfg.EdgeNodes + cfg.ExternalEdgeNodes) * 2 * offer / cfg.VirtualInvokers
	if s.gateway, err = controllerplugin.New(ctx, s.sched.Ring(), controllerplugin.Config{
		Invoker: base, IDs: ids, CapacityMB: capacity, MinClaimMB: min(offer, controllerplugin.DefaultMinClaimMB),
		CheckInterval: edgeCheck, Publisher: s.work.IPFS(), Logger: s.log.With("component", "gateway"),
	}); err != nil {
		return fmt.Errorf("standalone: %w", err)
	}
	if err := s.gateway.Start(ctx); err != nil {
		return fmt.Errorf("standalone: %w", err)
	}
	return nil
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
	user, pass = "whisk_admin", rand.Text()
	s.store, err = docstore.Open(filepath.Join(cfg.DataDir, "db"),
		docstore.WithCredentials(user, pass),
		docstore.WithView(whisk.DatabasesFor("").Subjects, "namespaceThrottlings", "blockedNamespaces", BlockedNamespaces),
		docstore.WithLogger(s.log.With("component", "docstore")))
	if err != nil {
		return "", "", "", err
	}
	if s.storeLn, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		return "", "", "", fmt.Errorf("standalone: document store listen: %w", err)
	}
	s.storeHS = httpserve.Server(s.store, cfg.HTTP)
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

// invokerCount is the number of invokers, regular and virtual.
func (s *Stack) invokerCount() int {
	if s.gateway == nil {
		return len(s.engines)
	}
	return len(s.engines) + len(s.gateway.Invokers())
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
		if up == s.invokerCount() {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("standalone: %d of %d invokers healthy: %w", up, s.invokerCount(), ctx.Err())
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
func (s *Stack) IPFS() *ipfs.Node { return s.work.IPFS() }

// SchedulerAddrs are the full multiaddrs of the gateway's ring member,
// which external edge nodes bootstrap from and push their backup list to
// (their --peer and --scheduler, with the IPFS node's for code); nil
// without edge nodes.
func (s *Stack) SchedulerAddrs() []string {
	if s.sched == nil {
		return nil
	}
	return s.sched.Host().FullAddrs()
}

// EdgeNodes are the edge nodes on loopback.
func (s *Stack) EdgeNodes() []*edge.Node { return s.edges }

// Gateway runs the virtual invokers backed by the edge nodes; nil without
// edge nodes.
func (s *Stack) Gateway() *controllerplugin.Gateway { return s.gateway }

// Invokers is the controller's view of the invokers.
func (s *Stack) Invokers() []controller.InvokerHealth { return s.ctrl.Invokers() }

// Close stops the stack in dependency order: the API stops taking
// requests, the invokers finish what they hold (acks and records
// included), then the gateway's virtual invokers drain and release their
// claims, then the controller, the edge nodes, the store (flushed to disk) and the
// broker stop. ctx bounds the invokers' drain.
func (s *Stack) Close(ctx context.Context) error {
	var errs []error
	// The feed provider fires triggers through the API: it stops first, so
	// none of its requests holds the API open.
	if s.feedStop != nil {
		s.feedStop()
		<-s.feedDone
	}
	if s.apiHS != nil {
		// Requests still running after the grace period (a blocking
		// invoke on a loaded machine) are cut: the stack is going away.
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		if err := s.apiHS.Shutdown(sctx); errors.Is(err, context.DeadlineExceeded) {
			s.log.Warn("standalone: API requests cut at shutdown", "err", err)
			errs = append(errs, s.apiHS.Close())
		} else {
			errs = append(errs, err)
		}
		cancel()
	} else if s.apiLn != nil {
		errs = append(errs, s.apiLn.Close())
	}
	for _, e := range s.engines {
		errs = append(errs, e.Shutdown(ctx))
	}
	if s.js != nil {
		s.js.Close()
	}
	if s.gateway != nil {
		errs = append(errs, s.gateway.Shutdown(ctx))
	}
	if s.ctrl != nil {
		s.ctrl.Close()
	}
	// The edge nodes withdraw their offers after the claims are released.
	// The ring stops as a whole, so a node's traders may be gone before it
	// withdraws: that is expected, logged at debug level.
	for i, n := range append(s.edges, s.sched) {
		if n == nil {
			continue
		}
		if err := n.Close(ctx); err != nil {
			s.log.Debug("standalone: edge node stop", "node", i, "err", err)
		}
	}
	if s.work != nil {
		errs = append(errs, s.work.Close(ctx))
	}
	errs = append(errs, closer.Close(s.storeHS), closer.Close(s.store))
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
  Kafka feed: %s   (/whisk.system/messaging/kafkaFeed; /health)
  CouchDB:    %s
  IPFS:       %s
  Invokers:   %d x %s
%s
Try it with the wsk CLI:

  wsk property set --apihost %s --auth %s
  wsk action create hello hello.zip --kind wasm:wasip1
  wsk action invoke hello -r -p name World

Press Ctrl-C to stop; what was written stays in %s.
`, s.APIHost(), controller.GuestAuth, controller.GuestNamespace,
		strings.Join(s.KafkaBrokers(), ","), s.KafkaBrokers()[0], s.FeedEndpoint(), s.couchDescription(), strings.Join(s.work.Host().FullAddrs(), " "),
		len(s.engines), fmt.Sprintf("%d MB", s.cfg.UserMemory.MB()), s.edgeDescription(),
		s.APIHost(), controller.GuestAuth, s.cfg.DataDir)
}

// edgeDescription lists the edge nodes and the virtual invokers they back,
// as banner lines.
func (s *Stack) edgeDescription() string {
	if len(s.edges) == 0 {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "  Edge nodes: %d x %d MB (offers %v MB each), ring scheduler %s\n",
		len(s.edges), s.cfg.EdgeMemory.MB(), s.edges[0].OffersMB(), s.sched.Host().FullAddrs()[0])
	for i, n := range s.edges {
		fmt.Fprintf(&b, "    node %d:   %s\n", i, n.Host().FullAddrs()[0])
	}
	for _, v := range s.gateway.Invokers() {
		fmt.Fprintf(&b, "  Virtual invoker %d: %d MB backed by the edge nodes\n", v.ID(), v.Engine().Config().UserMemory.MB())
	}
	return b.String()
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
