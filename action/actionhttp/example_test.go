package actionhttp_test

import (
	"context"
	"io"
	"net/http"

	"github.com/faasedge/faasedge/action"
	"github.com/faasedge/faasedge/action/actionhttp"
)

// An action that calls an HTTP API with net/http's client; it needs the
// annotation faasedge-allowed-hosts naming the API's host.
func ExampleClient() {
	type params struct {
		City string `json:"city"`
	}
	type forecast struct {
		Status int    `json:"status"`
		Body   string `json:"body"`
	}
	action.Run(func(ctx context.Context, p params) (forecast, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://api.example.com/forecast?city="+p.City, nil)
		if err != nil {
			return forecast{}, err
		}
		resp, err := actionhttp.Client().Do(req)
		if err != nil {
			return forecast{}, err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		return forecast{resp.StatusCode, string(body)}, err
	})
}
