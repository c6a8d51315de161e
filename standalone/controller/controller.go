// Package controller is the standalone stack's lean OpenWhisk controller:
// the REST API subset that the wsk CLI and openwhisk-client-go use, over
// the same CouchDB documents and the same Kafka protocol as the stock
// controller with ShardingContainerPoolBalancer. It publishes
// ActivationMessages to invoker{N}, consumes acks on completed{C} and pings
// on health, supervises invokers with health test actions, and falls back
// to reading the activation record when a result arrives shrunk. Any
// invoker that works with the stock controller works with it, and the other
// way round.
package controller

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	mrand "math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"time"

	kivik "github.com/go-kivik/kivik/v4"
	"github.com/go-kivik/kivik/v4/couchdb"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

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
}

// Option configures a Controller.
type Option func(*Controller)

// WithConfig sets the whole configuration.
func WithConfig(c Config) Option { return func(ct *Controller) { ct.cfg = c } }

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(c *Controller) { c.log = l } }

// Database names under the prefix, as ansible names them.
func (c Config) whisksDB() string      { return c.DBPrefix + "whisks" }
func (c Config) activationsDB() string { return c.DBPrefix + "activations" }
func (c Config) subjectsDB() string    { return c.DBPrefix + "subjects" }

// Controller is one lean controller instance.
type Controller struct {
	cfg Config
	log *slog.Logger
	now func() time.Time

	couch       *kivik.Client
	whisks      *kivik.DB
	activations *kivik.DB
	subjects    *kivik.DB

	producer  *kgo.Client
	consumers []*kgo.Client

	balancer     *Sharding
	pool         *Pool
	healthTrans  whisk.TransID
	healthUser   whisk.Identity
	controllerID whisk.ControllerInstanceID

	mu       sync.Mutex
	slots    map[string]*slot                  // activationSlots: in flight, by activation id
	promises map[string]chan *whisk.Activation // blocking callers, by activation id
	shrunk   map[string]chan struct{}          // a shrunk result arrived: read the DB

	identMu    sync.Mutex
	identities map[string]whisk.Identity // by "uuid:key"

	bg     sync.WaitGroup
	cancel context.CancelFunc
}

type slot struct {
	req     Request
	invoker int
	timer   *time.Timer
}

// New builds a controller; Start connects it.
func New(opts ...Option) (*Controller, error) {
	c := &Controller{
		log:        slog.New(slog.DiscardHandler),
		now:        time.Now,
		slots:      map[string]*slot{},
		promises:   map[string]chan *whisk.Activation{},
		shrunk:     map[string]chan struct{}{},
		identities: map[string]whisk.Identity{},
	}
	c.cfg = Config{Instance: "0", NodejsDefault: "nodejs:20", MaxWaitForBlocking: time.Minute, ManagedFraction: 0.9, BlackboxFraction: 0.1}
	for _, o := range opts {
		o(c)
	}
	cfg := &c.cfg
	if cfg.Instance == "" {
		cfg.Instance = "0"
	}
	if cfg.MaxWaitForBlocking == 0 {
		cfg.MaxWaitForBlocking = time.Minute
	}
	if cfg.NodejsDefault == "" {
		cfg.NodejsDefault = "nodejs:20"
	}
	// A Config written without the fractions would otherwise make invoker 0
	// the only managed invoker and send every activation there.
	if cfg.ManagedFraction == 0 && cfg.BlackboxFraction == 0 {
		cfg.ManagedFraction, cfg.BlackboxFraction = 0.9, 0.1
	}
	if len(cfg.KafkaBrokers) == 0 || cfg.CouchURL == "" {
		return nil, errors.New("controller: Kafka brokers and CouchDB URL are required")
	}
	c.controllerID = whisk.NewControllerInstanceID(cfg.Instance)
	// TransactionId.invokerHealth: fixed id, start = this controller's boot.
	c.healthTrans = whisk.NewTransID("sid_invokerHealth", c.now().UnixMilli())
	// InvokerPool.healthActionIdentity: a random uuid and key, no rights.
	uuid := newUUID()
	c.healthUser = whisk.Identity{
		Subject:   "whisk.system",
		Namespace: whisk.Namespace{Name: "whisk.system", UUID: uuid},
		AuthKey:   whisk.AuthKey{APIKey: uuid + ":" + randomAlnum(64)},
		Rights:    []string{},
	}
	c.balancer = NewSharding(cfg.ManagedFraction, cfg.BlackboxFraction, mrand.IntN)
	c.pool = NewPool(func() time.Time { return c.now() }, c.sendHealthTest, c.balancer.UpdateInvokers)
	return c, nil
}

