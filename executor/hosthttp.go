package executor

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/faasedge/faasedge/activation"
)

// DefaultHTTPBytes is an activation's outbound HTTP byte budget (requests
// and responses, headers included) when its annotation sets none; the
// action's memory limit caps it.
const DefaultHTTPBytes = 8 << 20

// maxResponseHead bounds the status line and headers of a response, before
// the byte budget is known to cover them.
const maxResponseHead = 64 << 10

// HTTPPolicy is the node operator's bound on the outbound HTTP of every
// action the executor runs. It can only narrow what an action's
// annotations give.
type HTTPPolicy struct {
	// AllowedHosts, when not nil, is the operator's allow-list: a request
	// must match both it and the action's. Empty but not nil allows none.
	AllowedHosts []string
	// MaxBytes and MaxTime cap each activation's budget; zero leaves the
	// action's own (within its limits).
	MaxBytes int64
	MaxTime  time.Duration
	// Resolver resolves host names; net.DefaultResolver when nil.
	Resolver *net.Resolver
}

// WithHTTPPolicy sets the node operator's outbound HTTP policy.
func WithHTTPPolicy(p HTTPPolicy) Option { return func(c *config) { c.host.http = p } }

// httpClient sends the actions' requests.
type httpClient struct {
	transport *http.Transport
	policy    []hostPattern // nil: the operator does not narrow
	maxBytes  int64
	maxTime   time.Duration
}

