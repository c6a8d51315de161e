package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/faasedge/faasedge/activation"
	"github.com/faasedge/faasedge/whisk"
)

// LoadBalancer is the stock ShardingContainerPoolBalancer with its Kafka
// side: it owns the sharding state, the activation slots and their
// forced-completion timers, invoker supervision (pings on health, health
// test actions), and the acks on completed{C}. Publish places one
// activation; what comes back for it arrives on the Completion.
type LoadBalancer struct {
	cfg Config
	log *slog.Logger
	now func() time.Time

	producer  *kgo.Client
	consumers []*kgo.Client

	sharding     *Sharding
	pool         *Pool
	healthTrans  whisk.TransID
	healthUser   whisk.Identity
	controllerID whisk.ControllerInstanceID

	mu       sync.Mutex
	slots    map[string]*slot       // activationSlots: in flight, by activation id
	promises map[string]*Completion // blocking callers, by activation id

	bg     sync.WaitGroup
	cancel context.CancelFunc
}

type slot struct {
	req     Request
	invoker int
	timer   *time.Timer
}

// Completion is what Publish returns for a blocking activation: the
// activation as its result ack carries it, or word that the ack came
// shrunk and the record must be read from the database. Close it once the
// caller stops waiting.
type Completion struct {
	ID     string
	result chan *whisk.Activation
	shrunk chan struct{}
	lb     *LoadBalancer
}

// Result delivers the activation from a full result ack.
func (c *Completion) Result() <-chan *whisk.Activation { return c.result }

// Shrunk fires when the result ack carried only the activation id.
func (c *Completion) Shrunk() <-chan struct{} { return c.shrunk }

// Close forgets the waiter; a later ack is only logged.
func (c *Completion) Close() {
	if c.lb == nil {
		return
	}
	c.lb.mu.Lock()
	delete(c.lb.promises, c.ID)
	c.lb.mu.Unlock()
}

func newLoadBalancer(cfg Config, log *slog.Logger, now func() time.Time) *LoadBalancer {
	lb := &LoadBalancer{
		cfg: cfg, log: log, now: now,
		slots:        map[string]*slot{},
		promises:     map[string]*Completion{},
		controllerID: whisk.NewControllerInstanceID(cfg.Instance),
		// TransactionId.invokerHealth: fixed id, start = this controller's boot.
		healthTrans: whisk.NewTransID("sid_invokerHealth", now().UnixMilli()),
	}
	// InvokerPool.healthActionIdentity: a random uuid and key, no rights.
	uuid := newUUID()
	lb.healthUser = whisk.Identity{
		Subject:   "whisk.system",
		Namespace: whisk.Namespace{Name: "whisk.system", UUID: uuid},
		AuthKey:   whisk.AuthKey{APIKey: uuid + ":" + randomAlnum(64)},
		Rights:    []string{},
	}
	lb.sharding = NewSharding(cfg.ManagedFraction, cfg.BlackboxFraction, mrand.IntN)
	lb.pool = NewPool(func() time.Time { return lb.now() }, lb.sendHealthTest, lb.sharding.UpdateInvokers)
	return lb
}

// start creates the controller's topics, the producer, and the consumers
// of acks and pings.
func (lb *LoadBalancer) start(ctx context.Context) error {
	if err := lb.ensureTopics(ctx); err != nil {
		return err
	}
	var err error
	lb.producer, err = kgo.NewClient(
		kgo.SeedBrokers(lb.cfg.KafkaBrokers...),
		kgo.ProducerBatchMaxBytes(whisk.MaxActivationMessageBytes),
		kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite(),
		kgo.ProducerLinger(0),
	)
	if err != nil {
		return fmt.Errorf("controller: kafka producer: %w", err)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	lb.cancel = cancel
	prefix := lb.cfg.TopicsPrefix
	completed := whisk.CompletedTopic(prefix, lb.cfg.Instance)
	if err := lb.consume(runCtx, completed, completed, lb.handleAck); err != nil {
		return err
	}
	if err := lb.consume(runCtx, whisk.HealthTopic(prefix), whisk.HealthTopic(prefix)+lb.cfg.Instance, lb.handlePing); err != nil {
		return err
	}
	// The supervision clock. tests/emulator/controller.go's clock is its
	// deliberate twin: the emulator stays an independent port of the same
	// Scala (see sharding.go), so the two are not shared.
	lb.bg.Add(1)
	go func() {
		defer lb.bg.Done()
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-runCtx.Done():
				return
			case <-t.C:
				lb.pool.Tick()
			}
		}
	}()
	return nil
}

