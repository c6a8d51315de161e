// Package invoker is the drop-in OpenWhisk invoker engine: it speaks the
// classic controller's protocol over Kafka and CouchDB (shared
// openwhisk-wire.md), so an unmodified controller using the
// ShardingContainerPoolBalancer cannot tell it from its own. It consumes
// invoker{N}, fetches actions, admits work by memory like the stock
// ContainerPool, runs it through a Runner, sends the acks in stock order,
// writes activation records, pings health every second and serves the
// invoker's HTTP endpoints. Like the stock invoker it decrypts locked
// (encrypted) arguments, refuses namespaces blacklisted in the subjects
// database (ack only, no record) and checks each action's limits against
// the invoking namespace's.
//
// Delivery is at most once, as stock: offsets are committed right after
// each poll, before the activations run, so a crash loses the activations
// in flight and the controller force-completes them after its timeout.
//
// Sends are bounded as stock's are: an ack Kafka does not take within
// Config.AckTimeout (max.block.ms, 60 s) is dropped with a log line and
// invoker_acks_dropped_total; the activation still gets its record and
// frees its slot, and consumption goes on. Health follows the acks: after
// an ack is dropped for any reason but a missing completed{C} topic (a
// controller that is gone is not this invoker's fault), the invoker sends
// no pings until an ack gets through again, retrying the dropped one once
// a ping period, so the controller takes it offline rather than sending
// it work whose completions would never arrive (ackFlow).
package invoker

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
	"golang.org/x/sync/semaphore"

	"github.com/faasedge/faasedge/activation"
	"github.com/faasedge/faasedge/internal/httpserve"
	"github.com/faasedge/faasedge/whisk"
)

// Engine is one invoker instance.
type Engine struct {
	cfg    Config
	runner Runner
	log    *slog.Logger
	id     whisk.InvokerInstanceID
	m      *metrics

	actions *actionStore
	prewarm *prewarmer // nil without Config.Prewarm.Compiler
	records *recorder
	unlock  unlocker
	blocked *blacklist
	kafka   *producer // acks, events and pings
	// acksFlow is whether acks get through; pings stop while they do not.
	acksFlow ackFlow
	reader   *kafka.Reader

	mem  *semaphore.Weighted // MB of user memory, like the ContainerPool
	peek chan struct{}       // maxPeek: activations taken but not finished
	jobs chan []byte         // messages to a handler waiting for one

	enabled atomic.Bool
	started atomic.Bool
	pingMu  sync.Mutex // orders enable/disable pings

	bg       context.Context // cancelled at the very end of Shutdown
	stopBg   context.CancelFunc
	work     context.Context // cancelled when the shutdown grace period ends
	stopWork context.CancelFunc
	consume  context.CancelFunc
	consumed chan struct{}
	pinged   chan struct{}
	inflight sync.WaitGroup

	ln       net.Listener
	tls      *tls.Config
	srv      *http.Server
	shutOnce sync.Once
	shutErr  error
}

