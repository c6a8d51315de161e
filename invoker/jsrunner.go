package invoker

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/dop251/goja"

	"github.com/faasedge/faasedge/whisk"
)

// JSRunner runs plain-ECMAScript nodejs actions in-process on goja, the way
// the nodejs runtime would: main(params) is called with the run value, its
// object (or promise of one) is the result, console output becomes log
// lines. It exists so the controller's health test action
// (function main(params) { return params; }) succeeds for real. There is no
// require, no Node API beyond process.env and console, and every activation
// gets a fresh interpreter, so every run counts as a cold start.
type JSRunner struct {
	mu    sync.Mutex
	progs map[string]*goja.Program // by action, revision and code digest
}

const jsInitFailed = "Initialization has failed due to: "

// Run implements Runner.
func (r *JSRunner) Run(ctx context.Context, a *Action, inv Invocation) Result {
	initStart := time.Now()
	timeout := time.Duration(a.Limits.Timeout) * time.Millisecond
	vm := goja.New()
	logs := whisk.NewLogCollector(a.Limits.Logs * int64(whisk.MB))
	if a.Limits.Logs == 0 {
		logs = nil // not collected at all, as stock
	}
	console := vm.NewObject()
	_ = console.Set("log", consoleWriter(vm, logs, whisk.Stdout))
	_ = console.Set("info", consoleWriter(vm, logs, whisk.Stdout))
	_ = console.Set("error", consoleWriter(vm, logs, whisk.Stderr))
	_ = console.Set("warn", consoleWriter(vm, logs, whisk.Stderr))
	_ = vm.Set("console", console)
	process := vm.NewObject()
	_ = process.Set("env", inv.Env)
	_ = vm.Set("process", process)

	// One deadline for init and run together, as the action's timeout is
	// the container's; cancellation of ctx (shutdown) aborts as well.
	var timedOut, aborted bool
	var once sync.Once
	stop := func(why *bool) func() {
		return func() { once.Do(func() { *why = true; vm.Interrupt("stopped") }) }
	}
	timer := time.AfterFunc(timeout, stop(&timedOut))
	defer timer.Stop()
	cancel := context.AfterFunc(ctx, stop(&aborted))
	defer cancel()

	res := Result{Cold: true, Start: initStart}
	fail := func(code whisk.StatusCode, msg string) Result {
		now := time.Now()
		inInit := res.InitTime == 0
		if inInit {
			res.InitTime = max(now.Sub(initStart), 1)
		}
		res.End = now
		switch {
		case timedOut && inInit:
			res.TimedOut = true
			res.Response = whisk.ErrorResponse(whisk.StatusDeveloperError, whisk.MsgInitTimeout(a.Limits.Timeout))
		case timedOut:
			res.TimedOut = true
			res.Response = whisk.ErrorResponse(whisk.StatusDeveloperError, whisk.MsgTimeout(a.Limits.Timeout))
		case aborted:
			res.Response = whisk.ErrorResponse(whisk.StatusWhiskError, whisk.MsgAbnormalRun)
		default:
			res.Response = whisk.ErrorResponse(code, msg)
		}
		if logs != nil {
			res.Logs = logs.Lines(now)
		}
		return res
	}

	prog, err := r.program(a)
	if err == nil {
		_, err = vm.RunProgram(prog)
	}
	if err != nil {
		return fail(whisk.StatusDeveloperError, jsInitFailed+jsErrorText(err))
	}
	main := a.Main
	if main == "" {
		main = "main"
	}
	fn, ok := goja.AssertFunction(vm.Get(main))
	if !ok {
		return fail(whisk.StatusDeveloperError, jsInitFailed+"Action entrypoint '"+main+"' is not a function.")
	}
	res.InitTime = max(time.Since(initStart), 1)

	var arg any = map[string]any{}
	if len(inv.Value) > 0 {
		if err := json.Unmarshal(inv.Value, &arg); err != nil {
			return fail(whisk.StatusDeveloperError, "The action did not receive valid JSON arguments: "+err.Error())
		}
	}
	out, err := fn(goja.Undefined(), vm.ToValue(arg))
	if err != nil {
		return fail(whisk.StatusDeveloperError, "An error has occurred: "+jsErrorText(err))
	}
	if p, ok := out.Export().(*goja.Promise); ok {
		switch p.State() {
		case goja.PromiseStateFulfilled:
			out = p.Result()
		case goja.PromiseStateRejected:
			// The nodejs runtime answers a rejection with {error: reason}.
			errObj := vm.NewObject()
			_ = errObj.Set("error", p.Result())
			out = errObj
		default:
			return fail(whisk.StatusDeveloperError, whisk.MsgAbnormalRun)
		}
	}
	if goja.IsUndefined(out) || goja.IsNull(out) {
		out = vm.NewObject()
	}
	if _, isObj := out.(*goja.Object); !isObj {
		return fail(whisk.StatusDeveloperError, "The action did not return a dictionary.")
	}
	body, err := jsonStringify(vm, out)
	if err != nil {
		return fail(whisk.StatusDeveloperError, "An error has occurred: "+jsErrorText(err))
	}
	res.End = time.Now()
	if logs != nil {
		res.Logs = logs.Lines(res.End)
	}
	res.Response = responseFromBody(body, inv.MaxPayload)
	return res
}

