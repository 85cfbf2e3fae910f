package auth

import (
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gammazero/nexus/v3/transport"
	"github.com/gammazero/nexus/v3/wamp"
	"github.com/gammazero/nexus/v3/wamp/crsign"
)

// craRun authenticates authid against a: answer computes the AUTHENTICATE
// signature from the CHALLENGE. It returns the challenge and the result.
func craRun(t *testing.T, a *WAMPCRA, authid string, answer func(*wamp.Challenge) string) (*wamp.Challenge, *wamp.Welcome, error) {
	t.Helper()
	cli, rtr := transport.LinkedPeers()
	defer cli.Close()
	chc := make(chan *wamp.Challenge, 1)
	go func() {
		msg, ok := <-cli.Recv()
		if !ok {
			close(chc)
			return
		}
		ch, _ := msg.(*wamp.Challenge)
		chc <- ch
		if ch != nil {
			cli.Send() <- &wamp.Authenticate{Signature: answer(ch), Extra: wamp.Dict{}}
		}
	}()
	w, err := a.Authenticate(7, wamp.Dict{"authid": authid}, rtr)
	return <-chc, w, err
}

func signWith(secret string) func(*wamp.Challenge) string {
	return func(ch *wamp.Challenge) string { return crsign.RespondChallenge(secret, ch, nil) }
}

func TestWAMPCRASignatures(t *testing.T) {
	t.Parallel()
	a := NewWAMPCRA(map[string]CRAUser{"worker": {Secret: "worker-secret-0123", Role: "backend"}}, time.Second)
	if _, w, err := craRun(t, a, "worker", signWith("worker-secret-0123")); err != nil || w.Details["authrole"] != "backend" || w.Details["authid"] != "worker" {
		t.Fatalf("right secret: %v %v", w, err)
	}
	for name, c := range map[string]struct {
		authid string
		answer func(*wamp.Challenge) string
	}{
		"wrong secret":                    {"worker", signWith("worker-secret-0124")},
		"garbage signature":               {"worker", func(*wamp.Challenge) string { return "not base64!" }},
		"unknown authid, empty key":       {"nobody", signWith("")},
		"unknown authid, a user's secret": {"nobody", signWith("worker-secret-0123")},
		"unknown authid, empty signature": {"nobody", func(*wamp.Challenge) string { return "" }},
		"authid of another case":          {"Worker", signWith("worker-secret-0123")},
		"unknown authid, the fake challenge key": {"nobody", func(ch *wamp.Challenge) string {
			s, _ := wamp.AsString(ch.Extra["challenge"])
			return crsign.SignChallenge(s, a.key)
		}},
	} {
		if _, w, err := craRun(t, a, c.authid, c.answer); !errors.Is(err, ErrAuthFailed) {
			t.Errorf("%s: welcome %v, err %v; want ErrAuthFailed", name, w, err)
		}
	}
}

// challengeShape is everything in a CHALLENGE but its random parts.
type challengeShape struct {
	ExtraKeys, ChallengeKeys []string
	AuthRole, AuthProvider   string
	SaltLen                  int
	Iterations, KeyLen       any
}

func shapeOf(t *testing.T, ch *wamp.Challenge) (challengeShape, string) {
	t.Helper()
	s, _ := wamp.AsString(ch.Extra["challenge"])
	var fields map[string]any
	if err := json.Unmarshal([]byte(s), &fields); err != nil {
		t.Fatalf("challenge %q: %v", s, err)
	}
	salt, _ := wamp.AsString(ch.Extra["salt"])
	return challengeShape{
		ExtraKeys: slices.Sorted(maps.Keys(ch.Extra)), ChallengeKeys: slices.Sorted(maps.Keys(fields)),
		AuthRole: fields["authrole"].(string), AuthProvider: fields["authprovider"].(string),
		SaltLen: len(salt), Iterations: ch.Extra["iterations"], KeyLen: ch.Extra["keylen"],
	}, salt
}