// New builds an engine. It does not touch the network; Start does.
func New(ctx context.Context, cfg Config) (*Engine, error) {
	e := &Engine{cfg: cfg, runner: cfg.Runner, log: cfg.Logger, tls: cfg.TLS}
	e.cfg.setDefaults()
	if err := e.cfg.validate(); err != nil {
		return nil, err
	}
	if e.log == nil {
		e.log = slog.Default()
	}
	if e.runner == nil {
		e.runner = Kinds{"nodejs": &JSRunner{}}
	}
	e.id = whisk.NewInvokerInstanceID(e.cfg.Instance, e.cfg.UserMemory, e.cfg.UniqueName, e.cfg.DisplayedName, e.cfg.Tags)
	e.log = e.log.With("invoker", e.id.String())

	couch, err := OpenCouch(e.cfg.Couch)
	if err != nil {
		return nil, err
	}
	topic := whisk.InvokerTopic(e.cfg.TopicsPrefix, e.cfg.Instance)
	peek := e.cfg.MaxPeek()
	e.reader = kafka.NewReader(kafka.ReaderConfig{
		Brokers:           e.cfg.KafkaBrokers,
		GroupID:           topic,
		Topic:             topic,
		MinBytes:          1,
		MaxBytes:          2 * whisk.MaxActivationMessageBytes,
		MaxWait:           500 * time.Millisecond, // fetch.max.wait.ms
		QueueCapacity:     peek,
		StartOffset:       kafka.FirstOffset, // auto.offset.reset=earliest
		SessionTimeout:    30 * time.Second,
		HeartbeatInterval: 3 * time.Second,
		ReadBackoffMin:    10 * time.Millisecond,
		ReadBackoffMax:    time.Second,
		GroupBalancers:    []kafka.GroupBalancer{topicBalancer{topic: topic}},
		Logger: kafka.LoggerFunc(func(f string, a ...any) {
			e.log.Debug("kafka reader", "msg", fmt.Sprintf(f, a...))
		}),
		ErrorLogger: kafka.LoggerFunc(func(f string, a ...any) {
			e.log.Debug("kafka reader", "msg", fmt.Sprintf(f, a...))
		}),
	})
	e.m = newMetrics(func() float64 { return float64(e.reader.Stats().Lag) })
	for _, c := range e.cfg.Metrics {
		if err := e.m.reg.Register(c); err != nil {
			return nil, fmt.Errorf("invoker: metrics: %w", err)
		}
	}
	e.actions = &actionStore{db: couch.DB(e.cfg.Couch.ActionsDB), nodejsDefault: e.cfg.NodejsDefault, log: e.log, cache: map[string]*storedAction{}}
	if e.cfg.Prewarm.Compiler != nil {
		if e.prewarm, err = newPrewarmer(e.cfg, e.actions, e.log, newPrewarmMetrics(e.m.reg)); err != nil {
			return nil, err
		}
	}
	e.records = newRecorder(couch.DB(e.cfg.Couch.ActivationsDB), e.log, e.m)
	if e.unlock, err = newUnlocker(e.cfg.ParameterStorage); err != nil {
		return nil, fmt.Errorf("invoker: parameter storage: %w", err)
	}
	e.blocked = &blacklist{log: e.log, m: e.m}
	if e.cfg.Couch.AuthDB != "" {
		e.blocked.db = couch.DB(e.cfg.Couch.AuthDB)
	} else {
		e.log.Info("no subjects database configured (CONFIG_whisk_couchdb_databases_WhiskAuth): no namespace blacklist")
	}
	e.kafka = newProducer(e.cfg.KafkaBrokers)
	e.mem = semaphore.NewWeighted(e.cfg.UserMemory.MB())
	e.peek = make(chan struct{}, peek)
	e.jobs = make(chan []byte)
	e.enabled.Store(true)
	e.bg, e.stopBg = context.WithCancel(context.WithoutCancel(ctx))
	e.work, e.stopWork = context.WithCancel(e.bg)
	return e, nil
}

// ID is the instance id the engine pings with.
func (e *Engine) ID() whisk.InvokerInstanceID { return e.id }

// Config is the effective configuration.
func (e *Engine) Config() Config { return e.cfg }

// HTTPAddr is the address the endpoints listen on, once started.
func (e *Engine) HTTPAddr() string {
	if e.ln == nil {
		return ""
	}
	return e.ln.Addr().String()
}

