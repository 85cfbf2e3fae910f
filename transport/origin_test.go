package transport

import (
	"crypto/tls"
	"net/http"
	"testing"
)

func TestOriginAllowed(t *testing.T) {
	t.Parallel()
	patterns := []string{"https://*.example.com", "http://localhost:*", "partner.org", "*.trusted.net"}
	for _, tc := range []struct {
		origin, host string
		tls          bool
		want         bool
	}{
		{"", "router:8080", false, true},
		// Same host: only over TLS (without it, DNS rebinding forges it).
		{"https://router:8443", "router:8443", true, true},
		{"http://router:8080", "router:8080", false, false},
		{"http://router:8443", "router:8443", true, false},
		{"https://other:8443", "router:8443", true, false},
		{"https://app.example.com", "router", false, true},
		{"https://APP.Example.com", "router", false, true},
		{"http://app.example.com", "router", false, false},
		{"https://example.com", "router", false, false},
		{"https://app.example.com.evil.org", "router", false, false},
		{"http://localhost:3000", "router", false, true},
		{"http://localhost", "router", false, false},
		{"https://partner.org", "router", false, true},
		{"https://a.trusted.net", "router", false, true},
		{"null", "router", false, false},
		{"https://evil.org", "router", false, false},
	} {
		r, _ := http.NewRequest(http.MethodGet, "http://"+tc.host+"/ws", nil)
		if tc.origin != "" {
			r.Header.Set("Origin", tc.origin)
		}
		if tc.tls {
			r.TLS = &tls.ConnectionState{}
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
