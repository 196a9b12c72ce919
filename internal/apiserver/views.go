package apiserver

import (
	"fmt"

	"k8s.io/apimachinery/pkg/runtime"

	"github.com/podvisor/podvisor/internal/registry"
	"github.com/podvisor/podvisor/internal/storage"
)

// viewCodec stores a view resource's objects as its stored resource's:
// it converts to the stored type before encoding and from it after
// decoding, so the bytes in etcd are the same whichever API wrote them.
type viewCodec struct {
	inner storage.Codec
	view  registry.View
}

var _ storage.Codec = viewCodec{}

// Encode implements storage.Codec.Encode.
func (c viewCodec) Encode(obj runtime.Object) ([]byte, error) {
	return c.inner.Encode(c.view.ToStored(obj))
}

// Decode implements storage.Codec.Decode.
func (c viewCodec) Decode(data []byte, into runtime.Object) error {
	stored := c.view.NewStored()
	if err := c.inner.Decode(data, stored); err != nil {
		return fmt.Errorf("decoding the stored object of a view: %w", err)
	}
	c.view.FromStored(stored, into)
	return nil
}
