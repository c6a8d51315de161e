package invoker

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/faasedge/faasedge/whisk"
)

// Runner runs one activation of an action and reports its outcome. It never
// fails as such: every problem is a Result with the stock status code and
// error text (openwhisk-wire.md 5.3). The engine owns admission, acks and
// records; a Runner only executes, locally or on an edge node.
type Runner interface {
	Run(ctx context.Context, a *Action, inv Invocation) Result
}

// Action is a resolved action document with its code.
type Action struct {
	Namespace string // the document's namespace: path, or path/package
	Name      string
	Version   string
	Rev       string
	Kind      string // resolved: "nodejs:default" is already the manifest's default
	Code      []byte // decoded: the JS text, or the module bytes of a binary action
	Binary    bool
	Main      string
	Digest    string
	Limits    whisk.Limits
	// ProvideAPIKey is the provide-api-key annotation (missing reads true).
	ProvideAPIKey bool
}

// FQN is the action's fully qualified name without version, the path
// annotation and the balancer's hash input.
func (a *Action) FQN() string { return a.Namespace + "/" + a.Name }

// Invocation is one activation's input, as the stock invoker hands it to a
// runtime container (openwhisk-wire.md 6.2).
type Invocation struct {
	// Value is content minus the init arguments ({} when absent).
	Value json.RawMessage
	// Env is the /init environment: the init arguments and the __OW_* keys.
	Env map[string]string
	// MaxPayload is the user's result size limit in bytes.
	MaxPayload int64
}

// Result is an activation's outcome. Start and End are the record's: on a
// cold start Start is when initialisation began (the run's start minus
// InitTime), as in the stock record; InitTime is > 0 only then.
type Result struct {
	Response   whisk.ActivationResponse
	Logs       []string
	Start, End time.Time
	InitTime   time.Duration
	Cold       bool
	TimedOut   bool
}

// Kinds runs each action on the Runner registered for its kind's family
// (the part before the colon: "wasm", "nodejs"). An action of any other kind
// ends as a developer error naming the kind: the classic balancer does not
// route by kind, and a whisk error would count against the invoker's health.
type Kinds map[string]Runner

// Run implements Runner.
func (k Kinds) Run(ctx context.Context, a *Action, inv Invocation) Result {
	family, _, _ := strings.Cut(a.Kind, ":")
	if r, ok := k[family]; ok {
		return r.Run(ctx, a, inv)
	}
	now := time.Now()
	return Result{
		Response: whisk.ErrorResponse(whisk.StatusDeveloperError, UnsupportedKindMessage(a.Kind)),
		Start:    now, End: now,
	}
}

// UnsupportedKindMessage is the developer error for a kind no runner takes.
func UnsupportedKindMessage(kind string) string {
	return fmt.Sprintf("The action kind %q is not supported by this invoker.", kind)
}
