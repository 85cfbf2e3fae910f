// Package broker is switchboard's publish/subscribe engine. It takes PUBLISH,
// SUBSCRIBE and UNSUBSCRIBE from sessions before nexus sees them, enforces
// role permissions, matches exact, prefix and wildcard subscriptions, applies
// exclusion, eligibility and publisher disclosure, and queues each EVENT,
// encoded once per subscription, serializer and details variant, on the
// subscribers' connections. Every subscriber gets its own details: nothing
// is shared and written at once, unlike nexus v3.3.0's broker.
package broker
