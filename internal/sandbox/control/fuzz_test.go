package control

import (
	"encoding/json"
	"testing"
)

func jsonUnmarshalStrict(b []byte, v any) error { return json.Unmarshal(b, v) }

// FuzzServer feeds arbitrary bytes to a server connection: it must answer
// with decodable responses or hang up, never panic or hang.
func FuzzServer(f *testing.F) {
	hello := rawFrame(`{"op":"hello","hello":{"version":1}}`)
	f.Add(hello)
	f.Add(append(append([]byte{}, hello...), rawFrame(`{"op":"wait","wait":{"pid":7}}`)...))
	f.Add(append(append([]byte{}, hello...), rawFrame(`{"op":"signal","signal":{"pid":0,"signal":9}}`)...))
	f.Add(append(append([]byte{}, hello...), rawFrame(`{"op":"exec","exec":{"process":{"args":["sh"]}}}`)...))
	f.Add([]byte{0, 0, 0, 1, '{'})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, input []byte) {
		c := rawConn(t, newFakeHandler())
		go func() {
			c.Write(input)
			c.CloseWrite()
		}()
		readAllFrames(t, c)
	})
}

// FuzzDecodeRequest checks that validation never panics on a decoded
// request, whatever its fields.
func FuzzDecodeRequest(f *testing.F) {
	f.Add([]byte(`{"op":"signal","signal":{"pid":-1,"signal":99}}`))
	f.Add([]byte(`{"op":"exec","exec":{"process":{"args":[],"rlimits":[{"type":"x"}]}}}`))
	f.Add([]byte(`{"op":"wait"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var r Request
		if json.Unmarshal(b, &r) != nil {
			return
		}
		_ = r.validate()
	})
}
