package codec

import (
	"fmt"
	"mime"
	"sort"
	"strconv"
	"strings"
)

// Target is the response form a client asked for.
type Target struct {
	// MediaType is JSON, YAML or Protobuf.
	MediaType string
	// As is "" for the object itself, or "Table", "PartialObjectMetadata",
	// "PartialObjectMetadataList" (meta.k8s.io/v1 transformations).
	As string
}

// NotAcceptableError: no media type in Accept is one the server writes.
type NotAcceptableError struct{ Accept string }

func (e *NotAcceptableError) Error() string {
	return fmt.Sprintf("only the following media types are accepted: application/json, application/yaml; the request asked for %q", e.Accept)
}

// Negotiate chooses the response form for an Accept header, honouring q
// values and the order of equal ones. Protobuf is chosen only if
// allowProtobuf (not for tables); CBOR never: clients that also accept JSON
// get JSON, others a NotAcceptableError.
func Negotiate(accept string, allowProtobuf bool) (Target, error) {
	if strings.TrimSpace(accept) == "" {
		return Target{MediaType: JSON}, nil
	}
	type cand struct {
		t   Target
		q   float64
		pos int
	}
	var cands []cand
	for i, part := range strings.Split(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		q := 1.0
		if qs, ok := params["q"]; ok {
			if v, err := strconv.ParseFloat(qs, 64); err == nil {
				q = v
			}
		}
		if q <= 0 {
			continue
		}
		var t Target
		switch mt {
		case JSON, "application/*", "*/*", "application/json-seq":
			t.MediaType = JSON
		case YAML:
			t.MediaType = YAML
		case Protobuf:
			if !allowProtobuf {
				continue
			}
			t.MediaType = Protobuf
		default:
			continue
		}
		if as := params["as"]; as != "" {
			if params["g"] != "meta.k8s.io" || params["v"] != "v1" {
				continue
			}
			switch as {
			case "Table":
				if t.MediaType == Protobuf {
					continue
				}
				t.As = as
			case "PartialObjectMetadata", "PartialObjectMetadataList":
				t.As = as
			default:
				continue
			}
		}
		cands = append(cands, cand{t, q, i})
	}
	if len(cands) == 0 {
		return Target{}, &NotAcceptableError{Accept: accept}
	}
	sort.SliceStable(cands, func(i, j int) bool { return cands[i].q > cands[j].q })
	return cands[0].t, nil
}
