package invoker

import (
	"context"
	_ "embed"
	"encoding/base64"
	"errors"
	"math/big"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/dop251/goja"
	"github.com/dop251/goja_nodejs/buffer"
	"github.com/dop251/goja_nodejs/eventloop"
	"github.com/dop251/goja_nodejs/require"
	"github.com/dop251/goja_nodejs/url"

	"github.com/faasedge/faasedge/activation"
	"github.com/faasedge/faasedge/whisk"
)

// What a script can allocate is bounded where goja lets us see the size
// before the allocation: the call stack depth (jsMaxStack frames, near
// Node's default), and every explicit allocation (ArrayBuffer, typed
// arrays, Buffer.alloc*, String repeat/padStart/padEnd) and fetch body
// larger than the action's memory limit. goja has no heap limit, so memory
// built up by many small allocations (a string doubled in a loop, a
// growing array) is not bounded per action; the action's timeout still
// ends such a script.
const jsMaxStack = 10000

// nodeVersion is what process.version reports: the Node.js release whose
// API the runtime follows (nodejs:20).
const nodeVersion = "v20.0.0"

var (
	//go:embed jsprelude.js
	jsPreludeSrc string
	jsPrelude    = goja.MustCompile("prelude.js", jsPreludeSrc, true)
	// jsModules serves require() to plain-JS actions: the core modules
	// goja_nodejs has and the runner's own process and console, never a
	// file: there is no file system to load modules from.
	jsModules = newJSModules(nil)
)

// newJSModules is a require() registry whose files are files (by absolute
// path), on top of the core modules.
// jsUtil keys the VM's util module (format, inspect) on its global object,
// out of reach of names.
var jsUtil = goja.NewSymbol("util")

func newJSModules(files map[string][]byte) *require.Registry {
	r := require.NewRegistry(require.WithLoader(func(p string) ([]byte, error) {
		if b, ok := files[p]; ok {
			return b, nil
		}
		return nil, require.ModuleFileDoesNotExistError
	}))
	// goja_nodejs's process module copies the invoker's environment, which
	// holds its secrets; the action gets its own process object.
	global := func(name string) require.ModuleLoader {
		return func(rt *goja.Runtime, module *goja.Object) { _ = module.Set("exports", rt.Get(name)) }
	}
	for _, name := range []string{"process", "console"} {
		r.RegisterNativeModule(name, global(name))
		r.RegisterNativeModule("node:"+name, global(name))
	}
	util := func(rt *goja.Runtime, module *goja.Object) {
		_ = module.Set("exports", rt.GlobalObject().GetSymbol(jsUtil))
	}
	r.RegisterNativeModule("util", util)
	r.RegisterNativeModule("node:util", util)
	r.RegisterNativeModule("crypto", cryptoModule)
	r.RegisterNativeModule("node:crypto", cryptoModule)
	return r
}

// jsVM is one initialised action in its own interpreter and event loop:
// the runner's equivalent of a warm container. Its loop runs, on one
// goroutine, from its creation to its discarding; between activations no
// timer is pending and no JavaScript runs. Its globals persist, as a warm
// container's do.
type jsVM struct {
	r         *JSRunner
	loop      *eventloop.EventLoop
	mods      *require.Registry
	rt        *goja.Runtime
	main      goja.Value
	run       goja.Callable // the prelude's NodeActionRunner
	clear     goja.Callable // the prelude's clearTimers
	format    goja.Callable // the prelude's util.format
	parse     goja.Callable // JSON.parse
	stringify goja.Callable // JSON.stringify
	env       *goja.Object  // process.env
	maxAlloc  int64
	memMB     int64
	idleSince time.Time

	// act is the activation being run, nil between activations. Used on
	// the loop only.
	act *jsActivation
	// unhandled are rejected promises without a handler yet (loop only).
	unhandled map[*goja.Promise]struct{}
}

// jsActivation is the per-activation state of a VM.
type jsActivation struct {
	ctx     context.Context // ends with the activation: stops its fetches
	done    chan jsOutcome  // buffered: the first outcome wins
	settled bool

	// A discarded VM may still be logging when the activation ends.
	mu     sync.Mutex
	logs   *whisk.LogCollector // nil: logs are not collected
	closed bool
}

func (a *jsActivation) log(stream, text string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.logs == nil || a.closed {
		return
	}
	now := time.Now()
	for _, line := range strings.Split(text, "\n") {
		a.logs.Add(now, stream, line)
	}
}

