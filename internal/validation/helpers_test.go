package validation

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// errKey renders an error as "Type path", e.g. "Required value spec.containers[0].image".
func errKey(e *field.Error) string {
	return fmt.Sprintf("%s %s", e.Type, e.Field)
}

// keys renders an error list sorted.
func keys(errs field.ErrorList) []string {
	out := make([]string, 0, len(errs))
	for _, e := range errs {
		out = append(out, errKey(e))
	}
	sort.Strings(out)
	return out
}

// want builds expected keys from (type, path) pairs.
func want(pairs ...any) []string {
	if len(pairs)%2 != 0 {
		panic("want needs (type, path) pairs")
	}
	out := []string{}
	for i := 0; i < len(pairs); i += 2 {
		out = append(out, fmt.Sprintf("%s %s", pairs[i].(field.ErrorType), pairs[i+1].(string)))
	}
	sort.Strings(out)
	return out
}

// checkErrs compares an error list with the expected keys; nil or empty
// expected means valid.
func checkErrs(t *testing.T, errs field.ErrorList, expected []string) {
	t.Helper()
	got := keys(errs)
	if expected == nil {
		expected = []string{}
	}
	if diff := cmp.Diff(expected, got); diff != "" {
		t.Errorf("errors mismatch (-want +got):\n%s\nfull errors:\n%s", diff, render(errs))
	}
}

func render(errs field.ErrorList) string {
	var b strings.Builder
	for _, e := range errs {
		b.WriteString("  " + e.Error() + "\n")
	}
	return b.String()
}

// Short names for error types in tables.
const (
	required     = field.ErrorTypeRequired
	invalid      = field.ErrorTypeInvalid
	notSupported = field.ErrorTypeNotSupported
	forbidden    = field.ErrorTypeForbidden
	duplicate    = field.ErrorTypeDuplicate
	notFound     = field.ErrorTypeNotFound
	tooLong      = field.ErrorTypeTooLong
	tooMany      = field.ErrorTypeTooMany
)

func ptr[T any](v T) *T { return &v }
