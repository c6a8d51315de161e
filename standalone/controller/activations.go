package controller

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	kivik "github.com/go-kivik/kivik/v4"

	"github.com/faasedge/faasedge/whisk"
)

// activationStore is the activations database: the records invokers
// write, read back for GET .../activations and for blocking waits whose
// result ack came shrunk.
type activationStore struct {
	db *kivik.DB
}

// get reads an activation record by the user's namespace.
func (c *activationStore) get(ctx context.Context, ns, aid string) (*whisk.ActivationDoc, error) {
	var d whisk.ActivationDoc
	if err := c.db.Get(ctx, whisk.ActivationDocID(ns, aid)).ScanDoc(&d); err != nil {
		if kivik.HTTPStatus(err) == http.StatusNotFound {
			return nil, errNotFound
		}
		return nil, fmt.Errorf("controller: read activation %s: %w", aid, err)
	}
	return &d, nil
}

// activationFilter is the list query of GET .../activations.
type activationFilter struct {
	name        string // "action" or "pkg/action"
	since, upto int64
}

// list lists a namespace's activation records, newest first,
// as the activations view does.
func (c *activationStore) list(ctx context.Context, ns string, f activationFilter) ([]whisk.ActivationDoc, error) {
	rows := c.db.AllDocs(ctx, kivik.Params(map[string]any{"include_docs": true, "startkey": ns + "/", "endkey": ns + "/\ufff0"}))
	defer rows.Close()
	var out []whisk.ActivationDoc
	for rows.Next() {
		var d whisk.ActivationDoc
		if err := rows.ScanDoc(&d); err != nil || d.ActivationID == "" {
			continue
		}
		if f.name != "" && !matchesName(d, f.name) {
			continue
		}
		if (f.since > 0 && d.Start < f.since) || (f.upto > 0 && d.Start > f.upto) {
			continue
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("controller: list activations: %w", err)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Start > out[j].Start })
	return out, nil
}

// matchesName is the filter view's key: the path annotation without the
// namespace ("pkg/action" or "action").
func matchesName(d whisk.ActivationDoc, name string) bool {
	if raw, ok := d.Annotations.Get("path"); ok {
		var p string
		if json.Unmarshal(raw, &p) == nil {
			if _, rest, ok := strings.Cut(p, "/"); ok && rest == name {
				return true
			}
		}
	}
	return d.Name == name
}

// extendedResponse is ActivationResponse.toExtendedJson: statusCode gives
// way to success and status.
type extendedResponse struct {
	Result  json.RawMessage `json:"result,omitempty"`
	Size    *int64          `json:"size,omitempty"`
	Success bool            `json:"success"`
	Status  string          `json:"status"`
}

func extend(r whisk.ActivationResponse) extendedResponse {
	return extendedResponse{Result: r.Result, Size: r.Size, Success: r.StatusCode == whisk.StatusSuccess, Status: r.StatusCode.String()}
}

// extendedActivation is WhiskActivation.toExtendedJson.
type extendedActivation struct {
	Namespace    string            `json:"namespace"`
	Name         string            `json:"name"`
	Subject      string            `json:"subject"`
	ActivationID string            `json:"activationId"`
	Start        int64             `json:"start"`
	End          int64             `json:"end,omitempty"`
	Cause        string            `json:"cause,omitempty"`
	Response     extendedResponse  `json:"response"`
	Logs         []string          `json:"logs"`
	Version      string            `json:"version"`
	Publish      bool              `json:"publish"`
	Annotations  whisk.Annotations `json:"annotations"`
	Duration     *int64            `json:"duration,omitempty"`
}

func toExtended(a whisk.Activation) extendedActivation {
	e := extendedActivation{
		Namespace: a.Namespace, Name: a.Name, Subject: a.Subject, ActivationID: a.ActivationID,
		Start: a.Start, End: a.End, Cause: a.Cause, Response: extend(a.Response), Logs: a.Logs,
		Version: a.Version, Publish: a.Publish, Annotations: a.Annotations,
	}
	if e.Logs == nil {
		e.Logs = []string{}
	}
	if e.Annotations == nil {
		e.Annotations = whisk.Annotations{}
	}
	if a.End != 0 {
		d := a.End - a.Start
		if a.Duration != nil {
			d = *a.Duration
		}
		e.Duration = &d
	}
	return e
}

// activationSummary is the activations view's value (docs=false).
type activationSummary struct {
	Namespace    string            `json:"namespace"`
	Name         string            `json:"name"`
	Version      string            `json:"version"`
	Publish      bool              `json:"publish"`
	Annotations  whisk.Annotations `json:"annotations"`
	ActivationID string            `json:"activationId"`
	Start        int64             `json:"start"`
	End          int64             `json:"end,omitempty"`
	Duration     *int64            `json:"duration,omitempty"`
	Cause        string            `json:"cause,omitempty"`
	StatusCode   *int              `json:"statusCode,omitempty"`
}

func summarize(a whisk.Activation) activationSummary {
	s := activationSummary{Namespace: a.Namespace, Name: a.Name, Version: a.Version, Publish: a.Publish,
		Annotations: a.Annotations, ActivationID: a.ActivationID, Start: a.Start, Cause: a.Cause}
	if s.Annotations == nil {
		s.Annotations = whisk.Annotations{}
	}
	if a.End != 0 {
		s.End = a.End
		d := a.End - a.Start
		s.Duration = &d
		code := int(a.Response.StatusCode)
		s.StatusCode = &code
	}
	return s
}

// wait is waitForActivationResponse: the result ack, or the
// record in the database when the ack came shrunk (polled at once and at
// +1, +3, +5, +7 s) and every 15 s from the start, until the wait ends.
func (c *activationStore) wait(ctx context.Context, ns string, done *Completion, wait time.Duration) *whisk.Activation {
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	every := time.NewTicker(15 * time.Second)
	defer every.Stop()
	var polls <-chan time.Time
	var schedule []time.Duration
	poll := func() *whisk.Activation {
		d, err := c.get(ctx, ns, done.ID)
		if err != nil {
			return nil
		}
		return &d.Activation
	}
	for {
		select {
		case a := <-done.Result():
			return a
		case <-done.Shrunk():
			schedule = []time.Duration{0, time.Second, 2 * time.Second, 2 * time.Second, 2 * time.Second}
			polls = time.After(0)
		case <-polls:
			schedule = schedule[1:]
			if a := poll(); a != nil {
				return a
			}
			polls = nil
			if len(schedule) > 0 {
				polls = time.After(schedule[0])
			}
		case <-every.C:
			if a := poll(); a != nil {
				return a
			}
		case <-deadline.C:
			return nil
		case <-ctx.Done():
			return nil
		}
	}
}

// put stores a record the controller makes itself (trigger and sequence
// activations).
func (c *activationStore) put(ctx context.Context, a whisk.Activation, now time.Time) error {
	d := whisk.NewActivationDoc(a, now.UnixMilli())
	if _, err := c.db.Put(ctx, d.ID, d); err != nil {
		return fmt.Errorf("controller: store activation %s: %w", a.ActivationID, err)
	}
	return nil
}