func (r *JSRunner) program(a *Action) (*goja.Program, error) {
	key := a.FQN() + "@" + a.Rev + "#" + a.Digest
	cacheable := a.Rev != ""
	if cacheable {
		r.mu.Lock()
		p := r.progs[key]
		r.mu.Unlock()
		if p != nil {
			return p, nil
		}
	}
	p, err := goja.Compile(a.Name, string(a.Code), false)
	if err != nil || !cacheable {
		return p, err
	}
	r.mu.Lock()
	if r.progs == nil {
		r.progs = map[string]*goja.Program{}
	}
	r.progs[key] = p
	r.mu.Unlock()
	return p, nil
}

// responseFromBody classifies a successful run's JSON output like the stock
// invoker: over the payload limit an application error with the truncation
// text, an object with "error" an application error, otherwise success.
func responseFromBody(body []byte, maxPayload int64) whisk.ActivationResponse {
	size := int64(len(body))
	if maxPayload <= 0 {
		maxPayload = whisk.PayloadMax
	}
	if size > maxPayload {
		r := whisk.ErrorResponse(whisk.StatusApplicationError, whisk.MsgTruncatedResponse(size, maxPayload, string(body[:min(size, whisk.PayloadMax)])))
		r.Size = &size
		return r
	}
	r := whisk.ActivationResponse{StatusCode: whisk.StatusSuccess, Size: &size}
	var obj map[string]json.RawMessage
	if body[0] == '{' && json.Unmarshal(body, &obj) == nil {
		if e, ok := obj["error"]; ok {
			r.StatusCode = whisk.StatusApplicationError
			r.Result, _ = json.Marshal(map[string]json.RawMessage{"error": e})
			return r
		}
	}
	r.Result = body
	return r
}

func jsonStringify(vm *goja.Runtime, v goja.Value) ([]byte, error) {
	stringify, _ := goja.AssertFunction(vm.Get("JSON").ToObject(vm).Get("stringify"))
	s, err := stringify(goja.Undefined(), v)
	if err != nil {
		return nil, err
	}
	return []byte(s.String()), nil
}

func jsErrorText(err error) string {
	var ex *goja.Exception
	if errors.As(err, &ex) {
		return ex.Value().String()
	}
	return err.Error()
}

// consoleWriter is console.log and friends: each argument formatted as
// Node does for plain values, each line one log line.
func consoleWriter(vm *goja.Runtime, logs *whisk.LogCollector, stream string) func(goja.FunctionCall) goja.Value {
	return func(call goja.FunctionCall) goja.Value {
		parts := make([]string, len(call.Arguments))
		for i, a := range call.Arguments {
			if o, ok := a.(*goja.Object); ok && o.ClassName() != "Function" && o.ClassName() != "Error" {
				if b, err := jsonStringify(vm, o); err == nil {
					parts[i] = string(b)
					continue
				}
			}
			parts[i] = a.String()
		}
		if logs == nil {
			return goja.Undefined()
		}
		now := time.Now()
		for _, text := range strings.Split(strings.Join(parts, " "), "\n") {
			logs.Add(now, stream, text)
		}
		return goja.Undefined()
	}
}