// close stops consuming and producing. Activations in flight are left to
// their invokers; their records still land in the database.
func (lb *LoadBalancer) close() {
	if lb.cancel != nil {
		lb.cancel()
	}
	for _, k := range lb.consumers {
		k.Close()
	}
	lb.bg.Wait()
	if lb.producer != nil {
		lb.producer.Close()
	}
	lb.mu.Lock()
	for _, s := range lb.slots {
		s.timer.Stop()
	}
	lb.mu.Unlock()
}

// Invokers is the status list, as GET /invokers reports it.
func (lb *LoadBalancer) Invokers() []InvokerHealth { return lb.pool.Status() }

// ensureTopics creates completed{C}, health, events and cacheInvalidation,
// the topics a stock controller creates (openwhisk-wire.md 1.1).
func (lb *LoadBalancer) ensureTopics(ctx context.Context) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(lb.cfg.KafkaBrokers...))
	if err != nil {
		return fmt.Errorf("controller: kafka admin: %w", err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	maxBytes := strconv.Itoa(whisk.MaxActivationMessageBytes)
	topics := map[string]map[string]*string{
		whisk.CompletedTopic(lb.cfg.TopicsPrefix, lb.cfg.Instance): {"max.message.bytes": &maxBytes},
		whisk.HealthTopic(lb.cfg.TopicsPrefix):                     nil,
		whisk.EventsTopic(lb.cfg.UserEventsPrefix):                 nil,
		lb.cfg.TopicsPrefix + "cacheInvalidation":                  nil,
	}
	for name, cfg := range topics {
		res, err := adm.CreateTopic(ctx, 1, 1, cfg, name)
		if err == nil {
			err = res.Err
		}
		if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("controller: create topic %s: %w", name, err)
		}
	}
	return nil
}

// consume runs a consumer group on topic, committing right after each poll
// as the stock MessageFeed does.
func (lb *LoadBalancer) consume(ctx context.Context, topic, group string, handle func([]byte)) error {
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(lb.cfg.KafkaBrokers...),
		kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
		kgo.DisableAutoCommit(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(500*time.Millisecond),
		kgo.ClientID("consumer-"+topic),
	)
	if err != nil {
		return fmt.Errorf("controller: consumer %s: %w", topic, err)
	}
	lb.consumers = append(lb.consumers, cl)
	lb.bg.Add(1)
	go func() {
		defer lb.bg.Done()
		for {
			fs := cl.PollRecords(ctx, 128)
			if ctx.Err() != nil {
				return
			}
			fs.EachError(func(t string, p int32, err error) {
				lb.log.Warn("controller: fetch", "topic", t, "partition", p, "err", err)
			})
			if err := cl.CommitUncommittedOffsets(ctx); err != nil && ctx.Err() == nil {
				lb.log.Warn("controller: commit", "topic", topic, "err", err)
			}
			fs.EachRecord(func(r *kgo.Record) { handle(r.Value) })
		}
	}()
	return nil
}

func (lb *LoadBalancer) handlePing(b []byte) {
	var p whisk.PingMessage
	if err := json.Unmarshal(b, &p); err != nil || p.Name.InstanceType != "invoker" {
		lb.log.Warn("controller: unreadable ping", "msg", string(b), "err", err)
		return
	}
	lb.pool.Ping(p)
}

// handleAck is processAcknowledgement: a response completes a waiting
// caller; an instance frees the slot and tells supervision the outcome.
func (lb *LoadBalancer) handleAck(b []byte) {
	var ack whisk.Ack
	if err := json.Unmarshal(b, &ack); err != nil {
		lb.log.Warn("controller: unreadable ack", "msg", string(b), "err", err)
		return
	}
	aid := ack.ActivationID
	if len(ack.Response) > 0 {
		act, id, err := ack.ResponseActivation()
		if err != nil {
			lb.log.Warn("controller: unreadable ack response", "err", err)
			return
		}
		aid = id
		lb.processResult(aid, act)
	}
	if ack.Instance != nil {
		sysErr := ack.IsSystemError != nil && *ack.IsSystemError
		lb.processCompletion(aid, ack.TransID, *ack.Instance, sysErr)
	}
}

func (lb *LoadBalancer) processResult(aid string, act *whisk.Activation) {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	p, ok := lb.promises[aid]
	if !ok {
		return
	}
	if act == nil {
		select {
		case p.shrunk <- struct{}{}:
		default:
		}
		return
	}
	select {
	case p.result <- act:
	default:
	}
}

func (lb *LoadBalancer) processCompletion(aid string, tid whisk.TransID, inst whisk.InvokerInstanceID, sysErr bool) {
	outcome := Success
	if sysErr {
		outcome = SystemError
	}
	lb.mu.Lock()
	s, ok := lb.slots[aid]
	if ok {
		delete(lb.slots, aid)
		s.timer.Stop()
	}
	lb.mu.Unlock()
	switch {
	case ok:
		lb.sharding.Release(s.invoker, s.req)
		lb.pool.Finished(inst.Instance, outcome)
	case lb.isHealthTransID(tid):
		lb.pool.Finished(inst.Instance, outcome)
	default:
		lb.log.Info("controller: received completion ack which has no entry", "activationId", aid)
	}
}

