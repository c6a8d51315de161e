package action_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/faasedge/faasedge/action"
)

// A complete action: typed parameters and result, a log line, an error.
// Build it with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o hello.wasm .
//	wsk action create hello hello.wasm --kind wasm:wasip1
func Example() {
	type params struct {
		Name string `json:"name"`
	}
	type greeting struct {
		Greeting string `json:"greeting"`
	}
	action.Run(func(ctx context.Context, p params) (greeting, error) {
		if p.Name == "" {
			return greeting{}, errors.New("name is required")
		}
		a, _ := action.FromContext(ctx)
		slog.Info("greeting", "name", p.Name, "activation", a.ID)
		return greeting{"Hello, " + p.Name + "!"}, nil
	})
}

// An action that answers JSON it has already, without the decoding and
// encoding Run does: here its parameters, as they came.
func ExampleRunRaw() {
	action.RunRaw(func(ctx context.Context, params []byte) ([]byte, error) {
		return params, nil
	})
}

// An action that calls an HTTP API through the host; it needs the
// annotation faasedge-allowed-hosts naming the API's host:
//
//	wsk action create weather weather.wasm --kind wasm:wasip1 \
//	  -a faasedge-allowed-hosts '["api.example.com"]'
func ExampleFetch() {
	type params struct {
		City string `json:"city"`
	}
	type forecast struct {
		Status int    `json:"status"`
		Body   string `json:"body"`
	}
	action.Run(func(ctx context.Context, p params) (forecast, error) {
		resp, err := action.Fetch(action.Request{URL: "https://api.example.com/forecast?city=" + p.City})
		switch {
		case errors.Is(err, action.ErrNotAllowed):
			return forecast{}, fmt.Errorf("the action may not call the API: %w", err)
		case err != nil:
			return forecast{}, err
		}
		return forecast{resp.Status, string(resp.Body)}, nil
	})
}

// A counter kept in the namespace's key-value store (annotation
// faasedge-kv=true).
func ExampleStore() {
	type count struct {
		Count int `json:"count"`
	}
	action.Run(func(ctx context.Context, _ struct{}) (count, error) {
		var c count
		v, err := action.KV.Get("count")
		switch {
		case errors.Is(err, action.ErrNotFound):
		case err != nil:
			return c, err
		default:
			fmt.Sscan(string(v), &c.Count)
		}
		c.Count++
		return c, action.KV.Set("count", []byte(fmt.Sprint(c.Count)))
	})
}
