package emulator

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	kivik "github.com/go-kivik/kivik/v4"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/faasedge/faasedge/whisk"
)

// Config sets up an emulated controller.
type Config struct {
	Brokers          []string
	Prefix           string // whisk.kafka.topics.prefix
	UserEventsPrefix string
	ControllerID     string // "0" unless set
	// ActionsDB is the entity database, where Start creates the health
	// test action as InvokerPool.prepare does.
	ActionsDB *kivik.DB
	// NodejsKind is what nodejs:default resolves to (nodejs:20 unless set).
	NodejsKind string
	// HealthyTimeout is the 10 s without pings that make an invoker down;
	// TestActionInterval the 1 minute between test actions while unhealthy.
	HealthyTimeout     time.Duration
	TestActionInterval time.Duration
	// ForcedTimeout is how long an activation may go without a slot-freeing
	// ack before the controller force-completes it; zero is the stock
	// max(timeout, 60 s) * 2 + 1 minute.
	ForcedTimeout time.Duration
	// Balancer picks invokers; NewDefaultBalancer unless set.
	Balancer *Balancer
	Logger   *slog.Logger
}

// Ack is an acknowledgement the controller received, with its exact bytes.
type Ack struct {
	whisk.Ack
	Raw      []byte
	Received time.Time
}

// slot is an activation in flight: the controller's activationSlots entry.
type slot struct {
	invoker  int
	fqn      string
	version  string
	memoryMB int
	conc     int
	deadline time.Time
}

// Controller is the Kafka side of a stock classic controller: it creates
// its topics and the health test action, supervises invokers from their
// pings, selects invokers with the ShardingContainerPoolBalancer rules,
// publishes ActivationMessages and consumes acks.
type Controller struct {
	cfg      Config
	log      *slog.Logger
	cl       *kgo.Client // producer
	cons     *kgo.Client // health{C} and completed{C}
	events   *kgo.Client
	healthTx whisk.TransID
	healthID whisk.Identity
	bal      *Balancer
	pool     *Pool

	mu         sync.Mutex
	lastEvent  map[int]time.Time
	lastTick   map[int]time.Time
	slots      map[string]slot
	acks       map[string][]Ack
	noEntry    []Ack // slot-freeing acks that matched nothing
	userEvents []whisk.EventMessage
	forced     []string
	tests      int
	healthDone int
	cond       chan struct{} // closed and replaced on every change

	cancel context.CancelFunc
	done   sync.WaitGroup
}

// HealthActionName is whisk.system/invokerHealthTestAction{C}.
func HealthActionName(controllerID string) whisk.FullyQualifiedEntityName {
	return whisk.FullyQualifiedEntityName{Path: "whisk.system", Name: "invokerHealthTestAction" + controllerID, Version: "0.0.1"}
}

