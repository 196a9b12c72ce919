package apiserver

import (
	"reflect"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"

	"github.com/podvisor/podvisor/internal/registry"
	"github.com/podvisor/podvisor/internal/validation"
)

// TestStrategiesAreConsistent checks every strategy against the scheme and
// the shared contract.
func TestStrategiesAreConsistent(t *testing.T) {
	scheme, err := registry.NewScheme()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, st := range strategies(validation.ServiceOptions{}) {
		info := st.Info()
		t.Run(info.GroupResource().String(), func(t *testing.T) {
			if seen[info.GroupResource().String()] {
				t.Fatalf("resource served twice")
			}
			seen[info.GroupResource().String()] = true
			obj, list := st.New(), st.NewList()
			if got := reflect.TypeOf(obj).Elem().Name(); got != info.Kind {
				t.Errorf("New() is a %s, Info says %s", got, info.Kind)
			}
			if got := reflect.TypeOf(list).Elem().Name(); got != info.Kind+"List" {
				t.Errorf("NewList() is a %s, want %sList", got, info.Kind)
			}
			if !scheme.Recognizes(info.GVK()) || !scheme.Recognizes(info.ListGVK()) {
				t.Errorf("scheme does not know %v", info.GVK())
			}
			if !meta.IsListType(list) {
				t.Errorf("NewList() is not a list")
			}
			_, fields, err := st.Attrs(obj)
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := fields["metadata.name"]; !ok {
				t.Errorf("Attrs lacks metadata.name: %v", fields)
			}
			if _, ok := fields["metadata.namespace"]; !ok {
				t.Errorf("Attrs lacks metadata.namespace: %v", fields)
			}
			if errs := st.Validate(st.New()); len(errs) == 0 {
				t.Errorf("an empty object (no name) validates")
			}
			ss, isStatus := st.(registry.StatusStrategy)
			isStatus = isStatus && ss.HasStatusSubresource()
			if isStatus != hasStatusField(obj) && info.Resource != "namespaces" && info.Resource != "nodes" {
				t.Errorf("status subresource %v but object status field %v", isStatus, hasStatusField(obj))
			}
		})
	}
}

func hasStatusField(obj any) bool {
	f, ok := reflect.TypeOf(obj).Elem().FieldByName("Status")
	return ok && f.Type.Kind() == reflect.Struct
}
