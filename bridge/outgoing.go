package bridge

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// SignatureHeader carries the signature of requests the router makes to the
// app (forwarded events, HTTP callee invocations).
const SignatureHeader = "X-Switchboard-Signature"

// SignOutgoing returns the SignatureHeader value for body sent at t:
// "t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<unix seconds>." + body)>".
func SignOutgoing(secret string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + outgoingMAC(secret, ts, body)
}

func outgoingMAC(secret, ts string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts))
	mac.Write([]byte("."))
	mac.Write(body)
	return hex.EncodeToString(mac.Sum(nil))
}

// VerifyOutgoing checks a SignatureHeader value for body, refusing
// timestamps more than tolerance from now. Apps written in Go can use it.
func VerifyOutgoing(secret, header string, body []byte, now time.Time, tolerance time.Duration) error {
	var ts, sig string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sig = v
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || sig == "" {
		return errors.New("bridge: malformed signature header")
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return errors.New("bridge: signature timestamp outside tolerance")
	}
	if !hmac.Equal([]byte(outgoingMAC(secret, ts, body)), []byte(sig)) {
		return errors.New("bridge: invalid signature")
	}
	return nil
}

// noRedirects returns a copy of c (or a new client) that never follows a
// redirect, and answers a 3xx as it came: a 307 or 308 would re-POST the
// signed body to wherever the app's server (or whoever took it over) points.
func noRedirects(c *http.Client) *http.Client {
	if c == nil {
		c = &http.Client{Transport: &http.Transport{}}
	} else {
		cp := *c
		c = &cp
	}
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return c
}

// isRedirect reports whether status is a 3xx.
func isRedirect(status int) bool { return status >= 300 && status < 400 }
