package router

import (
	"github.com/switchboard-wamp/switchboard/broker"
	"github.com/switchboard-wamp/switchboard/realms"
)

// Each realm's authorizer decides for the broker too.
var _ broker.Authorizer = (*realms.Authorizer)(nil)