// Start creates health, completed{C} and events, writes the health test
// action, and starts consuming pings and acks.
func Start(ctx context.Context, cfg Config) (*Controller, error) {
	if cfg.ControllerID == "" {
		cfg.ControllerID = "0"
	}
	if cfg.NodejsKind == "" {
		cfg.NodejsKind = whisk.KindNodejs
	}
	if cfg.HealthyTimeout == 0 {
		cfg.HealthyTimeout = 10 * time.Second
	}
	if cfg.TestActionInterval == 0 {
		cfg.TestActionInterval = time.Minute
	}
	if cfg.Balancer == nil {
		cfg.Balancer = NewDefaultBalancer()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	c := &Controller{
		cfg: cfg, log: cfg.Logger, bal: cfg.Balancer,
		healthTx:  whisk.NewTransID("sid_invokerHealth", time.Now().UnixMilli()),
		lastEvent: map[int]time.Time{}, lastTick: map[int]time.Time{},
		slots: map[string]slot{}, acks: map[string][]Ack{}, cond: make(chan struct{}),
	}
	uuid := randomUUID()
	c.healthID = whisk.Identity{
		Subject:   "whisk.system",
		Namespace: whisk.Namespace{Name: "whisk.system", UUID: uuid},
		AuthKey:   whisk.AuthKey{APIKey: uuid + ":" + randomHex(32)},
		Rights:    []string{},
	}
	c.pool = NewPool(c.newActor, c.bal.UpdateInvokers)

	var err error
	if c.cl, err = kgo.NewClient(kgo.SeedBrokers(cfg.Brokers...), kgo.ProducerLinger(0),
		kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite(),
		kgo.ProducerBatchMaxBytes(whisk.MaxActivationMessageBytes)); err != nil {
		return nil, fmt.Errorf("emulator: kafka: %w", err)
	}
	adm := kadm.NewClient(c.cl)
	maxBytes := strconv.Itoa(whisk.MaxActivationMessageBytes)
	completed := whisk.CompletedTopic(cfg.Prefix, cfg.ControllerID)
	health := whisk.HealthTopic(cfg.Prefix)
	events := whisk.EventsTopic(cfg.UserEventsPrefix)
	for _, t := range []string{health, completed, events} {
		_, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{"max.message.bytes": &maxBytes}, t)
		if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			c.cl.Close()
			return nil, fmt.Errorf("emulator: create %s: %w", t, err)
		}
	}
	if cfg.ActionsDB != nil {
		if err := c.prepareHealthAction(ctx); err != nil {
			c.cl.Close()
			return nil, err
		}
	}
	if c.cons, err = kgo.NewClient(kgo.SeedBrokers(cfg.Brokers...),
		kgo.ConsumeTopics(health, completed), kgo.ConsumerGroup("health"+cfg.ControllerID),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond)); err != nil {
		c.cl.Close()
		return nil, fmt.Errorf("emulator: kafka: %w", err)
	}
	if c.events, err = kgo.NewClient(kgo.SeedBrokers(cfg.Brokers...),
		kgo.ConsumeTopics(events), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond)); err != nil {
		c.cl.Close()
		c.cons.Close()
		return nil, fmt.Errorf("emulator: kafka: %w", err)
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	c.cancel = cancel
	c.done.Add(3)
	go c.consume(runCtx, c.cons, health, completed)
	go c.consume(runCtx, c.events, "", "")
	go c.clock(runCtx)
	return c, nil
}

// Close stops the controller.
func (c *Controller) Close() {
	c.cancel()
	c.cons.Close()
	c.events.Close()
	c.done.Wait()
	c.cl.Close()
}

// HealthTransID is TransactionId.invokerHealth of this controller.
func (c *Controller) HealthTransID() whisk.TransID { return c.healthTx }

// Balancer is the controller's balancer.
func (c *Controller) Balancer() *Balancer { return c.bal }

// prepareHealthAction is InvokerPool.prepare: the health test action with
// inline code, min memory and default limits.
func (c *Controller) prepareHealthAction(ctx context.Context) error {
	name := HealthActionName(c.cfg.ControllerID)
	code, _ := json.Marshal("function main(params) { return params; }")
	doc := whisk.ActionDoc{
		ID: name.DocID(), EntityType: "action", Name: name.Name, Namespace: name.Path,
		Updated: time.Now().UnixMilli(),
		Exec:    whisk.Exec{Kind: c.cfg.NodejsKind, Code: code},
		Limits:  whisk.Limits{Timeout: whisk.DefaultTimeoutMs, Memory: whisk.MinMemoryMB, Logs: whisk.DefaultLogsMB, Concurrency: 1},
		Version: "0.0.1", Parameters: []whisk.Parameter{}, Annotations: whisk.Annotations{},
	}
	var cur struct {
		Rev string `json:"_rev"`
	}
	if err := c.cfg.ActionsDB.Get(ctx, doc.ID).ScanDoc(&cur); err == nil {
		doc.Rev = cur.Rev
	}
	if _, err := c.cfg.ActionsDB.Put(ctx, doc.ID, doc); err != nil {
		return fmt.Errorf("emulator: health action: %w", err)
	}
	return nil
}

func (c *Controller) newActor(id int) *Actor {
	return NewActor(func() { c.sendTest(id) }, func(from, to InvokerState) {
		c.log.Info("invoker state", "invoker", id, "from", from, "to", to)
		c.changed()
	})
}

// sendTest publishes a health test activation (invokeTestAction). It runs
// under c.mu (actor events are serialised by it), so it publishes async.
func (c *Controller) sendTest(id int) {
	msg := whisk.ActivationMessage{
		TransID: c.healthTx, Action: HealthActionName(c.cfg.ControllerID), Revision: nil,
		User: c.healthID, ActivationID: randomHex(16),
		RootControllerIndex: whisk.NewControllerInstanceID(c.cfg.ControllerID),
		InitArgs:            []string{}, LockedArgs: map[string]string{},
	}
	b, _ := json.Marshal(msg)
	c.tests++
	c.cl.Produce(context.Background(), &kgo.Record{Topic: whisk.InvokerTopic(c.cfg.Prefix, id), Value: b}, func(_ *kgo.Record, err error) {
		if err != nil {
			c.log.Warn("test action not sent", "invoker", id, "err", err)
		}
	})
}

