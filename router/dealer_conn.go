package router

import (
	"log/slog"

	"github.com/gammazero/nexus/v3/wamp"

	"github.com/switchboard-wamp/switchboard/dealer"
	"github.com/switchboard-wamp/switchboard/transport"
)

// peerConn is a client's connection as the dealer sends on it: encoded
// with the session's serializer and queued on its byte-bounded queue, like
// an EVENT (never a channel that can be full).
type peerConn struct {
	p   *transport.Peer
	obs *observer
	log *slog.Logger
}

var _ dealer.Conn = peerConn{}

func (c peerConn) Send(msg wamp.Message) bool {
	b, err := c.p.Codec().Serialize(msg)
	if err != nil {
		c.log.Error("cannot encode message", "type", msg.MessageType().String(), "error", err)
		return true // nothing queued, but the session is not at fault
	}
	if !c.p.EnqueueFrameNow(b) {
		return false
	}
	c.obs.Sent(msg.MessageType())
	return true
}
