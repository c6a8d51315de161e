// Command hello is a sample OpenWhisk action for kind wasm:wasip1 written
// with the Go SDK (package action): typed parameters and result, a log
// line, an application error.
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o hello.wasm ./examples/hello
//	wsk action create hello hello.wasm --kind wasm:wasip1
//	wsk action invoke hello -r -p name World
//
// Built without -buildmode=c-shared it is a command module instead.
package main

import (
	"context"
	"errors"
	"log/slog"

	"github.com/faasedge/faasedge/action"
)

type params struct {
	Name string `json:"name"`
}

type greeting struct {
	Greeting string `json:"greeting"`
}

func main() {
	action.Run(func(ctx context.Context, p params) (greeting, error) {
		if p.Name == "" {
			return greeting{}, errors.New("parameter name is required")
		}
		a, _ := action.FromContext(ctx)
		slog.Info("greeting", "name", p.Name, "action", a.ActionName)
		return greeting{Greeting: "Hello, " + p.Name + "!"}, nil
	})
}
