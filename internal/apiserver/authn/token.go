package authn

import (
	"context"
	"errors"
	"net/http"
	"strings"
)

// Response is the result of authenticating a token.
type Response struct {
	User *User
	// Audiences the token is valid for, out of those requested (see
	// WithAudiences); empty if the authenticator has no notion of audience.
	Audiences []string
}

// TokenAuthenticator authenticates a bearer token.
//
// AuthenticateToken is called concurrently and must not block on anything but
// local computation (it may consult in-memory caches fed by the apiserver).
// It returns ok=false and a nil error when the token is not of a kind it
// understands (so that another TokenAuthenticator may try it); ok=false and
// an error when the token is of its kind but invalid (bad signature,
// expired, revoked).
type TokenAuthenticator interface {
	AuthenticateToken(ctx context.Context, token string) (r *Response, ok bool, err error)
}

// ErrInvalidBearerToken is returned when a request carries a bearer token
// that no token authenticator accepted and none explained why.
var ErrInvalidBearerToken = errors.New("invalid bearer token")

// TokenUnion tries token authenticators in order and returns the first
// success. If none succeeds, it returns ok=false and the errors of those that
// recognised the token.
type TokenUnion []TokenAuthenticator

var _ TokenAuthenticator = TokenUnion(nil)

// AuthenticateToken implements TokenAuthenticator.AuthenticateToken.
func (u TokenUnion) AuthenticateToken(ctx context.Context, token string) (*Response, bool, error) {
	var errs []error
	for _, a := range u {
		r, ok, err := a.AuthenticateToken(ctx, token)
		if ok {
			return r, true, nil
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	return nil, false, errors.Join(errs...)
}

// Bearer authenticates requests carrying "Authorization: Bearer <token>"
// with a TokenAuthenticator.
type Bearer struct {
	Tokens TokenAuthenticator
}

var _ Authenticator = (*Bearer)(nil)

// NewBearer returns a request authenticator for bearer tokens, trying each
// token authenticator in order.
func NewBearer(tokens ...TokenAuthenticator) *Bearer {
	return &Bearer{Tokens: TokenUnion(tokens)}
}

// BearerToken returns the bearer token of r's Authorization header, or "".
func BearerToken(r *http.Request) string {
	auth := strings.TrimSpace(r.Header.Get("Authorization"))
	scheme, token, ok := strings.Cut(auth, " ")
	if !ok || !strings.EqualFold(scheme, "bearer") {
		return ""
	}
	// Like Kubernetes, a token followed by more space-separated parts is
	// the first part only; a token preceded by extra spaces is no token.
	token, _, _ = strings.Cut(token, " ")
	return token
}

// Authenticate implements Authenticator.Authenticate.
func (b *Bearer) Authenticate(r *http.Request) (*User, bool, error) {
	token := BearerToken(r)
	if token == "" {
		return nil, false, nil
	}
	resp, ok, err := b.Tokens.AuthenticateToken(r.Context(), token)
	if ok {
		return resp.User, true, nil
	}
	if err == nil {
		err = ErrInvalidBearerToken
	}
	return nil, false, err
}
