package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestEvalBadFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown workload", []string{"--workloads", "hash,nosuch"}, `unknown workload "nosuch"`},
		{"bad placement", []string{"--placements", "local,cloud"}, `"cloud" is neither local nor ipfs`},
		{"bad load", []string{"--load", "1,zero"}, `--load: "zero"`},
		{"no nodes", []string{"--nodes", "0"}, "--nodes and --requests at least 1"},
		{"bad hash size", []string{"--hash-sizes", "4k,lots"}, `--hash-sizes "lots"`},
		{"no workloads", []string{"--workloads", ""}, "no workloads"},
		{"bad video size", []string{"--workloads", "video", "--video-size", "big"}, `--video-size "big"`},
		{"bad mnist batch", []string{"--workloads", "mnist", "--mnist-batch", "500"}, "batch of 500 images"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			args := append([]string{"eval", "--out", t.TempDir()}, tc.args...)
			if code := runMain(args, &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), tc.want) {
				t.Fatalf("exit %d, stderr %q, want 2 and %q", code, stderr.String(), tc.want)
			}
		})
	}
}