// Start creates the databases, the guest subject and the health test
// action, the controller's topics, and starts consuming acks and pings.
func (c *Controller) Start(ctx context.Context) error {
	opts := []kivik.Option{couchdb.OptionNoRequestCompression()}
	if c.cfg.CouchUser != "" {
		opts = append(opts, couchdb.BasicAuth(c.cfg.CouchUser, c.cfg.CouchPassword))
	}
	couch, err := kivik.New("couch", c.cfg.CouchURL, opts...)
	if err != nil {
		return fmt.Errorf("controller: couchdb: %w", err)
	}
	c.couch = couch
	for _, name := range []string{c.cfg.whisksDB(), c.cfg.activationsDB(), c.cfg.subjectsDB()} {
		if err := couch.CreateDB(ctx, name); err != nil && kivik.HTTPStatus(err) != http.StatusPreconditionFailed {
			return fmt.Errorf("controller: create database %s: %w", name, err)
		}
	}
	c.whisks, c.activations, c.subjects = couch.DB(c.cfg.whisksDB()), couch.DB(c.cfg.activationsDB()), couch.DB(c.cfg.subjectsDB())
	if err := c.ensureSubjects(ctx); err != nil {
		return err
	}
	if err := c.ensureHealthAction(ctx); err != nil {
		return err
	}
	if err := c.ensureTopics(ctx); err != nil {
		return err
	}
	c.producer, err = kgo.NewClient(
		kgo.SeedBrokers(c.cfg.KafkaBrokers...),
		kgo.ProducerBatchMaxBytes(whisk.MaxActivationMessageBytes),
		kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite(),
		kgo.ProducerLinger(0),
	)
	if err != nil {
		return fmt.Errorf("controller: kafka producer: %w", err)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	prefix := c.cfg.TopicsPrefix
	completed := whisk.CompletedTopic(prefix, c.cfg.Instance)
	if err := c.consume(runCtx, completed, completed, c.handleAck); err != nil {
		return err
	}
	if err := c.consume(runCtx, whisk.HealthTopic(prefix), whisk.HealthTopic(prefix)+c.cfg.Instance, c.handlePing); err != nil {
		return err
	}
	c.bg.Add(1)
	go func() {
		defer c.bg.Done()
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-runCtx.Done():
				return
			case <-t.C:
				c.pool.Tick()
			}
		}
	}()
	return nil
}

// Close stops consuming and producing. Activations in flight are left to
// their invokers; their records still land in the database.
func (c *Controller) Close() {
	if c.cancel != nil {
		c.cancel()
	}
	for _, k := range c.consumers {
		k.Close()
	}
	c.bg.Wait()
	if c.producer != nil {
		c.producer.Close()
	}
	c.mu.Lock()
	for _, s := range c.slots {
		s.timer.Stop()
	}
	c.mu.Unlock()
	if c.couch != nil {
		_ = c.couch.Close()
	}
}

// Invokers is the status list, as GET /invokers reports it.
func (c *Controller) Invokers() []InvokerHealth { return c.pool.Status() }