// TestActions is how many health test activations were sent.
func (c *Controller) TestActions() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.tests
}

// WaitHealthIdle waits until every health test activation sent so far has
// completed.
func (c *Controller) WaitHealthIdle(ctx context.Context) error {
	return c.wait(ctx, func() bool { return c.healthDone >= c.tests })
}

func (c *Controller) changed() {
	close(c.cond)
	c.cond = make(chan struct{})
}

// wait blocks until ok (checked under c.mu) holds or ctx ends.
func (c *Controller) wait(ctx context.Context, ok func() bool) error {
	for {
		c.mu.Lock()
		if ok() {
			c.mu.Unlock()
			return nil
		}
		ch := c.cond
		c.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (c *Controller) consume(ctx context.Context, cl *kgo.Client, health, completed string) {
	defer c.done.Done()
	for {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil || fetches.IsClientClosed() {
			return
		}
		fetches.EachRecord(func(r *kgo.Record) {
			switch r.Topic {
			case health:
				c.onPing(r.Value)
			case completed:
				c.onAck(r.Value)
			default:
				c.onEvent(r.Value)
			}
		})
	}
}

func (c *Controller) onPing(b []byte) {
	var p whisk.PingMessage
	if err := json.Unmarshal(b, &p); err != nil || p.Name.InstanceType != "invoker" || p.Name.Tags == nil || p.Name.DedicatedNamespaces == nil {
		c.log.Error("unreadable ping", "err", err, "ping", string(b))
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lastEvent[p.Name.Instance] = time.Now()
	if _, ok := c.lastTick[p.Name.Instance]; !ok {
		c.lastTick[p.Name.Instance] = time.Now()
	}
	c.pool.Ping(p)
	c.changed()
}

// onAck is processAcknowledgement: a slot-freeing ack releases the slot
// and feeds the invoker's health; a health-test completion counts only if
// its transid is byte for byte the controller's.
func (c *Controller) onAck(b []byte) {
	var a whisk.Ack
	if err := json.Unmarshal(b, &a); err != nil {
		c.log.Error("unreadable ack", "err", err)
		return
	}
	aid := a.ActivationID
	if len(a.Response) > 0 {
		if _, id, err := a.ResponseActivation(); err == nil {
			aid = id
		}
	}
	rec := Ack{Ack: a, Raw: append([]byte(nil), b...), Received: time.Now()}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.acks[aid] = append(c.acks[aid], rec)
	if a.Instance != nil {
		result := Success
		if a.IsSystemError != nil && *a.IsSystemError {
			result = SystemError
		}
		s, inFlight := c.slots[aid]
		switch {
		case inFlight:
			delete(c.slots, aid)
			c.bal.Release(s.invoker, s.fqn, s.version, s.memoryMB, s.conc)
			c.finished(a.Instance.Instance, result)
		case string(mustJSON(a.TransID)) == string(mustJSON(c.healthTx)):
			c.healthDone++
			c.finished(a.Instance.Instance, result)
		default:
			c.noEntry = append(c.noEntry, rec)
			c.log.Warn("received completion ack which has no entry", "activation", aid)
		}
	}
	c.changed()
}

func (c *Controller) finished(id int, r InvocationResult) {
	if a, ok := c.pool.Actor(id); ok {
		c.lastEvent[id] = time.Now()
		a.Finished(r)
	}
}

func (c *Controller) onEvent(b []byte) {
	var ev whisk.EventMessage
	if err := json.Unmarshal(b, &ev); err != nil {
		c.log.Error("unreadable event", "err", err)
		return
	}
	c.mu.Lock()
	c.userEvents = append(c.userEvents, ev)
	c.changed()
	c.mu.Unlock()
}

// clock delivers state timeouts, ticks and forced completions. The
// standalone's LoadBalancer runs its own supervision clock on purpose: the
// emulator stays independent of it (see the package doc).
func (c *Controller) clock(ctx context.Context) {
	defer c.done.Done()
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			c.mu.Lock()
			for _, h := range c.pool.Health() {
				a, ok := c.pool.Actor(h.ID)
				if !ok {
					continue
				}
				if a.HasTimeout() && now.Sub(c.lastEvent[h.ID]) >= c.cfg.HealthyTimeout {
					c.lastEvent[h.ID] = now
					a.StateTimeout()
				}
				if a.TickActive() && now.Sub(c.lastTick[h.ID]) >= c.cfg.TestActionInterval {
					c.lastTick[h.ID] = now
					a.Tick()
				}
			}
			for aid, s := range c.slots {
				if now.After(s.deadline) {
					delete(c.slots, aid)
					c.forced = append(c.forced, aid)
					c.bal.Release(s.invoker, s.fqn, s.version, s.memoryMB, s.conc)
					if a, ok := c.pool.Actor(s.invoker); ok {
						a.Finished(Timeout)
					}
					c.changed()
				}
			}
			c.mu.Unlock()
		}
	}
}

// States is GET /invokers.
func (c *Controller) States() map[string]string { return c.pool.States() }

// Health is the status list.
func (c *Controller) Health() []InvokerHealth { return c.pool.Health() }

// WaitState waits until invoker id is in state s.
func (c *Controller) WaitState(ctx context.Context, id int, s InvokerState) error {
	err := c.wait(ctx, func() bool {
		h := c.pool.Health()
		return id < len(h) && h[id].Status == s
	})
	if err != nil {
		return fmt.Errorf("emulator: invoker%d not %s (states %v): %w", id, s, c.pool.States(), err)
	}
	return nil
}

// ActionMeta is what the controller knows of an action when it publishes.
type ActionMeta struct {
	Name        whisk.FullyQualifiedEntityName // resolved path/name and version
	Rev         *string
	MemoryMB    int
	Concurrency int
	TimeoutMs   int64
	Blackbox    bool // exec.pull
}

// Request is an invocation.
type Request struct {
	User     whisk.Identity
	Content  json.RawMessage
	Blocking bool
	InitArgs []string
	// LockedArgs maps encrypted keys of Content to their scheme.
	LockedArgs map[string]string
	Cause      string
	TransID    *whisk.TransID // a fresh ["<32 chars>", now] unless set
}

// Invoke selects an invoker as publish does, records the slot and
// publishes the ActivationMessage. It returns the message and the invoker.
func (c *Controller) Invoke(ctx context.Context, a ActionMeta, r Request) (*whisk.ActivationMessage, int, error) {
	if a.Concurrency == 0 {
		a.Concurrency = 1
	}
	if a.Name.Version == "" {
		a.Name.Version = "0.0.1"
	}
	fqn := a.Name.Path + "/" + a.Name.Name
	id, forced, ok := c.bal.Publish(r.User.Namespace.Name, fqn, a.Name.Version, a.MemoryMB, a.Concurrency, a.Blackbox)
	if !ok {
		return nil, 0, errors.New("emulator: No invokers available")
	}
	if forced {
		c.log.Warn("system is overloaded", "invoker", id)
	}
	msg := c.Message(a, r)
	timeout := c.cfg.ForcedTimeout
	if timeout == 0 {
		timeout = max(time.Duration(a.TimeoutMs)*time.Millisecond, time.Minute)*2 + time.Minute
	}
	c.mu.Lock()
	c.slots[msg.ActivationID] = slot{invoker: id, fqn: fqn, version: a.Name.Version, memoryMB: a.MemoryMB, conc: a.Concurrency, deadline: time.Now().Add(timeout)}
	c.mu.Unlock()
	if err := c.Send(ctx, id, msg); err != nil {
		return nil, 0, err
	}
	return msg, id, nil
}

// Message builds the ActivationMessage of an invocation.
func (c *Controller) Message(a ActionMeta, r Request) *whisk.ActivationMessage {
	tx := whisk.NewTransID(randomAlnum(32), time.Now().UnixMilli())
	if r.TransID != nil {
		tx = *r.TransID
	}
	initArgs, locked := r.InitArgs, r.LockedArgs
	if initArgs == nil {
		initArgs = []string{}
	}
	if locked == nil {
		locked = map[string]string{}
	}
	return &whisk.ActivationMessage{
		TransID: tx, Action: a.Name, Revision: a.Rev, User: r.User, ActivationID: randomHex(16),
		RootControllerIndex: whisk.NewControllerInstanceID(c.cfg.ControllerID),
		Blocking:            r.Blocking, Content: r.Content, InitArgs: initArgs,
		LockedArgs: locked, Cause: r.Cause,
	}
}

// Send publishes msg to invoker{id} without any bookkeeping.
func (c *Controller) Send(ctx context.Context, id int, msg *whisk.ActivationMessage) error {
	b, err := json.Marshal(msg)
	if err != nil {
		return err
	}
	return c.SendRaw(ctx, id, b)
}

// SendRaw publishes raw bytes to invoker{id} (for bad input).
func (c *Controller) SendRaw(ctx context.Context, id int, b []byte) error {
	if err := c.cl.ProduceSync(ctx, &kgo.Record{Topic: whisk.InvokerTopic(c.cfg.Prefix, id), Value: b}).FirstErr(); err != nil {
		return fmt.Errorf("emulator: publish to invoker%d: %w", id, err)
	}
	return nil
}

// SendAll publishes msgs to invoker{id} without waiting for each one, as a
// busy controller does, and returns once the broker has them all. Like
// Send it keeps no slots: their completions are logged as having no entry.
func (c *Controller) SendAll(ctx context.Context, id int, msgs []*whisk.ActivationMessage) error {
	topic := whisk.InvokerTopic(c.cfg.Prefix, id)
	var mu sync.Mutex
	var first error
	for _, m := range msgs {
		b, err := json.Marshal(m)
		if err != nil {
			return err
		}
		c.cl.Produce(ctx, &kgo.Record{Topic: topic, Value: b}, func(_ *kgo.Record, err error) {
			mu.Lock()
			defer mu.Unlock()
			if err != nil && first == nil {
				first = err
			}
		})
	}
	if err := c.cl.Flush(ctx); err != nil {
		return err
	}
	mu.Lock()
	defer mu.Unlock()
	if first != nil {
		return fmt.Errorf("emulator: publish to invoker%d: %w", id, first)
	}
	return nil
}

// Acks returns the acks received for an activation so far.
func (c *Controller) Acks(aid string) []Ack {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Ack(nil), c.acks[aid]...)
}

