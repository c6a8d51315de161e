// Package kafka is the Kafka feed provider: a drop-in for
// apache/openwhisk-package-kafka's Python provider behind
// /whisk.system/messaging/kafkaFeed and messageHubFeed.
//
// It keeps triggers in CouchDB exactly as upstream does (database
// <DB_PREFIX>ow_kafka_triggers, documents /<namespace>/<trigger>, the
// _design/filters by-worker view, canary documents) and learns about them
// from the database's _changes feed, so upstream's feed actions and this
// provider can share a database during a migration. Each trigger assigned
// to this worker is one goroutine: a consumer group named after the
// trigger, starting at the latest offset, that fires the trigger with
// batches of messages ({"messages":[...]}) and commits only after a 2xx.
//
// It also serves the lifecycle endpoint that upstream implements as the
// kafkaFeedWeb/messageHubFeedWeb web actions (same verbs, bodies and status
// codes, at the same paths), which this project's feed actions call, and
// /health with each consumer's state.
//
// Where it differs from upstream, on purpose:
//   - a missing topic, an unreachable broker or a fire being retried is
//     written to the trigger's status.reason (kind "ERROR", the trigger
//     stays active) and shown by READ and /health, instead of a silent
//     stall;
//   - a 429 or an unreachable controller is retried with backoff until it
//     answers, keeping the messages, instead of skipping the batch after
//     six retries (408, 409 and 5xx keep upstream's six retries);
//   - kafkaFeed accepts SASL (PLAIN, SCRAM-SHA-256/512) and TLS parameters,
//     and messageHubFeed's credentials are used as SASL_SSL with PLAIN;
//   - a binary value is base64-encoded from its raw bytes (upstream
//     replaces invalid UTF-8 first);
//   - the starting offset is committed when a trigger's group is first
//     assigned, so a provider restart resumes there;
//   - a trigger deleted and created again waits for its old consumer to
//     leave the group instead of getting stuck.
//
// Delivery is at-least-once: offsets are committed after the fire; a crash
// between the two fires the batch again after the restart.
package kafka

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	kivik "github.com/go-kivik/kivik/v4"
)

// Options configures a Provider. The fields with an upstream environment
// variable are read from it by OptionsFromEnv.
type Options struct {
	DBURL    string // DB_URL: CouchDB, e.g. http://127.0.0.1:5984
	DBUser   string // DB_USER
	DBPass   string // DB_PASS
	DBPrefix string // DB_PREFIX: the database is <DB_PREFIX>ow_kafka_triggers
	// APIHost (API_HOST) is the OpenWhisk API host: the lifecycle endpoint
	// builds trigger URLs on it and checks callers' keys against it, and
	// fires go to it instead of the host stored in a trigger, as upstream.
	// host[:port] means https; a scheme may be given.
	APIHost string
	// LocalDev (LOCAL_DEV=True) skips TLS verification when firing and
	// checking keys, as upstream.
	LocalDev bool
	// PayloadLimit (PAYLOAD_LIMIT) bounds a fired batch, in bytes of the
	// messages' JSON (900000).
	PayloadLimit int
	// Worker (WORKER) is this provider's id; it runs the triggers whose
	// worker field names it (worker0).
	Worker string
	// Workers are the ids new triggers are spread over, least loaded
	// first, as upstream's bound `workers` parameter (only Worker when
	// empty).
	Workers []string
	// Instance (INSTANCE) names this provider's canary document.
	Instance string
	// Listen is the address of the lifecycle endpoint and /health
	// (:$PORT, :5000).
	Listen string
	// RetryBase scales the fire retries: they wait RetryBase*2^n (1 s).
	RetryBase time.Duration
	// Logger receives the provider's logs (discarded when nil).
	Logger *slog.Logger
}

// OptionsFromEnv reads upstream's environment variables.
func OptionsFromEnv(getenv func(string) string) (Options, error) {
	o := Options{
		DBURL: getenv("DB_URL"), DBUser: getenv("DB_USER"), DBPass: getenv("DB_PASS"),
		DBPrefix: getenv("DB_PREFIX"), APIHost: getenv("API_HOST"),
		LocalDev: getenv("LOCAL_DEV") == "True" || getenv("LOCAL_DEV") == "true",
		Worker:   getenv("WORKER"), Instance: getenv("INSTANCE"),
	}
	if v := getenv("PAYLOAD_LIMIT"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return o, fmt.Errorf("kafkafeed: PAYLOAD_LIMIT=%q is not a positive number of bytes", v)
		}
		o.PayloadLimit = n
	}
	if v := getenv("PORT"); v != "" {
		o.Listen = ":" + v
	}
	return o, nil
}

