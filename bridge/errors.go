package bridge

import (
	"encoding/json"
	"fmt"
	"net/http"
)

// Error URIs of requests the bridge refuses before anything is published or
// called.
const (
	ErrInvalidRequest       = "switchboard.error.invalid_request"
	ErrInvalidJSON          = "switchboard.error.invalid_json"
	ErrUnauthorized         = "switchboard.error.unauthorized"
	ErrForbidden            = "switchboard.error.forbidden"
	ErrMethodNotAllowed     = "switchboard.error.method_not_allowed"
	ErrPayloadTooLarge      = "switchboard.error.payload_too_large"
	ErrUnsupportedMediaType = "switchboard.error.unsupported_media_type"
	ErrOriginNotAllowed     = "switchboard.error.origin_not_allowed"
	ErrRequestTimeout       = "switchboard.error.request_timeout"
)

// Error is a WAMP error from the router or a callee, with its payload.
type Error struct {
	URI    string
	Args   []any
	Kwargs map[string]any
}

func (e *Error) Error() string { return fmt.Sprintf("%s %v %v", e.URI, e.Args, e.Kwargs) }

// wampStatus maps WAMP error URIs to HTTP statuses; any other URI is a
// callee's application error (502).
var wampStatus = map[string]int{
	"wamp.error.not_authorized":                http.StatusForbidden,
	"wamp.error.authorization_failed":          http.StatusForbidden,
	"wamp.error.no_such_procedure":             http.StatusNotFound,
	"wamp.error.no_such_realm":                 http.StatusServiceUnavailable,
	"wamp.close.system_shutdown":               http.StatusServiceUnavailable,
	"wamp.error.invalid_uri":                   http.StatusBadRequest,
	"wamp.error.invalid_argument":              http.StatusBadRequest,
	"wamp.error.option_not_allowed":            http.StatusBadRequest,
	"wamp.error.timeout":                       http.StatusGatewayTimeout,
	"wamp.error.canceled":                      http.StatusGatewayTimeout,
	"wamp.error.no_available_callee":           http.StatusServiceUnavailable,
	"wamp.error.feature_not_supported":         http.StatusBadRequest,
	"wamp.error.option_disallowed.disclose_me": http.StatusBadRequest,
	"switchboard.error.limit_exceeded":         http.StatusTooManyRequests,
	"switchboard.error.cluster_unavailable":    http.StatusServiceUnavailable,
	"wamp.error.payload_size_exceeded":         http.StatusRequestEntityTooLarge,
}

// StatusOf returns the HTTP status for a WAMP error URI.
func StatusOf(uri string) int {
	if s, ok := wampStatus[uri]; ok {
		return s
	}
	return http.StatusBadGateway
}

// errorBody is Crossbar's error body.
type errorBody struct {
	Error  string         `json:"error"`
	Args   []any          `json:"args"`
	Kwargs map[string]any `json:"kwargs"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// requestError is a refusal before publishing or calling.
type requestError struct {
	status  int
	uri     string
	message string
	// reason, when set, is counted (Observer.Refused).
	reason string
}

// Reasons of refusals counted by Observer.Refused.
const (
	ReasonOrigin       = "origin"
	ReasonContentType  = "content_type"
	ReasonBodyTooLarge = "body_too_large"
	ReasonReadTimeout  = "read_timeout"
	ReasonReplay       = "replay"
)

// counted marks e as counted under reason.
func (e *requestError) counted(reason string) *requestError {
	e.reason = reason
	return e
}

func (e *requestError) Error() string { return e.uri + ": " + e.message }

func refuse(status int, uri, format string, args ...any) *requestError {
	return &requestError{status: status, uri: uri, message: fmt.Sprintf(format, args...)}
}

func (e *requestError) write(w http.ResponseWriter) {
	writeJSON(w, e.status, errorBody{Error: e.uri, Args: []any{e.message}, Kwargs: map[string]any{}})
}
