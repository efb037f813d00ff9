package functions

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	troveapi "trove.dev/trove/apis/v1alpha1"
	"trove.dev/trove/mover"
)

// ClusterDir is where `cluster-backup` writes the YAML it backs up: a stable path, so
// that restic finds the previous snapshot as the parent of the next.
var ClusterDir = filepath.Join(os.TempDir(), "trove-cluster-backup")

// ClusterOptions select what a cluster backup writes.
type ClusterOptions struct {
	// Resources are resource names ("deployments") or names with their group
	// ("deployments.apps"); empty means every resource that can be listed, except events.
	Resources []string
	// LabelSelector selects objects by label; empty selects all.
	LabelSelector string
	// Namespaces limit namespaced objects to these; empty means all namespaces, and
	// only then are cluster-scoped objects (nodes, CRDs, ...) written too.
	Namespaces []string
}

// DumpCluster writes every selected object as clean YAML (see Clean) to
// dir/<namespace or _cluster>/<resource>[.<group>]/<name>.yaml and returns how many
// it wrote. Resources the API cannot list are skipped; a list that fails fails the dump.
func DumpCluster(ctx context.Context, disc discovery.DiscoveryInterface, dyn dynamic.Interface, dir string, opts ClusterOptions) (int, error) {
	lists, err := disc.ServerPreferredResources()
	if err != nil && !discovery.IsGroupDiscoveryFailedError(err) {
		return 0, fmt.Errorf("discovering the API's resources: %w", err)
	}
	n := 0
	for _, list := range lists {
		gv, err := schema.ParseGroupVersion(list.GroupVersion)
		if err != nil {
			return n, err
		}
		for _, r := range list.APIResources {
			if !wanted(r, gv.Group, opts) {
				continue
			}
			gvr := gv.WithResource(r.Name)
			namespaces := []string{metav1.NamespaceAll}
			if r.Namespaced && len(opts.Namespaces) > 0 {
				namespaces = opts.Namespaces
			} else if !r.Namespaced && len(opts.Namespaces) > 0 {
				continue
			}
			for _, ns := range namespaces {
				written, err := dumpResource(ctx, dyn, gvr, r.Namespaced, ns, dir, opts.LabelSelector)
				n += written
				if err != nil {
					return n, err
				}
			}
		}
	}
	return n, nil
}

// wanted says whether a discovered resource is backed up.
func wanted(r metav1.APIResource, group string, opts ClusterOptions) bool {
	if strings.Contains(r.Name, "/") || !slices.Contains(r.Verbs, "list") {
		return false // a subresource, or nothing to list
	}
	qualified := r.Name
	if group != "" {
		qualified += "." + group
	}
	if len(opts.Resources) > 0 {
		return slices.Contains(opts.Resources, r.Name) || slices.Contains(opts.Resources, qualified)
	}
	return r.Name != "events" // events are history, not state
}

func dumpResource(ctx context.Context, dyn dynamic.Interface, gvr schema.GroupVersionResource, namespaced bool, ns, dir, selector string) (int, error) {
	resourceDir := gvr.Resource
	if gvr.Group != "" {
		resourceDir += "." + gvr.Group
	}
	n := 0
	opts := metav1.ListOptions{LabelSelector: selector, Limit: 500}
	for {
		var list *unstructured.UnstructuredList
		var err error
		if namespaced {
			list, err = dyn.Resource(gvr).Namespace(ns).List(ctx, opts)
		} else {
			list, err = dyn.Resource(gvr).List(ctx, opts)
		}
		if err != nil {
			return n, fmt.Errorf("listing %s: %w", resourceDir, err)
		}
		for i := range list.Items {
			obj := &list.Items[i]
			Clean(obj)
			scope := obj.GetNamespace()
			if !namespaced {
				scope = "_cluster"
			}
			raw, err := yaml.Marshal(obj.Object)
			if err != nil {
				return n, fmt.Errorf("%s %s: %w", resourceDir, obj.GetName(), err)
			}
			path := filepath.Join(dir, scope, resourceDir, obj.GetName()+".yaml")
			if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
				return n, err
			}
			if err := os.WriteFile(path, raw, 0o600); err != nil {
				return n, err
			}
			n++
		}
		if opts.Continue = list.GetContinue(); opts.Continue == "" {
			return n, nil
		}
	}
}