func (o *Options) defaults() error {
	if o.DBURL == "" {
		return errors.New("kafkafeed: DB_URL is required")
	}
	if o.PayloadLimit == 0 {
		o.PayloadLimit = 900000
	}
	if o.Worker == "" {
		o.Worker = "worker0"
	}
	if o.Instance == "" {
		o.Instance = "messageHubTrigger-0"
	}
	if o.Listen == "" {
		o.Listen = ":5000"
	}
	if o.RetryBase == 0 {
		o.RetryBase = time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// Provider is a running feed provider.
type Provider struct {
	opts    Options
	log     *slog.Logger
	store   *store
	http    *http.Client
	metrics *metrics
	ln      net.Listener
	srv     *http.Server
	started time.Time

	mu         sync.Mutex
	consumers  map[string]*consumer
	lastCanary time.Time
	ctx        context.Context // consumers' parent
}

// New checks the options, prepares the database (creating it and its
// design document when missing) and listens; Run serves.
func New(ctx context.Context, o Options) (*Provider, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	st, err := openStore(&o)
	if err != nil {
		return nil, err
	}
	p := &Provider{opts: o, log: o.Logger, store: st, consumers: map[string]*consumer{},
		started: time.Now(), lastCanary: time.Now()}
	p.metrics = newMetrics(p.countState)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if o.LocalDev {
		tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // LOCAL_DEV, as upstream
	}
	tr.MaxIdleConnsPerHost = 64
	p.http = &http.Client{Transport: tr}
	if _, err := st.migrate(ctx); err != nil {
		st.close()
		return nil, err
	}
	if p.ln, err = net.Listen("tcp", o.Listen); err != nil {
		st.close()
		return nil, fmt.Errorf("kafkafeed: listen: %w", err)
	}
	p.srv = &http.Server{Handler: p.Handler(), ReadHeaderTimeout: 10 * time.Second}
	return p, nil
}

// Addr is where the lifecycle endpoint and /health listen.
func (p *Provider) Addr() string { return p.ln.Addr().String() }

// Run follows the trigger database and serves HTTP until ctx ends, then
// stops every consumer (each leaves its group) and returns.
func (p *Provider) Run(ctx context.Context) error {
	p.mu.Lock()
	p.ctx = ctx
	p.mu.Unlock()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); p.follow(ctx) }()
	go func() { defer wg.Done(); p.canaries(ctx) }()
	errc := make(chan error, 1)
	go func() { errc <- p.srv.Serve(p.ln) }()
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	_ = p.srv.Shutdown(sctx)
	cancel()
	wg.Wait()
	p.mu.Lock()
	all := make([]*consumer, 0, len(p.consumers))
	for _, c := range p.consumers {
		all = append(all, c)
	}
	p.mu.Unlock()
	for _, c := range all {
		c.stop(stateDead)
	}
	for _, c := range all {
		<-c.done
	}
	p.store.close()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

const canaryInterval = 60 * time.Second

func (p *Provider) canaries(ctx context.Context) {
	for {
		if err := p.store.touchCanary(ctx); err != nil && ctx.Err() == nil {
			p.log.Warn("kafkafeed: canary", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(canaryInterval):
		}
	}
}

// follow reads the database's _changes feed from the start (every trigger
// is a change) and reconnects from the last sequence after an error, as
// upstream's Service.
func (p *Provider) follow(ctx context.Context) {
	since := "0"
	backoff := time.Second
	for ctx.Err() == nil {
		err := p.followOnce(ctx, &since)
		if ctx.Err() != nil {
			return
		}
		p.log.Warn("kafkafeed: changes feed ended; restarting", "err", err, "in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 30*time.Second)
		// A database that came back empty needs its design document, and
		// its sequence numbers start again.
		created, err := p.store.migrate(ctx)
		switch {
		case err != nil:
			p.log.Warn("kafkafeed: database", "err", err)
		case created:
			p.log.Warn("kafkafeed: the trigger database was created again; reading its changes from the start")
			since = "0"
			backoff = time.Second
		default:
			backoff = time.Second
		}
	}
}

// followOnce reads the feed with long polls (CouchDB answers each with the
// changes since the last sequence, or none after 30 s, upstream's
// changesFeedTimeout) until an error.
func (p *Provider) followOnce(ctx context.Context, since *string) error {
	for ctx.Err() == nil {
		ch := p.store.db.Changes(ctx, kivik.Params(map[string]any{
			"feed": "longpoll", "include_docs": true, "since": *since, "timeout": 30000,
		}))
		for ch.Next() {
			p.apply(ch)
			*since = ch.Seq()
		}
		if err := ch.Err(); err != nil {
			ch.Close()
			return err
		}
		if meta, err := ch.Metadata(); err == nil && meta.LastSeq != "" {
			*since = meta.LastSeq
		}
		ch.Close()
	}
	return ctx.Err()
}

func (p *Provider) apply(ch *kivik.Changes) {
	if ch.Deleted() {
		p.deleted(ch.ID())
		return
	}
	var t Trigger
	if err := ch.ScanDoc(&t); err != nil {
		p.log.Warn("kafkafeed: unreadable document", "id", ch.ID(), "err", err)
		return
	}
	if t.TriggerURL != "" {
		p.changed(&t)
		return
	}
	var canary struct {
		Stamp string `json:"canary-timestamp"`
	}
	if ch.ScanDoc(&canary) == nil && canary.Stamp != "" {
		p.mu.Lock()
		p.lastCanary = time.Now()
		p.mu.Unlock()
	}
}

func (p *Provider) deleted(id string) {
	p.mu.Lock()
	c := p.consumers[id]
	delete(p.consumers, id)
	p.mu.Unlock()
	if c != nil {
		p.log.Info("kafkafeed: trigger deleted", "trigger", id)
		c.stop(stateDead)
	}
}

// changed applies a trigger document's change, with upstream's rules: a
// running trigger whose document became inactive stops (whatever worker it
// names); a trigger assigned elsewhere stops; a new or re-activated one
// assigned here starts. A running trigger whose configuration changed
// (e.g. deleted and created again between two reads of the feed) restarts.
func (p *Provider) changed(t *Trigger) {
	p.mu.Lock()
	defer p.mu.Unlock()
	mine := t.assignedTo(p.opts.Worker)
	c := p.consumers[t.ID]
	switch {
	case c == nil && !mine:
		return
	case c == nil:
	case c.desiredState() == stateRunning && !t.active():
		p.log.Info("kafkafeed: trigger disabled", "trigger", t.ID)
		c.stop(stateDisabled)
		// A disabled record, for /health, that a later start waits on
		// until the stopped consumer has left its group.
		d := newConsumer(p, t)
		d.done = c.done
		p.consumers[t.ID] = d
		return
	case !mine:
		p.log.Info("kafkafeed: trigger assigned to another worker", "trigger", t.ID, "worker", t.Worker)
		c.stop(stateDead)
		delete(p.consumers, t.ID)
		return
	case c.desiredState() == stateRunning && c.t.consumerConfig() == t.consumerConfig():
		return
	case !t.active() && c.desiredState() != stateRunning:
		return
	default:
		c.stop(stateDead)
	}
	n := newConsumer(p, t)
	p.consumers[t.ID] = n
	if t.active() {
		p.log.Info("kafkafeed: starting consumer", "trigger", t.ID, "topic", t.Topic)
		n.start(p.ctx, c)
	}
}

// fireURL is where a trigger is fired: its stored URL without
// credentials, on API_HOST when set.
func (p *Provider) fireURL(triggerURL string) string {
	u, err := url.Parse(triggerURL)
	if err != nil {
		return triggerURL
	}
	u.User = nil
	if h := p.opts.APIHost; h != "" {
		if scheme, host, ok := strings.Cut(h, "://"); ok {
			u.Scheme, u.Host = scheme, host
		} else {
			u.Host = h
		}
	}
	return u.String()
}

// apiBase is the API host as a URL prefix: https:// unless a scheme is
// given, as upstream's addHTTPS.
func (p *Provider) apiBase() string {
	h := strings.TrimRight(p.opts.APIHost, "/")
	if strings.HasPrefix(h, "http://") || strings.HasPrefix(h, "https://") {
		return h
	}
	return "https://" + h
}
