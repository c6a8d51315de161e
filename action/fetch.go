package action

import (
	"bytes"
	"errors"
	"fmt"
	"net/textproto"
	"strconv"
	"strings"
)

// Request is an outbound HTTP request.
type Request struct {
	Method string // GET when empty
	URL    string // absolute: http://host[:port]/path or https://...
	Header map[string][]string
	Body   []byte
}

// Response is an outbound request's answer. Redirects are not followed.
type Response struct {
	Status int
	Header map[string][]string // canonical names, as net/http's
	Body   []byte
}

// Fetch sends req through the host's outbound HTTP (faasedge.http_request).
// The action must be annotated with faasedge-allowed-hosts naming each host
// it calls; a request to another host fails with ErrNotAllowed, and the
// activation's byte and time budget (annotation faasedge-http-budget)
// bound what all its requests send, receive and wait, failing with
// ErrTooLarge and ErrTimeout. A name that does not resolve fails with
// ErrDNS.
//
// Fetch keeps net/http out of the module (about 2 MB of wasm); package
// actionhttp adapts it to net/http's RoundTripper for code that wants an
// http.Client.
func Fetch(req Request) (*Response, error) {
	method := req.Method
	if method == "" {
		method = "GET"
	}
	if strings.ContainsAny(method+req.URL, " \r\n") {
		return nil, errors.New("action: a request's method and URL cannot hold spaces or line breaks")
	}
	var b bytes.Buffer
	host := req.URL
	if _, rest, ok := strings.Cut(host, "://"); ok {
		host = rest
	}
	if i := strings.IndexAny(host, "/?#"); i >= 0 {
		host = host[:i]
	}
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\n", method, req.URL, host)
	for k, vs := range req.Header {
		if strings.ContainsAny(k, ":\r\n") {
			return nil, fmt.Errorf("action: bad header name %q", k)
		}
		for _, v := range vs {
			if strings.ContainsAny(v, "\r\n") {
				return nil, fmt.Errorf("action: header %s holds a line break", k)
			}
			fmt.Fprintf(&b, "%s: %s\r\n", k, v)
		}
	}
	fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n", len(req.Body))
	b.Write(req.Body)
	raw, err := callHTTP(b.Bytes())
	if err != nil {
		return nil, err
	}
	return parseResponse(raw)
}

// parseResponse reads the host's answer: an HTTP/1.1 response with a
// Content-Length.
func parseResponse(raw []byte) (*Response, error) {
	head, body, ok := bytes.Cut(raw, []byte("\r\n\r\n"))
	if !ok {
		return nil, errors.New("action: malformed response from the host")
	}
	status, fields, _ := bytes.Cut(head, []byte("\r\n"))
	parts := strings.SplitN(string(status), " ", 3)
	code, err := strconv.Atoi(parts[min(1, len(parts)-1)])
	if len(parts) < 2 || err != nil {
		return nil, fmt.Errorf("action: malformed status line %q from the host", status)
	}
	resp := &Response{Status: code, Header: map[string][]string{}, Body: body}
	for _, line := range strings.Split(string(fields), "\r\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		k = textproto.CanonicalMIMEHeaderKey(strings.TrimSpace(k))
		resp.Header[k] = append(resp.Header[k], strings.TrimSpace(v))
	}
	delete(resp.Header, "Content-Length")
	return resp, nil
}
