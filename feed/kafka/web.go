package kafka

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"sort"
	"strings"
	"time"

	kivik "github.com/go-kivik/kivik/v4"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// maxLifecycleBody bounds a lifecycle request (the trigger's parameters).
const maxLifecycleBody = 1 << 20

// Handler serves the lifecycle endpoint at upstream's web action paths
// (/api/v1/web/whisk.system/messagingWeb/kafkaFeedWeb and
// messageHubFeedWeb, with or without .http), /health, /metrics and /.
func (p *Provider) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, "Hi!") })
	mux.HandleFunc("GET /health", p.serveHealth)
	mux.Handle("GET /metrics", promhttp.HandlerFor(p.metrics.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/api/v1/web/whisk.system/{pkg}/{action}", p.serveLifecycle)
	return mux
}

func (p *Provider) serveLifecycle(w http.ResponseWriter, r *http.Request) {
	pkg, action := r.PathValue("pkg"), strings.TrimSuffix(r.PathValue("action"), ".http")
	if (pkg != "messagingWeb" && pkg != "messagingWebDedicated") || (action != "kafkaFeedWeb" && action != "messageHubFeedWeb") {
		http.NotFound(w, r)
		return
	}
	prm, err := readParams(r)
	if err != nil {
		webText(w, http.StatusBadRequest, err.Error())
		return
	}
	messageHub := action == "messageHubFeedWeb"
	ctx := r.Context()
	switch r.Method {
	case http.MethodPost:
		p.create(ctx, w, prm, messageHub)
	case http.MethodGet:
		p.read(ctx, w, prm, messageHub)
	case http.MethodPut:
		p.update(ctx, w, prm)
	case http.MethodDelete:
		p.remove(ctx, w, prm)
	default:
		webText(w, http.StatusBadRequest, "unsupported lifecycleEvent")
	}
}

func readParams(r *http.Request) (params, error) {
	prm := params{}
	for k, v := range r.URL.Query() {
		prm[k] = v[0]
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxLifecycleBody+1))
	if err != nil {
		return nil, err
	}
	if len(body) > maxLifecycleBody {
		return nil, errors.New("request body too large")
	}
	if len(strings.TrimSpace(string(body))) > 0 {
		var b map[string]any
		if err := json.Unmarshal(body, &b); err != nil {
			return nil, fmt.Errorf("the request body is not a JSON object: %w", err)
		}
		for k, v := range b {
			prm[k] = v
		}
	}
	return prm, nil
}

const notAuthorized = "You are not authorized for this trigger."

// verifyAuth is upstream's verifyTriggerAuth: the caller's key must read
// the trigger from OpenWhisk; on delete a trigger already gone (404) is
// fine.
func (p *Provider) verifyAuth(ctx context.Context, url, authKey string, rejectNotFound bool) bool {
	if authKey == "" {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, fireTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	user, pass, _ := strings.Cut(authKey, ":")
	req.SetBasicAuth(user, pass)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "whisk")
	resp, err := p.http.Do(req)
	if err != nil {
		p.log.Warn("kafkafeed: trigger auth check", "err", err)
		return false
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return true
	case resp.StatusCode == http.StatusNotFound && !rejectNotFound:
		return true
	}
	return false
}

func (p *Provider) create(ctx context.Context, w http.ResponseWriter, prm params, messageHub bool) {
	t, err := validateCreate(prm, messageHub, p.apiBase())
	if err != nil {
		webText(w, http.StatusBadRequest, err.Error())
		return
	}
	if !p.verifyAuth(ctx, t.TriggerURL, t.AuthKey, true) {
		webText(w, http.StatusUnauthorized, notAuthorized)
		return
	}
	if t.Worker, err = p.assignWorker(ctx); err == nil {
		err = retryConflict(func() error { return p.record(ctx, t) })
	}
	if err != nil {
		p.log.Error("kafkafeed: failed to write the trigger", "trigger", t.ID, "err", err)
		webText(w, http.StatusInternalServerError, errorText(err))
		return
	}
	p.log.Info("kafkafeed: recorded trigger", "trigger", t.ID, "worker", t.Worker)
	webText(w, http.StatusOK, t.UUID)
}

