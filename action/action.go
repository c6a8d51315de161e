package action

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"log"
	"log/slog"
	"os"
	"strconv"
	"time"
)

// Activation is what OpenWhisk tells an action about the activation it
// runs: its __OW_* values.
type Activation struct {
	ID            string // __OW_ACTIVATION_ID
	TransactionID string // __OW_TRANSACTION_ID
	Namespace     string // __OW_NAMESPACE: the invoking subject's namespace
	ActionName    string // __OW_ACTION_NAME: /namespace[/package]/name
	ActionVersion string // __OW_ACTION_VERSION
	APIHost       string // __OW_API_HOST
	// APIKey is __OW_API_KEY, empty unless the action is annotated
	// provide-api-key.
	APIKey string
	// Deadline is __OW_DEADLINE, when the action's time limit ends; the
	// handler's context carries it too.
	Deadline time.Time
}

type activationKey struct{}

// FromContext returns the activation a handler's context belongs to.
func FromContext(ctx context.Context) (Activation, bool) {
	a, ok := ctx.Value(activationKey{}).(Activation)
	return a, ok
}

// handler is the registered action, over the raw value and the
// per-activation environment (nil in a command, whose environment is the
// process's).
var handler func(value []byte, env map[string]string) []byte

// bootstrapping is set while a reactor runs main to learn its handler.
var bootstrapping bool

// Run runs f as the action: its parameters decode (encoding/json) into a
// T, and the R it returns encodes as the result, which must be a JSON
// object (a struct or a map). An error becomes OpenWhisk's application
// error, {"error": err.Error()}, or {"error": <its JSON>} when the error
// implements json.Marshaler. A panic is the action's failure: the
// activation ends as a developer error.
//
// Call Run as the last statement of main. In a command module it answers
// the one activation and returns; in a reactor (built with
// -buildmode=c-shared) the host runs main once, on the first activation,
// and Run only registers f, which then serves every activation of the
// instance.
func Run[T, R any](f func(ctx context.Context, params T) (R, error)) {
	RunRaw(func(ctx context.Context, value []byte) ([]byte, error) {
		var params T
		if err := json.Unmarshal(value, &params); err != nil {
			return nil, &paramsError{err}
		}
		res, err := f(ctx, params)
		if err != nil {
			return nil, err
		}
		return json.Marshal(res)
	})
}

// RunRaw is Run over the parameters' JSON as it arrives (an object, or
// whatever the caller sent), with f's bytes as the result as they are: an
// action that passes JSON through, or writes it itself, skips the decoding
// and encoding, and answers for the result being a JSON object or array
// (anything else ends the activation as a developer error). Errors and
// panics are as in Run.
func RunRaw(f func(ctx context.Context, params []byte) ([]byte, error)) {
	setupLogs()
	handler = func(value []byte, env map[string]string) []byte {
		return serve(f, value, env)
	}
	if bootstrapping {
		return
	}
	in, _ := bufio.NewReader(os.Stdin).ReadBytes('\n')
	// The newline frames the parameters; it is not part of their JSON.
	out := handler(bytes.TrimSuffix(in, []byte("\n")), nil)
	_, _ = os.Stdout.Write(append(out, '\n'))
}

// setupLogs sends log and log/slog lines to stderr without their own time
// stamps: the activation's log lines carry the time already.
func setupLogs() {
	log.SetFlags(0)
	log.SetOutput(os.Stderr)
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	})))
}

func serve(f func(context.Context, []byte) ([]byte, error), value []byte, env map[string]string) []byte {
	getenv := func(k string) string {
		if v, ok := env[k]; ok {
			return v
		}
		return os.Getenv(k)
	}
	a := Activation{
		ID: getenv("__OW_ACTIVATION_ID"), TransactionID: getenv("__OW_TRANSACTION_ID"),
		Namespace: getenv("__OW_NAMESPACE"), ActionName: getenv("__OW_ACTION_NAME"),
		ActionVersion: getenv("__OW_ACTION_VERSION"), APIHost: getenv("__OW_API_HOST"),
		APIKey: getenv("__OW_API_KEY"),
	}
	ctx := context.WithValue(context.Background(), activationKey{}, a)
	if ms, err := strconv.ParseInt(getenv("__OW_DEADLINE"), 10, 64); err == nil {
		a.Deadline = time.UnixMilli(ms)
		ctx = context.WithValue(ctx, activationKey{}, a)
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, a.Deadline)
		defer cancel()
	}
	out, err := f(ctx, value)
	if err != nil {
		return errorResult(err)
	}
	return out
}

type paramsError struct{ err error }

func (e *paramsError) Error() string { return "action: parameters: " + e.err.Error() }
func (e *paramsError) Unwrap() error { return e.err }

// errorResult is OpenWhisk's application error for err.
func errorResult(err error) []byte {
	var v any = err.Error()
	if m, ok := err.(json.Marshaler); ok {
		v = m
	}
	out, merr := json.Marshal(map[string]any{"error": v})
	if merr != nil {
		out, _ = json.Marshal(map[string]string{"error": err.Error()})
	}
	return out
}