// Start creates invoker{N}, starts the HTTP endpoints, the health pings,
// the record writer and the consumer. It returns once they run.
func (e *Engine) Start(ctx context.Context) error {
	topic := whisk.InvokerTopic(e.cfg.TopicsPrefix, e.cfg.Instance)
	wait := 200 * time.Millisecond
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := EnsureTopic(ctx, e.cfg.KafkaBrokers, topic, invokerTopicConfig)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("invoker: %w", err)
		}
		e.log.Warn("creating the invoker topic failed, retrying", "topic", topic, "err", err)
		if backoff(ctx, &wait, 2*time.Second) != nil {
			return fmt.Errorf("invoker: %w", err)
		}
	}
	if e.cfg.HTTPAddr != "" {
		ln, err := net.Listen("tcp", e.cfg.HTTPAddr)
		if err != nil {
			return fmt.Errorf("invoker: listen %s: %w", e.cfg.HTTPAddr, err)
		}
		if e.tls != nil {
			ln = tls.NewListener(ln, e.tls)
		}
		e.ln = ln
		e.srv = httpserve.Server(e.Handler(), HTTPLimits)
		go func() {
			if err := e.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				e.log.Error("http server", "err", err)
			}
		}()
	}
	go e.records.run(e.bg)
	go e.kafka.run(e.bg)
	go e.blocked.run(e.bg, e.cfg.BlacklistPollInterval)
	if e.prewarm != nil {
		e.prewarm.start(e.bg)
	}
	consumeCtx, cancel := context.WithCancel(e.bg)
	e.consume = cancel
	e.consumed = make(chan struct{})
	e.pinged = make(chan struct{})
	e.started.Store(true)
	if !e.enabled.Load() {
		e.ping(consumeCtx, false)
	}
	go e.pingLoop(consumeCtx)
	go e.consumeLoop(consumeCtx)
	e.log.Info("invoker started", "topic", topic, "userMemory", e.cfg.UserMemory.String(), "maxPeek", cap(e.peek))
	return nil
}

// Run starts the engine and serves until ctx ends, then shuts down within
// the configured grace period.
func (e *Engine) Run(ctx context.Context) error {
	if err := e.Start(ctx); err != nil {
		return err
	}
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.cfg.ShutdownTimeout+30*time.Second)
	defer cancel()
	return e.Shutdown(sctx)
}

// Shutdown stops consuming and pinging, lets the activations in flight
// finish (cancelling them once ShutdownTimeout has passed), sends every ack
// and writes every record, then closes the connections. ctx bounds the
// whole; records still unwritten when it ends are reported in the error.
func (e *Engine) Shutdown(ctx context.Context) error {
	e.shutOnce.Do(func() { e.shutErr = e.shutdown(ctx) })
	return e.shutErr
}

func (e *Engine) shutdown(ctx context.Context) error {
	if e.consume != nil {
		e.consume()
		<-e.consumed
		<-e.pinged
	}
	rerr := e.reader.Close()
	done := make(chan struct{})
	go func() { e.inflight.Wait(); close(done) }()
	grace := time.NewTimer(e.cfg.ShutdownTimeout)
	defer grace.Stop()
	select {
	case <-done:
	case <-grace.C:
		e.log.Warn("shutdown grace period over, cancelling activations in flight")
		e.stopWork()
	case <-ctx.Done():
		e.stopWork()
	}
	var errs []error
	select {
	case <-done:
	case <-ctx.Done():
		errs = append(errs, fmt.Errorf("invoker: activations still in flight: %w", ctx.Err()))
	}
	if e.consume != nil {
		errs = append(errs, e.records.close(ctx))
	}
	e.stopWork()
	e.stopBg()
	if e.prewarm != nil && e.consume != nil {
		<-e.prewarm.done
	}
	if e.srv != nil {
		errs = append(errs, e.srv.Shutdown(ctx))
	}
	e.kafka.close()
	if rerr != nil {
		e.log.Debug("closing the consumer", "err", rerr)
	}
	e.log.Info("invoker stopped")
	return errors.Join(errs...)
}

