// Package images writes container images offline, as OCI image layouts packed in
// a tar stream, for the dev/e2e node (test/cluster), which imports them into
// containerd with `ctr images import`. There is no registry and no Docker engine:
// an image is a list of files (from memory or from the host) turned into one
// tar layer, a config and a manifest.
//
// The format is small enough to write by hand with the standard library
// (oci-layout, index.json, blobs/sha256/<digest>), which keeps go.mod free of a
// registry client and its dependency graph.
package images

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"runtime"
	"sort"
	"strings"
	"time"
)

// File is one entry of an image's filesystem. Exactly one of Data, HostPath or
// Link says where its content comes from; a File with none of them is a directory.
type File struct {
	// Path inside the image, absolute ("/usr/local/bin/restic").
	Path string
	// Mode holds the permission bits; 0 means 0755 for files and directories.
	Mode fs.FileMode
	// Data is the content of a regular file.
	Data []byte
	// HostPath is a file on this machine whose content is copied (symlinks followed).
	HostPath string
	// Link makes the entry a symbolic link to Link.
	Link string
}

// Image is an image of one layer (Files), or two when Base is set.
type Image struct {
	// Name is the full reference containerd stores, e.g. "trove.dev/trove:dev".
	Name string
	// Base, when set, is written as a layer of its own below Files: the same
	// files as another image's (e.g. Trove's) make the same layer, which
	// containerd stores and unpacks once for both images.
	Base       []File
	Files      []File
	Entrypoint []string
	Cmd        []string
	Env        []string
	WorkingDir string
}

// epoch keeps layers reproducible: every entry gets the same timestamp.
var epoch = time.Unix(0, 0).UTC()

// WriteArchive writes img as an OCI image layout packed in a tar stream, the
// form `ctr images import` reads. The image is named with the
// io.containerd.image.name annotation so the import keeps its full reference.
func WriteArchive(w io.Writer, img Image) error {
	if img.Name == "" {
		return fmt.Errorf("image has no name")
	}
	var layers [][]byte
	var diffIDs []string
	for _, files := range [][]File{img.Base, upperFiles(img.Base, img.Files)} {
		if len(files) == 0 {
			continue
		}
		layer, diffID, err := buildLayer(files)
		if err != nil {
			return fmt.Errorf("image %s: %w", img.Name, err)
		}
		layers, diffIDs = append(layers, layer), append(diffIDs, diffID)
	}
	config, err := json.Marshal(map[string]any{
		"architecture": runtime.GOARCH,
		"os":           "linux",
		"created":      epoch.Format(time.RFC3339),
		"config": map[string]any{
			"Entrypoint": img.Entrypoint,
			"Cmd":        img.Cmd,
			"Env":        append([]string{"PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"}, img.Env...),
			"WorkingDir": img.WorkingDir,
		},
		"rootfs": map[string]any{"type": "layers", "diff_ids": diffIDs},
	})
	if err != nil {
		return err
	}
	configDesc := descriptorOf("application/vnd.oci.image.config.v1+json", config)
	var layerDescs []descriptor
	for _, layer := range layers {
		layerDescs = append(layerDescs, descriptorOf("application/vnd.oci.image.layer.v1.tar", layer))
	}
	manifest, err := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.manifest.v1+json",
		"config":        configDesc,
		"layers":        layerDescs,
	})
	if err != nil {
		return err
	}
	manifestDesc := descriptorOf("application/vnd.oci.image.manifest.v1+json", manifest)
	manifestDesc.Platform = &platform{Architecture: runtime.GOARCH, OS: "linux"}
	tag := img.Name[strings.LastIndex(img.Name, ":")+1:]
	manifestDesc.Annotations = map[string]string{
		"io.containerd.image.name":          img.Name,
		"org.opencontainers.image.ref.name": tag,
	}
	index, err := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.index.v1+json",
		"manifests":     []descriptor{manifestDesc},
	})
	if err != nil {
		return err
	}

	tw := tar.NewWriter(w)
	entries := []struct {
		name string
		data []byte
	}{
		{"oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)},
		{"index.json", index},
		{"blobs/sha256/" + strings.TrimPrefix(configDesc.Digest, "sha256:"), config},
		{"blobs/sha256/" + strings.TrimPrefix(manifestDesc.Digest, "sha256:"), manifest},
	}
	for i, layer := range layers {
		entries = append(entries, struct {
			name string
			data []byte
		}{"blobs/sha256/" + strings.TrimPrefix(layerDescs[i].Digest, "sha256:"), layer})
	}
	for _, dir := range []string{"blobs/", "blobs/sha256/"} {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: dir, Mode: 0o755, ModTime: epoch}); err != nil {
			return err
		}
	}
	for _, e := range entries {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: e.name, Mode: 0o644, Size: int64(len(e.data)), ModTime: epoch}); err != nil {
			return err
		}
		if _, err := tw.Write(e.data); err != nil {
			return err
		}
	}
	return tw.Close()
}

