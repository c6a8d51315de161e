package invoker

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-kivik/kivik/v4/couchdb"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/faasedge/faasedge/activation"
	"github.com/faasedge/faasedge/whisk"
)

// Precompiler compiles an action's code ahead of its first activation,
// waiting for a slot of its own compile budget (which bounds the CPU it
// takes) and for the compile. *executor.Executor implements it.
type Precompiler interface {
	Compile(ctx context.Context, a *activation.Action) error
}

// PrewarmConfig configures prewarming: the engine follows the actions
// database's _changes feed and has every wasm:* action created or updated
// compiled before its first activation arrives. Stock invokers have no
// such notice (they learn of an action from its first activation message):
// this is FaaS@Edge's own, and the controller cannot tell it is there.
type PrewarmConfig struct {
	// Compiler compiles the actions' code; nil turns prewarming off.
	Compiler Precompiler
	// MaxBytes bounds each response read for prewarming (an action
	// document or its code attachment): larger ones are skipped with a
	// log line before they are read whole. 0: DefaultPrewarmMaxBytes.
	MaxBytes int64
	// Heartbeat is how often CouchDB is asked to write to an idle feed;
	// a feed silent for three of them is taken as cut and opened again.
	// 0: DefaultPrewarmHeartbeat.
	Heartbeat time.Duration
}

// Defaults of PrewarmConfig: the stock controller's largest code
// (whisk.exec-size-limit, 48 MB) with room for the rest of the document.
const (
	DefaultPrewarmMaxBytes  = 49 << 20
	DefaultPrewarmHeartbeat = 10 * time.Second
)

// maxChangeLine bounds a line of the _changes feed. Without include_docs a
// line is a sequence, an id of at most a few hundred bytes and revisions;
// a longer one is skipped.
const maxChangeLine = 64 << 10

var errTooLarge = errors.New("response over the prewarming size limit")

// prewarmer follows the actions database's _changes (continuous feed,
// heartbeats, bounded lines) and compiles wasm actions one at a time:
// it holds at most one document in memory and waits for each compile,
// so the Precompiler's budget alone bounds its CPU. When the feed ends
// or goes silent it opens it again from the last sequence it handled.
type prewarmer struct {
	changes   string // URL of the database's _changes, without a query
	user      string
	pass      string
	client    *http.Client
	store     *actionStore // reads documents within MaxBytes
	cache     *actionStore // the engine's, handed actions whose code is small
	compiler  Precompiler
	heartbeat time.Duration
	log       *slog.Logger
	m         *prewarmMetrics

	since string // last sequence handled, as the feed's since parameter
	done  chan struct{}
}

type prewarmMetrics struct {
	actions  *prometheus.CounterVec // by outcome
	seconds  prometheus.Histogram
	restarts prometheus.Counter
}

func newPrewarmMetrics(reg prometheus.Registerer) *prewarmMetrics {
	m := &prewarmMetrics{
		actions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "invoker_prewarm_actions_total",
			Help: "Changed documents of the actions database handled by prewarming, by outcome (compiled; failed: the module or its fetch is bad; skipped: not a wasm action, deleted, or over the size limit).",
		}, []string{"outcome"}),
		seconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "invoker_prewarm_compile_seconds", Help: "Time to read and compile a wasm action ahead of its first activation, slot wait included.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 9),
		}),
		restarts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "invoker_prewarm_feed_restarts_total", Help: "Times the _changes feed ended, failed or went silent and was opened again from the last sequence.",
		}),
	}
	reg.MustRegister(m.actions, m.seconds, m.restarts)
	return m
}

