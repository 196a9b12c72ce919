package authn

import (
	"errors"
	"net/http"
	"slices"
)

// Union is the authenticator the apiserver pipeline calls: it tries each
// authenticator in order, returns the first user authenticated, and adds the
// group system:authenticated to it (unless the user already carries
// system:authenticated or system:unauthenticated, or is system:anonymous).
//
// A request with no credentials at all gives ok=false and a nil error; one
// with credentials that no authenticator accepted gives ok=false and the
// joined errors. Either way the pipeline answers 401.
type Union []Authenticator

var _ Authenticator = Union(nil)

// NewUnion returns the union of authenticators, tried in order.
func NewUnion(auths ...Authenticator) Union { return Union(auths) }

// Authenticate implements Authenticator.Authenticate.
func (u Union) Authenticate(r *http.Request) (*User, bool, error) {
	var errs []error
	for _, a := range u {
		usr, ok, err := a.Authenticate(r)
		if ok {
			return withAuthenticatedGroup(usr), true, nil
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	return nil, false, errors.Join(errs...)
}

// withAuthenticatedGroup returns u with system:authenticated added, copying
// rather than modifying u (authenticators may return shared users, e.g. from
// a token file).
func withAuthenticatedGroup(u *User) *User {
	if u.Name == Anonymous || slices.Contains(u.Groups, AllAuthenticated) || slices.Contains(u.Groups, AllUnauthenticated) {
		return u
	}
	c := *u
	c.Groups = make([]string, 0, len(u.Groups)+1)
	c.Groups = append(c.Groups, u.Groups...)
	c.Groups = append(c.Groups, AllAuthenticated)
	return &c
}
