package kafka

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"
)

// Consumer states, upstream's names as /health shows them.
const (
	stateInitializing = "Initializing"
	stateRunning      = "Running"
	stateDead         = "Dead"
	stateDisabled     = "Disabled"
)

// Batching and firing constants of upstream's consumer.py.
const (
	batchWindow = 2 * time.Second // a batch collects for at most this long
	idleStop    = time.Second     // and stops when no message came for this long
	fireTimeout = 10 * time.Second
	maxRetries  = 6 // retries of a 408/409/5xx fire before the batch is skipped
)

// errDisabled ends a consumer whose trigger was disabled on a 4xx.
var errDisabled = errors.New("trigger disabled")

// consumer fires one trigger from one topic. It runs in its own goroutine
// until its context is cancelled or the trigger is disabled.
type consumer struct {
	p       *Provider
	t       *Trigger
	log     *slog.Logger
	cancel  context.CancelFunc
	done    chan struct{}
	started time.Time

	mu       sync.Mutex
	current  string
	desired  string
	lastPoll time.Time
	restarts int
	problem  string
	// topicWasMissing is set when the topic did not exist at a check: it
	// then starts from its first offset, since every message on it came
	// after the trigger.
	topicWasMissing bool
	// fired is the next offset of each partition this consumer has fired
	// or skipped: a new group generation never starts before it, so while
	// the provider stays up nothing is fired twice, even when a commit was
	// lost with the broker.
	fired map[int]int64
}

func newConsumer(p *Provider, t *Trigger) *consumer {
	c := &consumer{p: p, t: t, log: p.log.With("trigger", t.ID), done: make(chan struct{}),
		current: stateInitializing, desired: stateRunning, fired: map[int]int64{}, started: time.Now()}
	if !t.active() {
		c.current, c.desired = stateDisabled, stateDisabled
		close(c.done)
	}
	return c
}

func (c *consumer) set(f func()) {
	c.mu.Lock()
	f()
	c.mu.Unlock()
}

func (c *consumer) desiredState() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.desired
}

// start runs the consumer after prev (a consumer of the same trigger being
// shut down, or nil) has left the group, so that a trigger deleted and
// created again does not rebalance against its own ghost.
func (c *consumer) start(ctx context.Context, prev *consumer) {
	ctx, c.cancel = context.WithCancel(ctx)
	go func() {
		defer close(c.done)
		if prev != nil {
			select {
			case <-prev.done:
			case <-ctx.Done():
				return
			}
		}
		c.run(ctx)
	}()
}

// stop asks the consumer to end with the given desired state and returns
// at once; done closes when it has left the group.
func (c *consumer) stop(desired string) {
	c.set(func() { c.desired = desired })
	if c.cancel != nil {
		c.cancel()
	}
}

