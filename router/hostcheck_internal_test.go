package router

import (
	"net"
	"testing"
)

func TestLoopbackAddress(t *testing.T) {
	t.Parallel()
	for addr, want := range map[string]bool{
		"127.0.0.1:8080": true, "127.1.2.3:0": true, "[::1]:8080": true, "localhost:8080": true, "LocalHost:1": true,
		"0.0.0.0:8080": false, ":8080": false, "[::]:8080": false, "192.0.2.1:8080": false, "example.com:80": false,
		"unix:/tmp/s.sock": false, "localhost.example:80": false,
	} {
		if got := loopbackAddress(addr); got != want {
			t.Errorf("loopbackAddress(%q) = %v, want %v", addr, got, want)
		}
	}
	for host, want := range map[string]bool{
		"localhost": true, "localhost.": true, "127.0.0.1": true, "[::1]": true, "::1": true, "::ffff:127.0.0.1": true,
		"": false, "evil.example": false, "127.0.0.1.evil.example": false, "localhost.evil.example": false,
		"2130706433": false, "0.0.0.0": false, "[::]": false,
	} {
		if got := loopbackHost(host); got != want {
			t.Errorf("loopbackHost(%q) = %v, want %v", host, got, want)
		}
	}
}

// TestRemoteIP: connections are counted per IPv4 address and per IPv6 /64.
func TestRemoteIP(t *testing.T) {
	for _, tc := range []struct {
		addr net.Addr
		want string
	}{
		{&net.TCPAddr{IP: net.ParseIP("127.0.0.2"), Port: 1}, "127.0.0.2"},
		{&net.TCPAddr{IP: net.ParseIP("::ffff:10.0.0.1"), Port: 1}, "10.0.0.1"},
		{&net.TCPAddr{IP: net.ParseIP("2001:db8:1:2:3:4:5:6"), Port: 1}, "2001:db8:1:2::/64"},
		{&net.TCPAddr{IP: net.ParseIP("2001:db8:1:2:ffff::1"), Port: 1}, "2001:db8:1:2::/64"},
		{&net.TCPAddr{IP: net.ParseIP("2001:db8:1:3::1"), Port: 1}, "2001:db8:1:3::/64"},
		{&net.UnixAddr{Name: "/tmp/x.sock", Net: "unix"}, ""},
	} {
		if got := remoteIP(tc.addr); got != tc.want {
			t.Errorf("remoteIP(%v) = %q, want %q", tc.addr, got, tc.want)
		}
	}
}
