package codec

import (
	"encoding/binary"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// protoMagic starts every Kubernetes protobuf document.
var protoMagic = []byte{0x6b, 0x38, 0x73, 0x00}

type marshaler interface{ Marshal() ([]byte, error) }

// ProtoRaw returns obj's protobuf message bytes, without the envelope.
func ProtoRaw(obj runtime.Object) ([]byte, error) {
	m, ok := obj.(marshaler)
	if !ok {
		return nil, fmt.Errorf("%T has no protobuf encoding", obj)
	}
	return m.Marshal()
}

// WrapProto wraps raw message bytes of kind gvk in the "k8s\x00" envelope
// (a runtime.Unknown naming the type), the document clients decode.
func WrapProto(gvk schema.GroupVersionKind, raw []byte) ([]byte, error) {
	apiVersion, kind := gvk.ToAPIVersionAndKind()
	u := runtime.Unknown{TypeMeta: runtime.TypeMeta{APIVersion: apiVersion, Kind: kind}, Raw: raw}
	data, err := u.Marshal()
	if err != nil {
		return nil, err
	}
	return append(append(make([]byte, 0, len(protoMagic)+len(data)), protoMagic...), data...), nil
}

// ProtoList assembles the message bytes of a list (field 1: ListMeta,
// field 2: each item) from the items' own message bytes, without decoding
// them again. Every Kubernetes list type has this layout.
func ProtoList(lm *metav1.ListMeta, items [][]byte) ([]byte, error) {
	meta, err := lm.Marshal()
	if err != nil {
		return nil, err
	}
	n := len(meta) + binary.MaxVarintLen64 + 1
	for _, it := range items {
		n += len(it) + binary.MaxVarintLen64 + 1
	}
	out := make([]byte, 0, n)
	out = append(out, 0x0a)
	out = binary.AppendUvarint(out, uint64(len(meta)))
	out = append(out, meta...)
	for _, it := range items {
		out = append(out, 0x12)
		out = binary.AppendUvarint(out, uint64(len(it)))
		out = append(out, it...)
	}
	return out, nil
}
