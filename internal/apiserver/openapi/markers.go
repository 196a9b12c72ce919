package openapi

import (
	"strings"

	"k8s.io/kube-openapi/pkg/validation/spec"
)

// marker is what k8s.io/api's comment markers say about one field (or, under
// the field name "", about the type itself) beyond what reflection sees:
// +listType/+listMapKey, +mapType/+structType and +default.
type marker struct {
	// ListType is "atomic", "set" or "map" for a list field.
	ListType string
	// ListMapKeys are the keys of a "map" list.
	ListMapKeys []string
	// MapType is "atomic" or "granular" for a map or struct.
	MapType string
	// Default is the field's default value, if HasDefault.
	Default    interface{}
	HasDefault bool
	// Optional marks a field that is always serialized (no omitempty) but
	// documented +optional; Required one that is omitempty but +required.
	Optional, Required bool
}

// apply adds the marker's extensions and default to a property schema.
func (m marker) apply(s *spec.Schema) {
	if m.ListType != "" {
		addExtension(s, extListType, m.ListType)
		if len(m.ListMapKeys) > 0 {
			keys := make([]interface{}, len(m.ListMapKeys))
			for i, k := range m.ListMapKeys {
				keys[i] = k
			}
			addExtension(s, extListMapKeys, keys)
		}
	}
	if m.MapType != "" {
		addExtension(s, extMapType, m.MapType)
	}
	if m.HasDefault {
		s.Default = m.Default
	}
}

// enum is what k8s.io/api says of a +enum string type: the values of its
// constants and their documentation.
type enum struct {
	// Values are the constants' values, sorted as Go-quoted strings.
	Values []string
	// Docs are the lines Kubernetes appends to the description of a field
	// of the type, one per value: " - `"Always"` means ...", sorted.
	Docs []string
}

// describe appends the enum's values to a field description, the way
// Kubernetes' openapi-gen does.
func (e enum) describe(description string) string {
	if len(e.Docs) == 0 {
		return description
	}
	return description + "\n\nPossible enum values:\n" + strings.Join(e.Docs, "\n")
}

// enumValues returns the values as a schema's enum list.
func (e enum) enumValues() []interface{} {
	out := make([]interface{}, len(e.Values))
	for i, v := range e.Values {
		out[i] = v
	}
	return out
}