// consumeLoop polls invoker{N}: it takes what is buffered, up to the free
// maxPeek capacity, commits the offsets, then hands the messages to
// handlers. The commit comes before processing (at most once, as stock).
func (e *Engine) consumeLoop(ctx context.Context) {
	defer close(e.consumed)
	done, cancelDone := context.WithCancel(context.Background())
	cancelDone() // an already-ended context: take only what is buffered
	wait := 50 * time.Millisecond
	for {
		select {
		case e.peek <- struct{}{}:
		case <-ctx.Done():
			return
		}
		first, err := e.reader.FetchMessage(ctx)
		if err != nil {
			<-e.peek
			if ctx.Err() != nil {
				return
			}
			e.m.kafkaErrors.WithLabelValues("fetch").Inc()
			e.log.Warn("kafka fetch failed, retrying", "err", err)
			if backoff(ctx, &wait, 2*time.Second) != nil {
				return
			}
			continue
		}
		wait = 50 * time.Millisecond
		batch := []kafka.Message{first}
		// Take what the reader has already fetched without waiting for
		// more: kafka-go has no non-blocking fetch (TryFetchMessage was
		// proposed in segmentio/kafka-go#825 and #826 and not merged), so
		// FetchMessage gets an ended context. Its select between that
		// context and a ready message picks at random, so stop only after
		// a few misses in a row.
	drain:
		for misses := 0; misses < 4; {
			select {
			case e.peek <- struct{}{}:
			default:
				break drain
			}
			m, err := e.reader.FetchMessage(done)
			if err != nil {
				<-e.peek
				misses++
				continue
			}
			batch = append(batch, m)
			misses = 0
		}
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		if err := e.reader.CommitMessages(cctx, batch...); err != nil {
			e.m.kafkaErrors.WithLabelValues("commit").Inc()
			e.log.Warn("kafka commit failed", "err", err)
		}
		cancel()
		for _, m := range batch {
			e.inflight.Add(1)
			select {
			case e.jobs <- m.Value:
			default:
				go e.handler(m.Value)
			}
		}
	}
}

// handlerIdle is how long a handler waits for another message before it
// ends: under load messages keep coming, and at rest none stays.
const handlerIdle = 5 * time.Second

// handler handles value, then the messages the consumer hands it while it
// waits. A goroutine per message would grow a fresh stack through the JSON
// decoder and the runner every time (copying it, a tenth of the invoker's
// CPU at saturation); a handler's stack has grown already. Handlers are
// bounded by the messages taken (maxPeek), as goroutines per message were.
func (e *Engine) handler(value []byte) {
	idle := time.NewTimer(handlerIdle)
	defer idle.Stop()
	for {
		e.handle(value)
		idle.Reset(handlerIdle)
		select {
		case value = <-e.jobs:
		case <-idle.C:
			return
		case <-e.bg.Done():
			return
		}
	}
}

// handle runs one message to its end: exactly one slot-freeing ack on every
// path, and the record.
func (e *Engine) handle(value []byte) {
	e.log.Debug("activation message", "bytes", len(value))
	defer e.inflight.Done()
	defer func() { <-e.peek }()
	msg, err := whisk.ParseActivationMessage(value)
	if err != nil {
		// Nothing to ack to: the controller force-completes it, as stock.
		e.m.unparseable.Inc()
		e.log.Error("skipping a message that is not an activation", "err", err, "bytes", len(value))
		return
	}
	e.process(msg)
}

func (e *Engine) process(msg *whisk.ActivationMessage) {
	if e.blocked.blocked(msg.User.Namespace.Name) {
		e.log.Warn("namespace is blacklisted, activation not run", "namespace", msg.User.Namespace.Name, "activation", msg.ActivationID)
		e.finish(msg, e.fallbackActivation(msg, whisk.ErrorResponse(whisk.StatusApplicationError, whisk.MsgNamespaceBlacklisted)), blacklistedAck)
		return
	}
	act, err := e.actions.get(e.work, msg.Action, msg.Revision)
	if err == nil {
		// The stock invoker checks every fetched action against the
		// invoking namespace's limits (ActionLimitsException).
		if lerr := act.Limits.CheckNamespace(msg.User.Limits, e.cfg.Limits); lerr != nil {
			err = fetchFailure(whisk.StatusApplicationError, lerr.Error(), fmt.Errorf("action %s: %w", act.Name.DocID(), lerr))
		}
	}
	if err != nil {
		var fe *fetchError
		resp := whisk.ErrorResponse(whisk.StatusWhiskError, whisk.MsgActionFetchFailed)
		if errors.As(err, &fe) {
			resp = fe.resp
		}
		e.log.Warn("action not runnable", "activation", msg.ActivationID, "err", err)
		e.finish(msg, e.fallbackActivation(msg, resp), fallbackAck)
		return
	}
	inv, err := e.invocation(msg, act)
	if err != nil {
		// Stock throws here (unlockArguments in the container proxy) and
		// sends nothing, leaving the controller to force the completion
		// minutes later. Every activation gets its ack instead: a whisk
		// error with the stock text for an unexpected internal error, as
		// keys that do not match the controller's are the operator's fault.
		e.m.lockedArgs.Inc()
		e.log.Error("a locked argument does not decrypt", "activation", msg.ActivationID, "action", act.Name.DocID(), "err", err)
		e.finish(msg, e.fallbackActivation(msg, whisk.ErrorResponse(whisk.StatusWhiskError, whisk.MsgAbnormalRun)), fallbackAck)
		return
	}
	memMB := min(max(act.Limits.Memory, 1), e.cfg.UserMemory.MB())
	e.m.queued.Inc()
	err = e.mem.Acquire(e.work, memMB)
	e.m.queued.Dec()
	var res activation.Result
	if err != nil {
		// Shutdown cancelled a job still waiting for memory.
		res = activation.Failed(whisk.StatusWhiskError, whisk.MsgAbnormalRun)
	} else {
		e.m.running.Inc()
		res = e.run(&act.Action, inv)
		e.m.running.Dec()
		e.mem.Release(memMB)
	}
	shape := splitAcks
	if act.Limits.Logs == 0 {
		shape = combinedAck
	}
	e.finish(msg, e.record(msg, act, res), shape)
}

