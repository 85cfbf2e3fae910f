package router_test

import (
	"fmt"
	"testing"

	"github.com/gammazero/nexus/v3/client"
	"github.com/gammazero/nexus/v3/wamp"

	"github.com/switchboard-wamp/switchboard/router/routertest"
)

// TestPublishFilters: exclude_me, exclude/eligible by session ID, authid and
// authrole. Each case publishes the filtered event, then a marker to all:
// a subscriber that must not get the event sees the marker first.
func TestPublishFilters(t *testing.T) {
	t.Parallel()
	srv := routertest.Start(t, nil)
	eachTransport(t, func(t *testing.T, l int, ser string) {
		topic := fmt.Sprintf("com.filter.%s%d", ser, l)
		pub := srv.Dial(t, l, ser, client.Config{})
		a := srv.Dial(t, l, ser, client.Config{})
		b := srv.Dial(t, l, ser, client.Config{})
		chans := map[string]chan *wamp.Event{}
		for name, c := range map[string]*client.Client{"pub": pub, "a": a, "b": b} {
			ch := make(chan *wamp.Event, 8)
			chans[name] = ch
			must(t, c.SubscribeChan(topic, ch, nil))
		}
		authid := func(c *client.Client) string { s, _ := wamp.AsString(c.RealmDetails()["authid"]); return s }
		cases := []struct {
			name    string
			options wamp.Dict
			gets    []string
		}{
			{"default excludes the publisher", wamp.Dict{}, []string{"a", "b"}},
			{"exclude_me false", wamp.Dict{"exclude_me": false}, []string{"pub", "a", "b"}},
			{"exclude by session", wamp.Dict{"exclude": wamp.List{a.ID()}}, []string{"b"}},
			{"eligible by session", wamp.Dict{"eligible": wamp.List{a.ID(), pub.ID()}, "exclude_me": false}, []string{"pub", "a"}},
			{"exclude_authid", wamp.Dict{"exclude_authid": wamp.List{authid(b)}}, []string{"a"}},
			{"eligible_authid", wamp.Dict{"eligible_authid": wamp.List{authid(b)}}, []string{"b"}},
			{"exclude_authrole", wamp.Dict{"exclude_authrole": wamp.List{"anonymous"}, "exclude_me": false}, nil},
			{"eligible_authrole", wamp.Dict{"eligible_authrole": wamp.List{"anonymous"}}, []string{"a", "b"}},
			{"eligible empty", wamp.Dict{"eligible": wamp.List{}}, nil},
		}
		for i, tc := range cases {
			tc.options["acknowledge"] = true
			must(t, pub.Publish(topic, tc.options, wamp.List{"event", i}, nil))
			marker := fmt.Sprintf("marker-%d", i)
			must(t, pub.Publish(topic, wamp.Dict{"exclude_me": false, "acknowledge": true}, wamp.List{marker}, nil))
			for name, ch := range chans {
				wants := false
				for _, g := range tc.gets {
					wants = wants || g == name
				}
				if wants {
					ev := recv(t, ch)
					if ev.Arguments[0] != "event" {
						t.Fatalf("%s: %s got %v, want the event", tc.name, name, ev.Arguments)
					}
				}
				ev := recv(t, ch)
				if ev.Arguments[0] != marker {
					t.Fatalf("%s: %s got %v, want only the marker", tc.name, name, ev.Arguments)
				}
			}
		}
		// A malformed filter is refused with an error, not ignored.
		err := pub.Publish(topic, wamp.Dict{"acknowledge": true, "exclude": "not a list"}, nil, nil)
		if !errorIs(err, wamp.ErrInvalidArgument) {
			t.Fatalf("malformed exclude: err = %v, want invalid_argument", err)
		}
	})
}