func (lb *LoadBalancer) isHealthTransID(t whisk.TransID) bool {
	a, err1 := json.Marshal(t)
	b, err2 := json.Marshal(lb.healthTrans)
	return err1 == nil && err2 == nil && string(a) == string(b)
}

// sendHealthTest publishes a test activation of
// whisk.system/invokerHealthTestAction{C} to an invoker.
func (lb *LoadBalancer) sendHealthTest(id whisk.InvokerInstanceID) {
	msg := whisk.ActivationMessage{
		TransID:             lb.healthTrans,
		Action:              whisk.FullyQualifiedEntityName{Path: "whisk.system", Name: healthActionName(lb.cfg), Version: "0.0.1"},
		User:                lb.healthUser,
		ActivationID:        string(activation.NewID()),
		RootControllerIndex: lb.controllerID,
		InitArgs:            []string{},
		LockedArgs:          map[string]string{},
	}
	if err := lb.send(context.Background(), id.Instance, &msg); err != nil {
		lb.log.Warn("controller: health test action", "invoker", id.String(), "err", err)
	}
}

func healthActionName(cfg Config) string { return "invokerHealthTestAction" + cfg.Instance }

// send is sendActivationToInvoker: the JSON on invoker{N}, no key.
func (lb *LoadBalancer) send(ctx context.Context, instance int, msg *whisk.ActivationMessage) error {
	b, err := json.Marshal(msg)
	if err != nil {
		return fmt.Errorf("controller: encode activation: %w", err)
	}
	rec := &kgo.Record{Topic: whisk.InvokerTopic(lb.cfg.TopicsPrefix, instance), Value: b}
	if err := lb.producer.ProduceSync(ctx, rec).FirstErr(); err != nil {
		return fmt.Errorf("controller: publish to %s: %w", rec.Topic, err)
	}
	return nil
}

// Publish is ShardingContainerPoolBalancer.publish: choose an invoker for
// an action with these limits, record the slot with its forced-completion
// timer, and send the message. A blocking message gets a Completion to
// wait on; a non-blocking one gets nil. Errors are ErrNoInvokers, Kafka's
// (kerr.MessageTooLarge among them), or the context's.
func (lb *LoadBalancer) Publish(ctx context.Context, limits whisk.Limits, msg *whisk.ActivationMessage) (*Completion, error) {
	fqn := msg.Action.Path + "/" + msg.Action.Name
	req := Request{
		Namespace: msg.User.Namespace.Name, Action: fqn, ActionVersion: fqn + "@" + msg.Action.Version,
		MemoryMB: int(limits.Memory), MaxConcurrent: max(limits.Concurrency, 1),
	}
	inv, forced, err := lb.sharding.Publish(req)
	if err != nil {
		return nil, err
	}
	if forced {
		lb.log.Warn("controller: system is overloaded, chose an invoker by random assignment", "invoker", inv.Instance)
	}
	// Forced completion: max(action timeout, 60 s) * 2 + 1 min.
	force := max(time.Duration(limits.Timeout)*time.Millisecond, time.Minute)*2 + time.Minute
	aid := msg.ActivationID
	s := &slot{req: req, invoker: inv.Instance}
	var done *Completion
	lb.mu.Lock()
	s.timer = time.AfterFunc(force, func() { lb.forceComplete(aid) })
	lb.slots[aid] = s
	if msg.Blocking {
		done = &Completion{ID: aid, result: make(chan *whisk.Activation, 1), shrunk: make(chan struct{}, 1), lb: lb}
		lb.promises[aid] = done
	}
	lb.mu.Unlock()
	if err := lb.send(ctx, inv.Instance, msg); err != nil {
		lb.mu.Lock()
		delete(lb.slots, aid)
		delete(lb.promises, aid)
		lb.mu.Unlock()
		s.timer.Stop()
		lb.sharding.Release(inv.Instance, req)
		return nil, err
	}
	return done, nil
}

func (lb *LoadBalancer) forceComplete(aid string) {
	lb.mu.Lock()
	s, ok := lb.slots[aid]
	delete(lb.slots, aid)
	lb.mu.Unlock()
	if !ok {
		return
	}
	lb.log.Warn("controller: forced completion of an activation without ack", "activationId", aid, "invoker", s.invoker)
	lb.sharding.Release(s.invoker, s.req)
	lb.pool.Finished(s.invoker, Timeout)
}
