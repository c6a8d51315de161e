// Command sdknethttp is the test action of package actionhttp: it sends
// {"method", "url", "body"} with net/http's client over the host's
// outbound HTTP and answers the status, the X-Reply header and the body.
package main

import (
	"context"
	"io"
	"net/http"
	"strings"

	"github.com/faasedge/faasedge/action"
	"github.com/faasedge/faasedge/action/actionhttp"
)

type params struct {
	Method string `json:"method"`
	URL    string `json:"url"`
	Body   string `json:"body"`
}

type result struct {
	Status int    `json:"status"`
	Header string `json:"header"`
	Body   string `json:"body"`
}

func main() {
	action.Run(func(ctx context.Context, p params) (result, error) {
		req, err := http.NewRequestWithContext(ctx, p.Method, p.URL, strings.NewReader(p.Body))
		if err != nil {
			return result{}, err
		}
		req.Header.Set("X-Test", "net/http")
		resp, err := actionhttp.Client().Do(req)
		if err != nil {
			return result{}, err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		return result{resp.StatusCode, resp.Header.Get("X-Reply"), string(body)}, err
	})
}