// assignWorker is upstream's getTriggerAssignment: the least loaded of the
// configured workers, by the by-worker view.
func (p *Provider) assignWorker(ctx context.Context) (string, error) {
	workers := p.opts.Workers
	if len(workers) == 0 {
		return p.opts.Worker, nil
	}
	if len(workers) == 1 {
		return workers[0], nil
	}
	loads, err := p.store.workerLoads(ctx)
	if err != nil {
		return "", err
	}
	best := workers[0]
	for _, w := range workers {
		if loads[w] < loads[best] {
			best = w
		}
	}
	return best, nil
}

// record is upstream's recordTrigger: a trigger document that already
// exists is first disabled (its consumer stops) and then overwritten.
func (p *Provider) record(ctx context.Context, t *Trigger) error {
	t.Status = &Status{Active: true, DateChanged: nowMillis()}
	err := p.store.put(ctx, t)
	if kivik.HTTPStatus(err) != http.StatusConflict {
		return err
	}
	old, err := p.store.get(ctx, t.ID)
	if err != nil {
		return err
	}
	if err := p.disableForUpdate(ctx, old); err != nil {
		return err
	}
	t.Rev = old.Rev
	return p.store.put(ctx, t)
}

// disableForUpdate is upstream's Database.disableTrigger: the consumer
// stops before the document changes under it.
func (p *Provider) disableForUpdate(ctx context.Context, t *Trigger) error {
	t.Status = &Status{Active: false, DateChanged: nowMillis(),
		Reason: &Reason{Kind: "AUTO", Message: "Automatically disabled trigger while updating"}}
	return p.store.put(ctx, t)
}

// callersTrigger is the trigger named by the request once the caller's key
// reads it from OpenWhisk (READ and UPDATE); nil when it answered already.
func (p *Provider) callersTrigger(ctx context.Context, w http.ResponseWriter, prm params) *Trigger {
	name := prm.str("triggerName")
	if !p.verifyAuth(ctx, triggerURL(p.apiBase(), name), prm.str("authKey"), true) {
		webText(w, http.StatusUnauthorized, notAuthorized)
		return nil
	}
	t, err := p.store.get(ctx, name)
	if err != nil {
		webText(w, http.StatusInternalServerError, errorText(err))
		return nil
	}
	return t
}

func (p *Provider) read(ctx context.Context, w http.ResponseWriter, prm params, messageHub bool) {
	t := p.callersTrigger(ctx, w, prm)
	if t == nil {
		return
	}
	config := map[string]any{
		"triggerName": t.TriggerName, "topic": t.Topic, "isJSONData": t.IsJSONData,
		"isBinaryValue": t.IsBinaryValue, "isBinaryKey": t.IsBinaryKey,
	}
	if messageHub {
		config["kafka_brokers_sasl"] = t.Brokers
		config["kafka_admin_url"] = t.KafkaAdminURL
		config["user"] = t.Username
		config["password"] = t.Password
	} else {
		config["brokers"] = t.Brokers
		if t.SecurityProto != "" {
			config["security_protocol"] = t.SecurityProto
		}
		if t.SASLMechanism != "" {
			config["sasl_mechanism"] = t.SASLMechanism
		}
	}
	st := Status{Active: true}
	if t.Status != nil {
		st = *t.Status
	}
	status := map[string]any{
		"active":         st.Active,
		"dateChanged":    st.DateChanged,
		"dateChangedISO": time.UnixMilli(st.DateChanged).UTC().Format("2006-01-02T15:04:05Z"),
	}
	if st.Reason != nil {
		status["reason"] = st.Reason
	}
	writeJSON(w, http.StatusOK, map[string]any{"config": config, "status": status})
}

func (p *Provider) update(ctx context.Context, w http.ResponseWriter, prm params) {
	t := p.callersTrigger(ctx, w, prm)
	if t == nil {
		return
	}
	name := t.ID
	if !t.active() {
		webText(w, http.StatusBadRequest, name+" cannot be updated because it is disabled")
		return
	}
	flags := *t
	if err := validateUpdate(prm, &flags); err != nil {
		webText(w, http.StatusBadRequest, err.Error())
		return
	}
	err := retryConflict(func() error {
		cur, err := p.store.get(ctx, name)
		if err != nil {
			return err
		}
		if err := p.disableForUpdate(ctx, cur); err != nil {
			return err
		}
		cur.IsJSONData, cur.IsBinaryValue, cur.IsBinaryKey = flags.IsJSONData, flags.IsBinaryValue, flags.IsBinaryKey
		cur.Status = &Status{Active: true, DateChanged: nowMillis()}
		return p.store.put(ctx, cur)
	})
	if err != nil {
		webText(w, http.StatusInternalServerError, errorText(err))
		return
	}
	webText(w, http.StatusOK, "updated trigger")
}