// lines ends the collection and returns the activation's log lines.
func (a *jsActivation) lines(now time.Time) []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.closed = true
	if a.logs == nil {
		return nil
	}
	return a.logs.Lines(now)
}

// jsOutcome is how an activation's code ended.
type jsOutcome struct {
	body []byte
	code whisk.StatusCode
	msg  string // the error text when code is not success
	keep bool   // the VM may run another activation
}

func (a *jsActivation) settle(o jsOutcome) {
	if !a.settled {
		a.settled = true
		a.done <- o
	}
}

func newJSVM(r *JSRunner, a *activation.Action, mods *require.Registry) *jsVM {
	j := &jsVM{r: r, memMB: a.Limits.Memory, maxAlloc: a.Limits.Memory * int64(whisk.MB), mods: mods}
	j.loop = eventloop.NewEventLoop(eventloop.WithRegistry(mods), eventloop.EnableConsole(false))
	// With no jobs, Run returns at once: it only hands over the runtime,
	// which Interrupt needs from outside the loop.
	j.loop.Run(func(rt *goja.Runtime) { j.rt = rt })
	j.loop.Start()
	return j
}

// init runs on the loop: it installs the Node surface and evaluates the
// action's code the way the stock runner does, returning the init error
// text if main cannot be found.
func (j *jsVM) init(rt *goja.Runtime, act *jsActivation, code *jsCode, main string) error {
	j.act = act
	rt.SetMaxCallStackSize(jsMaxStack)
	rt.SetPromiseRejectionTracker(j.trackRejection)
	json := rt.Get("JSON").ToObject(rt)
	j.parse, _ = goja.AssertFunction(json.Get("parse"))
	j.stringify, _ = goja.AssertFunction(json.Get("stringify"))

	console := rt.NewObject()
	for _, m := range []struct{ name, stream string }{
		{"log", whisk.Stdout}, {"info", whisk.Stdout}, {"debug", whisk.Stdout},
		{"error", whisk.Stderr}, {"warn", whisk.Stderr}, {"trace", whisk.Stderr},
	} {
		stream := m.stream
		_ = console.Set(m.name, func(call goja.FunctionCall) goja.Value {
			j.log(stream, j.formatLog(call.Arguments...))
			return goja.Undefined()
		})
	}
	_ = rt.Set("console", console)
	j.env = rt.NewObject()
	_ = rt.Set("module", rt.NewObject())
	exports := rt.NewObject()
	_ = rt.Get("module").ToObject(rt).Set("exports", exports)
	_ = rt.Set("exports", exports)
	buffer.Enable(rt)
	url.Enable(rt)
	mods := j.mods.Enable(rt)
	_ = rt.Set("require", func(call goja.FunctionCall) goja.Value {
		name := call.Argument(0).String()
		v, err := mods.Require(name)
		if errors.Is(err, require.InvalidModuleError) || errors.Is(err, require.IllegalModuleNameError) {
			e, _ := rt.New(rt.Get("Error"), rt.ToValue("Cannot find module '"+name+"'"))
			_ = e.Set("code", "MODULE_NOT_FOUND")
			panic(e)
		}
		if err != nil {
			panic(err)
		}
		return v
	})

	prelude, err := rt.RunProgram(jsPrelude)
	if err != nil {
		return err
	}
	install, _ := goja.AssertFunction(prelude)
	kept, err := install(goja.Undefined(), rt.ToValue(j.natives(rt)))
	if err != nil {
		return err
	}
	j.run, _ = goja.AssertFunction(kept.ToObject(rt).Get("run"))
	j.clear, _ = goja.AssertFunction(kept.ToObject(rt).Get("clearTimers"))
	j.format, _ = goja.AssertFunction(kept.ToObject(rt).Get("format"))
	util := rt.NewObject()
	_ = util.Set("format", kept.ToObject(rt).Get("format"))
	_ = util.Set("inspect", kept.ToObject(rt).Get("inspect"))
	_ = rt.GlobalObject().SetSymbol(jsUtil, util)

	fn, err := code.main(rt, mods)
	if err != nil {
		return err
	}
	if _, ok := goja.AssertFunction(fn); !ok {
		return errNotAFunction(main)
	}
	j.main = fn
	return nil
}

type errNotAFunction string

