package router

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/gammazero/nexus/v3/client"
	"github.com/gammazero/nexus/v3/wamp"

	"github.com/switchboard-wamp/switchboard/auth"
)

// forwardNexusEvents relays what nexus publishes itself (session meta
// events, registration meta events, testaments) into the broker, where the
// subscriptions are: one in-process session per realm subscribed to
// everything in nexus's own broker, which no client publishes to.
func (s *Server) forwardNexusEvents() error {
	for _, r := range s.realms {
		c, err := client.ConnectLocal(s.nexus, client.Config{Realm: r.Name, Logger: nexusLogger{s.log}})
		if err != nil {
			return fmt.Errorf("router: realm %s: connect event forwarder: %w", r.Name, err)
		}
		s.forwarders = append(s.forwarders, c)
		s.localCallers.Store(r.Name, c)
		realm := r.Name
		err = c.Subscribe("", func(ev *wamp.Event) {
			topic, _ := wamp.AsString(ev.Details["topic"])
			// Subscription meta events come from our broker, not nexus's.
			if topic == "" || strings.HasPrefix(topic, "wamp.subscription.") {
				return
			}
			if _, err := s.broker.Publish(realm, nil, topic, ev.Arguments, ev.ArgumentsKw, nil); err != nil {
				s.log.Error("cannot forward router event", "realm", realm, "error", err)
			}
		}, wamp.Dict{wamp.OptMatch: wamp.MatchPrefix})
		if err != nil {
			return fmt.Errorf("router: realm %s: subscribe event forwarder: %w", r.Name, err)
		}
	}
	return nil
}

func (s *Server) closeForwarders() {
	s.localCallers.Clear()
	for _, c := range s.forwarders {
		_ = c.Close()
	}
	s.forwarders = nil
	for _, b := range s.bridges {
		b.close()
	}
}

// callIn returns a function that calls procedures of realm from the
// router's in-process session there.
func (s *Server) callIn(realm string) auth.Caller {
	return func(ctx context.Context, procedure string, args []any) ([]any, map[string]any, error) {
		v, ok := s.localCallers.Load(realm)
		if !ok {
			return nil, nil, errors.New("router is not running")
		}
		res, err := v.(*client.Client).Call(ctx, procedure, nil, args, nil, nil)
		if err != nil {
			var rpcErr client.RPCError
			if errors.As(err, &rpcErr) {
				return nil, nil, fmt.Errorf("%s: %v", rpcErr.Err.Error, rpcErr.Err.Arguments)
			}
			return nil, nil, err
		}
		return res.Arguments, res.ArgumentsKw, nil
	}
}
