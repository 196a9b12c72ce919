package rbac

import (
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/podvisor/podvisor/internal/apiserver/authz"
)

// RuleAllows reports whether rule grants the request a, with Kubernetes'
// semantics:
//   - verbs, apiGroups and resources match exactly or by "*";
//   - a request for a subresource is the resource "<resource>/<sub>", which
//     "*/<sub>" also matches ("*" matches everything);
//   - resourceNames, if set, must contain the request's name (so a rule
//     with resourceNames never grants list, watch, create or
//     deletecollection, which carry no name);
//   - for non-resource requests, nonResourceURLs match exactly, by "*", or
//     by a prefix ending in "*" ("/apis/*" matches "/apis/apps/v1").
func RuleAllows(a *authz.Attributes, rule *rbacv1.PolicyRule) bool {
	if !has(rule.Verbs, a.Verb, rbacv1.VerbAll) {
		return false
	}
	if !a.ResourceRequest {
		return urlMatches(rule.NonResourceURLs, a.Path)
	}
	return has(rule.APIGroups, a.APIGroup, rbacv1.APIGroupAll) &&
		resourceMatches(rule.Resources, a.Resource, a.Subresource) &&
		(len(rule.ResourceNames) == 0 || has(rule.ResourceNames, a.Name, ""))
}

// RulesAllow reports whether any of rules grants a.
func RulesAllow(a *authz.Attributes, rules []rbacv1.PolicyRule) bool {
	for i := range rules {
		if RuleAllows(a, &rules[i]) {
			return true
		}
	}
	return false
}

// has reports whether list contains v, or the wildcard if it is not empty.
func has(list []string, v, wildcard string) bool {
	for _, x := range list {
		if x == v || (wildcard != "" && x == wildcard) {
			return true
		}
	}
	return false
}

func resourceMatches(rules []string, resource, sub string) bool {
	for _, r := range rules {
		if r == rbacv1.ResourceAll {
			return true
		}
		if sub == "" {
			if r == resource {
				return true
			}
			continue
		}
		// "<resource>/<sub>" or "*/<sub>", compared without allocating.
		res, rsub, ok := strings.Cut(r, "/")
		if ok && rsub == sub && (res == resource || res == "*") {
			return true
		}
	}
	return false
}

func urlMatches(rules []string, path string) bool {
	for _, u := range rules {
		if u == rbacv1.NonResourceAll || u == path {
			return true
		}
		if strings.HasSuffix(u, "*") && strings.HasPrefix(path, strings.TrimRight(u, "*")) {
			return true
		}
	}
	return false
}