func (e errNotAFunction) Error() string {
	return "Action entrypoint '" + string(e) + "' is not a function."
}

// natives are what the prelude needs from Go.
func (j *jsVM) natives(rt *goja.Runtime) map[string]any {
	arch := runtime.GOARCH
	if arch == "amd64" {
		arch = "x64"
	}
	boot := time.Now()
	process := rt.NewObject()
	_ = process.Set("env", j.env)
	_ = process.Set("version", nodeVersion)
	_ = process.Set("versions", map[string]any{"node": strings.TrimPrefix(nodeVersion, "v")})
	_ = process.Set("platform", "linux")
	_ = process.Set("arch", arch)
	_ = process.Set("argv", []any{"node"})
	_ = process.Set("pid", os.Getpid())
	_ = process.Set("cwd", func() string { return "/" })
	_ = process.Set("uptime", func() float64 { return time.Since(boot).Seconds() })
	// hrtime counts from the VM's creation, on the monotonic clock.
	hrtime := rt.ToValue(func(call goja.FunctionCall) goja.Value {
		d := time.Since(boot)
		var prev []int64
		if err := rt.ExportTo(call.Argument(0), &prev); err == nil && len(prev) == 2 {
			d -= time.Duration(prev[0])*time.Second + time.Duration(prev[1])
		}
		return rt.NewArray(int64(d/time.Second), int64(d%time.Second))
	}).ToObject(rt)
	_ = hrtime.Set("bigint", func() *big.Int { return big.NewInt(int64(time.Since(boot))) })
	_ = process.Set("hrtime", hrtime)
	// exit ends the activation as the stock runtime's process ending does.
	_ = process.Set("exit", func() {
		j.act.settle(jsOutcome{code: whisk.StatusDeveloperError, msg: whisk.MsgAbnormalRun})
		rt.Interrupt("process.exit")
	})
	return map[string]any{
		"maxAlloc": j.maxAlloc,
		"process":  process,
		"uncaught": func(e goja.Value) {
			j.log(whisk.Stderr, errorText(rt, e))
			j.act.settle(jsOutcome{code: whisk.StatusDeveloperError, msg: whisk.MsgAbnormalRun})
		},
		"utf8Encode": func(s string) goja.ArrayBuffer { return rt.NewArrayBuffer([]byte(s)) },
		"utf8Decode": func(b []byte, fatal, ignoreBOM bool) string {
			if fatal && !utf8.Valid(b) {
				panic(rt.NewTypeError("The encoded data was not valid for encoding utf-8"))
			}
			s := strings.ToValidUTF8(string(b), "\uFFFD")
			if !ignoreBOM {
				s = strings.TrimPrefix(s, "\uFEFF")
			}
			return s
		},
		"fetch":  j.fetch,
		"crypto": webCrypto(rt),
		// atob and btoa map bytes to the code points 0-255 and back.
		"atob": func(s string) string {
			b, err := base64.StdEncoding.DecodeString(strings.TrimRight(strings.Join(strings.Fields(s), ""), "="))
			if err != nil {
				b, err = base64.RawStdEncoding.DecodeString(strings.TrimRight(strings.Join(strings.Fields(s), ""), "="))
			}
			if err != nil {
				panic(rt.NewGoError(errors.New("The string to be decoded is not correctly encoded.")))
			}
			r := make([]rune, len(b))
			for i, c := range b {
				r[i] = rune(c)
			}
			return string(r)
		},
		"btoa": func(s string) string {
			b := make([]byte, 0, len(s))
			for _, c := range s {
				if c > 0xff {
					panic(rt.NewGoError(errors.New("Invalid character")))
				}
				b = append(b, byte(c))
			}
			return base64.StdEncoding.EncodeToString(b)
		},
	}
}

// activate runs on the loop: main with the activation's value, settling
// act when its result is known.
func (j *jsVM) activate(rt *goja.Runtime, act *jsActivation, env map[string]string, value []byte) {
	j.act = act
	// As the stock runtime does, each activation's keys overwrite
	// process.env's; keys set earlier stay.
	for k, v := range env {
		_ = j.env.Set(k, v)
	}
	if len(value) == 0 {
		value = []byte("{}")
	}
	args, err := j.parse(goja.Undefined(), rt.ToValue(string(value)))
	if err != nil {
		act.settle(jsOutcome{code: whisk.StatusDeveloperError, msg: "The action did not receive valid JSON arguments: " + jsErrorText(err), keep: true})
		return
	}
	done := func(ok bool, v goja.Value) { act.settle(j.outcome(rt, ok, v)) }
	if _, err := j.run(goja.Undefined(), j.main, args, rt.ToValue(done)); err != nil {
		act.settle(jsOutcome{code: whisk.StatusDeveloperError, msg: "An error has occurred: " + jsErrorText(err)})
	}
}

