package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	nexusauth "github.com/gammazero/nexus/v3/router/auth"
	"github.com/gammazero/nexus/v3/wamp"
	"github.com/gammazero/nexus/v3/wamp/crsign"
)

// CRAUser is a WAMP-CRA user. With Salt, Secret is the derived key
// (base64 of PBKDF2-SHA256(password, salt, Iterations, KeyLen)).
type CRAUser struct {
	Secret     string
	Role       string
	Salt       string
	Iterations int
	KeyLen     int
}

// WAMPCRA authenticates authmethod wampcra: the router sends a challenge
// (a JSON string naming the authid, its role, a nonce and the time, with
// the PBKDF2 parameters of a salted secret), the client answers with its
// HMAC-SHA256 under the secret, compared in constant time.
//
// An unknown authid gets a challenge of the same shape as a real user's,
// and fails only at the signature: its role, salt, iterations and keylen
// are those of a user picked by a keyed hash of the authid, with a fake
// salt of the same length and alphabet derived from that hash. The hash is
// keyed with a digest of every user's secret, so the same unknown authid
// gets the same challenge across restarts and reloads (as a real user
// does), and nobody without the secrets can tell it from a real one.
type WAMPCRA struct {
	users   map[string]CRAUser
	authids []string // sorted: the users unknown authids are shaped after
	key     []byte   // keys the fake challenges; also the key unknown authids are checked with
	timeout time.Duration
}

var _ nexusauth.Authenticator = (*WAMPCRA)(nil)

// NewWAMPCRA returns the WAMP-CRA authenticator for users; timeout bounds
// the wait for AUTHENTICATE (default 10s).
func NewWAMPCRA(users map[string]CRAUser, timeout time.Duration) *WAMPCRA {
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	w := &WAMPCRA{users: users, timeout: timeout}
	for authid := range users {
		w.authids = append(w.authids, authid)
	}
	slices.Sort(w.authids)
	h := sha256.New()
	h.Write([]byte("switchboard wampcra fake challenges\x00"))
	for _, authid := range w.authids {
		fmt.Fprintf(h, "%d:%s%d:%s", len(authid), authid, len(users[authid].Secret), users[authid].Secret)
	}
	w.key = h.Sum(nil)
	return w
}

// AuthMethod returns "wampcra".
func (w *WAMPCRA) AuthMethod() string { return "wampcra" }

// Authenticate runs the challenge.
func (w *WAMPCRA) Authenticate(sid wamp.ID, details wamp.Dict, client wamp.Peer) (*wamp.Welcome, error) {
	authid, _ := wamp.AsString(details["authid"])
	if authid == "" {
		return nil, fmt.Errorf("%w: wampcra needs an authid", ErrAuthFailed)
	}
	user, known := w.users[authid]
	if !known {
		user = w.shapeOf(authid)
	}
	ch, err := challengeString(sid, authid, user.Role)
	if err != nil {
		return nil, err
	}
	extra := wamp.Dict{"challenge": ch}
	if user.Salt != "" {
		extra["salt"] = user.Salt
		extra["iterations"] = orDefault(user.Iterations, crsign.DefaultIters)
		extra["keylen"] = orDefault(user.KeyLen, crsign.DefaultKeyLen)
	}
	signature, err := challenge(client, w.AuthMethod(), extra, w.timeout)
	if err != nil {
		return nil, err
	}
	key := []byte(user.Secret)
	if !known || len(key) == 0 {
		// Check the signature all the same, so that an unknown authid
		// costs the same time, then refuse whatever it says.
		key, known = w.key, false
	}
	if !crsign.VerifySignature(signature, ch, key) || !known {
		return nil, ErrAuthFailed
	}
	return welcome(authid, user.Role, w.AuthMethod(), "static", nil), nil
}

// shapeOf returns the challenge parameters of an unknown authid: those of
// a user picked by the keyed hash, with a fake salt, and no secret.
func (w *WAMPCRA) shapeOf(authid string) CRAUser {
	if len(w.authids) == 0 {
		return CRAUser{Role: "user"}
	}
	pick := w.mac("user", authid, 8)
	like := w.users[w.authids[binary.BigEndian.Uint64(pick)%uint64(len(w.authids))]]
	out := CRAUser{Role: like.Role, Iterations: like.Iterations, KeyLen: like.KeyLen}
	if n := utf8.RuneCountInString(like.Salt); n > 0 {
		alphabet := []rune(alphabetOf(like.Salt))
		salt := make([]rune, n)
		for i, b := range w.mac("salt", authid, n) {
			salt[i] = alphabet[int(b)%len(alphabet)]
		}
		out.Salt = string(salt)
	}
	return out
}

// alphabetOf returns the characters a salt like s is made of: hex digits
// (in its case) for a hex salt, else the classes (lowercase, uppercase,
// digits) s uses and the other characters it has.
func alphabetOf(s string) string {
	const lower, upper, digits = "abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "0123456789"
	switch {
	case strings.Trim(s, digits+"abcdef") == "" && strings.ContainsAny(s, "abcdef"):
		return digits + "abcdef"
	case strings.Trim(s, digits+"ABCDEF") == "" && strings.ContainsAny(s, "ABCDEF"):
		return digits + "ABCDEF"
	}
	var b strings.Builder
	for _, class := range []string{lower, upper, digits} {
		if strings.ContainsAny(s, class) {
			b.WriteString(class)
		}
	}
	for _, r := range s {
		if !strings.ContainsRune(lower+upper+digits+b.String(), r) {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// mac returns n bytes of HMAC-SHA256(key, purpose, authid, counter...).
func (w *WAMPCRA) mac(purpose, authid string, n int) []byte {
	var out []byte
	for i := byte(0); len(out) < n; i++ {
		m := hmac.New(sha256.New, w.key)
		m.Write([]byte(purpose))
		m.Write([]byte{0, i})
		m.Write([]byte(authid))
		out = m.Sum(out)
	}
	return out[:n]
}

func orDefault(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

// craChallenge is the challenge string, as Crossbar sends it.
type craChallenge struct {
	AuthID       string  `json:"authid"`
	AuthRole     string  `json:"authrole"`
	AuthMethod   string  `json:"authmethod"`
	AuthProvider string  `json:"authprovider"`
	Nonce        string  `json:"nonce"`
	Timestamp    string  `json:"timestamp"`
	Session      wamp.ID `json:"session"`
}

func challengeString(sid wamp.ID, authid, role string) (string, error) {
	var nonce [16]byte
	_, _ = rand.Read(nonce[:]) // crypto/rand.Read never returns an error
	b, err := json.Marshal(craChallenge{
		AuthID: authid, AuthRole: role, AuthMethod: "wampcra", AuthProvider: "static",
		Nonce: base64.StdEncoding.EncodeToString(nonce[:]), Timestamp: time.Now().UTC().Format("2006-01-02T15:04:05.000Z"),
		Session: sid,
	})
	if err != nil {
		return "", fmt.Errorf("wampcra: challenge: %w", err)
	}
	return string(b), nil
}
