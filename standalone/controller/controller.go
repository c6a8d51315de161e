// Package controller is the standalone stack's lean OpenWhisk controller:
// the REST API subset that the wsk CLI and openwhisk-client-go use, over
// the same CouchDB documents and the same Kafka protocol as the stock
// controller with ShardingContainerPoolBalancer. Any invoker that works
// with the stock controller works with it, and the other way round.
//
// It is split as the stock controller is: the entity store (actions and
// the other entities in the whisks database, subjects), the activation
// store (records, blocking waits with the record fallback), the
// LoadBalancer (sharding, slots, invoker supervision, the Kafka side), and
// a thin HTTP layer routing with http.ServeMux patterns.
package controller

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	kivik "github.com/go-kivik/kivik/v4"

	"github.com/faasedge/faasedge/internal/couch"
	"github.com/faasedge/faasedge/whisk"
)

// Guest is the guest identity of OpenWhisk's standalone and local
// deployments (ansible/files/auth.guest).
const (
	GuestNamespace = "guest"
	GuestUUID      = "23bc46b1-71f6-4ed5-8c54-816aa4f8c502"
	GuestKey       = "123zO3xZCLrMN6v2BKK1dXYFpXlPkccOFqm12CdAsMgRU4VrNZ9lyGVCGuMDGIwP"
	// GuestAuth is the --auth value for wsk.
	GuestAuth = GuestUUID + ":" + GuestKey
)

// Config is the controller's configuration.
type Config struct {
	// Instance is the controller instance id (asString), "0" by default:
	// acks come back on completed{Instance}.
	Instance string
	// KafkaBrokers and TopicsPrefix locate the topics.
	KafkaBrokers []string
	TopicsPrefix string
	// UserEventsPrefix prefixes the events topic the controller creates.
	UserEventsPrefix string
	// Couch is the CouchDB URL (with no credentials) and its user.
	CouchURL, CouchUser, CouchPassword string
	// DBPrefix prefixes whisks, activations and subjects.
	DBPrefix string
	// NodejsDefault is the kind nodejs:default resolves to; it must be in
	// the invokers' runtimes manifest.
	NodejsDefault string
	// MaxWaitForBlocking is max-wait-for-blocking-activation (60 s).
	MaxWaitForBlocking time.Duration
	// ManagedFraction and BlackboxFraction split the invokers (0.9, 0.1
	// when both are zero).
	ManagedFraction, BlackboxFraction float64
	// Precompiler, when set, compiles new wasm code as soon as an action
	// PUT has stored it (see Precompiler); nil: modules compile on their
	// first run.
	Precompiler Precompiler
	// Logger receives the controller's logs (discarded when nil).
	Logger *slog.Logger
}

// Database names under the prefix, as ansible names them.
func (c Config) databases() whisk.Databases { return whisk.DatabasesFor(c.DBPrefix) }

// Controller is one lean controller instance.
type Controller struct {
	cfg Config
	log *slog.Logger
	now func() time.Time

	couch       *kivik.Client
	entities    *entityStore
	subjects    *subjectStore
	activations *activationStore
	lb          *LoadBalancer

	// Work that outlives its request (trigger fires, sequences) runs
	// under bgCtx, which Close cancels before waiting for it.
	bg       sync.WaitGroup
	bgCtx    context.Context
	bgCancel context.CancelFunc
}

// New builds a controller from cfg, its zero fields taking their
// defaults; Start connects it.
func New(cfg Config) (*Controller, error) {
	cfg.Instance = cmp.Or(cfg.Instance, "0")
	cfg.MaxWaitForBlocking = cmp.Or(cfg.MaxWaitForBlocking, time.Minute)
	cfg.NodejsDefault = cmp.Or(cfg.NodejsDefault, whisk.KindNodejs)
	// A Config written without the fractions would otherwise make invoker 0
	// the only managed invoker and send every activation there.
	if cfg.ManagedFraction == 0 && cfg.BlackboxFraction == 0 {
		cfg.ManagedFraction, cfg.BlackboxFraction = 0.9, 0.1
	}
	if len(cfg.KafkaBrokers) == 0 || cfg.CouchURL == "" {
		return nil, errors.New("controller: Kafka brokers and CouchDB URL are required")
	}
	c := &Controller{cfg: cfg, log: cmp.Or(cfg.Logger, slog.New(slog.DiscardHandler)), now: time.Now}
	c.lb = newLoadBalancer(c.cfg, c.log, func() time.Time { return c.now() })
	c.bgCtx, c.bgCancel = context.WithCancel(context.Background())
	return c, nil
}

// Start creates the databases, the guest subject and the health test
// action, the controller's topics, and starts consuming acks and pings.
func (c *Controller) Start(ctx context.Context) error {
	client, err := couch.Open(c.cfg.CouchURL, c.cfg.CouchUser, c.cfg.CouchPassword)
	if err != nil {
		return fmt.Errorf("controller: couchdb: %w", err)
	}
	c.couch = client
	dbs := c.cfg.databases()
	if err := couch.CreateDBs(ctx, client, dbs.Entities, dbs.Activations, dbs.Subjects); err != nil {
		return fmt.Errorf("controller: %w", err)
	}
	c.entities = &entityStore{db: client.DB(dbs.Entities), cfg: c.cfg, now: func() time.Time { return c.now() }}
	c.subjects = &subjectStore{db: client.DB(dbs.Subjects), log: c.log}
	c.activations = &activationStore{db: client.DB(dbs.Activations)}
	if err := c.subjects.ensureGuest(ctx); err != nil {
		return err
	}
	if err := c.entities.ensureHealthAction(ctx); err != nil {
		return err
	}
	return c.lb.start(ctx)
}

// Close stops consuming and producing. Activations in flight are left to
// their invokers; their records still land in the database.
func (c *Controller) Close() {
	c.bgCancel()
	c.bg.Wait()
	c.lb.close()
	if c.couch != nil {
		_ = c.couch.Close()
	}
}

// background runs f under the controller's life rather than a request's.
func (c *Controller) background(f func(ctx context.Context)) {
	c.bg.Add(1)
	go func() {
		defer c.bg.Done()
		f(c.bgCtx)
	}()
}

// Invokers is the status list, as GET /invokers reports it.
func (c *Controller) Invokers() []InvokerHealth { return c.lb.Invokers() }