// WaitCompleted waits for the slot-freeing ack of aid and returns every ack
// of aid received until then.
func (c *Controller) WaitCompleted(ctx context.Context, aid string) ([]Ack, error) {
	err := c.wait(ctx, func() bool {
		for _, a := range c.acks[aid] {
			if a.FreesSlot() {
				return true
			}
		}
		return false
	})
	if err != nil {
		return c.Acks(aid), fmt.Errorf("emulator: no completion for %s: %w", aid, err)
	}
	return c.Acks(aid), nil
}

// InFlight is how many activations hold a slot.
func (c *Controller) InFlight() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.slots)
}

// Forced lists the activations force-completed for lack of an ack.
func (c *Controller) Forced() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.forced...)
}

// NoEntry lists slot-freeing acks that matched no activation and no
// health test.
func (c *Controller) NoEntry() []Ack {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Ack(nil), c.noEntry...)
}

// UserEvents returns the user events received so far.
func (c *Controller) UserEvents() []whisk.EventMessage {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]whisk.EventMessage(nil), c.userEvents...)
}

// WaitUserEvent waits for the user event of aid.
func (c *Controller) WaitUserEvent(ctx context.Context, aid string) (whisk.EventMessage, error) {
	var found whisk.EventMessage
	err := c.wait(ctx, func() bool {
		for _, ev := range c.userEvents {
			var body struct {
				ActivationID string `json:"activationId"`
			}
			if json.Unmarshal(ev.Body, &body) == nil && body.ActivationID == aid {
				found = ev
				return true
			}
		}
		return false
	})
	return found, err
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func randomUUID() string {
	h := randomHex(16)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

func randomAlnum(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alnum[int(b[i])%len(alnum)]
	}
	return string(b)
}

// NewUser makes a guest-like identity with a fresh key.
func NewUser(namespace string) whisk.Identity {
	uuid := randomUUID()
	return whisk.Identity{
		Subject: namespace, Namespace: whisk.Namespace{Name: namespace, UUID: uuid},
		AuthKey: whisk.AuthKey{APIKey: uuid + ":" + randomAlnum(64)},
		Rights:  []string{"READ", "PUT", "DELETE", "ACTIVATE"},
	}
}
