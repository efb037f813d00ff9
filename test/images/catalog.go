package images

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
)

// Image references the dev node uses. Pods that run them set
// imagePullPolicy: Never; Pause is containerd's sandbox_image.
const (
	PauseRef   = "trove.dev/pause:dev"
	BusyboxRef = "trove.dev/busybox:dev"
	TroveRef   = "trove.dev/trove:dev"
)

// Pause is the sandbox image: the static binary built from ./test/images/pause.
func Pause(pauseBin string) Image {
	return Image{
		Name:       PauseRef,
		Files:      []File{{Path: "/pause", HostPath: pauseBin}},
		Entrypoint: []string{"/pause"},
	}
}

// Busybox is a minimal userland: the host's static busybox (Debian's
// busybox-static) with a symlink for every applet.
func Busybox(ctx context.Context, busybox string) (Image, error) {
	files, err := busyboxFiles(ctx, busybox)
	if err != nil {
		return Image{}, err
	}
	return Image{Name: BusyboxRef, Files: files, Cmd: []string{"/bin/sh"}}, nil
}

// Trove is Trove's image: the static trove binary (controller, agent, CLI and
// built-in Functions as subcommands) and restic, on the busybox userland so that
// Functions can use a shell and operators can exec into the agent. The Dockerfile
// at the repository root builds the same layout on a Docker host.
func Trove(ctx context.Context, troveBin, resticBin, busybox string) (Image, error) {
	files, err := busyboxFiles(ctx, busybox)
	if err != nil {
		return Image{}, err
	}
	files = append(files,
		File{Path: "/usr/local/bin/trove", HostPath: troveBin},
		File{Path: "/usr/local/bin/restic", HostPath: resticBin},
	)
	return Image{Name: TroveRef, Files: files, Entrypoint: []string{"/usr/local/bin/trove"}}, nil
}

// FromHostBinaries assembles an image from programs installed on this machine
// (for example PostgreSQL's from Debian packages) with the shared libraries and
// ELF interpreter each one needs, found with ldd, on the busybox userland. Extra
// files (configuration, data directories) come in extra.
func FromHostBinaries(ctx context.Context, name, busybox string, binaries []string, extra []File, entrypoint []string) (Image, error) {
	files, err := busyboxFiles(ctx, busybox)
	if err != nil {
		return Image{}, err
	}
	seen := map[string]bool{}
	for _, bin := range binaries {
		libs, err := sharedLibraries(ctx, bin)
		if err != nil {
			return Image{}, err
		}
		for _, p := range append([]string{bin}, libs...) {
			if seen[p] {
				continue
			}
			seen[p] = true
			files = append(files, File{Path: p, HostPath: p})
		}
	}
	files = append(files, extra...)
	return Image{Name: name, Files: files, Entrypoint: entrypoint}, nil
}

// lddPath matches the absolute library paths in ldd's output, both
// "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)" and the interpreter line.
var lddPath = regexp.MustCompile(`(?:=>\s+|^\s*)(/\S+)\s+\(0x`)

func sharedLibraries(ctx context.Context, bin string) ([]string, error) {
	out, err := exec.CommandContext(ctx, "ldd", bin).Output()
	if err != nil {
		if bytes.Contains(out, []byte("not a dynamic executable")) {
			return nil, nil
		}
		return nil, fmt.Errorf("ldd %s: %w", bin, err)
	}
	var libs []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if m := lddPath.FindStringSubmatch(sc.Text()); m != nil {
			libs = append(libs, m[1])
		}
	}
	return libs, sc.Err()
}

// busyboxFiles returns the busybox binary at /bin/busybox, one symlink per
// applet (from `busybox --list-full`), and the few directories a userland needs.
func busyboxFiles(ctx context.Context, busybox string) ([]File, error) {
	out, err := exec.CommandContext(ctx, busybox, "--list-full").Output()
	if err != nil {
		return nil, fmt.Errorf("listing busybox applets of %s (Debian package busybox-static): %w", busybox, err)
	}
	files := []File{
		{Path: "/bin/busybox", HostPath: busybox},
		{Path: "/tmp", Mode: 0o1777 | os.ModeSticky},
		{Path: "/etc/passwd", Mode: 0o644, Data: []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")},
		{Path: "/etc/group", Mode: 0o644, Data: []byte("root:x:0:\nnogroup:x:65534:\n")},
		{Path: "/root", Mode: 0o700},
	}
	for _, applet := range strings.Fields(string(out)) {
		p := "/" + strings.TrimPrefix(applet, "/")
		if p == "/bin/busybox" {
			continue
		}
		files = append(files, File{Path: p, Link: "/bin/busybox"})
	}
	return files, nil
}

// GoBuild builds a static binary (CGO_ENABLED=0) of the package pkg of the
// module at moduleRoot into out.
func GoBuild(ctx context.Context, moduleRoot, pkg, out string) error {
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", "-s -w", "-o", out, pkg)
	cmd.Dir = moduleRoot
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %w\n%s", pkg, err, b)
	}
	return nil
}

// WriteFile writes img as an OCI archive at file (see WriteArchive).
func WriteFile(img Image, file string) error {
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return err
	}
	f, err := os.Create(file + ".tmp")
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	if err := WriteArchive(w, img); err != nil {
		f.Close()
		return err
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(file+".tmp", file)
}

// Import loads the OCI archive file into containerd's k8s.io namespace (the one
// the kubelet's CRI uses) through ctr, talking to the containerd at address.
func Import(ctx context.Context, ctr, address, file string) error {
	cmd := exec.CommandContext(ctx, ctr, "--address", address, "--namespace", "k8s.io", "images", "import", file)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("ctr images import %s: %w\n%s", file, err, b)
	}
	return nil
}
