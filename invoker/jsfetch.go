package invoker

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"syscall"
	"time"

	"github.com/dop251/goja"
)

// errEgress is why a fetch to an address the runner's policy refuses
// fails.
var errEgress = errors.New("the address is not reachable from actions")

// newFetchClient is the HTTP client behind fetch. Unless host is set, it
// refuses, after name resolution, loopback, link-local, unspecified and
// multicast addresses: the runner shares the invoker's host, so they
// would reach services of the host itself (what listens on loopback,
// cloud metadata) that a stock action container, in a network namespace
// of its own, cannot. Other addresses, private ranges included, are as
// reachable as from a stock container.
func newFetchClient(host bool) *http.Client {
	dialer := &net.Dialer{
		Timeout: 30 * time.Second,
		Control: func(_, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return err
			}
			ip := ap.Addr().Unmap()
			if !host && (ip.IsLoopback() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
				ip.IsUnspecified() || ip.IsMulticast()) {
				return fmt.Errorf("%s: %w", ip, errEgress)
			}
			return nil
		},
	}
	return &http.Client{Transport: &http.Transport{
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          64,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 0, // the activation's deadline bounds it
	}}
}

// fetchMaxRedirects is undici's redirect limit.
const fetchMaxRedirects = 20

// fetch is the native half of the global fetch: one HTTP exchange on its
// own goroutine, bounded by the activation, its response resolved on the
// loop as {status, statusText, url, redirected, headers, body}.
func (j *jsVM) fetch(call goja.FunctionCall) goja.Value {
	rt := j.rt
	act := j.act
	promise, resolve, reject := rt.NewPromise()
	fail := func(err error) {
		e := rt.NewTypeError("fetch failed")
		_ = e.Set("cause", rt.NewGoError(err))
		_ = reject(e)
	}
	var pairs [][]string
	if err := rt.ExportTo(call.Argument(2), &pairs); err != nil {
		fail(err)
		return rt.ToValue(promise)
	}
	var body io.Reader
	if b, ok := call.Argument(3).Export().([]byte); ok {
		body = bytes.NewReader(bytes.Clone(b))
	}
	req, err := http.NewRequestWithContext(act.ctx, call.Argument(1).String(), call.Argument(0).String(), body)
	if err != nil {
		fail(err)
		return rt.ToValue(promise)
	}
	for _, kv := range pairs {
		if len(kv) == 2 {
			req.Header.Add(kv[0], kv[1])
		}
	}
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", "node")
	}
	if req.Header.Get("Accept") == "" {
		req.Header.Set("Accept", "*/*")
	}
	client := *j.r.client()
	redirected := false
	switch mode := call.Argument(4).String(); mode {
	case "manual":
		client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	case "error":
		client.CheckRedirect = func(*http.Request, []*http.Request) error { return errors.New("unexpected redirect") }
	default:
		client.CheckRedirect = func(_ *http.Request, via []*http.Request) error {
			if len(via) > fetchMaxRedirects {
				return errors.New("redirect count exceeded")
			}
			redirected = true
			return nil
		}
	}
	limit := j.maxAlloc
	go func() {
		type answer struct {
			status     int
			statusText string
			url        string
			headers    [][]string
			body       []byte
		}
		var ans answer
		resp, err := client.Do(req)
		if err == nil {
			ans.body, err = io.ReadAll(io.LimitReader(resp.Body, limit+1))
			_ = resp.Body.Close()
			if err == nil && int64(len(ans.body)) > limit {
				err = fmt.Errorf("the response body exceeds the action's memory limit of %d bytes", limit)
			}
			ans.status = resp.StatusCode
			ans.statusText = strings.TrimSpace(strings.TrimPrefix(resp.Status, fmt.Sprint(resp.StatusCode)))
			ans.url = resp.Request.URL.String()
			for k, vs := range resp.Header {
				for _, v := range vs {
					ans.headers = append(ans.headers, []string{strings.ToLower(k), v})
				}
			}
		}
		j.loop.RunOnLoop(func(rt *goja.Runtime) {
			if j.act != act { // the activation that asked has ended
				return
			}
			if err != nil {
				fail(err)
				return
			}
			headers := make([]any, len(ans.headers))
			for i, h := range ans.headers {
				headers[i] = rt.NewArray(h[0], h[1])
			}
			o := rt.NewObject()
			_ = o.Set("status", ans.status)
			_ = o.Set("statusText", ans.statusText)
			_ = o.Set("url", ans.url)
			_ = o.Set("redirected", redirected)
			_ = o.Set("headers", rt.NewArray(headers...))
			_ = o.Set("body", rt.NewArrayBuffer(ans.body))
			_ = resolve(o)
		})
	}()
	return rt.ToValue(promise)
}
