package router

import (
	"time"

	"github.com/gammazero/nexus/v3/wamp"

	"github.com/switchboard-wamp/switchboard/dealer"
	"github.com/switchboard-wamp/switchboard/realms"
	"github.com/switchboard-wamp/switchboard/transport"
)

// sessionOpening sees one client's session open (transport.SessionHooks):
// it reads what the router needs from HELLO, and once nexus welcomes the
// session, joins it to the broker and returns its route.
type sessionOpening struct {
	s         *Server
	transport string
	info      helloInfo
}

var _ transport.SessionHooks = (*sessionOpening)(nil)

func (o *sessionOpening) Hello(hello *wamp.Hello) { o.info = readHello(hello) }

func (o *sessionOpening) Welcome(p *transport.Peer, hello *wamp.Hello, welcome *wamp.Welcome) transport.Route {
	s := o.s
	realm := string(hello.Realm)
	bs := s.broker.JoinSession(p, realm, welcome, o.info.publisherIdentification)
	if bs == nil {
		return nil
	}
	info := dealer.SessionInfo{ID: welcome.ID, Caller: o.info.caller, Callee: o.info.callee}
	info.AuthID, _ = wamp.AsString(welcome.Details["authid"])
	info.AuthRole, _ = wamp.AsString(welcome.Details["authrole"])
	conn := peerConn{p: p, obs: s.observer, log: s.log}
	ds := s.dealer.Join(conn, realm, info)
	rs := s.realmByName[realm]
	if ds == nil || rs == nil {
		return nil
	}
	sessions := s.metrics.Sessions.WithLabelValues(realm, o.transport)
	sessions.Inc()
	s.trackPeer(p, true)
	s.metrics.SessionJoins.WithLabelValues(realm, o.transport).Inc()
	return &sessionRoute{
		broker: bs, dealer: ds,
		clusterMeta: s.clusterMeta(rs, realms.Subject{SessionID: info.ID, AuthID: info.AuthID, Role: info.AuthRole}, conn),
		onLeave: func() {
			s.trackPeer(p, false)
			sessions.Dec()
			s.metrics.SessionLeaves.WithLabelValues(realm, o.transport).Inc()
		},
	}
}

// peerOptions configures the peers of a listener: their pub/sub messages go
// to the broker once nexus welcomes them.
func (s *Server) peerOptions(transportName string, ping time.Duration, maxQueueBytes int, writeDelay time.Duration) transport.PeerOptions {
	slow := s.metrics.SlowConsumers.WithLabelValues(transportName)
	return transport.PeerOptions{
		PingInterval:          ping,
		WriteDelay:            writeDelay,
		Activity:              &s.writers,
		MaxQueueBytes:         maxQueueBytes,
		MaxNestingDepth:       s.peerLimits.MaxNestingDepth,
		MaxMessageItems:       s.peerLimits.MaxMessageItems,
		MaxOpeningMessageSize: s.peerLimits.MaxOpeningMessageSize,
		MessageReadTimeout:    s.peerLimits.MessageReadTimeout,
		OnRefused:             func(reason string) { s.limits.MessagesRefused.WithLabelValues(reason).Inc() },
		Poller:                s.poller.Load(),
		Logger:                s.log,
		Observer:              s.observer,
		OnSlowConsumer: func() {
			s.slowConsumers.Add(1)
			slow.Inc()
		},
		NewSession: func() transport.SessionHooks {
			return &sessionOpening{s: s, transport: transportName}
		},
	}
}
