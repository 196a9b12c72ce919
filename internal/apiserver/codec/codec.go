// Package codec is the decode and encode stages of the API server's
// pipeline: it turns request bodies (JSON or YAML, strict or not) into typed
// objects, chooses the response media type from the Accept header, encodes
// responses, and provides the protobuf codec objects are kept in etcd with.
// Only internal/apiserver imports it.
package codec

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime"
	"strings"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	serializerjson "k8s.io/apimachinery/pkg/runtime/serializer/json"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
	"sigs.k8s.io/yaml"
)

// Media types the server understands.
const (
	JSON           = "application/json"
	YAML           = "application/yaml"
	Protobuf       = "application/vnd.kubernetes.protobuf"
	JSONPatch      = "application/json-patch+json"
	MergePatch     = "application/merge-patch+json"
	StrategicPatch = "application/strategic-merge-patch+json"
	ApplyPatch     = "application/apply-patch+yaml"
	CBOR           = "application/cbor"
)

// Codecs decodes and encodes the scheme's types.
type Codecs struct {
	scheme     *runtime.Scheme
	json       *serializerjson.Serializer
	jsonStrict *serializerjson.Serializer
	yaml       *serializerjson.Serializer
	yamlStrict *serializerjson.Serializer
	proto      *protobuf.Serializer
}

// New returns codecs for scheme's types.
func New(scheme *runtime.Scheme) *Codecs {
	mk := func(yaml, strict bool) *serializerjson.Serializer {
		return serializerjson.NewSerializerWithOptions(serializerjson.DefaultMetaFactory, scheme, scheme,
			serializerjson.SerializerOptions{Yaml: yaml, Strict: strict})
	}
	return &Codecs{
		scheme: scheme, json: mk(false, false), jsonStrict: mk(false, true),
		yaml: mk(true, false), yamlStrict: mk(true, true),
		proto: protobuf.NewSerializer(scheme, scheme),
	}
}

// Scheme returns the scheme.
func (c *Codecs) Scheme() *runtime.Scheme { return c.scheme }

// DecodeError is a body that could not be decoded: the API's 400, or 415
// for a media type the server does not read.
type DecodeError struct {
	Unsupported bool
	Msg         string
}

func (e *DecodeError) Error() string { return e.Msg }

// Decode decodes a request body of media type contentType into a new
// object of kind gvk (whose apiVersion and kind the body may omit). With
// strict, unknown and duplicate fields are returned in fieldErrs (the
// object is still decoded); without, they are ignored.
func (c *Codecs) Decode(contentType string, body []byte, gvk schema.GroupVersionKind, strict bool) (obj runtime.Object, fieldErrs []string, err error) {
	mt := MediaType(contentType)
	var s *serializerjson.Serializer
	switch mt {
	case Protobuf:
		return c.decodeProto(body, gvk)
	case JSON, "", MergePatch, StrategicPatch, JSONPatch:
		s = c.json
		if strict {
			s = c.jsonStrict
		}
	case YAML, ApplyPatch:
		s = c.yaml
		if strict {
			s = c.yamlStrict
		}
	default:
		return nil, nil, &DecodeError{Unsupported: true, Msg: fmt.Sprintf("the body of the request was in an unknown format - accepted media types include: application/json, application/yaml; got %q", contentType)}
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, nil, &DecodeError{Msg: "the body of the request is empty"}
	}
	into, err := c.scheme.New(gvk)
	if err != nil {
		return nil, nil, fmt.Errorf("creating %v: %w", gvk, err)
	}
	out, actual, err := s.Decode(body, &gvk, into)
	if err != nil {
		if se, ok := runtime.AsStrictDecodingError(err); ok && out != nil {
			for _, e := range se.Errors() {
				fieldErrs = append(fieldErrs, e.Error())
			}
		} else {
			return nil, nil, &DecodeError{Msg: decodeMessage(err)}
		}
	}
	if actual != nil && *actual != gvk {
		if actual.GroupVersion() != gvk.GroupVersion() {
			return nil, nil, &DecodeError{Msg: fmt.Sprintf("the API version in the data (%s) does not match the expected API version (%s)", actual.GroupVersion(), gvk.GroupVersion())}
		}
		return nil, nil, &DecodeError{Msg: fmt.Sprintf("the kind in the data (%s) does not match the expected kind (%s)", actual.Kind, gvk.Kind)}
	}
	if out != into {
		return nil, nil, &DecodeError{Msg: fmt.Sprintf("the body does not describe a %s", gvk.Kind)}
	}
	out.GetObjectKind().SetGroupVersionKind(gvk)
	return out, fieldErrs, nil
}

