package ring

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/faasedge/faasedge/activation"
	"github.com/faasedge/faasedge/whisk"
)

func TestRunLimits(t *testing.T) {
	tests := []struct {
		name    string
		in      whisk.Limits
		leaseMB int
		want    whisk.Limits
		shareKB int64
	}{
		{"as asked", whisk.Limits{Timeout: 500, Memory: 128, Logs: 5, Concurrency: 1}, 256, whisk.Limits{Timeout: 500, Memory: 128, Logs: 5, Concurrency: 1}, 128 << 10},
		{"memory 0 is the default", whisk.Limits{}, 512, whisk.Limits{Timeout: whisk.DefaultTimeoutMs, Memory: whisk.DefaultMemoryMB, Concurrency: 1}, 256 << 10},
		{"memory 0 is never more than the lease", whisk.Limits{Timeout: 500}, 128, whisk.Limits{Timeout: 500, Memory: 128, Concurrency: 1}, 128 << 10},
		{"logs capped", whisk.Limits{Timeout: 500, Memory: 128, Logs: 1000, Concurrency: 1}, 128, whisk.Limits{Timeout: 500, Memory: 128, Logs: MaxRunLogsMB, Concurrency: 1}, 128 << 10},
		{"negative logs", whisk.Limits{Timeout: 500, Memory: 128, Logs: -1, Concurrency: 1}, 128, whisk.Limits{Timeout: 500, Memory: 128, Concurrency: 1}, 128 << 10},
		{"shared by concurrency", whisk.Limits{Timeout: 500, Memory: 128, Concurrency: 4}, 128, whisk.Limits{Timeout: 500, Memory: 128, Concurrency: 4}, 32 << 10},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := runLimits(tc.in, tc.leaseMB)
			if got != tc.want || runShareKB(got) != tc.shareKB {
				t.Fatalf("runLimits(%+v, %d) = %+v sharing %d KB, want %+v sharing %d KB", tc.in, tc.leaseMB, got, runShareKB(got), tc.want, tc.shareKB)
			}
		})
	}
	for in, want := range map[int64]int64{0: whisk.PayloadMax, -5: whisk.PayloadMax, 10: 10, 1 << 40: MaxRunPayload} {
		if got := runPayload(in); got != want {
			t.Errorf("runPayload(%d) = %d, want %d", in, got, want)
		}
	}
}

// TestEncodeRunReply: a reply always fits its room; logs that do not are
// cut and end with the stock notice, a result that does not becomes the
// stock truncated-response error.
func TestEncodeRunReply(t *testing.T) {
	ok := whisk.ActivationResponse{StatusCode: whisk.StatusSuccess, Result: json.RawMessage(`{"ok":true}`)}
	line := strings.Repeat("\xff", 1000) // six bytes each in JSON
	many := make([]string, 100)
	for i := range many {
		many[i] = line
	}
	huge, _ := json.Marshal(map[string]string{"a": strings.Repeat("<", 100_000)})
	tests := []struct {
		name      string
		res       activation.Result
		room      int
		wantLines int // -1: any, ending with the notice
		wantCode  whisk.StatusCode
	}{
		{"fits", activation.Result{Response: ok, Logs: many[:2]}, 1 << 20, 2, whisk.StatusSuccess},
		{"logs cut", activation.Result{Response: ok, Logs: many}, 64 << 10, -1, whisk.StatusSuccess},
		{"result too large", activation.Result{Response: whisk.ActivationResponse{StatusCode: whisk.StatusSuccess, Result: huge}, Logs: many[:1]}, 64 << 10, 1, whisk.StatusDeveloperError},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := encodeRunReply(tc.res, tc.room)
			if err != nil {
				t.Fatal(err)
			}
			if len(b) > tc.room {
				t.Fatalf("%d bytes in a room of %d", len(b), tc.room)
			}
			var got activation.Result
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatal(err)
			}
			if got.Response.StatusCode != tc.wantCode {
				t.Fatalf("status %v: %s", got.Response.StatusCode, got.Response.Result)
			}
			switch {
			case tc.wantLines >= 0 && len(got.Logs) != tc.wantLines:
				t.Fatalf("%d log lines, want %d", len(got.Logs), tc.wantLines)
			case tc.wantLines < 0 && (len(got.Logs) < 2 || !strings.Contains(got.Logs[len(got.Logs)-1], "Logs were truncated")):
				t.Fatalf("%d log lines, the last not the truncation notice", len(got.Logs))
			}
		})
	}
}
