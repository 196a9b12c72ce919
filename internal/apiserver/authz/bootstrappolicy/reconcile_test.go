package bootstrappolicy

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestReconcileClusterRole(t *testing.T) {
	readPods := verbs("get", "list").on("pods").in(core)
	writePods := verbs("create").on("pods").in(core)
	readAll := verbs("*").on("*").in("*")
	want := &rbacv1.ClusterRole{ObjectMeta: meta("r", map[string]string{"team": "core"}), Rules: []rbacv1.PolicyRule{readPods, writePods}}
	withRules := func(annotations map[string]string, rules ...rbacv1.PolicyRule) *rbacv1.ClusterRole {
		return &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "r", ResourceVersion: "7", Labels: map[string]string{"team": "mine"}, Annotations: annotations}, Rules: rules}
	}
	tests := []struct {
		name       string
		have       *rbacv1.ClusterRole
		wantAction Action
		wantRules  []rbacv1.PolicyRule
		wantLabels map[string]string
	}{
		{name: "missing", have: nil, wantAction: Create, wantRules: []rbacv1.PolicyRule{readPods, writePods},
			wantLabels: map[string]string{BootstrappingLabel: BootstrappingValue, "team": "core"}},
		{name: "missing rule added, admin's rule and label kept", have: withRules(nil, readPods, verbs("get").on("secrets").in(core)), wantAction: Update,
			wantRules:  []rbacv1.PolicyRule{readPods, verbs("get").on("secrets").in(core), writePods},
			wantLabels: map[string]string{BootstrappingLabel: BootstrappingValue, "team": "mine"}},
		{name: "covered by a broader rule", have: withRules(map[string]string{rbacv1.AutoUpdateAnnotationKey: "true"}, readAll), wantAction: Update,
			wantRules:  []rbacv1.PolicyRule{readAll},
			wantLabels: map[string]string{BootstrappingLabel: BootstrappingValue, "team": "mine"}},
		{name: "opted out", have: withRules(map[string]string{rbacv1.AutoUpdateAnnotationKey: "false"}), wantAction: Keep,
			wantLabels: map[string]string{"team": "mine"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, action := ReconcileClusterRole(tc.have, want)
			if action != tc.wantAction {
				t.Fatalf("action = %v, want %v", action, tc.wantAction)
			}
			if diff := cmp.Diff(tc.wantRules, got.Rules); diff != "" {
				t.Errorf("rules (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantLabels, got.Labels); diff != "" {
				t.Errorf("labels (-want +got):\n%s", diff)
			}
			if tc.have != nil && tc.wantAction == Update && got.ResourceVersion != "7" {
				t.Errorf("resourceVersion = %q, want the existing one for the update", got.ResourceVersion)
			}
		})
	}
	// Reconciling the result again is a no-op.
	first, _ := ReconcileClusterRole(withRules(nil, readPods), want)
	if _, action := ReconcileClusterRole(first, want); action != Keep {
		t.Errorf("second reconcile action = %v, want keep", action)
	}
	// A narrower named rule does not cover an unrestricted one.
	named := verbs("get", "list").on("pods").in(core)
	named.ResourceNames = []string{"one"}
	if _, action := ReconcileClusterRole(withRules(map[string]string{rbacv1.AutoUpdateAnnotationKey: "true"}, named, writePods), want); action != Update {
		t.Errorf("rule limited to a name counted as covering all names")
	}
}

func TestReconcileAggregatedRole(t *testing.T) {
	var want *rbacv1.ClusterRole
	for _, r := range ClusterRoles() {
		if r.Name == "edit" {
			want = r
		}
	}
	// Existing aggregated rules are the aggregator's business; an extra
	// selector an administrator added stays.
	extra := metav1.LabelSelector{MatchLabels: map[string]string{"mine": "true"}}
	have := want.DeepCopy()
	have.AggregationRule.ClusterRoleSelectors = []metav1.LabelSelector{extra}
	have.Rules = []rbacv1.PolicyRule{verbs("get").on("pods").in(core)}
	got, action := ReconcileClusterRole(have, want)
	if action != Update {
		t.Fatalf("action = %v, want update", action)
	}
	wantSel := []metav1.LabelSelector{extra, want.AggregationRule.ClusterRoleSelectors[0]}
	if diff := cmp.Diff(wantSel, got.AggregationRule.ClusterRoleSelectors); diff != "" {
		t.Errorf("selectors (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(have.Rules, got.Rules); diff != "" {
		t.Errorf("rules changed (-want +got):\n%s", diff)
	}
}

func TestReconcileClusterRoleBinding(t *testing.T) {
	want := binding("system:kube-scheduler", user("system:kube-scheduler"))
	tests := []struct {
		name         string
		have         *rbacv1.ClusterRoleBinding
		wantAction   Action
		wantSubjects []rbacv1.Subject
	}{
		{"missing", nil, Create, []rbacv1.Subject{user("system:kube-scheduler")}},
		{"same", want.DeepCopy(), Keep, []rbacv1.Subject{user("system:kube-scheduler")}},
		{"missing subject added, extra kept", &rbacv1.ClusterRoleBinding{ObjectMeta: meta("system:kube-scheduler", nil), RoleRef: want.RoleRef, Subjects: []rbacv1.Subject{user("other")}},
			Update, []rbacv1.Subject{user("other"), user("system:kube-scheduler")}},
		{"other role", &rbacv1.ClusterRoleBinding{ObjectMeta: meta("system:kube-scheduler", nil), RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "view"}},
			Recreate, []rbacv1.Subject{user("system:kube-scheduler")}},
		{"opted out", &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "system:kube-scheduler", Annotations: map[string]string{rbacv1.AutoUpdateAnnotationKey: "false"}}, RoleRef: want.RoleRef},
			Keep, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, action := ReconcileClusterRoleBinding(tc.have, want)
			if action != tc.wantAction {
				t.Fatalf("action = %v, want %v", action, tc.wantAction)
			}
			if diff := cmp.Diff(tc.wantSubjects, got.Subjects); diff != "" {
				t.Errorf("subjects (-want +got):\n%s", diff)
			}
			if action == Recreate && got.RoleRef != want.RoleRef {
				t.Errorf("recreated roleRef = %+v, want %+v", got.RoleRef, want.RoleRef)
			}
		})
	}
}
