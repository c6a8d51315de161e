package controllerplugin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	ow "github.com/apache/openwhisk-client-go/whisk"
	"github.com/ipfs/boxo/ipns"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/core/routing"

	"github.com/faasedge/faasedge/activation"
	"github.com/faasedge/faasedge/p2p"
	"github.com/faasedge/faasedge/p2p/ipfs"
	"github.com/faasedge/faasedge/p2p/ring"
	"github.com/faasedge/faasedge/whisk"
)

// ProtoDeploy is the Function Manager's protocol: one length-prefixed JSON
// DeployRequest in, one DeployReply out, framed like the ring's protocols.
const ProtoDeploy protocol.ID = "/faasedge/fm/deploy/1.0.0"

// OpenWhisk's action memory bounds (whisk.memory.min and max).
const (
	MinActionMemoryMB = whisk.MinMemoryMB
	MaxActionMemoryMB = 512
)

// DeployRequest asks a scheduling node to deploy a function.
type DeployRequest struct {
	// Name is the action name, optionally package/name.
	Name string `json:"name"`
	// CID is the module's content id; the client serves its blocks.
	CID      string `json:"cid"`
	MemoryMB int    `json:"memory"`
}

// DeployReply says where the function was deployed.
type DeployReply struct {
	// Action is /namespace/name.
	Action string `json:"action"`
	// URL is the REST endpoint to invoke the action (POST, with the
	// namespace's credentials).
	URL string `json:"url"`
	// Supplier is the edge node Scheduling chose and prepared the code on.
	Supplier string `json:"supplier"`
}

// Server is where the Function Manager registers its protocol;
// ring.HostTransport implements it.
type Server interface {
	Handle(proto protocol.ID, maxSize int, h ring.Handler)
}

// Caller sends one request; ring.HostTransport implements it.
type Caller interface {
	Call(ctx context.Context, to peer.AddrInfo, proto protocol.ID, req []byte) ([]byte, error)
}

// CodeStore fetches and pins a module by CID on the scheduling node, so
// edge nodes can fetch it from here once the client is gone.
// *ipfs.Node implements it.
type CodeStore interface {
	Fetch(ctx context.Context, ref string) ([]byte, error)
	Pin(ctx context.Context, c cid.Cid) error
}

// ManagerConfig locates the OpenWhisk REST API the actions are created in.
type ManagerConfig struct {
	// APIHost is the API's base URL, e.g. https://openwhisk.example.com.
	APIHost string
	// AuthKey is "uuid:key" of the namespace deployed into.
	AuthKey string
	// Namespace deployed into; "_" (the key's own) when empty.
	Namespace string
	// Insecure skips TLS verification (self-signed deployments).
	Insecure bool
	// HTTPClient, when set, is used for the REST calls.
	HTTPClient *http.Client
	// Gateway, when set, runs the deployed actions: Deploy also has the
	// edge nodes of its virtual invokers' claims compile the module, so
	// that the first activation finds it compiled wherever it runs.
	Gateway *Gateway
}

// FunctionManager is the scheduling node's deploy service.
type FunctionManager struct {
	ring    Ring
	code    CodeStore
	client  *ow.Client
	apiHost string
	gw      *Gateway
	log     *slog.Logger
}

// NewFunctionManager builds the service on a ring node (Scheduling) and an
// IPFS node (code), creating actions with cfg's credentials.
func NewFunctionManager(r Ring, code CodeStore, cfg ManagerConfig, log *slog.Logger) (*FunctionManager, error) {
	if log == nil {
		log = slog.Default()
	}
	u, err := url.Parse(cfg.APIHost)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("controllerplugin: API host %q is not an http(s) URL", cfg.APIHost)
	}
	if _, _, ok := strings.Cut(cfg.AuthKey, ":"); !ok {
		return nil, errors.New("controllerplugin: the API key must be uuid:key")
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: time.Minute}
	}
	c, err := ow.NewClient(hc, &ow.Config{
		Host: strings.TrimRight(cfg.APIHost, "/"), AuthToken: cfg.AuthKey,
		Namespace: cfg.Namespace, Insecure: cfg.Insecure,
	})
	if err != nil {
		return nil, fmt.Errorf("controllerplugin: openwhisk client: %w", err)
	}
	return &FunctionManager{ring: r, code: code, client: c, apiHost: strings.TrimRight(cfg.APIHost, "/"), gw: cfg.Gateway, log: log}, nil
}

