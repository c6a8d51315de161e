package workloads

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// httpClient is the REST API's client for deployments and runs: one pool
// of connections for the many invocations a run keeps in flight, no proxy
// (the API is on loopback or inside the testbed's namespaces), and a bound
// on a call above the controller's blocking wait.
var httpClient = &http.Client{
	Timeout:   2 * time.Minute,
	Transport: &http.Transport{MaxIdleConnsPerHost: 64, IdleConnTimeout: time.Minute},
}

// recordWait bounds the wait for the record of an activation that
// outlived the controller's blocking wait: OpenWhisk's longest action
// timeout, five minutes.
const recordWait = 5 * time.Minute

// Record is the part of an activation record the evaluation reads.
type Record struct {
	ActivationID string `json:"activationId"`
	// Duration is the activation's execution time in ms.
	Duration int64 `json:"duration"`
	Response struct {
		Status     string          `json:"status"`
		StatusCode int             `json:"statusCode"`
		Success    bool            `json:"success"`
		Result     json.RawMessage `json:"result"`
	} `json:"response"`
	Annotations []struct {
		Key   string          `json:"key"`
		Value json.RawMessage `json:"value"`
	} `json:"annotations"`
}

// Annotation decodes the record's annotation key into v; it reports
// whether the record has it.
func (r *Record) Annotation(key string, v any) bool {
	for _, a := range r.Annotations {
		if a.Key == key {
			return json.Unmarshal(a.Value, v) == nil
		}
	}
	return false
}

// Invoke sends r as a blocking invocation through env's REST API and
// returns the activation's record, whatever its outcome, and the answer's
// HTTP status. The record is the answer's, or, when the activation
// outlived the controller's blocking wait (202) or the answer was its
// result alone (an array), the one read back from /activations once it is
// written. An error means there is no record.
func Invoke(ctx context.Context, env Env, r Request) (*Record, int, error) {
	params := []byte(r.Params)
	if len(params) == 0 {
		params = []byte("{}")
	}
	code, h, body, err := call(ctx, env, http.MethodPost, "actions/"+escapeAction(r.Action)+"?blocking=true", params)
	if err != nil {
		return nil, code, err
	}
	var rec Record
	if code != http.StatusAccepted && json.Unmarshal(body, &rec) == nil && rec.ActivationID != "" {
		return &rec, code, nil
	}
	id := h.Get("x-openwhisk-activation-id")
	if id == "" {
		return nil, code, fmt.Errorf("%s: HTTP %d: %.300s", r.Action, code, body)
	}
	return fetchRecord(ctx, env, id, code)
}

// fetchRecord polls /activations/<id> until the record is written (GET
// answers 404 until then), recordWait at the most.
func fetchRecord(ctx context.Context, env Env, id string, code int) (*Record, int, error) {
	ctx, cancel := context.WithTimeout(ctx, recordWait)
	defer cancel()
	for {
		got, _, body, err := call(ctx, env, http.MethodGet, "activations/"+id, nil)
		if err == nil && got == http.StatusOK {
			var rec Record
			if err := json.Unmarshal(body, &rec); err != nil {
				return nil, code, fmt.Errorf("activation %s: record %.300s: %w", id, body, err)
			}
			return &rec, code, nil
		}
		select {
		case <-ctx.Done():
			return nil, code, fmt.Errorf("activation %s: no record: %w", id, ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// invoke is Invoke for a request that must succeed: an activation that did
// not is an error.
func invoke(ctx context.Context, env Env, r Request) (*Record, error) {
	rec, code, err := Invoke(ctx, env, r)
	if err != nil {
		return nil, err
	}
	if !rec.Response.Success {
		return nil, fmt.Errorf("%s %.200s: HTTP %d, activation %s: %s %.500s", r.Action, r.Params, code, rec.ActivationID, rec.Response.Status, rec.Response.Result)
	}
	return rec, nil
}

// put sends one PUT ...?overwrite=true to the namespace's entity at path.
func put(ctx context.Context, env Env, path string, doc any) error {
	body, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	code, _, msg, err := call(ctx, env, http.MethodPut, path+"?overwrite=true", body)
	if err != nil {
		return fmt.Errorf("workloads: put %s: %w", path, err)
	}
	if code != http.StatusOK {
		return fmt.Errorf("workloads: put %s: %d %.300s", path, code, msg)
	}
	return nil
}

// call sends one request to the namespace's REST API at path and returns
// the answer's status, header and body.
func call(ctx context.Context, env Env, method, path string, body []byte) (int, http.Header, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(env.APIHost, "/")+"/api/v1/namespaces/_/"+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, nil, err
	}
	user, pass, _ := strings.Cut(env.Auth, ":")
	req.SetBasicAuth(user, pass)
	req.Header.Set("Content-Type", "application/json")
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	// Records are bounded by the action's limits; this bounds a hostile
	// or broken server.
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	return resp.StatusCode, resp.Header, b, err
}

// escapeAction escapes each segment of an action's name (package/name)
// for the URL's path.
func escapeAction(name string) string {
	parts := strings.Split(name, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return strings.Join(parts, "/")
}