func newHTTPClient(p HTTPPolicy) (*httpClient, error) {
	c := &httpClient{maxBytes: p.MaxBytes, maxTime: p.MaxTime}
	if p.AllowedHosts != nil {
		c.policy = []hostPattern{}
		for _, s := range p.AllowedHosts {
			hp, err := parseHostPattern(s)
			if err != nil {
				return nil, fmt.Errorf("executor: HTTP policy: %w", err)
			}
			c.policy = append(c.policy, hp)
		}
	}
	c.transport = &http.Transport{
		// No proxy from the environment: the allow-list names where
		// requests go.
		Proxy:                  nil,
		DialContext:            (&net.Dialer{Resolver: p.Resolver, Timeout: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:      true,
		MaxIdleConns:           64,
		IdleConnTimeout:        90 * time.Second,
		TLSHandshakeTimeout:    10 * time.Second,
		MaxResponseHeaderBytes: maxResponseHead,
		// The budget counts the bytes on the wire, and the guest sees
		// what the server sent.
		DisableCompression: true,
	}
	return c, nil
}

// httpGrant is an activation's outbound HTTP: where it may go and what is
// left of its budget.
type httpGrant struct {
	hosts     []hostPattern
	policy    []hostPattern
	bytesLeft int64
	timeLeft  time.Duration
	budget    time.Duration
}

// httpGrant is the action's outbound HTTP; nil when it has none.
func (r *run) httpGrant() (*httpGrant, error) {
	ac := r.a.Capabilities
	if ac.AllowedHosts == nil {
		return nil, nil
	}
	c := r.e.host.http
	g := &httpGrant{policy: c.policy, bytesLeft: min(DefaultHTTPBytes, int64(r.memoryBytes())), timeLeft: r.timeout}
	for _, s := range ac.AllowedHosts {
		hp, err := parseHostPattern(s)
		if err != nil {
			return nil, devErrorf("the action's annotation %s: %v", activation.AnnotationAllowedHosts, err)
		}
		g.hosts = append(g.hosts, hp)
	}
	if ac.HTTPBytes > 0 {
		g.bytesLeft = min(ac.HTTPBytes, int64(r.memoryBytes()))
	}
	if ac.HTTPMillis > 0 {
		g.timeLeft = min(time.Duration(ac.HTTPMillis)*time.Millisecond, r.timeout)
	}
	if c.maxBytes > 0 {
		g.bytesLeft = min(g.bytesLeft, c.maxBytes)
	}
	if c.maxTime > 0 {
		g.timeLeft = min(g.timeLeft, c.maxTime)
	}
	g.budget = g.timeLeft
	return g, nil
}

// hostPattern is one entry of an allow-list: a host name or IP, "*.domain"
// for its subdomains, or "*" for any host; with ":port" (also "*:port"),
// that port only.
type hostPattern struct {
	host     string // lower case; ".domain" for a wildcard; "" for any host
	wildcard bool
	port     string
}

func parseHostPattern(s string) (hostPattern, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "*" {
		return hostPattern{wildcard: true}, nil
	}
	host, port := s, ""
	if h, p, err := net.SplitHostPort(s); err == nil {
		host, port = h, p
		if n, err := strconv.Atoi(p); err != nil || n <= 0 || n > 65535 {
			return hostPattern{}, fmt.Errorf("host %q: bad port", s)
		}
	} else if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		host = s[1 : len(s)-1]
	}
	if host == "*" {
		return hostPattern{wildcard: true, port: port}, nil
	}
	hp := hostPattern{host: strings.TrimSuffix(host, "."), port: port}
	if rest, ok := strings.CutPrefix(hp.host, "*."); ok {
		hp.host, hp.wildcard = "."+rest, true
	}
	if hp.host == "" || hp.host == "." || strings.ContainsAny(strings.TrimPrefix(hp.host, "."), "*/@ ") {
		return hostPattern{}, fmt.Errorf("host %q: want a name, an IP, *.domain or *, with an optional :port", s)
	}
	return hp, nil
}

func (p hostPattern) match(host, port string) bool {
	if p.port != "" && p.port != port {
		return false
	}
	switch {
	case p.host == "":
		return true
	case p.wildcard:
		return strings.HasSuffix(host, p.host)
	}
	return host == p.host
}

func matchAny(ps []hostPattern, host, port string) bool {
	for _, p := range ps {
		if p.match(host, port) {
			return true
		}
	}
	return false
}

// hopHeaders are the request headers that describe one connection, not
// the request, and are not forwarded.
var hopHeaders = []string{"Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authorization", "Te", "Trailer", "Upgrade"}

// sendHTTP is faasedge.http_request: args[0] is an HTTP/1.1 request with an
// absolute URL; the result is the HTTP/1.1 response, with a Content-Length.
func (hc *hostCall) sendHTTP(ctx context.Context, args [][]byte) ([]byte, *hostError) {
	g := hc.http
	raw := args[0]
	if int64(len(raw)) > g.bytesLeft {
		return nil, hostErrorf(codeTooLarge, "request of %d bytes over the %d bytes left of the activation's HTTP budget", len(raw), g.bytesLeft)
	}
	g.bytesLeft -= int64(len(raw))
	req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(raw)))
	if err != nil {
		return nil, hostErrorf(codeBadRequest, "malformed request: %v", err)
	}
	u := req.URL
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, hostErrorf(codeBadRequest, "the request's URL %q is not an absolute http or https URL", u.String())
	}
	host, port := strings.TrimSuffix(strings.ToLower(u.Hostname()), "."), u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	if !matchAny(g.hosts, host, port) || (g.policy != nil && !matchAny(g.policy, host, port)) {
		return nil, hostErrorf(codeDenied, "host %s is not allowed: it is not in the action's %s", u.Host, activation.AnnotationAllowedHosts)
	}
	if g.timeLeft <= 0 {
		return nil, hostErrorf(codeTimeout, "the activation's HTTP time budget of %v is spent", g.budget)
	}
	start := time.Now()
	defer func() { g.timeLeft -= time.Since(start) }()
	cctx, cancel := context.WithTimeout(ctx, g.timeLeft)
	defer cancel()
	out, err := http.NewRequestWithContext(cctx, req.Method, u.String(), req.Body)
	if err != nil {
		return nil, hostErrorf(codeBadRequest, "malformed request: %v", err)
	}
	out.Header = req.Header
	for _, k := range hopHeaders {
		out.Header.Del(k)
	}
	out.ContentLength = req.ContentLength
	resp, err := hc.h.http.transport.RoundTrip(out)
	if err != nil {
		return nil, g.failure(cctx, err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	fmt.Fprintf(&b, "HTTP/1.1 %03d %s\r\n", resp.StatusCode, http.StatusText(resp.StatusCode))
	resp.Header.Del("Content-Length")
	resp.Header.Del("Transfer-Encoding")
	_ = resp.Header.Write(&b) // a bytes.Buffer does not fail
	head := int64(b.Len())
	room := g.bytesLeft - head - 32 // the Content-Length line
	if room < 0 {
		herr := hostErrorf(codeTooLarge, "response headers of %d bytes over the %d bytes left of the activation's HTTP budget", head, g.bytesLeft)
		g.bytesLeft = 0
		return nil, herr
	}
	if resp.ContentLength > room {
		g.bytesLeft = 0
		return nil, hostErrorf(codeTooLarge, "response of %d bytes over the %d bytes left of the activation's HTTP budget", resp.ContentLength, room)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, room+1))
	if err != nil {
		return nil, g.failure(cctx, err)
	}
	if int64(len(body)) > room {
		g.bytesLeft = 0
		return nil, hostErrorf(codeTooLarge, "response over the %d bytes left of the activation's HTTP budget", room)
	}
	fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n", len(body))
	b.Write(body)
	g.bytesLeft -= int64(b.Len())
	return b.Bytes(), nil
}

// failure maps a failed exchange to the guest's error codes.
func (g *httpGrant) failure(cctx context.Context, err error) *hostError {
	var dns *net.DNSError
	switch {
	case errors.As(err, &dns) && !dns.IsTimeout:
		return hostErrorf(codeDNS, "cannot resolve %s: %v", dns.Name, dns.Err)
	case cctx.Err() != nil:
		return hostErrorf(codeTimeout, "request timed out: the activation's HTTP time budget is %v", g.budget)
	}
	return hostErrorf(codeUnavailable, "request failed: %v", err)
}
