package origins

import "testing"

func TestAllowed(t *testing.T) {
	t.Parallel()
	patterns := []string{"https://*.example.com", "http://localhost:*", "partner.org", "*.trusted.net", "a*b*c"}
	for _, tc := range []struct {
		origin string
		want   bool
	}{
		{"https://app.example.com", true},
		{"https://APP.Example.com", true},
		{"http://app.example.com", false},
		{"https://example.com", false},
		{"https://app.example.com.evil.org", false},
		{"http://localhost:3000", true},
		{"http://localhost", false},
		{"https://partner.org", true},
		{"https://a.trusted.net", true},
		{"https://trusted.net", false},
		{"abc", true},
		{"ac", false},
		{"null", false},
		{"", false},
	} {
		if got := Allowed(patterns, tc.origin); got != tc.want {
			t.Errorf("Allowed(%q) = %v, want %v", tc.origin, got, tc.want)
		}
	}
	if !Allowed([]string{"*"}, "https://anything.example") {
		t.Error(`"*" did not allow every origin`)
	}
}
