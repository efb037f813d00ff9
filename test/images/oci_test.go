package images

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"strings"
	"testing"
)

// readArchive returns the files of an OCI archive by name.
func readArchive(t *testing.T, b []byte) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		files[h.Name] = data
	}
}

func blob(t *testing.T, files map[string][]byte, digest string) []byte {
	t.Helper()
	b, ok := files["blobs/sha256/"+strings.TrimPrefix(digest, "sha256:")]
	if !ok {
		t.Fatalf("blob %s missing", digest)
	}
	sum := sha256.Sum256(b)
	if got := "sha256:" + hex.EncodeToString(sum[:]); got != digest {
		t.Fatalf("blob %s has digest %s", digest, got)
	}
	return b
}

// TestWriteArchiveWithBase: Base is a layer of its own below Files, and files
// the base has already (identical) are not repeated in the upper layer.
func TestWriteArchiveWithBase(t *testing.T) {
	base := []File{{Path: "/bin/sh", Link: "/bin/busybox"}, {Path: "/etc/motd", Data: []byte("base\n")}}
	img := Image{Name: "trove.dev/two:dev", Base: base, Files: []File{
		{Path: "/bin/sh", Link: "/bin/busybox"},
		{Path: "/etc/motd", Data: []byte("upper\n")},
		{Path: "/usr/local/bin/tool", Data: []byte("#!/bin/sh\n")},
	}}
	var buf bytes.Buffer
	if err := WriteArchive(&buf, img); err != nil {
		t.Fatal(err)
	}
	files := readArchive(t, buf.Bytes())
	var index struct {
		Manifests []descriptor `json:"manifests"`
	}
	if err := json.Unmarshal(files["index.json"], &index); err != nil || len(index.Manifests) != 1 {
		t.Fatalf("index: %v %s", err, files["index.json"])
	}
	var manifest struct {
		Config descriptor   `json:"config"`
		Layers []descriptor `json:"layers"`
	}
	if err := json.Unmarshal(blob(t, files, index.Manifests[0].Digest), &manifest); err != nil {
		t.Fatal(err)
	}
	if len(manifest.Layers) != 2 {
		t.Fatalf("%d layers, want 2", len(manifest.Layers))
	}
	_, baseID, err := buildLayer(base)
	if err != nil {
		t.Fatal(err)
	}
	if manifest.Layers[0].Digest != baseID {
		t.Fatalf("lower layer %s, want the base's %s", manifest.Layers[0].Digest, baseID)
	}
	var config struct {
		RootFS struct {
			DiffIDs []string `json:"diff_ids"`
		} `json:"rootfs"`
	}
	if err := json.Unmarshal(blob(t, files, manifest.Config.Digest), &config); err != nil {
		t.Fatal(err)
	}
	if len(config.RootFS.DiffIDs) != 2 || config.RootFS.DiffIDs[0] != baseID || config.RootFS.DiffIDs[1] != manifest.Layers[1].Digest {
		t.Fatalf("diff_ids %v, layers %+v", config.RootFS.DiffIDs, manifest.Layers)
	}
	upper := map[string]string{}
	tr := tar.NewReader(bytes.NewReader(blob(t, files, manifest.Layers[1].Digest)))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		upper[h.Name] = string(b)
	}
	if _, ok := upper["bin/sh"]; ok {
		t.Errorf("the upper layer repeats the base's /bin/sh: %v", upper)
	}
	if upper["etc/motd"] != "upper\n" || upper["usr/local/bin/tool"] != "#!/bin/sh\n" {
		t.Errorf("upper layer: %v", upper)
	}
}

func TestWriteArchive(t *testing.T) {
	img := Image{
		Name: "trove.dev/test:dev",
		Files: []File{
			{Path: "/usr/local/bin/tool", Data: []byte("#!/bin/sh\n")},
			{Path: "/bin/sh", Link: "/bin/busybox"},
		},
		Entrypoint: []string{"/usr/local/bin/tool"},
	}
	var buf bytes.Buffer
	if err := WriteArchive(&buf, img); err != nil {
		t.Fatal(err)
	}
	files := readArchive(t, buf.Bytes())
	if string(files["oci-layout"]) != `{"imageLayoutVersion":"1.0.0"}` {
		t.Fatalf("oci-layout: %q", files["oci-layout"])
	}
	var index struct {
		Manifests []descriptor `json:"manifests"`
	}
	if err := json.Unmarshal(files["index.json"], &index); err != nil {
		t.Fatal(err)
	}
	if len(index.Manifests) != 1 || index.Manifests[0].Annotations["io.containerd.image.name"] != img.Name {
		t.Fatalf("index: %+v", index)
	}
	var manifest struct {
		Config descriptor   `json:"config"`
		Layers []descriptor `json:"layers"`
	}
	if err := json.Unmarshal(blob(t, files, index.Manifests[0].Digest), &manifest); err != nil {
		t.Fatal(err)
	}
	var config struct {
		Config struct{ Entrypoint []string }
		RootFS struct {
			DiffIDs []string `json:"diff_ids"`
		} `json:"rootfs"`
	}
	if err := json.Unmarshal(blob(t, files, manifest.Config.Digest), &config); err != nil {
		t.Fatal(err)
	}
	if len(manifest.Layers) != 1 || len(config.RootFS.DiffIDs) != 1 || config.Config.Entrypoint[0] != "/usr/local/bin/tool" {
		t.Fatalf("manifest %+v config %+v", manifest, config)
	}
	raw := blob(t, files, manifest.Layers[0].Digest)
	sum := sha256.Sum256(raw)
	if diffID := "sha256:" + hex.EncodeToString(sum[:]); diffID != config.RootFS.DiffIDs[0] {
		t.Fatalf("diff ID %s, layer %s", config.RootFS.DiffIDs[0], diffID)
	}
	var names []string
	tr := tar.NewReader(bytes.NewReader(raw))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
	}
	want := "bin/ bin/sh usr/ usr/local/ usr/local/bin/ usr/local/bin/tool"
	if got := strings.Join(names, " "); got != want {
		t.Fatalf("layer entries %q, want %q", got, want)
	}
}

func TestSharedLibraries(t *testing.T) {
	libs, err := sharedLibraries(t.Context(), "/bin/sh")
	if err != nil {
		t.Skip("no ldd here:", err)
	}
	var libc bool
	for _, l := range libs {
		libc = libc || strings.Contains(l, "libc.so")
	}
	if !libc {
		t.Fatalf("libraries of /bin/sh: %v", libs)
	}
}