func (p *Provider) remove(ctx context.Context, w http.ResponseWriter, prm params) {
	name := prm.str("triggerName")
	if !p.verifyAuth(ctx, triggerURL(p.apiBase(), name), prm.str("authKey"), false) {
		webText(w, http.StatusUnauthorized, notAuthorized)
		return
	}
	if err := p.store.delete(ctx, name); err != nil {
		webText(w, http.StatusInternalServerError, errorText(err))
		return
	}
	webText(w, http.StatusOK, "deleted trigger")
}

// retryConflict runs f again when it ends in a document conflict: the
// trigger's consumer may have recorded its status meanwhile.
func retryConflict(f func() error) error {
	for attempt := 0; ; attempt++ {
		err := f()
		if kivik.HTTPStatus(err) != http.StatusConflict || attempt >= 5 {
			return err
		}
	}
}

// errorText is what upstream's error.toString() gives for a database
// error: "Error: missing" for a trigger that is not there.
func errorText(err error) string {
	if errors.Is(err, errNotFound) {
		return "Error: missing"
	}
	return "Error: " + err.Error()
}

func webText(w http.ResponseWriter, code int, body string) {
	w.Header().Set("Content-Type", "text/plain")
	w.WriteHeader(code)
	_, _ = io.WriteString(w, body)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// consumerHealth is one consumer in /health, keyed by the trigger's uuid
// as upstream (never its name or key).
type consumerHealth struct {
	CurrentState         string   `json:"currentState"`
	DesiredState         string   `json:"desiredState"`
	SecondsSinceLastPoll *float64 `json:"secondsSinceLastPoll"`
	RestartCount         int      `json:"restartCount"`
	Reason               string   `json:"reason,omitempty"`
}

func (p *Provider) serveHealth(w http.ResponseWriter, _ *http.Request) {
	p.mu.Lock()
	all := make([]*consumer, 0, len(p.consumers))
	for _, c := range p.consumers {
		all = append(all, c)
	}
	lastCanary := p.lastCanary
	p.mu.Unlock()
	sort.Slice(all, func(i, j int) bool { return all[i].t.UUID < all[j].t.UUID })
	consumers := make([]map[string]consumerHealth, 0, len(all))
	for _, c := range all {
		consumers = append(consumers, map[string]consumerHealth{c.t.UUID: c.health()})
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	writeJSON(w, http.StatusOK, map[string]any{
		"last_db_canary": time.Since(lastCanary).Seconds(),
		"uptime":         fmt.Sprintf("%d seconds", int(time.Since(p.started).Round(time.Second).Seconds())),
		"worker":         p.opts.Worker,
		"consumers":      consumers,
		"memory": map[string]any{
			"heap_alloc": ms.HeapAlloc, "sys": ms.Sys, "goroutines": runtime.NumGoroutine(),
		},
	})
}

func (c *consumer) health() consumerHealth {
	c.mu.Lock()
	defer c.mu.Unlock()
	h := consumerHealth{CurrentState: c.current, DesiredState: c.desired, RestartCount: c.restarts, Reason: c.problem}
	if !c.lastPoll.IsZero() {
		s := time.Since(c.lastPoll).Seconds()
		h.SecondsSinceLastPoll = &s
	}
	return h
}

func (p *Provider) countState(state string) float64 {
	p.mu.Lock()
	all := make([]*consumer, 0, len(p.consumers))
	for _, c := range p.consumers {
		all = append(all, c)
	}
	p.mu.Unlock()
	n := 0
	for _, c := range all {
		c.mu.Lock()
		if c.current == state {
			n++
		}
		c.mu.Unlock()
	}
	return float64(n)
}
