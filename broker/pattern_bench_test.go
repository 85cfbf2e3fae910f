package broker

import (
	"fmt"
	"testing"

	"github.com/gammazero/nexus/v3/wamp"
)

// BenchmarkPatternMatch measures a publication matched against many prefix
// and wildcard subscriptions (n of each, on sessions of their own), of
// which one of each matches: the cost of the pattern scan on the publish
// path.
func BenchmarkPatternMatch(b *testing.B) {
	for _, n := range []int{10, 1000} {
		b.Run(fmt.Sprintf("patterns=%d", n), func(b *testing.B) {
			br, pub, _ := benchBroker(b, 0, "json", nil)
			hello := &wamp.Hello{Realm: "realm1", Details: wamp.Dict{}}
			conns := make([]*countingConn, 2*n)
			for i := range conns {
				conns[i] = newConn("json")
				s := br.Join(conns[i], hello, &wamp.Welcome{ID: wamp.ID(1000 + i), Details: wamp.Dict{"authid": "a", "authrole": "anonymous"}})
				topic, match := fmt.Sprintf("bench.%d.", i/2), "prefix"
				if i%2 == 1 {
					topic, match = fmt.Sprintf("bench..%d", i/2), "wildcard"
				}
				s.Handle(&wamp.Subscribe{Request: 1, Topic: wamp.URI(topic), Options: wamp.Dict{"match": match}})
			}
			// Matches bench.7. (prefix) and bench..7 (wildcard).
			msg := &wamp.Publish{Request: 2, Topic: "bench.7.7", Options: wamp.Dict{}, Arguments: wamp.List{"x"}}
			b.ReportAllocs()
			for b.Loop() {
				pub.Handle(msg)
			}
			if frames := eventsQueued(conns); frames != 2*int64(b.N) {
				b.Fatalf("%d events for %d publications matching 2 subscriptions", frames, b.N)
			}
		})
	}
}
