package transport

import (
	"net/http"
	"testing"
)

func TestOriginAllowed(t *testing.T) {
	t.Parallel()
	patterns := []string{"https://*.example.com", "http://localhost:*", "partner.org", "*.trusted.net"}
	for _, tc := range []struct {
		origin, host string
		want         bool
	}{
		{"", "router:8080", true},
		{"http://router:8080", "router:8080", true},
		{"https://app.example.com", "router", true},
		{"https://APP.Example.com", "router", true},
		{"http://app.example.com", "router", false},
		{"https://example.com", "router", false},
		{"https://app.example.com.evil.org", "router", false},
		{"http://localhost:3000", "router", true},
		{"http://localhost", "router", false},
		{"https://partner.org", "router", true},
		{"https://a.trusted.net", "router", true},
		{"null", "router", false},
		{"https://evil.org", "router", false},
	} {
		r, _ := http.NewRequest(http.MethodGet, "http://"+tc.host+"/ws", nil)
		if tc.origin != "" {
			r.Header.Set("Origin", tc.origin)
		}
		if got := OriginAllowed(patterns, r); got != tc.want {
			t.Errorf("origin %q (host %s): %v, want %v", tc.origin, tc.host, got, tc.want)
		}
	}
	r, _ := http.NewRequest(http.MethodGet, "http://router/ws", nil)
	r.Header.Set("Origin", "https://anything.example")
	if !OriginAllowed([]string{"*"}, r) {
		t.Error(`"*" did not allow every origin`)
	}
}

func TestRawSocketLimit(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want int }{
		{512, 512}, {1000, 512}, {1024, 1024}, {2048, 2048}, {1 << 20, 1 << 20}, {3 << 20, 2 << 20}, {1 << 24, 1 << 24}, {1 << 30, 1 << 24},
	} {
		got, code := RawSocketLimit(tc.in)
		if got != tc.want || 1<<(code+9) != got {
			t.Errorf("RawSocketLimit(%d) = %d (code %d), want %d", tc.in, got, code, tc.want)
		}
	}
}