// outcome is the stock service's answer to main's settled value: a throw
// is logged and fails the run (and, there, the container), a value that
// is not an object is logged and refused.
func (j *jsVM) outcome(rt *goja.Runtime, ok bool, v goja.Value) jsOutcome {
	if !ok {
		j.log(whisk.Stderr, errorText(rt, v))
		return jsOutcome{code: whisk.StatusDeveloperError, msg: "An error has occurred: " + v.String()}
	}
	if goja.IsNull(v) {
		v = rt.NewObject()
	}
	if typ := jsTypeof(v); typ != "object" {
		j.log(whisk.Stderr, `Result must be of type object but has type "`+typ+`": `+j.formatLog(v))
		return jsOutcome{code: whisk.StatusDeveloperError, msg: "The action did not return a dictionary.", keep: true}
	}
	s, err := j.stringify(goja.Undefined(), v)
	if err != nil {
		return jsOutcome{code: whisk.StatusDeveloperError, msg: "An error has occurred: " + jsErrorText(err)}
	}
	return jsOutcome{code: whisk.StatusSuccess, body: []byte(s.String()), keep: true}
}

// trackRejection ends the activation, as Node 20 ends its process, when a
// promise is rejected and still has no handler once the current job and
// its microtasks are done.
func (j *jsVM) trackRejection(p *goja.Promise, op goja.PromiseRejectionOperation) {
	if op == goja.PromiseRejectionHandle {
		delete(j.unhandled, p)
		return
	}
	if j.unhandled == nil {
		j.unhandled = map[*goja.Promise]struct{}{}
	}
	j.unhandled[p] = struct{}{}
	act := j.act
	j.loop.RunOnLoop(func(rt *goja.Runtime) {
		if _, still := j.unhandled[p]; !still {
			return
		}
		delete(j.unhandled, p)
		if j.act != act {
			return
		}
		reason := p.Result()
		text := errorText(rt, reason)
		if o, ok := reason.(*goja.Object); !ok || o.ClassName() != "Error" {
			text = "[UnhandledPromiseRejection: This error originated either by throwing inside of an async function without a catch block, " +
				"or by rejecting a promise which was not handled with .catch(). The promise rejected with the reason \"" + text + "\".] { code: 'ERR_UNHANDLED_REJECTION' }"
		}
		j.log(whisk.Stderr, text)
		act.settle(jsOutcome{code: whisk.StatusDeveloperError, msg: whisk.MsgAbnormalRun})
	})
}

// end runs on the loop when an activation has its result: its pending
// timers are cleared, and what its fetches still answer is ignored.
func (j *jsVM) end() {
	_, _ = j.clear(goja.Undefined())
	j.act = nil
}

// formatLog is console.log's text, util.format's.
func (j *jsVM) formatLog(args ...goja.Value) string {
	s, err := j.format(goja.Undefined(), args...)
	if err != nil { // a getter threw, say
		return jsErrorText(err)
	}
	return s.String()
}

// jsTypeof is JavaScript's typeof.
func jsTypeof(v goja.Value) string {
	if goja.IsUndefined(v) {
		return "undefined"
	}
	if o, ok := v.(*goja.Object); ok {
		if _, isFn := goja.AssertFunction(o); isFn {
			return "function"
		}
		return "object"
	}
	switch v.Export().(type) {
	case nil:
		return "object"
	case string:
		return "string"
	case bool:
		return "boolean"
	case int64, float64:
		return "number"
	case *big.Int:
		return "bigint"
	}
	return "symbol"
}

func (j *jsVM) log(stream, text string) { j.act.log(stream, text) }

// errorText is what Node prints for a thrown value: an error's stack,
// anything else as console.error would.
func errorText(rt *goja.Runtime, v goja.Value) string {
	if o, ok := v.(*goja.Object); ok {
		if stack := o.Get("stack"); stack != nil && !goja.IsUndefined(stack) {
			return stack.String()
		}
	}
	return v.String()
}
