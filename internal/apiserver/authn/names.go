package authn

import (
	"context"
	"errors"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/api/validation"
)

// Well-known user names, groups and Extra keys, as Kubernetes defines them.
const (
	// AllAuthenticated is the group every authenticated user is in.
	AllAuthenticated = "system:authenticated"
	// AllUnauthenticated is the group of anonymous requests.
	AllUnauthenticated = "system:unauthenticated"
	// Anonymous is the user name of anonymous requests.
	Anonymous = "system:anonymous"
	// SystemPrivilegedGroup ("system:masters") is always authorized.
	SystemPrivilegedGroup = "system:masters"
	// NodesGroup holds every node (kubelet) identity.
	NodesGroup = "system:nodes"
	// NodeUserPrefix starts the user name of a node: "system:node:<name>".
	NodeUserPrefix = "system:node:"
	// KubeScheduler, KubeControllerManager and KubeProxy are the user names
	// of the control-plane components' client certificates.
	KubeScheduler         = "system:kube-scheduler"
	KubeControllerManager = "system:kube-controller-manager"
	KubeProxy             = "system:kube-proxy"

	// ServiceAccountUsernamePrefix starts a service account's user name:
	// "system:serviceaccount:<namespace>:<name>".
	ServiceAccountUsernamePrefix = "system:serviceaccount:"
	// AllServiceAccountsGroup holds every service account.
	AllServiceAccountsGroup = "system:serviceaccounts"
	// ServiceAccountGroupPrefix starts the per-namespace service account
	// group: "system:serviceaccounts:<namespace>".
	ServiceAccountGroupPrefix = "system:serviceaccounts:"

	// BootstrapUserPrefix starts the user name of a bootstrap token:
	// "system:bootstrap:<token-id>".
	BootstrapUserPrefix = "system:bootstrap:"
	// BootstrapGroup holds every bootstrap token user.
	BootstrapGroup = "system:bootstrappers"

	// CredentialIDKey is the Extra key identifying the credential used
	// (a certificate fingerprint or a token's JTI).
	CredentialIDKey = "authentication.kubernetes.io/credential-id"
	// PodNameKey and PodUIDKey are the Extra keys of the pod a
	// service-account token is bound to.
	PodNameKey = "authentication.kubernetes.io/pod-name"
	PodUIDKey  = "authentication.kubernetes.io/pod-uid"
	// NodeNameKey and NodeUIDKey are the Extra keys of the node a
	// service-account token was issued for.
	NodeNameKey = "authentication.kubernetes.io/node-name"
	NodeUIDKey  = "authentication.kubernetes.io/node-uid"
)

// ServiceAccountUsername returns "system:serviceaccount:<namespace>:<name>".
func ServiceAccountUsername(namespace, name string) string {
	return ServiceAccountUsernamePrefix + namespace + ":" + name
}

// ServiceAccountGroups returns the groups of every service account in
// namespace: system:serviceaccounts and system:serviceaccounts:<namespace>.
func ServiceAccountGroups(namespace string) []string {
	return []string{AllServiceAccountsGroup, ServiceAccountGroupPrefix + namespace}
}

// ErrNotServiceAccount is returned by SplitServiceAccountUsername for a name
// that is not a valid service account user name.
var ErrNotServiceAccount = errors.New("Username must be in the form system:serviceaccount:namespace:name")

// SplitServiceAccountUsername returns the namespace and name of a service
// account user name, or ErrNotServiceAccount. Both parts must be valid
// Kubernetes names, as for Kubernetes' impersonation.
func SplitServiceAccountUsername(username string) (namespace, name string, err error) {
	rest, ok := strings.CutPrefix(username, ServiceAccountUsernamePrefix)
	if !ok {
		return "", "", ErrNotServiceAccount
	}
	parts := strings.Split(rest, ":")
	if len(parts) != 2 {
		return "", "", ErrNotServiceAccount
	}
	if len(validation.ValidateNamespaceName(parts[0], false)) != 0 ||
		len(validation.ValidateServiceAccountName(parts[1], false)) != 0 {
		return "", "", ErrNotServiceAccount
	}
	return parts[0], parts[1], nil
}

// NodeIdentity reports whether u is a node (in group system:nodes) and, if
// its name is "system:node:<name>", that node's name. A node whose user name
// does not carry a node name yields ("", true).
func NodeIdentity(u *User) (nodeName string, isNode bool) {
	if u == nil || !slices.Contains(u.Groups, NodesGroup) {
		return "", false
	}
	name, ok := strings.CutPrefix(u.Name, NodeUserPrefix)
	if !ok {
		return "", true
	}
	return name, true
}

// NodeUser returns the user of node nodeName: "system:node:<name>" in group
// system:nodes (system:authenticated is added by the Union authenticator).
func NodeUser(nodeName string) *User {
	return &User{Name: NodeUserPrefix + nodeName, Groups: []string{NodesGroup}}
}

type audiencesKey struct{}

// WithAudiences returns a context carrying the audiences a token must be
// valid for (TokenReview's spec.audiences). Token authenticators that know
// audiences check them against this list, or against their implicit API
// audiences when the context carries none.
func WithAudiences(ctx context.Context, auds []string) context.Context {
	return context.WithValue(ctx, audiencesKey{}, auds)
}

// AudiencesFrom returns the audiences set by WithAudiences.
func AudiencesFrom(ctx context.Context) ([]string, bool) {
	auds, ok := ctx.Value(audiencesKey{}).([]string)
	return auds, ok
}

// IntersectAudiences returns the audiences present in both a and b, in a's
// order.
func IntersectAudiences(a, b []string) []string {
	var out []string
	for _, x := range a {
		if slices.Contains(b, x) && !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	return out
}
