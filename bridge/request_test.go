package bridge

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		`{"topic":"com.myapp.topic1"}`,
		`{"topic":"a.b","args":[1,2.5,"x",null,true,{"k":[1]}],"kwargs":{"a":1},"options":{"exclude":[1],"retain":true}}`,
		`[{"topic":"a"},{"topic":"b","args":[]}]`,
		`{"procedure":"com.add","args":[1,2],"options":{"timeout":100}}`,
		`{"topic":1e400}`, `[]`, `{`, "\xff", `{"args":[123456789012345678901234567890]}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		reqs, _, err := ParsePublish(body, BodyLimits{MaxNestingDepth: 16, MaxItems: 1000})
		if err == nil {
			for _, r := range reqs {
				if r.Topic == "" {
					t.Fatal("accepted a publication without a topic")
				}
			}
		}
		if c, err := ParseCall(body, BodyLimits{MaxNestingDepth: 16, MaxItems: 1000}); err == nil && c.Procedure == "" {
			t.Fatal("accepted a call without a procedure")
		}
	})
}

func TestParseKeepsIntegersExact(t *testing.T) {
	t.Parallel()
	reqs, _, err := ParsePublish([]byte(`{"topic":"a","args":[9007199254740993, 1.5, 12345678901234567890123]}`), BodyLimits{})
	if err != nil {
		t.Fatal(err)
	}
	if got := reqs[0].Args[0]; got != int64(9007199254740993) {
		t.Fatalf("large integer became %v (%T)", got, got)
	}
	if got := reqs[0].Args[1]; got != 1.5 {
		t.Fatalf("float became %v", got)
	}
}

// refusingBackend fails the test if a refused request reaches the router.
type refusingBackend struct{ t *testing.T }

func (b refusingBackend) Position(string) (uint64, bool, error)           { return 0, false, nil }
func (b refusingBackend) Authorize(Identity, string, Action) (bool, bool) { return true, false }
func (b refusingBackend) Publish(Identity, bool, PublishRequest) (uint64, error) {
	b.t.Fatal("published")
	return 0, nil
}
func (b refusingBackend) Call(context.Context, Identity, bool, CallRequest) ([]any, map[string]any, error) {
	b.t.Fatal("called")
	return nil, nil, nil
}

// TestKeylessBridgeAnswersLoopbackOnly checks the remote address rule on
// requests built in memory (no remote network is involved).
func TestKeylessBridgeAnswersLoopbackOnly(t *testing.T) {
	t.Parallel()
	h := New(Options{Backend: refusingBackend{t}, AnonymousRole: "anonymous", MaxBodySize: 1024})
	for _, addr := range []string{"192.0.2.10:4000", "[2001:db8::1]:4000"} {
		req := httptest.NewRequest(http.MethodPost, "/publish", strings.NewReader(`{"topic":"a.b"}`))
		req.Header.Set("Content-Type", "application/json")
		req.RemoteAddr = addr
		w := httptest.NewRecorder()
		h.Publish().ServeHTTP(w, req)
		if w.Code != http.StatusForbidden || !strings.Contains(w.Body.String(), ErrForbidden) {
			t.Errorf("%s: status %d body %s, want 403 %s", addr, w.Code, w.Body, ErrForbidden)
		}
	}
}

// FuzzSignedRequest: any query values and body are refused or accepted
// without a panic; a signature other than the right one is never accepted;
// and the right one is accepted whenever the rest is valid, so the fuzzer,
// starting from seeds signed inside the window, really reaches the
// signature check.
func FuzzSignedRequest(f *testing.F) {
	now := time.Date(2011, 10, 14, 16, 59, 51, 123e6, time.UTC)
	ts := Timestamp(now)
	good := func(ts, seq, nonce string, body []byte) string {
		return Sign(testSecret, "django", ts, seq, nonce, body)
	}
	body := []byte(`{"topic":"a"}`)
	f.Add("django", ts, "1", "42", good(ts, "1", "42", body), body)
	f.Add("django", ts, "1", "42", good(ts, "1", "42", body)[1:], body)                 // truncated
	f.Add("django", ts, "1", "42", strings.ToLower(good(ts, "1", "42", body)), body)    // case changed
	f.Add("django", ts, "12", "34", good(ts, "1", "234", body), body)                   // re-split
	f.Add("django", Timestamp(now.Add(59*time.Second)), "7", "x", "AAAA", []byte(`[]`)) // future, wrong
	f.Add("django", "2011-10-14T16:59:51Z", "1", "n", good("2011-10-14T16:59:51Z", "1", "n", nil), []byte{})
	f.Add("", "", "", "", "", []byte{})
	f.Add("django", "9999-99-99T99:99:99.9Z", "-1", "\x00", "====", []byte("\xff"))
	f.Fuzz(func(t *testing.T, key, ts, seq, nonce, sig string, body []byte) {
		// A new handler each time: no nonce is remembered from another input.
		h := New(Options{Backend: refusingBackend{}, MaxBodySize: 1024, TimestampDeltaLimit: time.Minute,
			Now:  func() time.Time { return now },
			Keys: []Key{{Key: "django", Secret: testSecret, AuthID: "d", Role: "r"}}})
		params := map[string]string{"key": key, "timestamp": ts, "seq": seq, "nonce": nonce, "signature": sig}
		right := Sign(testSecret, key, ts, seq, nonce, body)
		if rerr := verifyParams(h, params, body); rerr == nil && sig != right {
			t.Fatalf("accepted signature %q, the right one is %q", sig, right)
		}
		// The right signature over the same values: accepted exactly when
		// the values are valid.
		params["signature"] = right
		h = New(Options{Backend: refusingBackend{}, MaxBodySize: 1024, TimestampDeltaLimit: time.Minute,
			Now:  func() time.Time { return now },
			Keys: []Key{{Key: "django", Secret: testSecret, AuthID: "d", Role: "r"}}})
		t0, parsed := parseTimestamp(ts)
		d := now.Sub(t0)
		valid := key == "django" && parsed && d <= time.Minute && d >= -time.Minute && seq != "" && nonce != ""
		if rerr := verifyParams(h, params, body); (rerr == nil) != valid {
			t.Fatalf("right signature: refusal %v, want accepted=%v", rerr, valid)
		}
	})
}
