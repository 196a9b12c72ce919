package authn

import (
	"context"
	"fmt"
	"maps"
	"slices"

	authenticationv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// TokenReview answers a TokenReview (authentication.k8s.io/v1): it
// authenticates spec.token with tokens for spec.audiences (apiAudiences when
// the spec names none) and fills tr.Status (authenticated, user, audiences,
// error). Like the request pipeline, the user gets system:authenticated. An
// empty token gives a 400 StatusError.
func TokenReview(ctx context.Context, tokens TokenAuthenticator, apiAudiences []string, tr *authenticationv1.TokenReview) error {
	if tr.Spec.Token == "" {
		return apierrors.NewBadRequest("token is required for TokenReview in authentication.k8s.io/v1")
	}
	auds := tr.Spec.Audiences
	if len(auds) == 0 {
		auds = apiAudiences
	}
	if len(auds) > 0 {
		ctx = WithAudiences(ctx, auds)
	}
	resp, ok, err := tokens.AuthenticateToken(ctx, tr.Spec.Token)
	tr.Status = authenticationv1.TokenReviewStatus{Authenticated: ok}
	if !ok {
		if err == nil {
			err = ErrInvalidBearerToken
		}
		tr.Status.Error = err.Error()
		return nil
	}
	respAuds := resp.Audiences
	if len(respAuds) == 0 {
		// Authenticators without a notion of audience (token file,
		// bootstrap tokens) are valid for the API audiences, as
		// Kubernetes' audience-agnostic wrapper makes them.
		respAuds = IntersectAudiences(auds, apiAudiences)
		if len(auds) > 0 && len(respAuds) == 0 {
			tr.Status = authenticationv1.TokenReviewStatus{Error: fmt.Sprintf("token audiences %q is invalid for the target audiences %q", apiAudiences, auds)}
			return nil
		}
	}
	tr.Status.User = UserInfo(withAuthenticatedGroup(resp.User))
	tr.Status.Audiences = respAuds
	return nil
}

// SelfSubjectReview answers a SelfSubjectReview (`kubectl auth whoami`):
// its status carries the requesting user.
func SelfSubjectReview(requester *User, ssr *authenticationv1.SelfSubjectReview) error {
	if requester == nil {
		return apierrors.NewBadRequest("no user present on request")
	}
	ssr.Status = authenticationv1.SelfSubjectReviewStatus{UserInfo: UserInfo(requester)}
	return nil
}

// UserInfo converts u to the API's UserInfo.
func UserInfo(u *User) authenticationv1.UserInfo {
	ui := authenticationv1.UserInfo{Username: u.Name, UID: u.UID, Groups: slices.Clone(u.Groups)}
	if len(u.Extra) > 0 {
		ui.Extra = make(map[string]authenticationv1.ExtraValue, len(u.Extra))
		for _, k := range slices.Sorted(maps.Keys(u.Extra)) {
			ui.Extra[k] = authenticationv1.ExtraValue(slices.Clone(u.Extra[k]))
		}
	}
	return ui
}
