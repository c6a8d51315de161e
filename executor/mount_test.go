package executor

import (
	"context"
	"encoding/json"
	"io/fs"
	"strings"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/faasedge/faasedge/activation"
	"github.com/faasedge/faasedge/internal/wasmtest"
	"github.com/faasedge/faasedge/whisk"
)

func TestMount(t *testing.T) {
	fsys := fstest.MapFS{"QmData/hello.txt": {Data: []byte("hello from ipfs")}}
	e := newExecutor(t, WithMount("/ipfs", fsys))
	a := &activation.Action{Name: activation.FQN{Name: "echo"}, Code: activation.Code{Inline: goEcho.bytes(t)}, Limits: whisk.DefaultLimits()}
	res := e.Run(context.Background(), a, activation.Invocation{Value: []byte(`{"read":"/ipfs/QmData/hello.txt"}`)})
	checkResult(t, res, whisk.StatusSuccess, `{"read":"hello from ipfs"}`)
}

// slowFS is a data source that makes every open of a file and every read
// wait delay, and counts them: a guest reading it waits at least delay
// times their number. Its top directory opens at once, as a directory
// does.
type slowFS struct {
	fs.FS
	delay time.Duration
	waits atomic.Int64
}

func (s *slowFS) wait() {
	s.waits.Add(1)
	time.Sleep(s.delay)
}

func (s *slowFS) Open(name string) (fs.File, error) {
	if name != "." {
		s.wait()
	}
	f, err := s.FS.Open(name)
	if err != nil {
		return nil, err
	}
	return &slowFile{File: f, s: s}, nil
}

type slowFile struct {
	fs.File
	s *slowFS
}

func (f *slowFile) Read(p []byte) (int, error) {
	f.s.wait()
	return f.File.Read(p)
}

// TestFetchTime reads a file of known size from a mount whose every open
// and read waits 5 ms, as command and as reactor (cold, then warm): each
// run's Fetch counts exactly the file's bytes and at least the waits, and
// lies within the run; a run that touches no mount has no Fetch.
func TestFetchTime(t *testing.T) {
	const size, delay = 200_000, 5 * time.Millisecond
	data := strings.Repeat("x", size)
	src := &slowFS{FS: fstest.MapFS{"file": {Data: []byte(data)}}, delay: delay}
	e := newExecutor(t, WithMount("/data", src))
	for _, tc := range []struct {
		kind wasmtest.Kind
		idle testModule // an action of the same ABI that reads nothing
	}{{wasmtest.Command, goEcho}, {wasmtest.Reactor, goReactor}} {
		t.Run(tc.kind.String(), func(t *testing.T) {
			a := &activation.Action{Name: activation.FQN{Path: "guest", Name: "cat"}, Code: activation.Code{Inline: wasmtest.Bytes(t, tc.kind, "cat")}, Limits: whisk.DefaultLimits()}
			for i := range 2 {
				before := src.waits.Load()
				res := e.Run(context.Background(), a, activation.Invocation{Value: []byte(`{"path":"/data/file"}`)})
				var got struct{ Content string }
				if res.Response.StatusCode != whisk.StatusSuccess || json.Unmarshal(res.Response.Result, &got) != nil || got.Content != data {
					t.Fatalf("run %d: %s %.100s", i, res.Response.StatusCode, res.Response.Result)
				}
				waited := time.Duration(src.waits.Load()-before) * delay
				if res.Fetch.Bytes != size || res.Fetch.Time < waited || res.Fetch.Time > res.End.Sub(res.Start) {
					t.Errorf("run %d: fetch %d bytes in %v, run %v: want %d bytes in at least %v (the source's waits), within the run",
						i, res.Fetch.Bytes, res.Fetch.Time, res.End.Sub(res.Start), size, waited)
				}
			}
			idle := &activation.Action{Name: activation.FQN{Path: "guest", Name: "idle"}, Code: activation.Code{Inline: tc.idle.bytes(t)}, Limits: whisk.DefaultLimits()}
			res := e.Run(context.Background(), idle, activation.Invocation{Value: []byte(`{"calls":true}`)})
			if res.Response.StatusCode != whisk.StatusSuccess || res.Fetch != (activation.Fetch{}) {
				t.Errorf("a run that reads nothing: %s %s, fetch %+v", res.Response.StatusCode, res.Response.Result, res.Fetch)
			}
		})
	}
}
