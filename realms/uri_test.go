package realms

import (
	"math/rand/v2"
	"testing"

	"github.com/gammazero/nexus/v3/wamp"
)

// TestValidURIMatchesNexus compares ValidURI with nexus's regular
// expressions on random strings of the bytes that matter.
func TestValidURIMatchesNexus(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	alphabet := []byte("ab_Z09.#. \t\n\f\r\v-é")
	for range 200000 {
		b := make([]byte, rng.IntN(8))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		uri := string(b)
		for _, strict := range []bool{false, true} {
			for _, match := range []string{"", MatchExact, MatchPrefix, MatchWildcard} {
				nexusMatch := match
				if match == MatchExact {
					nexusMatch = ""
				}
				if got, want := ValidURI(uri, strict, match), wamp.URI(uri).ValidURI(strict, nexusMatch); got != want {
					t.Fatalf("ValidURI(%q, strict %v, %q) = %v, nexus says %v", uri, strict, match, got, want)
				}
			}
		}
	}
}
