package realms

import (
	"crypto/sha256"
	"encoding/binary"

	"github.com/gammazero/nexus/v3/wamp"
)

// StableID is the ID of the subscription or registration of uri under
// match in realm that every node of a cluster gives it: a hash (SHA-256,
// so that a client cannot make one URI collide with another's at will),
// within WAMP's IDs (at most 2^53), never 0. taken reports an ID already
// in use on this node: then a random one is returned.
func StableID(realm, match, uri string, taken func(wamp.ID) bool) wamp.ID {
	h := sha256.New()
	for _, part := range []string{realm, match, uri} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	id := wamp.ID(binary.BigEndian.Uint64(h.Sum(nil)) & (1<<53 - 1))
	if id == 0 || taken(id) {
		return wamp.GlobalID()
	}
	return id
}
