package workloads

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestInvoke answers Invoke as the controller answers a blocking invoke:
// the record; 202 with the activation's id when the activation outlives
// the blocking wait, the record then written after a while (GET answers
// 404 until then); the result alone when it is an array; an error without
// any activation. Invoke returns the record in the first three cases,
// read back from /activations in the second and third.
func TestInvoke(t *testing.T) {
	const id = "0123456789abcdef0123456789abcdef"
	record := fmt.Sprintf(`{"activationId":%q,"duration":42,"response":{"status":"success","statusCode":0,"success":true,"result":{"ok":true}},"annotations":[{"key":"initTime","value":7},{"key":"limits","value":{"memory":256}}]}`, id)
	tests := []struct {
		name     string
		code     int    // of the invoke's answer
		body     string // of the invoke's answer
		notFound int32  // GETs of the record answered 404 first
		wantCode int
		wantErr  string
	}{
		{name: "record", code: http.StatusOK, body: record, wantCode: http.StatusOK},
		{name: "outlived the blocking wait", code: http.StatusAccepted, body: fmt.Sprintf(`{"activationId":%q}`, id), notFound: 3, wantCode: http.StatusAccepted},
		{name: "array result alone", code: http.StatusOK, body: `[1,2]`, wantCode: http.StatusOK},
		{name: "no activation", code: http.StatusNotFound, body: `{"error":"The requested resource does not exist.","code":"x"}`, wantCode: http.StatusNotFound, wantErr: "HTTP 404"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var gets atomic.Int32
			mux := http.NewServeMux()
			mux.HandleFunc("POST /api/v1/namespaces/_/actions/eval/a%20b", func(w http.ResponseWriter, r *http.Request) {
				if user, pass, _ := r.BasicAuth(); user != "u" || pass != "p" || r.URL.Query().Get("blocking") != "true" {
					http.Error(w, "unauthorized or not blocking", http.StatusUnauthorized)
					return
				}
				if tt.code != http.StatusNotFound {
					w.Header().Set("x-openwhisk-activation-id", id)
				}
				w.WriteHeader(tt.code)
				fmt.Fprint(w, tt.body)
			})
			mux.HandleFunc("GET /api/v1/namespaces/_/activations/"+id, func(w http.ResponseWriter, r *http.Request) {
				if gets.Add(1) <= tt.notFound {
					http.NotFound(w, r)
					return
				}
				fmt.Fprint(w, record)
			})
			srv := httptest.NewServer(mux)
			defer srv.Close()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()

			rec, code, err := Invoke(ctx, Env{APIHost: srv.URL, Auth: "u:p"}, Request{Action: "eval/a b", Params: params(map[string]int{"n": 1})})
			if code != tt.wantCode {
				t.Errorf("HTTP %d, want %d", code, tt.wantCode)
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want one with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var initTime float64
			var limits struct{ Memory float64 }
			if rec.ActivationID != id || rec.Duration != 42 || !rec.Response.Success || string(rec.Response.Result) != `{"ok":true}` ||
				!rec.Annotation("initTime", &initTime) || initTime != 7 || !rec.Annotation("limits", &limits) || limits.Memory != 256 || rec.Annotation("waitTime", new(float64)) {
				t.Errorf("record %+v (initTime %v, limits %+v)", rec, initTime, limits)
			}
			if got := gets.Load(); got != tt.notFound+1 && tt.code == http.StatusAccepted {
				t.Errorf("%d GETs of the record, want %d", got, tt.notFound+1)
			}
		})
	}
}
