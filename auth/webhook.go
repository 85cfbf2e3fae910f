package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/gammazero/nexus/v3/wamp"
)

// Webhook asks the web app whether, and as whom, to admit a client: it POSTs
// {realm, authid, authmethod, ticket?, session, transport: {peer, headers}}
// with the upgrade request's forwarded headers (the session cookie). 200
// with {"role", "authid"?, "extra"?} admits (without an authid, with a
// random one); 401 and 403 refuse; any other answer or a timeout refuses
// with a message saying so.
type Webhook struct {
	URL            string
	Realm          string
	ForwardHeaders []string
	Timeout        time.Duration
	// Client sends the requests. Default: one without keep-alive (joins are
	// rare enough, and no idle connection outlives the router).
	Client *http.Client
}

// webhookAnswer is the app's 200 body.
type webhookAnswer struct {
	Role   string         `json:"role"`
	AuthID string         `json:"authid"`
	Extra  map[string]any `json:"extra"`
}

// Provider names the webhook in WELCOME's authprovider.
func (w *Webhook) Provider() string { return "webhook" }

// Decide consults the app.
func (w *Webhook) Decide(sid wamp.ID, details wamp.Dict, client wamp.Peer, method, ticket string) (Identity, error) {
	authid, _ := wamp.AsString(details["authid"])
	transport := map[string]any{}
	if td, ok := wamp.AsDict(details["transport"]); ok {
		transport["peer"] = td["peer"]
		transport["type"] = td["type"]
	}
	headers := map[string][]string{}
	if hs, ok := client.(HeaderSource); ok {
		if h := hs.RequestHeaders(); h != nil {
			for _, name := range w.ForwardHeaders {
				if v := h.Values(name); len(v) > 0 {
					headers[http.CanonicalHeaderKey(name)] = v
				}
			}
		}
	}
	transport["headers"] = headers
	req := map[string]any{"realm": w.Realm, "authid": authid, "authmethod": method, "session": sid, "transport": transport}
	if method == "ticket" {
		req["ticket"] = ticket
	}
	body, err := json.Marshal(req)
	if err != nil {
		return Identity{}, fmt.Errorf("auth webhook: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), w.Timeout)
	defer cancel()
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		return Identity{}, fmt.Errorf("auth webhook: %w", err)
	}
	hreq.Header.Set("Content-Type", "application/json")
	httpClient := w.Client
	if httpClient == nil {
		// A 307/308 would re-POST the client's ticket elsewhere: never
		// follow a redirect.
		httpClient = &http.Client{Transport: &http.Transport{DisableKeepAlives: true},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	resp, err := httpClient.Do(hreq)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return Identity{}, fmt.Errorf("%w: no answer within %s", ErrServiceFailed, w.Timeout)
		}
		return Identity{}, fmt.Errorf("%w: unreachable", ErrServiceFailed)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return Identity{}, ErrAuthFailed
	case resp.StatusCode != http.StatusOK:
		return Identity{}, fmt.Errorf("%w: HTTP %d", ErrServiceFailed, resp.StatusCode)
	}
	var a webhookAnswer
	if err := json.Unmarshal(raw, &a); err != nil || a.Role == "" {
		return Identity{}, fmt.Errorf("%w: answer without a role", ErrServiceFailed)
	}
	// The authid is the one the app vouches for: an answer without one
	// does not keep what the client chose in HELLO (with {authid}
	// permission templates, that would open another user's namespace), the
	// session gets a random one. Apps that checked the HELLO authid echo
	// it.
	if a.AuthID == "" {
		a.AuthID = randomAuthID()
	}
	return Identity{AuthID: a.AuthID, Role: a.Role, Extra: a.Extra}, nil
}
