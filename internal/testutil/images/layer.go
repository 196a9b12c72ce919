package images

import (
	"archive/tar"
	"bytes"
	"io"
	"log"
	"sort"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// LayerFromFiles builds a layer of regular files (mode 0644).
func LayerFromFiles(files map[string]string) (v1.Layer, error) {
	var hs []*tar.Header
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		hs = append(hs, &tar.Header{Typeflag: tar.TypeReg, Name: n, Mode: 0o644, Size: int64(len(files[n]))})
	}
	return LayerFromHeaders(hs, files)
}

// LayerFromHeaders builds a layer from raw tar headers, in order; the
// content of a regular file is contents[hdr.Name]. Tests use it to make
// hostile layers (".." paths, symlink escapes, whiteouts).
func LayerFromHeaders(hs []*tar.Header, contents map[string]string) (v1.Layer, error) {
	b, err := TarBytes(hs, contents)
	if err != nil {
		return nil, err
	}
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
}

// TarBytes returns a tar of hs; see LayerFromHeaders.
func TarBytes(hs []*tar.Header, contents map[string]string) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range hs {
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(contents[h.Name]))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := tw.Write([]byte(contents[h.Name])); err != nil {
				return nil, err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func discardLogger() *log.Logger { return log.New(io.Discard, "", 0) }