// Register serves ProtoDeploy on s.
func (f *FunctionManager) Register(s Server) {
	s.Handle(ProtoDeploy, 4<<10, func(ctx context.Context, from peer.ID, req []byte) ([]byte, error) {
		var r DeployRequest
		dec := json.NewDecoder(strings.NewReader(string(req)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&r); err != nil {
			return nil, fmt.Errorf("bad deploy request: %w", err)
		}
		// The client added the module to its own node: it is streamed
		// from there.
		rep, err := f.Deploy(ipfs.ContextWithSources(ctx, from), r)
		if err != nil {
			f.log.Warn("deploy refused", "from", from, "name", r.Name, "err", err)
			return nil, err
		}
		f.log.Info("deployed", "from", from, "action", rep.Action, "cid", r.CID, "supplier", rep.Supplier)
		return json.Marshal(rep)
	})
}

// entityName is OpenWhisk's EntityName rule, for the action and package.
var entityName = regexp.MustCompile(`^[a-zA-Z0-9_][a-zA-Z0-9_@.\- ]{0,255}$`)

// validate checks a request before any work is done for it.
func (r DeployRequest) validate() (cid.Cid, error) {
	parts := strings.Split(r.Name, "/")
	if len(parts) > 2 {
		return cid.Undef, fmt.Errorf("action name %q: at most package/name", r.Name)
	}
	for _, p := range parts {
		if !entityName.MatchString(p) || strings.HasSuffix(p, " ") {
			return cid.Undef, fmt.Errorf("action name %q is not a valid OpenWhisk entity name", r.Name)
		}
	}
	c, err := cid.Decode(r.CID)
	if err != nil {
		return cid.Undef, fmt.Errorf("cid %q: %w", r.CID, err)
	}
	if r.MemoryMB < MinActionMemoryMB || r.MemoryMB > MaxActionMemoryMB {
		return cid.Undef, fmt.Errorf("memory %d MB outside %d..%d MB", r.MemoryMB, MinActionMemoryMB, MaxActionMemoryMB)
	}
	return c, nil
}

// Deploy fetches and pins the module here (so it outlives the client),
// runs Scheduling so an edge node fetches and compiles it, has the edge
// nodes the gateway's virtual invokers run on (ManagerConfig.Gateway)
// compile it too, creates or updates the action with code ipfs://CID, and
// returns its endpoint.
func (f *FunctionManager) Deploy(ctx context.Context, r DeployRequest) (DeployReply, error) {
	c, err := r.validate()
	if err != nil {
		return DeployReply{}, err
	}
	mod, err := f.code.Fetch(ctx, c.String())
	if err != nil {
		return DeployReply{}, fmt.Errorf("fetch %s: %w", c, err)
	}
	if len(mod) < 4 || string(mod[:4]) != "\x00asm" {
		return DeployReply{}, fmt.Errorf("%s is not a WebAssembly module", c)
	}
	if err := f.code.Pin(ctx, c); err != nil {
		return DeployReply{}, fmt.Errorf("pin %s: %w", c, err)
	}
	p, err := f.ring.Schedule(ctx, c.String(), r.MemoryMB)
	if err != nil {
		return DeployReply{}, fmt.Errorf("schedule %s: %w", c, err)
	}
	// The claim only served to place the code; the virtual invokers claim
	// the capacity that runs it.
	if err := f.ring.Release(ctx, p); err != nil {
		f.log.Debug("releasing the deploy claim", "supplier", p.Supplier(), "err", err)
	}
	if f.gw != nil {
		// A node that refuses compiles on the first run, as without it.
		if err := f.gw.Prepare(ctx, c.String()); err != nil {
			f.log.Warn("not every edge node compiles the deployed module ahead of time", "cid", c, "err", err)
		}
	}
	code := activation.Code{CID: c.String()}.String()
	mem := r.MemoryMB
	act, resp, err := f.client.Actions.Insert(&ow.Action{
		Name:   r.Name,
		Exec:   &ow.Exec{Kind: whisk.KindWasm, Code: &code},
		Limits: &ow.Limits{Memory: &mem},
	}, true)
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	if err != nil {
		return DeployReply{}, fmt.Errorf("create action %s: %w", r.Name, err)
	}
	ns := act.Namespace
	if ns == "" {
		ns = f.client.Config.Namespace
	}
	nsPath, name := ns, act.Name
	if pkg, _, ok := strings.Cut(ns, "/"); ok {
		nsPath, name = pkg, strings.TrimPrefix(ns, pkg+"/")+"/"+act.Name
	}
	return DeployReply{
		Action:   "/" + ns + "/" + act.Name,
		URL:      f.apiHost + "/api/v1/namespaces/" + url.PathEscape(nsPath) + "/actions/" + escapePath(name),
		Supplier: p.Supplier().String(),
	}, nil
}

func escapePath(name string) string {
	parts := strings.Split(name, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return strings.Join(parts, "/")
}

// ResolveSchedulers reads a scheduler reference as `faasedge deploy
// --scheduler` takes it: a full multiaddr (/ip4/.../p2p/<id>), or the IPNS
// name of the scheduler index (/ipns/<name> or the bare name), which is
// resolved in the ring's DHT through vs.
func ResolveSchedulers(ctx context.Context, vs routing.ValueStore, ref string) ([]peer.AddrInfo, error) {
	if strings.HasPrefix(ref, "/") && !strings.HasPrefix(ref, "/ipns/") {
		return p2p.ParseAddrInfos([]string{ref})
	}
	name, err := ipns.NameFromString(ref)
	if err != nil {
		return nil, fmt.Errorf("%q is neither a multiaddr nor an IPNS name: %w", ref, err)
	}
	// A client that has just joined may not know any DHT server yet:
	// retry a few times before giving up.
	var infos []peer.AddrInfo
	for wait := 100 * time.Millisecond; ; wait *= 2 {
		if infos, err = ring.ResolveIndex(ctx, vs, name); err == nil {
			break
		}
		if wait > 3*time.Second {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(wait):
		}
	}
	if len(infos) == 0 {
		return nil, fmt.Errorf("the scheduler index %s is empty", ref)
	}
	return infos, nil
}

// Deploy asks the Function Manager on scheduler to deploy req; the caller
// must serve the module's blocks until it returns.
func Deploy(ctx context.Context, c Caller, scheduler peer.AddrInfo, req DeployRequest) (DeployReply, error) {
	if _, err := req.validate(); err != nil {
		return DeployReply{}, err
	}
	body, err := json.Marshal(req)
	if err != nil {
		return DeployReply{}, err
	}
	out, err := c.Call(ctx, scheduler, ProtoDeploy, body)
	if err != nil {
		return DeployReply{}, fmt.Errorf("deploy on %s: %w", scheduler.ID, err)
	}
	var rep DeployReply
	if err := json.Unmarshal(out, &rep); err != nil {
		return DeployReply{}, fmt.Errorf("deploy on %s: reply: %w", scheduler.ID, err)
	}
	return rep, nil
}
