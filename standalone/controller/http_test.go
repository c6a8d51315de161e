package controller

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
)

// listParams answers a bad limit or skip with the stock controller's
// texts, and reads good ones (limit=0 meaning the maximum).
func TestListParams(t *testing.T) {
	tests := []struct {
		query       string
		skip, limit int
		count       bool
		wantErr     string
	}{
		{"", 0, defaultListLimit, false, ""},
		{"limit=0", 0, maxListLimit, false, ""},
		{"limit=5&skip=2&count=true", 2, 5, true, ""},
		{"limit=x", 0, 0, false, "The value 'x' is not an integer for actions."},
		{"limit=201", 0, 0, false, "The value '201' is not in the range of 0 to 200 for actions."},
		{"limit=-1", 0, 0, false, "The value '-1' is not in the range of 0 to 200 for actions."},
		{"skip=y", 0, 0, false, "The value 'y' is not an integer for actions."},
		{"skip=-1", 0, 0, false, "The value '-1' is not greater than or equal to 0 for actions."},
	}
	for _, tc := range tests {
		t.Run(tc.query, func(t *testing.T) {
			w := httptest.NewRecorder()
			q := &request{w: w, r: httptest.NewRequest(http.MethodGet, "/api/v1/namespaces/_/actions?"+tc.query, nil), tid: "tid"}
			skip, limit, count, ok := listParams(q, "actions")
			if tc.wantErr == "" {
				if !ok || skip != tc.skip || limit != tc.limit || count != tc.count {
					t.Fatalf("listParams = %d, %d, %v, %v; want %d, %d, %v, true", skip, limit, count, ok, tc.skip, tc.limit, tc.count)
				}
				return
			}
			var body struct{ Error string }
			if err := json.Unmarshal(w.Body.Bytes(), &body); ok || w.Code != http.StatusBadRequest || err != nil || body.Error != tc.wantErr {
				t.Fatalf("ok %v, %d %s; want 400 %q", ok, w.Code, w.Body, tc.wantErr)
			}
		})
	}
}
