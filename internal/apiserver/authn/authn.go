// Package authn authenticates API requests: it turns a request's client
// certificate or bearer token into a User. The apiserver pipeline calls an
// Authenticator first for every request; an unauthenticated request gets 401.
// Only internal/apiserver and the server wiring import it.
package authn

import "net/http"

// User is an authenticated identity, as Kubernetes' user.Info.
type User struct {
	// Name is the user name, e.g. "admin", "system:node:n1" or
	// "system:serviceaccount:ns:sa".
	Name string
	// UID identifies the user across name reuse; may be empty.
	UID string
	// Groups the user belongs to, e.g. "system:masters", "system:nodes",
	// "system:authenticated".
	Groups []string
	// Extra holds authenticator-specific attributes (e.g. the bound pod of a
	// service-account token).
	Extra map[string][]string
}

// Authenticator authenticates one request.
//
// Authenticate is called concurrently from many request goroutines and must
// not block on anything but local computation. It returns ok=false and a nil
// error when the request carries no credentials this authenticator
// understands; a non-nil error when it carries credentials that are invalid
// (expired, bad signature, unknown token). Either way the request is not
// authenticated by this authenticator.
type Authenticator interface {
	Authenticate(r *http.Request) (u *User, ok bool, err error)
}