// TestWAMPCRAUnknownAuthIDLooksKnown: the challenge of an unknown authid has
// the shape of a real user's (role, salt length, iterations, keylen), and
// the same unknown authid gets the same salt every time, also from a new
// authenticator with the same users (a restart or a reload).
func TestWAMPCRAUnknownAuthIDLooksKnown(t *testing.T) {
	t.Parallel()
	users := map[string]CRAUser{"alice": {Secret: "derived-key-of-alice-0123456789", Role: "user", Salt: "9f86d081884c7d65", Iterations: 100000, KeyLen: 32}}
	a := NewWAMPCRA(users, time.Second)
	fail := func(*wamp.Challenge) string { return "" }
	known, _, _ := craRun(t, a, "alice", fail)
	knownShape, knownSalt := shapeOf(t, known)
	if knownSalt != "9f86d081884c7d65" || knownShape.AuthRole != "user" {
		t.Fatalf("known user's challenge: %+v %q", knownShape, knownSalt)
	}
	salts := map[string]string{}
	for _, authid := range []string{"bob", "mallory", "alice2"} {
		ch, _, err := craRun(t, a, authid, fail)
		if !errors.Is(err, ErrAuthFailed) {
			t.Fatalf("%s: %v", authid, err)
		}
		shape, salt := shapeOf(t, ch)
		if !slices.Equal(shape.ExtraKeys, knownShape.ExtraKeys) || !slices.Equal(shape.ChallengeKeys, knownShape.ChallengeKeys) ||
			shape.AuthRole != knownShape.AuthRole || shape.AuthProvider != knownShape.AuthProvider || shape.SaltLen != knownShape.SaltLen ||
			shape.Iterations != knownShape.Iterations || shape.KeyLen != knownShape.KeyLen {
			t.Errorf("%s: challenge shape %+v, a known user's is %+v", authid, shape, knownShape)
		}
		if strings.Trim(salt, alphabetOf(knownSalt)) != "" {
			t.Errorf("%s: salt %q is not made like %q", authid, salt, knownSalt)
		}
		salts[authid] = salt
	}
	if salts["bob"] == salts["mallory"] {
		t.Errorf("two unknown authids got the same salt %q", salts["bob"])
	}
	restarted := NewWAMPCRA(maps.Clone(users), time.Second)
	for _, authid := range []string{"bob", "mallory"} {
		ch, _, _ := craRun(t, restarted, authid, fail)
		if _, salt := shapeOf(t, ch); salt != salts[authid] {
			t.Errorf("%s: salt %q after a restart, %q before: a real user's does not change", authid, salt, salts[authid])
		}
	}
}

// TestWAMPCRAUnsaltedShape: in a realm of unsalted users of two roles, an
// unknown authid gets no salt and one of those roles.
func TestWAMPCRAUnsaltedShape(t *testing.T) {
	t.Parallel()
	a := NewWAMPCRA(map[string]CRAUser{
		"a": {Secret: "a-secret-0123456789", Role: "backend"},
		"b": {Secret: "b-secret-0123456789", Role: "user"},
	}, time.Second)
	for _, authid := range []string{"x", "y", "z", "w"} {
		ch, _, _ := craRun(t, a, authid, func(*wamp.Challenge) string { return "" })
		shape, _ := shapeOf(t, ch)
		if !slices.Equal(shape.ExtraKeys, []string{"challenge"}) || (shape.AuthRole != "backend" && shape.AuthRole != "user") {
			t.Errorf("%s: %+v", authid, shape)
		}
	}
}

func TestAlphabetOf(t *testing.T) {
	t.Parallel()
	for salt, want := range map[string]string{
		"9f86d081": "0123456789abcdef",
		"9F86D081": "0123456789ABCDEF",
		"pepper":   "abcdefghijklmnopqrstuvwxyz",
		"q1Jm+/==": "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/=",
		"12345":    "0123456789",
	} {
		if got := alphabetOf(salt); got != want {
			t.Errorf("alphabetOf(%q) = %q, want %q", salt, got, want)
		}
	}
}