// decodeMessage words a decoding error the way Kubernetes does.
func (c *Codecs) decodeProto(body []byte, gvk schema.GroupVersionKind) (runtime.Object, []string, error) {
	into, err := c.scheme.New(gvk)
	if err != nil {
		return nil, nil, fmt.Errorf("creating %v: %w", gvk, err)
	}
	out, actual, err := c.proto.Decode(body, &gvk, into)
	if err != nil {
		return nil, nil, &DecodeError{Msg: "the object provided is unrecognized or malformed: " + err.Error()}
	}
	if actual != nil && *actual != gvk {
		return nil, nil, &DecodeError{Msg: fmt.Sprintf("the kind in the data (%s) does not match the expected kind (%s)", actual, gvk)}
	}
	if out != into {
		return nil, nil, &DecodeError{Msg: fmt.Sprintf("the body does not describe a %s", gvk.Kind)}
	}
	out.GetObjectKind().SetGroupVersionKind(gvk)
	return out, nil, nil
}

func decodeMessage(err error) string {
	msg := err.Error()
	if strings.HasPrefix(msg, "Object 'Kind' is missing") || strings.HasPrefix(msg, "Object 'apiVersion' is missing") {
		return msg
	}
	return "the object provided is unrecognized or malformed: " + msg
}

// DecodeInto decodes a JSON or YAML body into a given object of a type the
// scheme may not know (options, patches); unknown fields are ignored.
func DecodeInto(contentType string, body []byte, into any) error {
	if MediaType(contentType) == Protobuf || bytes.HasPrefix(body, protoMagic) {
		u, ok := into.(interface{ Unmarshal([]byte) error })
		if !ok || !bytes.HasPrefix(body, protoMagic) {
			return &DecodeError{Msg: "the body is not a protobuf object this request accepts"}
		}
		var env runtime.Unknown
		if err := env.Unmarshal(body[len(protoMagic):]); err != nil {
			return &DecodeError{Msg: "the body is not valid protobuf: " + err.Error()}
		}
		if err := u.Unmarshal(env.Raw); err != nil {
			return &DecodeError{Msg: "the body is not valid protobuf: " + err.Error()}
		}
		if tm, ok := into.(interface{ SetGroupVersionKind(schema.GroupVersionKind) }); ok {
			tm.SetGroupVersionKind(schema.FromAPIVersionAndKind(env.APIVersion, env.Kind))
		}
		return nil
	}
	data := body
	if mt := MediaType(contentType); mt == YAML || mt == ApplyPatch {
		var err error
		if data, err = yaml.YAMLToJSON(body); err != nil {
			return &DecodeError{Msg: "the body is not valid YAML: " + err.Error()}
		}
	}
	if err := json.Unmarshal(data, into); err != nil {
		return &DecodeError{Msg: "the body is not valid JSON: " + err.Error()}
	}
	return nil
}

// MediaType returns the media type of a Content-Type value, without
// parameters, lower-cased.
func MediaType(contentType string) string {
	if contentType == "" {
		return ""
	}
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return strings.ToLower(strings.TrimSpace(strings.SplitN(contentType, ";", 2)[0]))
	}
	return mt
}

// StorageCodec encodes objects for etcd as Kubernetes does: protobuf with
// the "k8s\x00" envelope naming the type.
type StorageCodec struct{ c *Codecs }

// Storage returns the etcd codec.
func (c *Codecs) Storage() StorageCodec { return StorageCodec{c} }

// Encode encodes obj, whose apiVersion and kind must be set.
func (s StorageCodec) Encode(obj runtime.Object) ([]byte, error) {
	var b bytes.Buffer
	if err := s.c.proto.Encode(obj, &b); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// Decode decodes data into into and sets into's apiVersion and kind.
func (s StorageCodec) Decode(data []byte, into runtime.Object) error {
	kinds, _, err := s.c.scheme.ObjectKinds(into)
	if err != nil {
		return err
	}
	out, _, err := s.c.proto.Decode(data, &kinds[0], into)
	if err != nil {
		return err
	}
	if out != into {
		return fmt.Errorf("stored object is a %T, want %T", out, into)
	}
	into.GetObjectKind().SetGroupVersionKind(kinds[0])
	return nil
}