func (c *consumer) run(ctx context.Context) {
	backoff := time.Second
	for {
		err := c.session(ctx)
		if ctx.Err() != nil {
			c.set(func() { c.current = c.desired })
			return
		}
		if errors.Is(err, errDisabled) {
			c.set(func() { c.current, c.desired = stateDisabled, stateDisabled })
			return
		}
		c.log.Warn("kafkafeed: consumer restarting", "err", err, "in", backoff)
		c.setProblem(ctx, err.Error())
		c.set(func() { c.restarts++; c.current = stateInitializing })
		select {
		case <-ctx.Done():
			c.set(func() { c.current = c.desired })
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}

// setProblem records why the trigger is not consuming (or clears it with
// ""), in memory for /health and in the document's status.reason for READ,
// where upstream stays silent.
func (c *consumer) setProblem(ctx context.Context, problem string) {
	c.mu.Lock()
	same := c.problem == problem
	c.problem = problem
	c.mu.Unlock()
	if same {
		return
	}
	st := Status{Active: true, DateChanged: nowMillis()}
	if problem != "" {
		st.Reason = &Reason{Kind: "ERROR", Message: problem}
	}
	uuid := c.t.UUID
	err := c.p.store.setStatus(ctx, c.t.ID, func(t *Trigger) bool { return t.UUID == uuid && t.active() }, st)
	if err != nil && ctx.Err() == nil {
		c.log.Warn("kafkafeed: record trigger status", "err", err)
	}
}

func (c *consumer) dialer() (*kafkago.Dialer, error) {
	d := &kafkago.Dialer{Timeout: 10 * time.Second, DualStack: true}
	proto := c.t.SecurityProto
	if proto == "" && c.t.IsMessageHub {
		proto = "SASL_SSL"
	}
	if proto == "SSL" || proto == "SASL_SSL" {
		cfg := &tls.Config{MinVersion: tls.VersionTLS12}
		if c.t.SSLCA != "" {
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM([]byte(c.t.SSLCA)) {
				return nil, errors.New("ssl_ca holds no PEM certificate")
			}
			cfg.RootCAs = pool
		}
		d.TLS = cfg
	}
	if proto == "SASL_PLAINTEXT" || proto == "SASL_SSL" {
		m, err := saslMechanism(c.t.SASLMechanism, c.t.Username, c.t.Password)
		if err != nil {
			return nil, err
		}
		d.SASLMechanism = m
	}
	return d, nil
}

func saslMechanism(name, user, pass string) (sasl.Mechanism, error) {
	switch name {
	case "", "PLAIN":
		return plain.Mechanism{Username: user, Password: pass}, nil
	case "SCRAM-SHA-256":
		return scram.Mechanism(scram.SHA256, user, pass)
	case "SCRAM-SHA-512":
		return scram.Mechanism(scram.SHA512, user, pass)
	}
	return nil, fmt.Errorf("unsupported sasl_mechanism %q", name)
}

// checkTopic finds the topic's partitions on the first broker that
// answers. A group reader on a missing topic would wait without an error.
func (c *consumer) checkTopic(ctx context.Context, d *kafkago.Dialer) error {
	var errs []error
	for _, b := range c.t.Brokers {
		conn, err := d.DialContext(ctx, "tcp", b)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		parts, err := conn.ReadPartitions(c.t.Topic)
		conn.Close()
		switch {
		case errors.Is(err, kafkago.UnknownTopicOrPartition) || (err == nil && len(parts) == 0):
			c.set(func() { c.topicWasMissing = true })
			return fmt.Errorf("topic %q does not exist on brokers %s", c.t.Topic, strings.Join(c.t.Brokers, ","))
		case err != nil:
			errs = append(errs, err)
		default:
			return nil
		}
	}
	return fmt.Errorf("no broker of %s is reachable: %w", strings.Join(c.t.Brokers, ","), errors.Join(errs...))
}

// session is one membership of the consumer group (group id: the trigger's
// FQN, as upstream), from the topic check to an error or the end.
func (c *consumer) session(ctx context.Context) error {
	d, err := c.dialer()
	if err != nil {
		return err
	}
	if err := c.checkTopic(ctx, d); err != nil {
		return err
	}
	cg, err := kafkago.NewConsumerGroup(kafkago.ConsumerGroupConfig{
		ID:                c.t.ID,
		Brokers:           c.t.Brokers,
		Dialer:            d,
		Topics:            []string{c.t.Topic},
		StartOffset:       kafkago.LastOffset,
		SessionTimeout:    10 * time.Second, // at least kfake's and Kafka's 6 s minimum
		RebalanceTimeout:  10 * time.Second,
		HeartbeatInterval: 3 * time.Second,
		JoinGroupBackoff:  time.Second,
		Timeout:           10 * time.Second,
	})
	if err != nil {
		return err
	}
	defer cg.Close()
	for {
		gen, err := cg.Next(ctx)
		if err != nil {
			return err
		}
		if err := c.generation(ctx, d, gen); err != nil {
			return err
		}
	}
}

// generation consumes the partitions assigned in gen until the group
// rebalances (nil) or the consumer ends (an error).
func (c *consumer) generation(ctx context.Context, d *kafkago.Dialer, gen *kafkago.Generation) error {
	assigned := gen.Assignments[c.t.Topic]
	start := map[int]int64{}
	commit := map[int]int64{}
	for _, pa := range assigned {
		off := pa.Offset
		c.mu.Lock()
		fromFirst := c.topicWasMissing
		c.mu.Unlock()
		if off < 0 { // no committed offset: the latest, as upstream's auto.offset.reset
			var err error
			if off, err = c.edgeOffset(ctx, d, pa.ID, fromFirst); err != nil {
				return err
			}
		}
		c.mu.Lock()
		if f, ok := c.fired[pa.ID]; ok && f > off {
			off = f
		}
		c.mu.Unlock()
		start[pa.ID] = off
		if off != pa.Offset {
			commit[pa.ID] = off
		}
	}
	// Committing the starting point makes a restart resume from here
	// instead of from the then latest offset.
	if len(commit) > 0 {
		if err := gen.CommitOffsets(map[string]map[int]int64{c.t.Topic: commit}); err != nil {
			return fmt.Errorf("commit starting offsets: %w", err)
		}
	}
	c.setProblem(ctx, "")
	c.set(func() { c.current = stateRunning; c.lastPoll = time.Now() })

	errc := make(chan error, 1)
	gen.Start(func(gctx context.Context) {
		lctx, cancel := context.WithCancel(gctx)
		defer cancel()
		stop := context.AfterFunc(ctx, cancel)
		defer stop()
		errc <- c.consume(lctx, d, gen, start)
	})
	err := <-errc
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// edgeOffset is the partition's latest offset, or its first when first.
func (c *consumer) edgeOffset(ctx context.Context, d *kafkago.Dialer, partition int, first bool) (int64, error) {
	var errs []error
	for _, b := range c.t.Brokers {
		conn, err := d.DialLeader(ctx, "tcp", b, c.t.Topic, partition)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		read := conn.ReadLastOffset
		if first {
			read = conn.ReadFirstOffset
		}
		off, err := read()
		conn.Close()
		if err == nil {
			return off, nil
		}
		errs = append(errs, err)
	}
	return 0, fmt.Errorf("offset of %s/%d: %w", c.t.Topic, partition, errors.Join(errs...))
}

// consume reads the assigned partitions and fires batches until ctx ends
// (nil) or the trigger is disabled.
func (c *consumer) consume(ctx context.Context, d *kafkago.Dialer, gen *kafkago.Generation, start map[int]int64) error {
	msgs := make(chan kafkago.Message)
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // before wg.Wait: the readers end with ctx
	for part, off := range start {
		r := kafkago.NewReader(kafkago.ReaderConfig{
			Brokers: c.t.Brokers, Topic: c.t.Topic, Partition: part, Dialer: d,
			MinBytes: 1, MaxBytes: 1 << 20, MaxWait: 500 * time.Millisecond, QueueCapacity: 16,
		})
		if err := r.SetOffset(off); err != nil {
			r.Close()
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer r.Close()
			for {
				m, err := r.FetchMessage(ctx)
				if err != nil {
					if ctx.Err() == nil {
						c.log.Warn("kafkafeed: fetch", "partition", part, "err", err)
					}
					return
				}
				select {
				case msgs <- m:
				case <-ctx.Done():
					return
				}
			}
		}()
	}

	var queued *kafkago.Message
	limit := c.p.opts.PayloadLimit
	for ctx.Err() == nil {
		var batch []message
		var last []kafkago.Message
		size := 0
		began := time.Now()
	collect:
		for time.Since(began) < batchWindow {
			var m kafkago.Message
			if queued != nil {
				m, queued = *queued, nil
			} else {
				idle := time.NewTimer(idleStop)
				select {
				case m = <-msgs:
					idle.Stop()
				case <-idle.C:
					break collect
				case <-ctx.Done():
					idle.Stop()
					return nil
				}
			}
			p := c.t.encode(&m)
			b, _ := json.Marshal(p)
			if size+len(b) > limit {
				if len(batch) == 0 {
					c.log.Error("kafkafeed: single message exceeds the payload limit; skipping it",
						"partition", m.Partition, "offset", m.Offset, "size", len(b), "limit", limit)
					c.commit(gen, []kafkago.Message{m})
				} else {
					queued = &m
				}
				break
			}
			size += len(b)
			batch = append(batch, p)
			last = append(last, m)
		}
		c.set(func() { c.lastPoll = time.Now() })
		if len(batch) > 0 {
			if err := c.fire(ctx, gen, batch, last, size); err != nil {
				return err
			}
		}
	}
	return nil
}

// commit commits the offsets after msgs (the next to read) and remembers
// them so that a later generation does not fire them again.
func (c *consumer) commit(gen *kafkago.Generation, msgs []kafkago.Message) {
	next := map[int]int64{}
	for _, m := range msgs {
		if m.Offset+1 > next[m.Partition] {
			next[m.Partition] = m.Offset + 1
		}
	}
	c.mu.Lock()
	for p, o := range next {
		c.fired[p] = o
	}
	c.mu.Unlock()
	if err := gen.CommitOffsets(map[string]map[int]int64{c.t.Topic: next}); err != nil {
		// The offsets are remembered in c.fired and committed with the
		// next batch or at the next generation's start; only a crash
		// before then fires them again (at-least-once).
		c.log.Warn("kafkafeed: commit", "err", err)
	}
}

// fire posts the batch to the trigger as upstream: a 2xx commits; a 4xx
// other than 408, 409 and 429 disables the trigger with the code as the
// reason; 408, 409 and 5xx are retried after 2, 4, ... 64 s and then the
// batch is skipped (committed). Unlike upstream, a 429 or an unreachable
// controller is retried until it answers (backoff up to a minute), so
// throttling and a controller restart lose nothing.
func (c *consumer) fire(ctx context.Context, gen *kafkago.Generation, batch []message, msgs []kafkago.Message, size int) error {
	body, err := json.Marshal(map[string]any{"messages": batch})
	if err != nil {
		return err
	}
	c.log.Info("kafkafeed: firing trigger", "messages", len(batch), "bytes", size)
	retries, waits := 0, 0
	for {
		start := time.Now()
		code, err := c.post(ctx, body)
		c.p.metrics.observeFire(code, err, time.Since(start))
		var wait time.Duration
		switch {
		case err == nil && code >= 200 && code < 300:
			c.commit(gen, msgs)
			c.p.metrics.fired.Add(float64(len(batch)))
			c.setProblem(ctx, "")
			return nil
		case err == nil && shouldDisable(code):
			c.log.Error("kafkafeed: disabling trigger", "status", code)
			c.disable(ctx, code)
			return errDisabled
		case err != nil || code == http.StatusTooManyRequests:
			if ctx.Err() != nil {
				return nil
			}
			waits++
			wait = min(c.p.opts.RetryBase<<min(waits, 6), time.Minute)
			what := fmt.Sprintf("status code %d", code)
			if err != nil {
				what = err.Error()
			}
			c.setProblem(ctx, fmt.Sprintf("firing the trigger failed (%s); retrying, messages are kept", what))
		default:
			retries++
			if retries > maxRetries {
				c.log.Warn("kafkafeed: skipping messages after retries", "messages", len(batch), "status", code,
					"offset", msgs[len(msgs)-1].Offset, "partition", msgs[len(msgs)-1].Partition)
				c.commit(gen, msgs)
				return nil
			}
			wait = c.p.opts.RetryBase << retries
		}
		c.log.Info("kafkafeed: retrying fire", "status", code, "err", err, "in", wait)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
	}
}

// shouldDisable is upstream's __shouldDisable.
func shouldDisable(code int) bool {
	return code >= 400 && code < 500 && code != 408 && code != 409 && code != 429
}

// post fires once. A fire under way when the consumer stops is finished
// (and committed when it succeeds) rather than cut off, so a graceful
// restart does not fire it twice.
func (c *consumer) post(ctx context.Context, body []byte) (int, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), fireTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.p.fireURL(c.t.TriggerURL), bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	user, pass, _ := strings.Cut(c.t.AuthKey, ":")
	if c.t.AuthKey == "" {
		if u, err := url.Parse(c.t.TriggerURL); err == nil && u.User != nil {
			user = u.User.Username()
			pass, _ = u.User.Password()
		}
	}
	req.SetBasicAuth(user, pass)
	resp, err := c.p.http.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	return resp.StatusCode, nil
}

// disable records the trigger as disabled with upstream's reason.
func (c *consumer) disable(ctx context.Context, code int) {
	st := Status{Active: false, DateChanged: nowMillis(), Reason: &Reason{
		Kind: "AUTO", StatusCode: code,
		Message: fmt.Sprintf("Automatically disabled after receiving a %d status code when firing the trigger.", code),
	}}
	uuid := c.t.UUID
	c.set(func() { c.desired = stateDisabled; c.problem = st.Reason.Message })
	if err := c.p.store.setStatus(context.WithoutCancel(ctx), c.t.ID, func(t *Trigger) bool { return t.UUID == uuid }, st); err != nil {
		c.log.Error("kafkafeed: record disabled trigger", "err", err)
	}
}