func newPrewarmer(cfg Config, cache *actionStore, log *slog.Logger, m *prewarmMetrics) (*prewarmer, error) {
	pc := cfg.Prewarm
	if pc.MaxBytes <= 0 {
		pc.MaxBytes = DefaultPrewarmMaxBytes
	}
	if pc.Heartbeat <= 0 {
		pc.Heartbeat = DefaultPrewarmHeartbeat
	}
	capped := &http.Client{Transport: cappedTransport{base: http.DefaultTransport, max: pc.MaxBytes}}
	couch, err := OpenCouch(cfg.Couch, couchdb.OptionHTTPClient(capped))
	if err != nil {
		return nil, err
	}
	return &prewarmer{
		changes:   strings.TrimRight(cfg.Couch.URL, "/") + "/" + url.PathEscape(cfg.Couch.ActionsDB) + "/_changes",
		user:      cfg.Couch.Username,
		pass:      cfg.Couch.Password,
		client:    &http.Client{},
		store:     &actionStore{db: couch.DB(cfg.Couch.ActionsDB), nodejsDefault: cfg.NodejsDefault, log: log},
		cache:     cache,
		compiler:  pc.Compiler,
		heartbeat: pc.Heartbeat,
		log:       log.With("component", "prewarm"),
		m:         m,
		since:     "now",
		done:      make(chan struct{}),
	}, nil
}

// start reads where the feed begins, so that an action created once start
// returns is prewarmed, then follows it until ctx ends.
func (p *prewarmer) start(ctx context.Context) {
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if stats, err := p.store.db.Stats(sctx); err != nil {
		p.log.Warn("reading the actions database's sequence failed; prewarming starts with the feed", "err", err)
	} else if stats.UpdateSeq != "" {
		p.since = stats.UpdateSeq
	}
	go p.run(ctx)
}

// run follows the feed until ctx ends, opening it again with backoff when
// it fails.
func (p *prewarmer) run(ctx context.Context) {
	defer close(p.done)
	p.log.Info("prewarming wasm actions from the actions database's _changes", "since", p.since)
	wait := 100 * time.Millisecond
	for {
		handled, err := p.follow(ctx)
		if ctx.Err() != nil {
			return
		}
		p.m.restarts.Inc()
		if handled {
			wait = 100 * time.Millisecond
		}
		p.log.Warn("the _changes feed ended, opening it again", "since", p.since, "err", err, "in", wait)
		if backoff(ctx, &wait, 5*time.Second) != nil {
			return
		}
	}
}

// change is one line of the feed.
type change struct {
	Seq     json.RawMessage `json:"seq"`
	ID      string          `json:"id"`
	Deleted bool            `json:"deleted"`
	LastSeq json.RawMessage `json:"last_seq"` // the feed's last line
}

// follow reads one connection of the feed; handled reports that it got
// that far, so the backoff starts over.
func (p *prewarmer) follow(ctx context.Context) (handled bool, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	q := url.Values{"feed": {"continuous"}, "since": {p.since}, "heartbeat": {fmt.Sprint(p.heartbeat.Milliseconds())}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.changes+"?"+q.Encode(), nil)
	if err != nil {
		return false, err
	}
	if p.user != "" {
		req.SetBasicAuth(p.user, p.pass)
	}
	// A compressed feed holds heartbeats back in the compressor
	// (pouchdb-server compresses when asked, as Go's client does).
	req.Header.Set("Accept-Encoding", "identity")
	// A feed that sends nothing, not even a heartbeat, for three periods
	// is cut (a dead peer or a half-open connection).
	silent := time.AfterFunc(3*p.heartbeat, cancel)
	defer silent.Stop()
	resp, err := p.client.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false, fmt.Errorf("_changes: %s", resp.Status)
	}
	br := bufio.NewReaderSize(resp.Body, 4096)
	for {
		silent.Reset(3 * p.heartbeat)
		line, err := readLine(br, maxChangeLine)
		if errors.Is(err, errLineTooLong) {
			p.m.actions.WithLabelValues("skipped").Inc()
			p.log.Warn("skipping a _changes line over the limit", "limit", maxChangeLine)
			continue
		}
		if err != nil {
			return handled, err
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue // heartbeat
		}
		handled = true
		var c change
		if err := json.Unmarshal(line, &c); err != nil {
			p.log.Warn("skipping a _changes line that is not a change", "err", err)
			continue
		}
		if len(c.LastSeq) > 0 {
			if s, ok := seqParam(c.LastSeq); ok {
				p.since = s
			}
			return handled, errors.New("the feed ended")
		}
		// The compile may take seconds: no heartbeat is read meanwhile.
		silent.Stop()
		p.prewarm(ctx, c)
		if s, ok := seqParam(c.Seq); ok {
			p.since = s
		}
	}
}

