// Package controlplane starts a real kube-apiserver and etcd (built from the Go module
// proxy at the versions pinned in hack/versions.env) with Trove's CRDs installed. It is
// the integration tier's control plane and what `make run` falls back to without a node.
package controlplane

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	snapv1 "github.com/kubernetes-csi/external-snapshotter/client/v6/apis/volumesnapshot/v1"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	troveapi "trove.dev/trove/apis/v1alpha1"
)

// RepoRoot is the root of the Trove source tree (the directory holding go.mod).
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// Binary returns the path of a pinned binary (kube-apiserver, etcd, restic, ...),
// building it into the version-keyed cache on first use through hack/bin.sh.
func Binary(name string) (string, error) {
	out, err := exec.Command(filepath.Join(RepoRoot(), "hack", "bin.sh"), name).Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		return "", fmt.Errorf("building %s with hack/bin.sh: %w\n%s", name, err, stderr)
	}
	return strings.TrimSpace(string(out)), nil
}

// Assets returns a directory holding kube-apiserver and etcd side by side, as envtest's
// KUBEBUILDER_ASSETS expects, made of links into the binary cache.
func Assets() (string, error) {
	apiserver, err := Binary("kube-apiserver")
	if err != nil {
		return "", err
	}
	etcd, err := Binary("etcd")
	if err != nil {
		return "", err
	}
	// One assets directory per pair of versions: <cache>/envtest/<apiserver>-<etcd>.
	dir := filepath.Join(filepath.Dir(filepath.Dir(filepath.Dir(apiserver))), "envtest",
		filepath.Base(filepath.Dir(apiserver))+"-"+filepath.Base(filepath.Dir(etcd)))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	for name, target := range map[string]string{"kube-apiserver": apiserver, "etcd": etcd} {
		link := filepath.Join(dir, name)
		if current, err := os.Readlink(link); err == nil && current == target {
			continue
		}
		_ = os.Remove(link)
		if err := os.Symlink(target, link); err != nil {
			return "", err
		}
	}
	return dir, nil
}

// Scheme returns a client scheme with the built-in kinds, CRDs, VolumeSnapshots and
// Trove's kinds.
func Scheme() *k8sruntime.Scheme {
	s := k8sruntime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(apiextensionsv1.AddToScheme(s))
	utilruntime.Must(snapv1.AddToScheme(s))
	utilruntime.Must(troveapi.AddToScheme(s))
	return s
}

// ControlPlane is a running kube-apiserver + etcd with Trove's CRDs.
type ControlPlane struct {
	Env    *envtest.Environment
	Config *rest.Config
	Client client.Client
}

// Options tune Start.
type Options struct {
	// ExtraCRDDirs are installed besides deploy/crds (e.g. the snapshot CRDs).
	ExtraCRDDirs []string
}

// Start brings up a control plane and installs Trove's CRDs from deploy/crds.
func Start(opts Options) (*ControlPlane, error) {
	assets, err := Assets()
	if err != nil {
		return nil, err
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory:    assets,
		CRDDirectoryPaths:        append([]string{filepath.Join(RepoRoot(), "deploy", "crds")}, opts.ExtraCRDDirs...),
		ErrorIfCRDPathMissing:    true,
		ControlPlaneStartTimeout: 2 * time.Minute,
		ControlPlaneStopTimeout:  time.Minute,
	}
	cfg, err := env.Start()
	if err != nil {
		return nil, fmt.Errorf("starting kube-apiserver and etcd: %w", err)
	}
	c, err := client.New(cfg, client.Options{Scheme: Scheme()})
	if err != nil {
		_ = env.Stop()
		return nil, err
	}
	return &ControlPlane{Env: env, Config: cfg, Client: c}, nil
}

// Stop stops the apiserver and etcd and removes their data.
func (cp *ControlPlane) Stop() error { return cp.Env.Stop() }

// WriteKubeconfig writes an admin kubeconfig for the control plane to path (0600).
func (cp *ControlPlane) WriteKubeconfig(path string) error {
	user, err := cp.Env.AddUser(envtest.User{Name: "trove-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return fmt.Errorf("creating an admin user: %w", err)
	}
	kc, err := user.KubeConfig()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return os.WriteFile(path, kc, 0o600)
}

// ServedKinds lists the kinds the apiserver serves in the trove.dev group.
func (cp *ControlPlane) ServedKinds(ctx context.Context) ([]string, error) {
	var crds apiextensionsv1.CustomResourceDefinitionList
	if err := cp.Client.List(ctx, &crds); err != nil {
		return nil, err
	}
	var kinds []string
	for _, crd := range crds.Items {
		if crd.Spec.Group == troveapi.GroupVersion.Group {
			kinds = append(kinds, crd.Spec.Names.Kind)
		}
	}
	return kinds, nil
}