// ensureTopics creates completed{C}, health, events and cacheInvalidation,
// the topics a stock controller creates (openwhisk-wire.md 1.1).
func (c *Controller) ensureTopics(ctx context.Context) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.cfg.KafkaBrokers...))
	if err != nil {
		return fmt.Errorf("controller: kafka admin: %w", err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	maxBytes := strconv.Itoa(whisk.MaxActivationMessageBytes)
	topics := map[string]map[string]*string{
		whisk.CompletedTopic(c.cfg.TopicsPrefix, c.cfg.Instance): {"max.message.bytes": &maxBytes},
		whisk.HealthTopic(c.cfg.TopicsPrefix):                    nil,
		whisk.EventsTopic(c.cfg.UserEventsPrefix):                nil,
		c.cfg.TopicsPrefix + "cacheInvalidation":                 nil,
	}
	for name, cfg := range topics {
		res, err := adm.CreateTopic(ctx, 1, 1, cfg, name)
		if err == nil {
			err = res.Err
		}
		if err != nil && !errors.Is(err, kerrTopicExists) {
			return fmt.Errorf("controller: create topic %s: %w", name, err)
		}
	}
	return nil
}

// consume runs a consumer group on topic, committing right after each poll
// as the stock MessageFeed does.
func (c *Controller) consume(ctx context.Context, topic, group string, handle func([]byte)) error {
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(c.cfg.KafkaBrokers...),
		kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
		kgo.DisableAutoCommit(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(500*time.Millisecond),
		kgo.ClientID("consumer-"+topic),
	)
	if err != nil {
		return fmt.Errorf("controller: consumer %s: %w", topic, err)
	}
	c.consumers = append(c.consumers, cl)
	c.bg.Add(1)
	go func() {
		defer c.bg.Done()
		for {
			fs := cl.PollRecords(ctx, 128)
			if ctx.Err() != nil {
				return
			}
			fs.EachError(func(t string, p int32, err error) {
				c.log.Warn("controller: fetch", "topic", t, "partition", p, "err", err)
			})
			if err := cl.CommitUncommittedOffsets(ctx); err != nil && ctx.Err() == nil {
				c.log.Warn("controller: commit", "topic", topic, "err", err)
			}
			fs.EachRecord(func(r *kgo.Record) { handle(r.Value) })
		}
	}()
	return nil
}

func (c *Controller) handlePing(b []byte) {
	var p whisk.PingMessage
	if err := json.Unmarshal(b, &p); err != nil || p.Name.InstanceType != "invoker" {
		c.log.Warn("controller: unreadable ping", "msg", string(b), "err", err)
		return
	}
	c.pool.Ping(p)
}

// handleAck is processAcknowledgement: a response completes a waiting
// caller; an instance frees the slot and tells supervision the outcome.
func (c *Controller) handleAck(b []byte) {
	var ack whisk.Ack
	if err := json.Unmarshal(b, &ack); err != nil {
		c.log.Warn("controller: unreadable ack", "msg", string(b), "err", err)
		return
	}
	aid := ack.ActivationID
	if len(ack.Response) > 0 {
		act, id, err := ack.ResponseActivation()
		if err != nil {
			c.log.Warn("controller: unreadable ack response", "err", err)
			return
		}
		aid = id
		c.processResult(aid, act)
	}
	if ack.Instance != nil {
		sysErr := ack.IsSystemError != nil && *ack.IsSystemError
		c.processCompletion(aid, ack.TransID, *ack.Instance, sysErr)
	}
}

func (c *Controller) processResult(aid string, act *whisk.Activation) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if act == nil {
		if ch, ok := c.shrunk[aid]; ok {
			select {
			case ch <- struct{}{}:
			default:
			}
		}
		return
	}
	if ch, ok := c.promises[aid]; ok {
		select {
		case ch <- act:
		default:
		}
	}
}

func (c *Controller) processCompletion(aid string, tid whisk.TransID, inst whisk.InvokerInstanceID, sysErr bool) {
	outcome := Success
	if sysErr {
		outcome = SystemError
	}
	c.mu.Lock()
	s, ok := c.slots[aid]
	if ok {
		delete(c.slots, aid)
		s.timer.Stop()
	}
	c.mu.Unlock()
	switch {
	case ok:
		c.balancer.Release(s.invoker, s.req)
		c.pool.Finished(inst.Instance, outcome)
	case c.isHealthTransID(tid):
		c.pool.Finished(inst.Instance, outcome)
	default:
		c.log.Info("controller: received completion ack which has no entry", "activationId", aid)
	}
}

