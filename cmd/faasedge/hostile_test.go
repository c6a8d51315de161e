package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/faasedge/faasedge/internal/wasmtest"
	"github.com/faasedge/faasedge/whisk"
)

// TestExecHostileModules runs the built faasedge binary on the modules of
// issue 10, each in its own process: the stock answer on stdout, the
// developer-error exit code (1, where a panic exits 2), and a peak RSS
// that does not grow with what the module declares (one 2^24-export module
// took the process to ~950 MB, one 2^32-1 to 22 GB).
func TestExecHostileModules(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "faasedge")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	exportsMsg := func(n string) string {
		return `{"error":"the action's WebAssembly module is invalid: section 7 at byte 10: ` + n + ` exports declared, more than the 100000 allowed"}` + "\n"
	}
	tests := []struct {
		name, file, stdout string
		code               int
	}{
		{"initial memory over the limit", wasmtest.Path(t, wasmtest.WAT, "bigmem"), `{"error":"` + whisk.MsgMemoryExhausted + `"}` + "\n", 1},
		{"2^24 exports", write("bomb24.wasm", wasmtest.ExportBomb(1<<24)), exportsMsg("16777216"), 1},
		{"2^32-1 exports", write("bomb32.wasm", wasmtest.ExportBomb(1<<32-1)), exportsMsg("4294967295"), 1},
		{"64 MiB custom section", write("padded.wasm", wasmtest.WithCustomSection(wasmtest.WATModule(t, "echo"), "junk", 64<<20)), "{}\n", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// GNU time forks (not vforks) the binary, so the peak RSS it
			// reports is the binary's own: a child that Go starts directly
			// shares this test process's memory until exec, and Linux carries
			// that high-water mark into the child's rusage.
			rssFile := filepath.Join(dir, "rss")
			cmd := exec.Command("/usr/bin/time", "-f", "%M", "-o", rssFile, bin, "exec", tt.file)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			if code := cmd.ProcessState.ExitCode(); code != tt.code || stdout.String() != tt.stdout {
				t.Errorf("exit %d (%v), stdout %q; want %d %q; stderr:\n%s", code, err, stdout.String(), tt.code, tt.stdout, stderr.String())
			}
			if strings.Contains(stderr.String(), "panic") {
				t.Errorf("stderr mentions a panic:\n%s", stderr.String())
			}
			out, err := os.ReadFile(rssFile)
			if err != nil {
				t.Fatal(err)
			}
			// time -o writes "Command exited with non-zero status N" before
			// the figure when the binary fails.
			lines := strings.Fields(string(out))
			kb, err := strconv.Atoi(lines[len(lines)-1])
			if err != nil {
				t.Fatalf("time output %q: %v", out, err)
			}
			// The file itself is read whole (64 MiB for the padded one).
			if rss := kb << 10; rss > 256<<20 {
				t.Errorf("peak RSS %d MB", rss>>20)
			}
		})
	}
}