// run calls the runner; a panic in it becomes a whisk error, so that the
// activation is still acked and recorded.
func (e *Engine) run(act *activation.Action, inv activation.Invocation) (res activation.Result) {
	defer func() {
		if p := recover(); p != nil {
			e.log.Error("runner panicked", "action", act.Name.DocID(), "panic", p, "stack", string(debug.Stack()))
			res = activation.Failed(whisk.StatusWhiskError, whisk.MsgAbnormalRun)
		}
	}()
	return e.runner.Run(e.work, act, inv)
}

// ackShape is which acks an activation gets (openwhisk-wire.md 2.5).
type ackShape int

const (
	// splitAcks: logs are collected. Blocking gets Result then Completion,
	// non-blocking Completion only.
	splitAcks ackShape = iota
	// combinedAck: log limit 0. Blocking gets one Combined, non-blocking
	// Completion only.
	combinedAck
	// fallbackAck: the invoker could not run the action. One Combined,
	// shrunk when non-blocking.
	fallbackAck
	// blacklistedAck: the namespace is blacklisted. One shrunk Combined
	// whatever blocking says, and no record (protective, as stock).
	blacklistedAck
)

// finish sends the acks in stock order, exactly one of them freeing the
// controller's slot, then queues the record and sends the user event.
func (e *Engine) finish(msg *whisk.ActivationMessage, f finished, shape ackShape) {
	a := f.record
	code := a.Response.StatusCode
	e.m.activations.WithLabelValues(code.String()).Inc()
	topic := whisk.CompletedTopic(e.cfg.TopicsPrefix, msg.RootControllerIndex.AsString)
	sysErr := code.IsSystemError()
	full := func() json.RawMessage {
		acked := a
		acked.Logs = []string{}
		b, _ := json.Marshal(acked)
		return b
	}
	switch {
	case shape == blacklistedAck || (shape == fallbackAck && !msg.Blocking):
		e.sendAck(msg, topic, whisk.CombinedAck(msg.TransID, whisk.ShrunkResponse(msg.ActivationID), sysErr, e.id))
	case shape != splitAcks && msg.Blocking:
		e.sendAck(msg, topic, whisk.CombinedAck(msg.TransID, full(), sysErr, e.id))
	case msg.Blocking:
		e.sendAck(msg, topic, whisk.ResultAck(msg.TransID, full()))
		e.sendAck(msg, topic, whisk.CompletionAck(msg.TransID, msg.ActivationID, sysErr, e.id))
	default:
		e.sendAck(msg, topic, whisk.CompletionAck(msg.TransID, msg.ActivationID, sysErr, e.id))
	}
	if shape != blacklistedAck && (msg.User.Limits.StoreActivations == nil || *msg.User.Limits.StoreActivations) {
		e.records.add(whisk.NewActivationDoc(a, time.Now().UnixMilli()))
	}
	if e.cfg.UserEvents {
		e.sendEvent(msg, f)
	}
}

