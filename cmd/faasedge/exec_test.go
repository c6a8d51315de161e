package main

import (
	"bytes"
	"net"
	"strings"
	"testing"

	"github.com/faasedge/faasedge/internal/wasmtest"
)

func TestExec(t *testing.T) {
	echo := wasmtest.Path(t, wasmtest.WAT, "echo")
	loop := wasmtest.Path(t, wasmtest.WAT, "loop")
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string // a substring
	}{
		{"params", []string{"exec", echo, "--param", "name=World", "--param", "n=3"}, 0, `{"n":3,"name":"World"}` + "\n", "status: success"},
		{"flags first", []string{"exec", "--memory", "128", echo}, 0, "{}\n", "status: success"},
		{"timeout", []string{"exec", loop, "--timeout", "50ms"}, 1, `{"error":"The action exceeded its time limits of 50 milliseconds."}` + "\n", "action developer error"},
		{"no file", []string{"exec"}, 2, "", "give either a FILE.wasm or --proxy"},
		{"missing file", []string{"exec", "/no/such.wasm"}, 1, "", "no such file"},
		{"bad param", []string{"exec", echo, "--param", "novalue"}, 2, "", "want key=value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := runMain(tt.args, &stdout, &stderr); code != tt.code {
				t.Errorf("exit code %d, want %d; stderr:\n%s", code, tt.code, stderr.String())
			}
			if stdout.String() != tt.stdout {
				t.Errorf("stdout %q, want %q", stdout.String(), tt.stdout)
			}
			if !strings.Contains(stderr.String(), tt.stderr) {
				t.Errorf("stderr %q lacks %q", stderr.String(), tt.stderr)
			}
		})
	}
}

func TestExecProxyBadAddress(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var stdout, stderr bytes.Buffer
	if code := runMain([]string{"exec", "--proxy", l.Addr().String()}, &stdout, &stderr); code != 1 {
		t.Errorf("exit code %d for a taken address; stderr:\n%s", code, stderr.String())
	}
	if !strings.Contains(stderr.String(), "address already in use") {
		t.Errorf("stderr %q", stderr.String())
	}
}
