// Command sdk is the test action of the Go SDK (package action), built both
// as a reactor and as a command from this one source. Its parameters
// choose what it does:
//
//	{"name": "World"}                 answers {"greeting": "Hello, World!", ...}
//	{"fail": "text"}                  returns an error (application error)
//	{"panic": "text"}                 panics (developer error)
//	{"http": {"url": ..., ...}}       sends a request through the host
//	{"kv": {"op": "set", ...}}        uses the namespace's key-value store
//	{"ipfs": "text"}                  adds text to IPFS and answers the CID
//
// It logs a line with log/slog and one with the standard logger.
package main

import (
	"context"
	"errors"
	"log"
	"log/slog"

	"github.com/faasedge/faasedge/action"
)

type params struct {
	Name  string `json:"name"`
	Fail  string `json:"fail"`
	Panic string `json:"panic"`
	HTTP  *struct {
		Method string `json:"method"`
		URL    string `json:"url"`
		Body   string `json:"body"`
	} `json:"http"`
	KV *struct {
		Op    string `json:"op"`
		Key   string `json:"key"`
		Value string `json:"value"`
	} `json:"kv"`
	IPFS string `json:"ipfs"`
}

type result struct {
	Greeting   string   `json:"greeting,omitempty"`
	Activation string   `json:"activation,omitempty"`
	Action     string   `json:"action,omitempty"`
	Deadline   int64    `json:"deadline,omitempty"`
	Status     int      `json:"status,omitempty"`
	Header     string   `json:"header,omitempty"`
	Body       string   `json:"body,omitempty"`
	Value      *string  `json:"value,omitempty"`
	Keys       []string `json:"keys,omitempty"`
	CID        string   `json:"cid,omitempty"`
	// Error names the sentinel a host error matched.
	Error string `json:"hostError,omitempty"`
}

var sentinels = map[string]error{
	"not allowed": action.ErrNotAllowed, "dns": action.ErrDNS, "timeout": action.ErrTimeout,
	"too large": action.ErrTooLarge, "bad request": action.ErrBadRequest,
	"unavailable": action.ErrUnavailable, "not found": action.ErrNotFound,
}

// hostError answers which sentinel err matches, with its text.
func hostError(err error) (result, error) {
	for name, s := range sentinels {
		if errors.Is(err, s) {
			return result{Error: name, Body: err.Error()}, nil
		}
	}
	return result{}, err
}

func main() {
	action.Run(func(ctx context.Context, p params) (result, error) {
		a, _ := action.FromContext(ctx)
		slog.Info("sdk action", "name", p.Name)
		log.Printf("activation %s", a.ID)
		switch {
		case p.Fail != "":
			return result{}, errors.New(p.Fail)
		case p.Panic != "":
			panic(p.Panic)
		case p.HTTP != nil:
			resp, err := action.Fetch(action.Request{Method: p.HTTP.Method, URL: p.HTTP.URL,
				Header: map[string][]string{"X-Test": {"sdk"}}, Body: []byte(p.HTTP.Body)})
			if err != nil {
				return hostError(err)
			}
			var reply string
			if v := resp.Header["X-Reply"]; len(v) > 0 {
				reply = v[0]
			}
			return result{Status: resp.Status, Header: reply, Body: string(resp.Body)}, nil
		case p.KV != nil:
			var r result
			var err error
			switch p.KV.Op {
			case "get":
				var v []byte
				if v, err = action.KV.Get(p.KV.Key); err == nil {
					s := string(v)
					r.Value = &s
				}
			case "set":
				err = action.KV.Set(p.KV.Key, []byte(p.KV.Value))
			case "delete":
				err = action.KV.Delete(p.KV.Key)
			case "list":
				if r.Keys, err = action.KV.List(p.KV.Key); err == nil && r.Keys == nil {
					r.Keys = []string{}
				}
			}
			if err != nil {
				return hostError(err)
			}
			return r, nil
		case p.IPFS != "":
			c, err := action.IPFSAdd([]byte(p.IPFS))
			if err != nil {
				return hostError(err)
			}
			return result{CID: c}, nil
		}
		return result{Greeting: "Hello, " + p.Name + "!", Activation: a.ID, Action: a.ActionName, Deadline: a.Deadline.UnixMilli()}, nil
	})
}
