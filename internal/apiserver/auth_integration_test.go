//go:build integration

package apiserver_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/podvisor/podvisor/internal/server"
	"github.com/podvisor/podvisor/internal/testutil/servertest"
)

// TestServiceAccountTokensAndRBAC issues a token for a service account,
// uses it, and grants it access through RBAC.
func TestServiceAccountTokensAndRBAC(t *testing.T) {
	s := servertest.Start(t, server.Config{})
	c := s.Client
	ctx := context.Background()
	n := ns(t, c)
	if _, err := c.CoreV1().ServiceAccounts(n).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "robot"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	tr, err := c.CoreV1().ServiceAccounts(n).CreateToken(ctx, "robot", &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("TokenRequest: %v", err)
	}
	rc := rest.AnonymousClientConfig(s.RESTConfig)
	rc.BearerToken = tr.Status.Token
	robot, err := kubernetes.NewForConfig(rc)
	if err != nil {
		t.Fatal(err)
	}
	review, err := robot.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("self subject review with the token: %v", err)
	}
	if want := "system:serviceaccount:" + n + ":robot"; review.Status.UserInfo.Username != want {
		t.Errorf("token authenticates as %q, want %q", review.Status.UserInfo.Username, want)
	}
	if _, err := robot.CoreV1().ConfigMaps(n).List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("before the binding: got %v, want 403", err)
	}
	rb := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "robot-view"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "view"},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "robot", Namespace: n}}}
	if _, err := c.RbacV1().RoleBindings(n).Create(ctx, rb, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the binding takes effect", func() error {
		_, err := robot.CoreV1().ConfigMaps(n).List(ctx, metav1.ListOptions{})
		return err
	})
	if _, err := robot.CoreV1().ConfigMaps(n).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "x"}}, metav1.CreateOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("view may not create: got %v, want 403", err)
	}
	// The robot may not grant itself more than it has.
	esc := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "robot-admin"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "cluster-admin"},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "robot", Namespace: n}}}
	if _, err := robot.RbacV1().RoleBindings(n).Create(ctx, esc, metav1.CreateOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("escalating binding: got %v, want 403", err)
	}
	// Access reviews answer for others and for oneself.
	sar, err := c.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User: "system:serviceaccount:" + n + ":robot", Groups: []string{"system:serviceaccounts"},
		ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: n, Verb: "get", Resource: "configmaps"}}}, metav1.CreateOptions{})
	if err != nil || !sar.Status.Allowed {
		t.Errorf("SubjectAccessReview: %v allowed=%v, want allowed", err, sar != nil && sar.Status.Allowed)
	}
	ssar, err := robot.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{
		ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: n, Verb: "delete", Resource: "configmaps"}}}, metav1.CreateOptions{})
	if err != nil || ssar.Status.Allowed {
		t.Errorf("SelfSubjectAccessReview: %v allowed=%v, want denied", err, ssar != nil && ssar.Status.Allowed)
	}
	tok, err := c.AuthenticationV1().TokenReviews().Create(ctx, &authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: tr.Status.Token}}, metav1.CreateOptions{})
	if err != nil || !tok.Status.Authenticated {
		t.Errorf("TokenReview: %v %+v, want authenticated", err, tok)
	}
	// Deleting the account revokes its tokens.
	if err := c.CoreV1().ServiceAccounts(n).Delete(ctx, "robot", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "token of a deleted account stops working", func() error {
		_, err := robot.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
		if apierrors.IsUnauthorized(err) {
			return nil
		}
		return fmt.Errorf("still answered: %v", err)
	})
}

// TestTokenFile authenticates with a static token from --token-file.
func TestTokenFile(t *testing.T) {
	dir := t.TempDir()
	tf := filepath.Join(dir, "tokens.csv")
	if err := os.WriteFile(tf, []byte("s3cret-token,alice,uid-1,\"ops,devs\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := servertest.Start(t, server.Config{TokenFile: tf})
	rc := rest.AnonymousClientConfig(s.RESTConfig)
	rc.BearerToken = "s3cret-token"
	alice, err := kubernetes.NewForConfig(rc)
	if err != nil {
		t.Fatal(err)
	}
	r, err := alice.AuthenticationV1().SelfSubjectReviews().Create(context.Background(), &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if u := r.Status.UserInfo; u.Username != "alice" || len(u.Groups) < 2 || u.Groups[0] != "ops" {
		t.Errorf("token file user: %+v", u)
	}
	rc.BearerToken = "wrong"
	bad, _ := kubernetes.NewForConfig(rc)
	if _, err := bad.CoreV1().Pods("default").List(context.Background(), metav1.ListOptions{}); !apierrors.IsUnauthorized(err) {
		t.Errorf("unknown token: got %v, want 401", err)
	}
}
