package codec_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"

	"github.com/podvisor/podvisor/internal/apiserver/codec"
	"github.com/podvisor/podvisor/internal/registry"
)

func newCodecs(t *testing.T) *codec.Codecs {
	t.Helper()
	s, err := registry.NewScheme()
	if err != nil {
		t.Fatal(err)
	}
	return codec.New(s)
}

var podGVK = corev1.SchemeGroupVersion.WithKind("Pod")

func TestDecode(t *testing.T) {
	c := newCodecs(t)
	tests := []struct {
		name        string
		ct, body    string
		strict      bool
		wantErr     bool
		unsupported bool
		wantFields  []string
	}{
		{"json", "application/json", `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"}}`, false, false, false, nil},
		{"kind may be omitted", "application/json", `{"metadata":{"name":"p"}}`, false, false, false, nil},
		{"yaml", "application/yaml", "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n", false, false, false, nil},
		{"unknown field, strict", "application/json", `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"x":1}}`, true, false, false, []string{`unknown field "spec.x"`}},
		{"unknown field, not strict", "application/json", `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"x":1}}`, false, false, false, nil},
		{"duplicate field, strict", "application/json", `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","name":"p"}}`, true, false, false, []string{`duplicate field "metadata.name"`}},
		{"malformed", "application/json", `{"apiVersion":`, false, true, false, nil},
		{"empty", "application/json", ` `, false, true, false, nil},
		{"wrong group", "application/json", `{"apiVersion":"apps/v1","kind":"Pod"}`, false, true, false, nil},
		{"wrong kind", "application/json", `{"apiVersion":"v1","kind":"Node"}`, false, true, false, nil},
		{"unsupported type", "text/plain", `x`, false, true, true, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			obj, fields, err := c.Decode(tc.ct, []byte(tc.body), podGVK, tc.strict)
			if tc.wantErr {
				var de *codec.DecodeError
				if !errors.As(err, &de) || de.Unsupported != tc.unsupported {
					t.Fatalf("got %v, want DecodeError (unsupported=%v)", err, tc.unsupported)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p := obj.(*corev1.Pod); p.Name != "p" || p.Kind != "Pod" || p.APIVersion != "v1" {
				t.Errorf("decoded %+v", p.TypeMeta)
			}
			if diff := cmp.Diff(tc.wantFields, fields); diff != "" {
				t.Errorf("field problems (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNegotiate(t *testing.T) {
	tests := []struct {
		accept  string
		proto   bool
		want    codec.Target
		wantErr bool
	}{
		{"", true, codec.Target{MediaType: codec.JSON}, false},
		{"*/*", true, codec.Target{MediaType: codec.JSON}, false},
		{"application/yaml", true, codec.Target{MediaType: codec.YAML}, false},
		{"application/vnd.kubernetes.protobuf, application/json", true, codec.Target{MediaType: codec.Protobuf}, false},
		{"application/vnd.kubernetes.protobuf, application/json", false, codec.Target{MediaType: codec.JSON}, false},
		{"application/vnd.kubernetes.protobuf", false, codec.Target{}, true},
		{"application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json", true, codec.Target{MediaType: codec.JSON, As: "Table"}, false},
		{"application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json", true, codec.Target{MediaType: codec.JSON}, false},
		{"application/vnd.kubernetes.protobuf;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json", true, codec.Target{MediaType: codec.Protobuf, As: "PartialObjectMetadataList"}, false},
		{"application/json;q=0.5, application/yaml", true, codec.Target{MediaType: codec.YAML}, false},
		{"text/html", true, codec.Target{}, true},
		{"application/cbor", true, codec.Target{}, true},
	}
	for _, tc := range tests {
		got, err := codec.Negotiate(tc.accept, tc.proto)
		if (err != nil) != tc.wantErr {
			t.Errorf("Negotiate(%q, %v) error %v, want error %v", tc.accept, tc.proto, err, tc.wantErr)
			continue
		}
		if got != tc.want {
			t.Errorf("Negotiate(%q, %v) = %+v, want %+v", tc.accept, tc.proto, got, tc.want)
		}
	}
}

// TestProtoList checks that a list assembled from items' messages decodes
// with the stock protobuf serializer, as clients decode it.
func TestProtoList(t *testing.T) {
	s, _ := registry.NewScheme()
	var items [][]byte
	for _, name := range []string{"a", "b"} {
		raw, err := codec.ProtoRaw(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"x": name}}})
		if err != nil {
			t.Fatal(err)
		}
		items = append(items, raw)
	}
	lm := metav1.ListMeta{ResourceVersion: "42", Continue: "tok"}
	raw, err := codec.ProtoList(&lm, items)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := codec.WrapProto(corev1.SchemeGroupVersion.WithKind("PodList"), raw)
	if err != nil {
		t.Fatal(err)
	}
	obj, _, err := protobuf.NewSerializer(s, s).Decode(doc, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	l := obj.(*corev1.PodList)
	if l.ResourceVersion != "42" || l.Continue != "tok" || len(l.Items) != 2 || l.Items[1].Name != "b" || l.Items[1].Labels["x"] != "b" {
		t.Errorf("decoded list %+v", l)
	}
	// Storage round trip sets the type.
	sc := codec.New(s).Storage()
	data, err := sc.Encode(&corev1.Pod{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"}, ObjectMeta: metav1.ObjectMeta{Name: "p"}})
	if err != nil {
		t.Fatal(err)
	}
	var p corev1.Pod
	if err := sc.Decode(data, &p); err != nil || p.Name != "p" || p.Kind != "Pod" || p.APIVersion != "v1" {
		t.Errorf("storage round trip: %v %+v", err, p)
	}
}

func TestWriteProtoListMatchesAssembled(t *testing.T) {
	var items [][]byte
	for _, name := range []string{"a", "b", "c"} {
		raw, _ := codec.ProtoRaw(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}})
		items = append(items, raw)
	}
	lm := metav1.ListMeta{ResourceVersion: "7"}
	gvk := corev1.SchemeGroupVersion.WithKind("PodList")
	var b bytes.Buffer
	if err := codec.WriteProtoList(&b, gvk, &lm, items); err != nil {
		t.Fatal(err)
	}
	s, _ := registry.NewScheme()
	obj, _, err := protobuf.NewSerializer(s, s).Decode(b.Bytes(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if l := obj.(*corev1.PodList); len(l.Items) != 3 || l.Items[2].Name != "c" || l.ResourceVersion != "7" {
		t.Errorf("streamed list decodes to %+v", l)
	}
}