func (c *Controller) isHealthTransID(t whisk.TransID) bool {
	a, err1 := json.Marshal(t)
	b, err2 := json.Marshal(c.healthTrans)
	return err1 == nil && err2 == nil && string(a) == string(b)
}

// sendHealthTest publishes a test activation of
// whisk.system/invokerHealthTestAction{C} to an invoker.
func (c *Controller) sendHealthTest(id whisk.InvokerInstanceID) {
	msg := whisk.ActivationMessage{
		TransID:             c.healthTrans,
		Action:              whisk.FullyQualifiedEntityName{Path: "whisk.system", Name: c.healthActionName(), Version: "0.0.1"},
		User:                c.healthUser,
		ActivationID:        newActivationID(),
		RootControllerIndex: c.controllerID,
		InitArgs:            []string{},
		LockedArgs:          map[string]string{},
	}
	if err := c.send(context.Background(), id.Instance, &msg); err != nil {
		c.log.Warn("controller: health test action", "invoker", id.String(), "err", err)
	}
}

func (c *Controller) healthActionName() string { return "invokerHealthTestAction" + c.cfg.Instance }

// send is sendActivationToInvoker: the JSON on invoker{N}, no key.
func (c *Controller) send(ctx context.Context, instance int, msg *whisk.ActivationMessage) error {
	b, err := json.Marshal(msg)
	if err != nil {
		return fmt.Errorf("controller: encode activation: %w", err)
	}
	rec := &kgo.Record{Topic: whisk.InvokerTopic(c.cfg.TopicsPrefix, instance), Value: b}
	if err := c.producer.ProduceSync(ctx, rec).FirstErr(); err != nil {
		return fmt.Errorf("controller: publish to %s: %w", rec.Topic, err)
	}
	return nil
}

// publish chooses an invoker, records the slot with its forced-completion
// timer, and sends the message (ShardingContainerPoolBalancer.publish).
func (c *Controller) publish(ctx context.Context, req Request, timeout time.Duration, msg *whisk.ActivationMessage) error {
	inv, forced, err := c.balancer.Publish(req)
	if err != nil {
		return err
	}
	if forced {
		c.log.Warn("controller: system is overloaded, chose an invoker by random assignment", "invoker", inv.Instance)
	}
	// Forced completion: max(action timeout, 60 s) * 2 + 1 min.
	force := max(timeout, time.Minute)*2 + time.Minute
	aid := msg.ActivationID
	s := &slot{req: req, invoker: inv.Instance}
	c.mu.Lock()
	s.timer = time.AfterFunc(force, func() { c.forceComplete(aid) })
	c.slots[aid] = s
	c.mu.Unlock()
	if err := c.send(ctx, inv.Instance, msg); err != nil {
		c.mu.Lock()
		delete(c.slots, aid)
		c.mu.Unlock()
		s.timer.Stop()
		c.balancer.Release(inv.Instance, req)
		return err
	}
	return nil
}

func (c *Controller) forceComplete(aid string) {
	c.mu.Lock()
	s, ok := c.slots[aid]
	delete(c.slots, aid)
	c.mu.Unlock()
	if !ok {
		return
	}
	c.log.Warn("controller: forced completion of an activation without ack", "activationId", aid, "invoker", s.invoker)
	c.balancer.Release(s.invoker, s.req)
	c.pool.Finished(s.invoker, Timeout)
}

// kerrTopicExists is CreateTopics' answer for a topic that is there.
var kerrTopicExists = kerr.TopicAlreadyExists

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// newActivationID is a UUID without dashes: 32 lowercase hex characters.
func newActivationID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

const alnum = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

// randomAlnum is a random alphanumeric string, the shape of transaction ids
// and auth keys.
func randomAlnum(n int) string {
	b := make([]byte, n)
	for i := range b {
		k, _ := rand.Int(rand.Reader, big.NewInt(int64(len(alnum))))
		b[i] = alnum[k.Int64()]
	}
	return string(b)
}
