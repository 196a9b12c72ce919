package printers

import (
	"strings"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	rbacv1beta1 "k8s.io/api/rbac/v1beta1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// roleBindingColumns are the columns of role bindings and cluster role
// bindings; kind names which in the descriptions.
func roleBindingColumns(kind string) []metav1.TableColumnDefinition {
	role := rbacv1beta1.RoleBinding{}.SwaggerDoc()["roleRef"]
	if kind == "clusterRoleBinding" {
		role = rbacv1beta1.ClusterRoleBinding{}.SwaggerDoc()["roleRef"]
	}
	return []metav1.TableColumnDefinition{
		nameColumn(),
		column("Role", "string", role),
		ageColumn(),
		wide(column("Users", "string", "Users in the "+kind)),
		wide(column("Groups", "string", "Groups in the "+kind)),
		wide(column("ServiceAccounts", "string", "ServiceAccounts in the "+kind)),
	}
}

// subjects splits binding subjects into users, groups and service accounts
// (namespace/name).
func subjects(ss []rbacv1.Subject) (users, groups, sas string) {
	var u, g, s []string
	for _, sub := range ss {
		switch sub.Kind {
		case rbacv1.ServiceAccountKind:
			s = append(s, sub.Namespace+"/"+sub.Name)
		case rbacv1.UserKind:
			u = append(u, sub.Name)
		case rbacv1.GroupKind:
			g = append(g, sub.Name)
		}
	}
	return strings.Join(u, ", "), strings.Join(g, ", "), strings.Join(s, ", ")
}

func roleBindingRow(b *rbacv1.RoleBinding, now time.Time) metav1.TableRow {
	users, groups, sas := subjects(b.Subjects)
	return cells(b.Name, b.RoleRef.Kind+"/"+b.RoleRef.Name, age(b.CreationTimestamp, now), users, groups, sas)
}

func clusterRoleBindingRow(b *rbacv1.ClusterRoleBinding, now time.Time) metav1.TableRow {
	users, groups, sas := subjects(b.Subjects)
	return cells(b.Name, b.RoleRef.Kind+"/"+b.RoleRef.Name, age(b.CreationTimestamp, now), users, groups, sas)
}
