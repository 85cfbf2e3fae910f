package bridge

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
)

// WebhookOptions configure one inbound webhook.
type WebhookOptions struct {
	Name  string
	Topic string
	// GitHubSecret, when set, requires a valid X-Hub-Signature-256 header.
	GitHubSecret string
}

// Webhook returns the handler of an inbound webhook: each POST is published
// to opts.Topic as one argument {"headers": {name: [values]}, "body": "<raw
// body>"}, as Crossbar's webhook does, and answered 202 {"id": <id>}. The
// bridge's require_ip, require_tls, allowed_origins, body limit and read
// timeout apply; keys and the JSON content type do not (the sender is
// another service, such as GitHub, with a body of its own format).
func (h *Handler) Webhook(opts WebhookOptions) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", "POST")
			refuse(http.StatusMethodNotAllowed, ErrMethodNotAllowed, "method %s: want POST", r.Method).write(w)
			return
		}
		if rerr := h.checkAccess(r); rerr != nil {
			h.refused(r, rerr).write(w)
			return
		}
		// A page on any site could otherwise make a browser publish to the
		// topic; services send no Origin.
		if rerr := checkSite(r, h.opts.AllowedOrigins); rerr != nil {
			h.refused(r, rerr).write(w)
			return
		}
		body, rerr := h.readBody(w, r)
		if rerr != nil {
			h.refused(r, rerr).write(w)
			return
		}
		if opts.GitHubSecret != "" && !validGitHubSignature(opts.GitHubSecret, r.Header.Get("X-Hub-Signature-256"), body) {
			h.log.Info("webhook signature refused", "webhook", opts.Name, "remote_addr", r.RemoteAddr)
			refuse(http.StatusUnauthorized, ErrUnauthorized, "missing or invalid X-Hub-Signature-256").write(w)
			return
		}
		headers := map[string]any{}
		for name, values := range r.Header {
			list := make([]any, len(values))
			for i, v := range values {
				list[i] = v
			}
			headers[name] = list
		}
		id, err := h.opts.Backend.Publish(Identity{AuthID: "webhook:" + opts.Name}, false, PublishRequest{
			Topic: opts.Topic,
			Args:  []any{map[string]any{"headers": headers, "body": string(body)}},
		})
		if err != nil {
			h.wampError(w, asWAMPError(err))
			return
		}
		writeJSON(w, http.StatusAccepted, map[string]any{"id": id})
	})
}

// validGitHubSignature checks "sha256=<hex HMAC-SHA256(secret, body)>".
func validGitHubSignature(secret, header string, body []byte) bool {
	sig, ok := strings.CutPrefix(header, "sha256=")
	if !ok {
		return false
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return hmac.Equal([]byte(hex.EncodeToString(mac.Sum(nil))), []byte(strings.ToLower(sig)))
}