type platform struct {
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
}

type descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Platform    *platform         `json:"platform,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

func descriptorOf(mediaType string, blob []byte) descriptor {
	return descriptor{MediaType: mediaType, Digest: digest(blob), Size: int64(len(blob))}
}

func digest(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// upperFiles drops from files those the base layer has already, identical.
func upperFiles(base, files []File) []File {
	if len(base) == 0 {
		return files
	}
	have := map[string]File{}
	for _, f := range base {
		have[path.Clean("/"+f.Path)] = f
	}
	var out []File
	for _, f := range files {
		b, ok := have[path.Clean("/"+f.Path)]
		if ok && b.HostPath == f.HostPath && b.Link == f.Link && b.Mode == f.Mode && bytes.Equal(b.Data, f.Data) && (b.Data == nil) == (f.Data == nil) {
			continue
		}
		out = append(out, f)
	}
	return out
}

// buildLayer returns the tar of files (parent directories added) and its
// digest, the layer's diff ID. Layers stay uncompressed: the archive is
// imported on this machine, where compressing would only cost time.
func buildLayer(files []File) (layer []byte, diffID string, err error) {
	byPath := map[string]File{}
	for _, f := range files {
		p := path.Clean("/" + f.Path)
		if p == "/" {
			continue
		}
		f.Path = p
		byPath[p] = f
		for d := path.Dir(p); d != "/"; d = path.Dir(d) {
			if _, ok := byPath[d]; !ok {
				byPath[d] = File{Path: d}
			}
		}
	}
	paths := make([]string, 0, len(byPath))
	for p := range byPath {
		paths = append(paths, p)
	}
	sort.Strings(paths)

	var raw bytes.Buffer
	tw := tar.NewWriter(&raw)
	for _, p := range paths {
		if err := writeEntry(tw, byPath[p]); err != nil {
			return nil, "", err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, "", err
	}
	return raw.Bytes(), digest(raw.Bytes()), nil
}

func writeEntry(tw *tar.Writer, f File) error {
	name := strings.TrimPrefix(f.Path, "/")
	mode := int64(f.Mode.Perm())
	if f.Mode&fs.ModeSticky != 0 {
		mode |= 0o1000
	}
	if mode == 0 {
		mode = 0o755
	}
	hdr := &tar.Header{Name: name, Mode: mode, ModTime: epoch, Format: tar.FormatPAX}
	switch {
	case f.Link != "":
		hdr.Typeflag, hdr.Linkname, hdr.Mode = tar.TypeSymlink, f.Link, 0o777
		return tw.WriteHeader(hdr)
	case f.HostPath != "":
		data, err := os.ReadFile(f.HostPath)
		if err != nil {
			return fmt.Errorf("reading %s for %s: %w", f.HostPath, f.Path, err)
		}
		f.Data = data
		fallthrough
	case f.Data != nil:
		hdr.Typeflag, hdr.Size = tar.TypeReg, int64(len(f.Data))
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		_, err := tw.Write(f.Data)
		return err
	default:
		hdr.Typeflag, hdr.Name = tar.TypeDir, name+"/"
		return tw.WriteHeader(hdr)
	}
}
