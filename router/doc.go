// Package router is the switchboard daemon: Server owns the nexus routing
// core, the realms built from configuration, one listener (and one
// http.Server for WebSocket listeners) per configured address, and a graceful
// shutdown that sends every session GOODBYE.
package router