// finished is an activation's record, and what its user event reports
// that the record only has in annotations.
type finished struct {
	record whisk.Activation
	// event holds the name, kind, wait and init times, memory and cause.
	event whisk.ActivationEventBody
}

// sendAck produces one ack, retrying for at most AckTimeout, the stock
// producer's max.block.ms: past it the ack is dropped with a log line and
// a count, so that the activation still gets its record and frees its
// slot, and the controller force-completes it as it does when a stock
// invoker's send fails. A record too large for the topic is sent again
// with the response shrunk to the id; the controller then reads the record
// from the database.
func (e *Engine) sendAck(msg *whisk.ActivationMessage, topic string, ack whisk.Ack) {
	b, _ := ack.AppendJSON(nil)
	ctx, cancel := context.WithTimeout(e.bg, e.cfg.AckTimeout)
	defer cancel()
	wait := 50 * time.Millisecond
	var last error
	for {
		err := e.kafka.send(ctx, topic, b)
		if err == nil {
			e.m.acks.WithLabelValues(ack.Kind().String()).Inc()
			e.acksFlow.delivered()
			return
		}
		if tooLarge(err) && len(ack.Response) > 0 && ack.Response[0] != '"' {
			ack.Response = whisk.ShrunkResponse(msg.ActivationID)
			b, _ = ack.AppendJSON(nil)
			continue
		}
		if ctx.Err() == nil {
			last = err
			e.m.kafkaErrors.WithLabelValues("ack").Inc()
			e.log.Warn("sending ack failed, retrying", "activation", msg.ActivationID, "kind", ack.Kind(), "err", err)
		}
		if ctx.Err() != nil || backoff(ctx, &wait, 2*time.Second) != nil {
			e.dropAck(msg, topic, ack.Kind(), b, last)
			return
		}
	}
}

// dropAck gives up on an ack. A missing completed{C} topic means its
// controller is gone (or never was): that is no fault of this invoker and
// leaves its health alone. Any other failure means acks do not get
// through, and the invoker stops pinging until one does (ackFlow).
func (e *Engine) dropAck(msg *whisk.ActivationMessage, topic string, kind whisk.AckKind, b []byte, last error) {
	if e.bg.Err() != nil {
		e.log.Error("ack lost at shutdown", "activation", msg.ActivationID, "kind", kind)
		return
	}
	reason := "timeout"
	if noTopic(last) {
		reason = "no_topic"
	} else {
		e.acksFlow.failed(topic, b)
	}
	e.m.acksDropped.WithLabelValues(kind.String(), reason).Inc()
	e.log.Error("ack dropped: not delivered within max.block.ms", "activation", msg.ActivationID, "kind", kind,
		"topic", topic, "reason", reason, "timeout", e.cfg.AckTimeout, "err", last)
}

// sendEvent emits the Activation user event, once per slot-freeing ack.
func (e *Engine) sendEvent(msg *whisk.ActivationMessage, f finished) {
	a, body := f.record, f.event
	body.ActivationID, body.StatusCode, body.Size = a.ActivationID, int(a.Response.StatusCode), a.Response.Size
	if a.Duration != nil {
		body.Duration = *a.Duration
	}
	body.UserDefinedStatusCode = userStatusCode(a.Response.Result)
	bb, _ := json.Marshal(body)
	ev := whisk.EventMessage{
		Source: "invoker" + strconv.Itoa(e.cfg.Instance), Body: bb,
		Subject: msg.User.Subject, Namespace: msg.User.Namespace.Name, UserID: msg.User.Namespace.UUID,
		EventType: "Activation", Timestamp: time.Now().UnixMilli(),
	}
	b, _ := json.Marshal(ev)
	if err := e.kafka.send(e.bg, whisk.EventsTopic(e.cfg.UserEventsPrefix), b); err != nil {
		e.m.kafkaErrors.WithLabelValues("event").Inc()
		e.log.Warn("user event not sent", "activation", msg.ActivationID, "err", err)
	}
}

