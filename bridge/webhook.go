package bridge

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
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
// bridge's require_ip, require_tls and body limit apply; keys do not (the
// sender is another service, such as GitHub).
func (h *Handler) Webhook(opts WebhookOptions) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", "POST")
			refuse(http.StatusMethodNotAllowed, ErrMethodNotAllowed, "method %s: want POST", r.Method).write(w)
			return
		}
		if rerr := h.checkAccess(r); rerr != nil {
			rerr.write(w)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, int64(h.opts.MaxBodySize)))
		if err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				refuse(http.StatusRequestEntityTooLarge, ErrPayloadTooLarge, "body exceeds the limit of %d bytes", h.opts.MaxBodySize).write(w)
				return
			}
			refuse(http.StatusBadRequest, ErrInvalidRequest, "cannot read body: %v", err).write(w)
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
