package apiserver

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/duration"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/podvisor/podvisor/internal/printers"
	"github.com/podvisor/podvisor/internal/registry"
)

// table renders obj (or, if obj is nil, objs) as a meta.k8s.io/v1 Table for
// `kubectl get`, with each row's object as includeObject asks.
func (s *Server) table(r *http.Request, res *resource, obj runtime.Object, objs []runtime.Object) (*metav1.Table, error) {
	include := metav1.IncludeObjectPolicy(r.URL.Query().Get("includeObject"))
	switch include {
	case "":
		include = metav1.IncludeMetadata
	case metav1.IncludeNone, metav1.IncludeMetadata, metav1.IncludeObject:
	default:
		return nil, apierrors.NewBadRequest(fmt.Sprintf("includeObject: unsupported value %q", include))
	}
	if obj != nil {
		objs = []runtime.Object{obj}
	}
	now := s.now()
	var tbl *metav1.Table
	for _, o := range objs {
		t, err := s.rows(res, o, now)
		if err != nil {
			return nil, err
		}
		if tbl == nil {
			tbl = t
		} else {
			tbl.Rows = append(tbl.Rows, t.Rows...)
		}
	}
	if tbl == nil {
		// No objects: the columns of an empty object.
		t, err := s.rows(res, res.store.Strategy().New(), now)
		if err != nil {
			return nil, err
		}
		tbl = t
		tbl.Rows = nil
	}
	tbl.Kind, tbl.APIVersion = "Table", "meta.k8s.io/v1"
	if tbl.Rows == nil {
		tbl.Rows = []metav1.TableRow{}
	}
	for i := range tbl.Rows {
		if i >= len(objs) {
			break
		}
		switch include {
		case metav1.IncludeMetadata:
			pom, err := partialMetadata(objs[i])
			if err != nil {
				return nil, err
			}
			tbl.Rows[i].Object = runtime.RawExtension{Object: pom}
		case metav1.IncludeObject:
			tbl.Rows[i].Object = runtime.RawExtension{Object: objs[i]}
		default:
			tbl.Rows[i].Object = runtime.RawExtension{}
		}
	}
	return tbl, nil
}

// rows renders one object: the strategy's own printer, else the shared
// printers, else name and age.
func (s *Server) rows(res *resource, obj runtime.Object, now time.Time) (*metav1.Table, error) {
	if t, ok := res.store.Strategy().(registry.Tabler); ok {
		return t.Table(obj, now)
	}
	t, err := printers.Table(obj, now)
	if errors.Is(err, printers.ErrUnsupported) {
		return defaultTable(obj, now)
	}
	return t, err
}

var defaultColumns = []metav1.TableColumnDefinition{
	{Name: "Name", Type: "string", Format: "name", Description: metav1.ObjectMeta{}.SwaggerDoc()["name"]},
	{Name: "Age", Type: "string", Description: metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"]},
}

func defaultTable(obj runtime.Object, now time.Time) (*metav1.Table, error) {
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil, err
	}
	age := "<unknown>"
	if ts := m.GetCreationTimestamp(); !ts.IsZero() {
		age = duration.HumanDuration(now.Sub(ts.Time))
	}
	return &metav1.Table{
		ColumnDefinitions: defaultColumns,
		Rows:              []metav1.TableRow{{Cells: []any{m.GetName(), age}}},
	}, nil
}