// userStatusCode is result.error.statusCode or result.statusCode; 400 when
// that is not an integer.
func userStatusCode(result json.RawMessage) *int {
	var r struct {
		Error      json.RawMessage `json:"error"`
		StatusCode json.RawMessage `json:"statusCode"`
	}
	if json.Unmarshal(result, &r) != nil {
		return nil
	}
	raw := r.StatusCode
	var inner struct {
		StatusCode json.RawMessage `json:"statusCode"`
	}
	if len(r.Error) > 0 && json.Unmarshal(r.Error, &inner) == nil && len(inner.StatusCode) > 0 {
		raw = inner.StatusCode
	}
	if len(raw) == 0 {
		return nil
	}
	var n int
	if json.Unmarshal(raw, &n) != nil {
		n = 400
	}
	return &n
}

// invocation decrypts the locked arguments and builds the run value and
// the init environment (openwhisk-wire.md 6.2, 6.4).
func (e *Engine) invocation(msg *whisk.ActivationMessage, act *storedAction) (activation.Invocation, error) {
	value, err := e.unlock.unlock(msg.Content, msg.LockedArgs)
	if err != nil {
		return activation.Invocation{}, err
	}
	var initArgs map[string]string
	if len(msg.InitArgs) > 0 && len(value) > 0 && value[0] == '{' {
		var fields map[string]json.RawMessage
		if json.Unmarshal(value, &fields) == nil {
			initArgs = make(map[string]string, len(msg.InitArgs))
			for _, k := range msg.InitArgs {
				if v, ok := fields[k]; ok {
					initArgs[k] = envString(v)
					delete(fields, k)
				}
			}
			value, _ = json.Marshal(fields)
		}
	}
	if len(value) == 0 {
		value = json.RawMessage("{}")
	}
	in := activation.Invocation{
		ID: activation.ID(msg.ActivationID), TransID: msg.TransID, Namespace: msg.User.Namespace.Name,
		Deadline: time.Now().Add(time.Duration(act.Limits.Timeout) * time.Millisecond),
		Value:    value, InitArgs: initArgs, APIHost: e.cfg.APIHost,
		MaxPayload: msg.User.Limits.AllowedMaxPayloadSize(),
	}
	if act.provideAPIKey {
		in.APIKey = msg.User.AuthKey.APIKey
	}
	return in, nil
}

// envString stringifies an init argument: strings as they are, null as "",
// anything else as compact JSON.
func envString(v json.RawMessage) string {
	var s string
	if json.Unmarshal(v, &s) == nil {
		return s
	}
	if string(v) == "null" {
		return ""
	}
	return string(v)
}

// record builds the record of a run (ContainerProxy
// constructWhiskActivation).
func (e *Engine) record(msg *whisk.ActivationMessage, act *storedAction, res activation.Result) finished {
	start, end := res.Start.UnixMilli(), res.End.UnixMilli()
	if end < start {
		end = start
	}
	dur := end - start
	// The action's own annotations were encoded when it was read; the
	// others are a boolean, numbers and constants, appended as written.
	ann := append(make(whisk.Annotations, 0, len(act.annotations)+7), act.annotations...)
	ann = append(ann, whisk.KeyValue{Key: "timeout", Value: strconv.AppendBool(nil, res.TimedOut)})
	if msg.Cause != "" {
		ann = append(ann, whisk.KeyValue{Key: "causedBy", Value: json.RawMessage(`"sequence"`)})
	}
	if res.Cold {
		ann = append(ann, whisk.KeyValue{Key: "initTime", Value: strconv.AppendInt(nil, res.InitTime.Milliseconds(), 10)})
	}
	wait := max(start-msg.TransID.Start, 0)
	ann = append(ann, whisk.KeyValue{Key: "waitTime", Value: strconv.AppendInt(nil, wait, 10)})
	if f := res.Fetch; f != (activation.Fetch{}) {
		// Not stock: the part of the duration spent waiting for mounted
		// data, in ms to the microsecond (a local read takes less than one).
		ann = append(ann,
			whisk.KeyValue{Key: "fetchTime", Value: strconv.AppendFloat(nil, float64(f.Time.Microseconds())/1000, 'f', -1, 64)},
			whisk.KeyValue{Key: "fetchBytes", Value: strconv.AppendInt(nil, f.Bytes, 10)})
		e.m.fetchTime.Observe(f.Time.Seconds())
		e.m.fetchBytes.Add(float64(f.Bytes))
	}
	if msg.Action.Binding != "" {
		ann.Set("binding", msg.Action.Binding)
	}
	startLabel := "warm"
	if res.Cold {
		startLabel = "cold"
	}
	e.m.duration.WithLabelValues(startLabel).Observe(float64(dur) / 1000)
	e.m.waitTime.Observe(float64(wait) / 1000)
	logs := res.Logs
	if logs == nil {
		logs = []string{}
	}
	f := finished{record: whisk.Activation{
		Namespace: msg.User.Namespace.Name, Name: act.Name.Name, Subject: msg.User.Subject,
		ActivationID: msg.ActivationID, Start: start, End: end, Cause: msg.Cause,
		Response: res.Response, Logs: logs, Version: act.Version, Publish: false,
		Annotations: ann, Duration: &dur,
	}, event: whisk.ActivationEventBody{Name: act.Name.DocID(), Kind: act.Kind, WaitTime: wait, Memory: act.Limits.Memory}}
	if res.Cold {
		f.event.InitTime = res.InitTime.Milliseconds()
	}
	if msg.Cause != "" {
		f.event.CausedBy = "sequence"
	}
	return f
}

