package invoker

import (
	"context"
	"fmt"
	"strings"

	"github.com/faasedge/faasedge/activation"
	"github.com/faasedge/faasedge/whisk"
)

// Runner runs one activation of an action and reports its outcome. It never
// fails as such: every problem is a Result with the stock status code and
// error text (openwhisk-wire.md 5.3). The engine owns admission, acks and
// records; a Runner only executes, locally or on an edge node.
type Runner interface {
	Run(ctx context.Context, a *activation.Action, in activation.Invocation) activation.Result
}

var (
	_ Runner = Kinds(nil)
	_ Runner = WasmRunner{}
	_ Runner = (*JSRunner)(nil)
)

// Kinds runs each action on the Runner registered for its kind's family
// (the part before the colon: "wasm", "nodejs"). An action of any other kind
// ends as a developer error naming the kind: the classic balancer does not
// route by kind, and a whisk error would count against the invoker's health.
type Kinds map[string]Runner

// Run implements Runner.
func (k Kinds) Run(ctx context.Context, a *activation.Action, in activation.Invocation) activation.Result {
	family, _, _ := strings.Cut(a.Kind, ":")
	if r, ok := k[family]; ok {
		return r.Run(ctx, a, in)
	}
	return activation.Failed(whisk.StatusDeveloperError, UnsupportedKindMessage(a.Kind))
}

// UnsupportedKindMessage is the developer error for a kind no runner takes.
func UnsupportedKindMessage(kind string) string {
	return fmt.Sprintf("The action kind %q is not supported by this invoker.", kind)
}
