package router

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestMetricsLoopbackOnly checks the remote-address rule on requests built
// in memory (no remote network is involved).
func TestMetricsLoopbackOnly(t *testing.T) {
	t.Parallel()
	h := loopbackOnly(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) }))
	for addr, want := range map[string]int{
		"127.0.0.1:5000": http.StatusOK, "[::1]:5000": http.StatusOK,
		"192.0.2.7:5000": http.StatusForbidden, "[2001:db8::1]:5000": http.StatusForbidden, "garbage": http.StatusForbidden,
	} {
		r := httptest.NewRequest(http.MethodGet, "/metrics", nil)
		r.RemoteAddr = addr
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != want {
			t.Errorf("%s: %d, want %d", addr, w.Code, want)
		}
	}
}
