package openapi

import (
	"bytes"
	"compress/gzip"
	"crypto/sha512"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	openapiv2 "github.com/google/gnostic-models/openapiv2"
	openapiv3 "github.com/google/gnostic-models/openapiv3"
	"github.com/munnerz/goautoneg"
	"google.golang.org/protobuf/proto"
)

// Media types the documents are served as. The "@" spellings are the ones
// kubectl and client-go ask for; the "." spellings are what Kubernetes
// answers with.
const (
	mediaJSON          = "application/json"
	protoV2Deprecated  = "com.github.proto-openapi.spec.v2@v1.0+protobuf"
	protoV2            = "com.github.proto-openapi.spec.v2.v1.0+protobuf"
	protoV3Deprecated  = "com.github.proto-openapi.spec.v3@v1.0+protobuf"
	protoV3            = "com.github.proto-openapi.spec.v3.v1.0+protobuf"
	gzipThresholdBytes = 1024
)

// document is one encoded document: its JSON, built by New, and the
// encodings derived from it (gzipped JSON, protobuf, gzipped protobuf), each
// built once on the first request that wants it.
type document struct {
	json []byte
	// etag is the upper-case hex SHA-512 of json, as Kubernetes computes it;
	// the protobuf form shares it (responses vary by Accept).
	etag string

	jsonGzip lazy

	toProto   func([]byte) ([]byte, error)
	proto     lazy
	protoGzip lazy
}

// lazy is a value computed once, on first use.
type lazy struct {
	once sync.Once
	b    []byte
	err  error
}

func (l *lazy) get(f func() ([]byte, error)) ([]byte, error) {
	l.once.Do(func() { l.b, l.err = f() })
	return l.b, l.err
}

func newDocument(body []byte, toProto func([]byte) ([]byte, error)) *document {
	return &document{json: body, etag: fmt.Sprintf("%X", sha512.Sum512(body)), toProto: toProto}
}

// encoding returns the document as protobuf or JSON, gzipped if gz and
// big enough to be worth it; compressed says which.
func (d *document) encoding(protobuf, gz bool) (body []byte, compressed bool, err error) {
	body = d.json
	if protobuf {
		if body, err = d.proto.get(func() ([]byte, error) { return d.toProto(d.json) }); err != nil {
			return nil, false, err
		}
	}
	if !gz || len(body) < gzipThresholdBytes {
		return body, false, nil
	}
	cache := &d.jsonGzip
	if protobuf {
		cache = &d.protoGzip
	}
	body, err = cache.get(func() ([]byte, error) { return gzipped(body) })
	return body, true, err
}

func gzipped(b []byte) ([]byte, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(b); err != nil {
		return nil, fmt.Errorf("compressing: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("compressing: %w", err)
	}
	return buf.Bytes(), nil
}

func v2ProtoFromJSON(b []byte) ([]byte, error) {
	doc, err := openapiv2.ParseDocument(b)
	if err != nil {
		return nil, fmt.Errorf("parsing v2 document: %w", err)
	}
	return proto.Marshal(doc)
}

func v3ProtoFromJSON(b []byte) ([]byte, error) {
	doc, err := openapiv3.ParseDocument(b)
	if err != nil {
		return nil, fmt.Errorf("parsing v3 document: %w", err)
	}
	return proto.Marshal(doc)
}

// ServeHTTP serves GET and HEAD of
//
//   - /openapi/v2: the v2 document as JSON, or as protobuf when Accept asks
//     for application/com.github.proto-openapi.spec.v2@v1.0+protobuf;
//   - /openapi/v3: the index of group-version documents, each with a
//     serverRelativeURL carrying ?hash=<etag>;
//   - /openapi/v3/<api/v1|apis/group/version>: one group version's v3
//     document, JSON or protobuf. With a ?hash= that matches, the answer is
//     cacheable forever; with a stale one it redirects to the current URL.
//
// Every answer has an ETag and honours If-None-Match; bodies are gzipped
// when the client accepts it.
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	switch p := strings.TrimSuffix(r.URL.Path, "/"); {
	case p == "/openapi/v2":
		s.serveNegotiated(w, r, s.v2, protoV2Deprecated, protoV2)
	case p == "/openapi/v3":
		s.serve(w, r, s.index, false, mediaJSON)
	case strings.HasPrefix(p, "/openapi/v3/"):
		name := strings.TrimPrefix(p, "/openapi/v3/")
		d, ok := s.v3[name]
		if !ok {
			http.Error(w, fmt.Sprintf("no OpenAPI v3 document for %q", name), http.StatusNotFound)
			return
		}
		if hash := r.URL.Query().Get("hash"); hash != "" {
			if hash != d.etag {
				u := url.URL{Path: "/openapi/v3/" + name, RawQuery: url.Values{"hash": {d.etag}}.Encode()}
				http.Redirect(w, r, u.String(), http.StatusMovedPermanently)
				return
			}
			w.Header().Set("Cache-Control", "public, immutable")
			w.Header().Set("Expires", time.Now().AddDate(1, 0, 0).UTC().Format(http.TimeFormat))
		}
		s.serveNegotiated(w, r, d, protoV3Deprecated, protoV3)
	default:
		http.NotFound(w, r)
	}
}

// serveNegotiated serves d as JSON or protobuf, whichever Accept prefers.
func (s *Service) serveNegotiated(w http.ResponseWriter, r *http.Request, d *document, protoTypes ...string) {
	w.Header().Add("Vary", "Accept")
	accept := r.Header.Get("Accept")
	if accept == "" {
		accept = "*/*"
	}
	for _, c := range goautoneg.ParseAccept(accept) {
		if c.Type != "application" && c.Type != "*" {
			continue
		}
		if c.SubType == "json" || c.SubType == "*" {
			s.serve(w, r, d, false, mediaJSON)
			return
		}
		for _, pt := range protoTypes {
			if c.SubType == pt {
				s.serve(w, r, d, true, "application/"+protoTypes[len(protoTypes)-1])
				return
			}
		}
	}
	http.Error(w, "the document is served as application/json or protobuf, not "+accept, http.StatusNotAcceptable)
}

// serve writes one encoding of d; http.ServeContent answers conditional and
// range requests from the ETag and modification time.
func (s *Service) serve(w http.ResponseWriter, r *http.Request, d *document, protobuf bool, contentType string) {
	body, compressed, err := d.encoding(protobuf, acceptsGzip(r))
	if err != nil {
		// The documents are built from our own types: failing to encode one
		// is a bug, not bad input.
		http.Error(w, "encoding the OpenAPI document: "+err.Error(), http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Etag", strconv.Quote(d.etag))
	h.Add("Vary", "Accept-Encoding")
	if compressed {
		h.Set("Content-Encoding", "gzip")
	}
	http.ServeContent(w, r, "", s.built, bytes.NewReader(body))
}

func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		enc, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(enc), "gzip") && strings.ReplaceAll(params, " ", "") != "q=0" {
			return true
		}
	}
	return false
}
