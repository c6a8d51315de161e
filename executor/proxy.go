package executor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/faasedge/faasedge/activation"
	"github.com/faasedge/faasedge/internal/httpserve"
	"github.com/faasedge/faasedge/whisk"
)

// proxyMaxPayload is the result size the proxy lets through: the invoker
// applies the user's payload limit itself, as it does to any runtime.
const proxyMaxPayload = 64 << 20

// Request bodies are bounded before they are read, since the JSON decoder
// holds a whole string token in memory: /init carries at most one module of
// maxModuleBytes, base64-encoded, in a small envelope; /run carries the
// parameters and payload, which the controller bounds far below this.
const (
	proxyMaxInit = int64(4*((maxModuleBytes+2)/3)) + 1<<20
	proxyMaxRun  = proxyMaxPayload
)

// Proxy serves OpenWhisk's action runtime protocol over an Executor, as a
// runtime container does: POST /init once with the action's code, then
// POST /run per activation. Logs go to stdout and stderr as the guest wrote
// them (Docker timestamps them), each activation's followed by the sentinel
// line on both streams.
type Proxy struct {
	e               *Executor
	limits          whisk.Limits
	stdout, stderr  io.Writer
	maxInit, maxRun int64 // request body bounds

	mu       sync.Mutex
	action   *activation.Action
	initArgs map[string]string // /init's env

	logMu sync.Mutex // keeps an activation's lines and sentinels together
}

// NewProxy returns a proxy running actions with limits. The timeout only
// applies to a /run without a deadline; limits.logs bounds what the proxy
// keeps of one activation's output before writing it out.
func NewProxy(e *Executor, limits whisk.Limits, stdout, stderr io.Writer) *Proxy {
	def := whisk.DefaultLimits()
	if limits.Timeout <= 0 {
		limits.Timeout = def.Timeout
	}
	if limits.Logs <= 0 {
		limits.Logs = def.Logs
	}
	return &Proxy{e: e, limits: limits, stdout: stdout, stderr: stderr, maxInit: proxyMaxInit, maxRun: proxyMaxRun}
}

// ServeHTTP implements http.Handler.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method != http.MethodPost:
		reply(w, http.StatusMethodNotAllowed, errorBody("only POST is served"))
	case r.URL.Path == "/init":
		p.init(w, r)
	case r.URL.Path == "/run":
		p.run(w, r)
	default:
		reply(w, http.StatusNotFound, errorBody("not found: "+r.URL.Path))
	}
}

type initRequest struct {
	Value struct {
		Name   string          `json:"name"`
		Main   string          `json:"main"`
		Code   *string         `json:"code"`
		Binary bool            `json:"binary"`
		Env    json.RawMessage `json:"env"`
	} `json:"value"`
}

