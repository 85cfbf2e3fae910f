package httpbridge_test

import (
	"context"
	"fmt"

	"github.com/switchboard-wamp/switchboard/clients/go/httpbridge"
	"github.com/switchboard-wamp/switchboard/config"
	"github.com/switchboard-wamp/switchboard/router/routertest"
)

// Publishing from a service that keeps no WAMP session.
func ExampleClient_Publish() {
	srv, stop, err := routertest.StartServer(func(c *config.Config) {
		// The default bridge: loopback clients, no keys.
		def, _ := config.Default()
		c.Listeners[0].Bridge = def.Listeners[0].Bridge
	})
	if err != nil {
		panic(err)
	}
	defer stop()

	bridge := &httpbridge.Client{URL: "http://" + srv.Addr(0).String()}
	// With keys: &httpbridge.Client{URL: ..., Key: "django", Secret: os.Getenv("BRIDGE_SECRET")}
	id, err := bridge.Publish(context.Background(), "com.example.news", []any{"hello"}, nil, nil)
	if err != nil {
		panic(err)
	}
	fmt.Println("published:", id > 0)
	// Output: published: true
}
