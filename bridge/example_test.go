package bridge_test

import (
	"fmt"

	"github.com/switchboard-wamp/switchboard/bridge"
)

// The worked vector of Crossbar's signing scheme: sign the exact query
// values and body bytes, then send key, timestamp, seq, nonce and signature
// as query parameters.
func ExampleSign() {
	body := []byte(`{"topic":"com.myapp.topic1"}`)
	fmt.Println(bridge.Sign("secret", "foobar", "2011-10-14T16:59:51.123Z", "1", "42", body))
	// Output: MJ1bOtB_-58dq05Lt6b9lV5UyP5YqHxXsPu0hye8EhY=
}