func (p *Proxy) init(w http.ResponseWriter, r *http.Request) {
	var req initRequest
	if !decodeBody(w, r, p.maxInit, &req) {
		return
	}
	if req.Value.Code == nil {
		reply(w, http.StatusBadGateway, errorBody("the /init body has no code"))
		return
	}
	env, err := stringMap(req.Value.Env)
	if err != nil {
		reply(w, http.StatusBadGateway, errorBody("the /init env is not an object: "+err.Error()))
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.action != nil {
		reply(w, http.StatusForbidden, errorBody("Cannot initialize the action more than once."))
		return
	}
	// The action's path and version come with each /run.
	a := &activation.Action{
		Name: activation.FQN{Name: req.Value.Name}, Kind: whisk.KindWasm,
		Code: activation.ParseCode([]byte(*req.Value.Code), req.Value.Binary), Main: req.Value.Main, Limits: p.limits,
	}
	a.Code.Digest = a.Code.Key() // once, not per /run
	// Compile now, so that bad code fails /init as in any runtime.
	m, _, err := p.e.module(r.Context(), a, time.Duration(p.limits.Timeout)*time.Millisecond)
	if err != nil {
		var dev *devError
		if errors.As(err, &dev) {
			reply(w, http.StatusBadGateway, errorBody(dev.msg))
		} else {
			reply(w, http.StatusInternalServerError, errorBody(err.Error()))
		}
		return
	}
	p.e.done(m)
	p.action, p.initArgs = a, env
	reply(w, http.StatusOK, []byte(`{"ok":true}`))
}

// runRequest is the stock /run body (openwhisk-wire.md 6.2).
type runRequest struct {
	Value         json.RawMessage `json:"value"`
	Namespace     string          `json:"namespace"`
	ActionName    string          `json:"action_name"`
	ActionVersion *string         `json:"action_version"`
	ActivationID  string          `json:"activation_id"`
	TransactionID string          `json:"transaction_id"`
	// Deadline is epoch ms: a string from the stock invoker, a number in
	// its documentation.
	Deadline json.RawMessage `json:"deadline"`
	APIKey   string          `json:"api_key"`
}

func (p *Proxy) run(w http.ResponseWriter, r *http.Request) {
	var body runRequest
	if !decodeBody(w, r, p.maxRun, &body) {
		return
	}
	p.mu.Lock()
	a, initArgs := p.action, p.initArgs
	p.mu.Unlock()
	if a == nil {
		reply(w, http.StatusInternalServerError, errorBody("no action defined yet"))
		return
	}
	act := *a
	if n, err := activation.ParseFQN(body.ActionName); err == nil {
		act.Name.Path = n.Path
	}
	if body.ActionVersion != nil {
		act.Version = *body.ActionVersion
	}
	in := activation.Invocation{
		ID: activation.ID(body.ActivationID), TransID: whisk.TransID{ID: body.TransactionID},
		Namespace: body.Namespace, APIKey: body.APIKey, Value: body.Value,
		InitArgs: initArgs, MaxPayload: proxyMaxPayload,
	}
	if ms, err := strconv.ParseInt(stringify(body.Deadline), 10, 64); err == nil {
		in.Deadline = time.UnixMilli(ms)
		act.Limits.Timeout = max(time.Until(in.Deadline).Milliseconds(), 1)
	}
	run := newRun(p.e, &act, in)
	run.exec(r.Context())
	p.writeLogs(run)
	status := http.StatusOK
	if c := run.resp.StatusCode; c == whisk.StatusDeveloperError || c == whisk.StatusWhiskError {
		status = http.StatusBadGateway
	}
	reply(w, status, run.resp.Result)
}

// writeLogs writes the activation's lines as the guest wrote them (a
// command's result line is already out), then the sentinels.
func (p *Proxy) writeLogs(r *run) {
	p.logMu.Lock()
	defer p.logMu.Unlock()
	var out, errs bytes.Buffer
	r.out.mu.Lock()
	for _, l := range r.out.lines {
		b := &out
		if l.stream == whisk.Stderr {
			b = &errs
		}
		b.WriteString(l.text)
		b.WriteByte('\n')
	}
	r.out.mu.Unlock()
	out.WriteString(whisk.LogSentinel + "\n")
	errs.WriteString(whisk.LogSentinel + "\n")
	_, _ = p.stdout.Write(out.Bytes())
	_, _ = p.stderr.Write(errs.Bytes())
}

// decodeBody decodes r's JSON body into v, reading at most limit bytes; on
// failure it has answered 413 or 400 and returns false.
func decodeBody(w http.ResponseWriter, r *http.Request, limit int64, v any) bool {
	err := json.NewDecoder(http.MaxBytesReader(w, r.Body, limit)).Decode(v)
	var tooLarge *http.MaxBytesError
	switch {
	case err == nil:
		return true
	case errors.As(err, &tooLarge):
		reply(w, http.StatusRequestEntityTooLarge, errorBody(fmt.Sprintf("the %s body is larger than %d bytes", r.URL.Path, limit)))
	default:
		reply(w, http.StatusBadRequest, errorBody(fmt.Sprintf("the %s body is not JSON: %v", r.URL.Path, err)))
	}
	return false
}

// reply writes a JSON body with its Content-Length, which the stock
// invoker requires.
func reply(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func errorBody(msg string) []byte {
	return whisk.ErrorResponse(whisk.StatusDeveloperError, msg).Result
}

// stringMap reads an object of JSON values as the stock invoker stringifies
// env values: strings as they are, null as "", anything else as its JSON.
func stringMap(raw json.RawMessage) (map[string]string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return map[string]string{}, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = stringify(v)
	}
	return out, nil
}

func stringify(v json.RawMessage) string {
	var s string
	if json.Unmarshal(v, &s) == nil {
		return s
	}
	if t := bytes.TrimSpace(v); string(t) == "null" {
		return ""
	}
	var buf bytes.Buffer
	if json.Compact(&buf, v) == nil {
		return buf.String()
	}
	return string(v)
}

// ListenAndServe serves the proxy on addr until ctx ends.
func (p *Proxy) ListenAndServe(ctx context.Context, addr string) error {
	// A response may be written up to the longest action time limit after
	// its request.
	srv := httpserve.Server(p, httpserve.Limits{Write: time.Duration(whisk.DefaultLimitRanges().Timeout.Max)*time.Millisecond + time.Minute})
	srv.Addr = addr
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	select {
	case err := <-errc:
		return fmt.Errorf("action proxy: %w", err)
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return srv.Shutdown(sctx)
	}
}
