package bridge

import (
	"net/http"
	"strings"
)

// Routes is where a Handler serves its endpoints.
type Routes struct {
	// PublishPath serves POST /publish (and PublishPath + "/batch"); ""
	// serves no publish endpoint.
	PublishPath string
	// CallPath serves POST /call; "" serves no call endpoint.
	CallPath string
	// PositionPath serves POST /position; "" serves none.
	PositionPath string
	// Webhooks are served at /webhook/<name>.
	Webhooks []WebhookOptions
	// Wrap, when set, wraps each endpoint's handler (metrics, access log);
	// endpoint is "publish", "call", "position" or "webhook".
	Wrap func(endpoint string, h http.Handler) http.Handler
}

// Mount serves the bridge's endpoints on mux, as routes lays them out.
func (h *Handler) Mount(mux *http.ServeMux, routes Routes) {
	wrap := routes.Wrap
	if wrap == nil {
		wrap = func(_ string, h http.Handler) http.Handler { return h }
	}
	if routes.PublishPath != "" {
		publish := wrap("publish", h.Publish())
		mux.Handle(routes.PublishPath, publish)
		mux.Handle(strings.TrimSuffix(routes.PublishPath, "/")+"/batch", publish)
	}
	if routes.CallPath != "" {
		mux.Handle(routes.CallPath, wrap("call", h.Call()))
	}
	if routes.PositionPath != "" {
		mux.Handle(routes.PositionPath, wrap("position", h.Position()))
	}
	for _, w := range routes.Webhooks {
		mux.Handle("/webhook/"+w.Name, wrap("webhook", h.Webhook(w)))
	}
}