// fallbackActivation is the stock activation for an action that could not
// be fetched: start = end = now, path and kind "unknown" only.
func (e *Engine) fallbackActivation(msg *whisk.ActivationMessage, resp whisk.ActivationResponse) finished {
	now := time.Now().UnixMilli()
	ev := whisk.ActivationEventBody{Name: msg.Action.DocID(), Kind: "unknown"}
	var ann whisk.Annotations
	ann.Set("path", ev.Name)
	ann.Set("kind", ev.Kind)
	if msg.Cause != "" {
		ev.CausedBy = "sequence"
		ann.Set("causedBy", ev.CausedBy)
	}
	version := msg.Action.Version
	if version == "" {
		version = "0.0.1"
	}
	var zero int64
	return finished{record: whisk.Activation{
		Namespace: msg.User.Namespace.Name, Name: msg.Action.Name, Subject: msg.User.Subject,
		ActivationID: msg.ActivationID, Start: now, End: now, Cause: msg.Cause,
		Response: resp, Logs: []string{}, Version: version, Annotations: ann, Duration: &zero,
	}, event: ev}
}

// pingLoop sends the PingMessage every PingInterval while enabled.
func (e *Engine) pingLoop(ctx context.Context) {
	defer close(e.pinged)
	t := time.NewTicker(e.cfg.PingInterval)
	defer t.Stop()
	for {
		if e.enabled.Load() && e.acksGetThrough(ctx) {
			e.ping(ctx, true)
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			return
		}
	}
}

func (e *Engine) ping(ctx context.Context, enabled bool) {
	e.pingMu.Lock()
	defer e.pingMu.Unlock()
	b, _ := json.Marshal(whisk.PingMessage{Name: e.id, IsEnabled: &enabled})
	pctx, cancel := context.WithTimeout(ctx, e.cfg.PingInterval)
	defer cancel()
	if err := e.kafka.send(pctx, whisk.HealthTopic(e.cfg.TopicsPrefix), b); err != nil && ctx.Err() == nil {
		e.m.kafkaErrors.WithLabelValues("ping").Inc()
		e.log.Warn("health ping failed", "err", err)
	}
}

// SetEnabled is what POST /enable and /disable do. Disabling sends one
// ping with isEnabled false and stops the pings; the invoker keeps
// consuming, as stock. It reports whether the state changed.
//
// Before Start it only sets the state: Start then sends the disabled ping
// once invoker{N} exists, so the controller never tests an invoker whose
// topic is missing.
func (e *Engine) SetEnabled(ctx context.Context, on bool) bool {
	if e.enabled.Swap(on) == on {
		return false
	}
	if e.started.Load() {
		e.ping(ctx, on)
	}
	return true
}

// Enabled reports whether the invoker pings as enabled.
func (e *Engine) Enabled() bool { return e.enabled.Load() }
