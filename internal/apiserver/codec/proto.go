package codec

import (
	"encoding/binary"
	"fmt"
	"io"

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

// WriteProtoList writes the enveloped protobuf document of a list of kind
// gvk to w, streaming the items' message bytes instead of assembling the
// document in memory: the same bytes as WrapProto(gvk, ProtoList(lm,
// items)).
func WriteProtoList(w io.Writer, gvk schema.GroupVersionKind, lm *metav1.ListMeta, items [][]byte) error {
	meta, err := lm.Marshal()
	if err != nil {
		return err
	}
	apiVersion, kind := gvk.ToAPIVersionAndKind()
	tm := runtime.TypeMeta{APIVersion: apiVersion, Kind: kind}
	tmb, err := tm.Marshal()
	if err != nil {
		return err
	}
	rawLen := 1 + uvarintLen(uint64(len(meta))) + len(meta)
	for _, it := range items {
		rawLen += 1 + uvarintLen(uint64(len(it))) + len(it)
	}
	head := make([]byte, 0, 64+len(tmb)+len(meta))
	head = append(head, protoMagic...)
	head = append(head, 0x0a)
	head = binary.AppendUvarint(head, uint64(len(tmb)))
	head = append(head, tmb...)
	head = append(head, 0x12)
	head = binary.AppendUvarint(head, uint64(rawLen))
	head = append(head, 0x0a)
	head = binary.AppendUvarint(head, uint64(len(meta)))
	head = append(head, meta...)
	if _, err := w.Write(head); err != nil {
		return err
	}
	var pre [binary.MaxVarintLen64 + 1]byte
	for _, it := range items {
		p := append(pre[:0], 0x12)
		p = binary.AppendUvarint(p, uint64(len(it)))
		if _, err := w.Write(p); err != nil {
			return err
		}
		if _, err := w.Write(it); err != nil {
			return err
		}
	}
	return nil
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}