// Clean removes what the cluster sets on an object and a re-created one would not
// carry: status, managedFields, resourceVersion, uid, generation, creation and deletion
// timestamps, selfLink, and the last-applied-configuration annotation.
func Clean(obj *unstructured.Unstructured) {
	unstructured.RemoveNestedField(obj.Object, "status")
	for _, f := range []string{"managedFields", "resourceVersion", "uid", "generation", "creationTimestamp",
		"deletionTimestamp", "deletionGracePeriodSeconds", "selfLink"} {
		unstructured.RemoveNestedField(obj.Object, "metadata", f)
	}
	if a := obj.GetAnnotations(); a != nil {
		delete(a, "kubectl.kubernetes.io/last-applied-configuration")
		if len(a) == 0 {
			a = nil
		}
		obj.SetAnnotations(a)
	}
}

// RunClusterBackup is the `cluster-backup` subcommand: it writes the selected
// resources as YAML to ClusterDir, backs that directory up into the Repository and
// writes the step's output file. cfg reaches the API for discovery and listing.
func (s *Step) RunClusterBackup(ctx context.Context, cfg *rest.Config, c client.Reader, opts ClusterOptions) error {
	start := time.Now()
	stats := troveapi.HostBackupStats{Hostname: s.Hostname, Phase: troveapi.HostSucceeded}
	snapshot, err := s.clusterBackup(ctx, cfg, c, opts)
	if err == nil {
		stats.Snapshots = []troveapi.SnapshotStats{snapshot}
	}
	stats.Duration = time.Since(start).Round(time.Millisecond).String()
	if err != nil {
		stats.Phase, stats.Error = troveapi.HostFailed, err.Error()
	}
	return s.finish(map[string]any{"backup": stats}, err)
}

func (s *Step) clusterBackup(ctx context.Context, cfg *rest.Config, c client.Reader, opts ClusterOptions) (troveapi.SnapshotStats, error) {
	var none troveapi.SnapshotStats
	if err := s.validateCluster(); err != nil {
		return none, err
	}
	prio, err := s.priority()
	if err != nil {
		return none, err
	}
	m, err := s.mover(ctx, c, prio)
	if err != nil {
		return none, err
	}
	disc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return none, err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return none, err
	}
	if err := os.RemoveAll(ClusterDir); err != nil {
		return none, err
	}
	if err := os.MkdirAll(ClusterDir, 0o700); err != nil {
		return none, err
	}
	defer os.RemoveAll(ClusterDir)
	n, err := DumpCluster(ctx, disc, dyn, ClusterDir, opts)
	if err != nil {
		return none, err
	}
	if n == 0 {
		return none, errors.New("no object matched the resources, label selector and namespaces: nothing to back up")
	}
	if _, err := m.EnsureRepository(ctx); err != nil {
		return none, fmt.Errorf("creating the repository: %w", err)
	}
	res, err := m.Backup(ctx, mover.BackupRequest{Paths: []string{ClusterDir}, Host: s.Hostname, Tags: []string{
		TagNamespace + s.Namespace, TagTarget + "Cluster", TagSession + s.BackupSession, TagRepository + s.Repository}})
	if err != nil {
		return none, err
	}
	return snapshotStats(&BackupResult{BackupResult: res, Path: ClusterDir}), nil
}

// validateCluster checks the flags cluster-backup needs (it has no AppBinding).
func (s *Step) validateCluster() error {
	var missing []string
	for flag, v := range map[string]string{"--namespace": s.Namespace, "--repository": s.Repository, "--hostname": s.Hostname, "--output-dir": s.OutputDir} {
		if v == "" {
			missing = append(missing, flag)
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return fmt.Errorf("%s: missing %s", s.Subcommand, strings.Join(missing, ", "))
	}
	return nil
}