// prewarm reads a changed document and compiles it if it is a wasm action.
func (p *prewarmer) prewarm(ctx context.Context, c change) {
	if c.Deleted || c.ID == "" || strings.HasPrefix(c.ID, "_design/") {
		p.m.actions.WithLabelValues("skipped").Inc()
		return
	}
	begin := time.Now()
	doc, err := p.store.read(ctx, c.ID)
	if err != nil {
		p.skip(c.ID, err)
		return
	}
	kind := whisk.NormalizeKind(doc.Exec.Kind)
	if (doc.EntityType != "" && doc.EntityType != "action") || !strings.HasPrefix(kind, "wasm:") {
		p.m.actions.WithLabelValues("skipped").Inc()
		return
	}
	a, err := p.store.resolve(ctx, c.ID, doc)
	if err != nil {
		p.skip(c.ID, err)
		return
	}
	if err := p.compiler.Compile(ctx, &a.Action); err != nil {
		if ctx.Err() == nil {
			p.m.actions.WithLabelValues("failed").Inc()
			p.log.Info("not prewarmed: the action's code does not compile", "action", c.ID, "err", err)
		}
		return
	}
	// The engine's cache saves the first activation reading the document
	// again, where the code is small enough to keep.
	if len(a.Code.Inline) <= maxCachedInline {
		p.cache.put(c.ID, a)
	}
	p.m.actions.WithLabelValues("compiled").Inc()
	p.m.seconds.Observe(time.Since(begin).Seconds())
	p.log.Debug("prewarmed", "action", c.ID, "rev", a.rev, "code", a.Code.String(), "took", time.Since(begin))
}

// maxCachedInline bounds the inline code of a prewarmed action handed to
// the engine's cache: the cache holds thousands of actions.
const maxCachedInline = 1 << 20

func (p *prewarmer) skip(id string, err error) {
	p.m.actions.WithLabelValues("skipped").Inc()
	if errors.Is(err, errTooLarge) || errors.As(err, new(*http.MaxBytesError)) {
		p.log.Warn("not prewarmed: the action is over the size limit", "action", id, "err", err)
		return
	}
	p.log.Info("not prewarmed: the action cannot be read", "action", id, "err", err)
}

// seqParam is a sequence as the since parameter takes it: CouchDB's are
// opaque strings, PouchDB's numbers.
func seqParam(raw json.RawMessage) (string, bool) {
	var s string
	if json.Unmarshal(raw, &s) == nil && s != "" {
		return s, true
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil && n != "" {
		return n.String(), true
	}
	return "", false
}

var errLineTooLong = errors.New("line too long")

// readLine reads one line of at most max bytes. A longer line is read to
// its end and dropped (errLineTooLong), so the next read starts on the
// next line.
func readLine(br *bufio.Reader, max int) ([]byte, error) {
	var line []byte
	for {
		chunk, err := br.ReadSlice('\n')
		if len(line)+len(chunk) > max {
			for errors.Is(err, bufio.ErrBufferFull) {
				_, err = br.ReadSlice('\n')
			}
			if err != nil {
				return nil, err
			}
			return nil, errLineTooLong
		}
		line = append(line, chunk...)
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		return line, err
	}
}

// cappedTransport refuses responses over max bytes: a declared length is
// checked before anything is read, the body is cut at max.
type cappedTransport struct {
	base http.RoundTripper
	max  int64
}

func (t cappedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	if resp.ContentLength > t.max {
		resp.Body.Close()
		return nil, fmt.Errorf("%w: %s is %d bytes, limit %d", errTooLarge, req.URL.Path, resp.ContentLength, t.max)
	}
	// Past max, a read fails with *http.MaxBytesError.
	resp.Body = http.MaxBytesReader(nil, resp.Body, t.max)
	return resp, nil
}

var _ http.RoundTripper = cappedTransport{}
