package v1alpha1_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"trove.dev/trove/test/controlplane"
)

var cp *controlplane.ControlPlane

func TestMain(m *testing.M) {
	var err error
	cp, err = controlplane.Start(controlplane.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	if err := cp.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stopping the control plane:", err)
	}
	os.Exit(code)
}

func ensureNamespace(t *testing.T, name string) {
	t.Helper()
	err := cp.Client.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}})
	if err != nil && !strings.Contains(err.Error(), "already exists") {
		require.NoError(t, err)
	}
}

// readObjects parses a multi-document YAML file into unstructured objects.
func readObjects(t *testing.T, path string) []*unstructured.Unstructured {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var objs []*unstructured.Unstructured
	for {
		var u unstructured.Unstructured
		if err := dec.Decode(&u.Object); errors.Is(err, io.EOF) {
			return objs
		} else {
			require.NoError(t, err, path)
		}
		if len(u.Object) > 0 {
			objs = append(objs, &u)
		}
	}
}

// TestExamplesAreAccepted creates every object of docs/examples (the seeds' and the
// proposal's samples converted to trove.dev/v1alpha1) on the real apiserver.
func TestExamplesAreAccepted(t *testing.T) {
	ensureNamespace(t, "demo")
	files, err := filepath.Glob(filepath.Join(controlplane.RepoRoot(), "docs", "examples", "*.yaml"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	kinds := map[string]bool{}
	for _, f := range files {
		for _, obj := range readObjects(t, f) {
			t.Run(filepath.Base(f)+"/"+obj.GetKind()+"/"+obj.GetName(), func(t *testing.T) {
				require.NoError(t, cp.Client.Create(context.Background(), obj))
				kinds[obj.GetKind()] = true
			})
		}
	}
	served, err := cp.ServedKinds(context.Background())
	require.NoError(t, err)
	for _, kind := range served {
		assert.True(t, kinds[kind], "docs/examples has no sample of %s", kind)
	}
	assert.Len(t, served, 10)
}

// TestDefaultFunctionsAreAccepted creates every default Function and Task of
// deploy/functions on the real apiserver (prefixed, so as not to meet the examples'
// objects of the same names), strictly: an unknown field is an error.
func TestDefaultFunctionsAreAccepted(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(controlplane.RepoRoot(), "deploy", "functions", "*.yaml"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	count := 0
	for _, f := range files {
		for _, obj := range readObjects(t, f) {
			t.Run(filepath.Base(f)+"/"+obj.GetKind()+"/"+obj.GetName(), func(t *testing.T) {
				assert.Contains(t, []string{"Function", "Task"}, obj.GetKind())
				obj.SetName("deploy-" + obj.GetName())
				require.NoError(t, cp.Client.Create(context.Background(), obj, client.FieldValidation("Strict")))
				count++
			})
		}
	}
	assert.GreaterOrEqual(t, count, 31)
}

// bases are minimal valid objects; each invalid case applies a JSON merge patch to one.
var bases = map[string]string{
	"Repository": `
apiVersion: trove.dev/v1alpha1
kind: Repository
metadata: {namespace: demo}
spec:
  backend:
    storageSecretName: s
    s3: {endpoint: "http://127.0.0.1:9000", bucket: trove}`,
	"BackupConfiguration": `
apiVersion: trove.dev/v1alpha1
kind: BackupConfiguration
metadata: {namespace: demo}
spec:
  schedule: "@daily"
  repository: {name: repo}
  target:
    ref: {apiVersion: apps/v1, kind: Deployment, name: app}
    paths: [/data]`,
	"BackupSession": `
apiVersion: trove.dev/v1alpha1
kind: BackupSession
metadata: {namespace: demo}
spec:
  invoker: {apiGroup: trove.dev, kind: BackupConfiguration, name: bc}`,
	"RestoreSession": `
apiVersion: trove.dev/v1alpha1
kind: RestoreSession
metadata: {namespace: demo}
spec:
  repository: {name: repo}
  target:
    ref: {apiVersion: apps/v1, kind: Deployment, name: app}
    rules: [{snapshots: [latest]}]`,
	"BackupBlueprint": `
apiVersion: trove.dev/v1alpha1
kind: BackupBlueprint
spec:
  schedule: "@daily"
  backend:
    storageSecretName: s
    gcs: {bucket: trove}`,
	"Function": `
apiVersion: trove.dev/v1alpha1
kind: Function
spec:
  image: trove.dev/trove:dev`,
	"Task": `
apiVersion: trove.dev/v1alpha1
kind: Task
spec:
  steps: [{name: postgres-backup}]`,
	"VolumeBackup": `
apiVersion: trove.dev/v1alpha1
kind: VolumeBackup
metadata: {namespace: demo}
spec:
  nodeName: node-1
  repository: {name: repo}
  credentialsSecretName: creds
  stablePath: /trove/demo/app/data
  hostname: host-0
  source:
    pod: {namespace: demo, name: app-0, uid: 0b1e9b55-7c3c-4bb4-9e0f-4d0c3a1f2e11}
    volumeName: data`,
	"RepositoryMaintenance": `
apiVersion: trove.dev/v1alpha1
kind: RepositoryMaintenance
metadata: {namespace: demo}
spec:
  nodeName: node-1
  repository: {name: repo}
  credentialsSecretName: creds
  forget: [{policy: {keepLast: 3}}]
  stats: true`,
	"VolumeRestore": `
apiVersion: trove.dev/v1alpha1
kind: VolumeRestore
metadata: {namespace: demo}
spec:
  nodeName: node-1
  repository: {name: repo}
  credentialsSecretName: creds
  stablePath: /trove/demo/app/data
  snapshot: latest
  target:
    pod: {namespace: demo, name: app-0, uid: 0b1e9b55-7c3c-4bb4-9e0f-4d0c3a1f2e11}
    volumeName: data`,
}

// mergePatch applies an RFC 7386 JSON merge patch (null deletes, objects merge).
func mergePatch(dst, patch map[string]any) {
	for k, v := range patch {
		switch pv := v.(type) {
		case nil:
			delete(dst, k)
		case map[string]any:
			dv, ok := dst[k].(map[string]any)
			if !ok {
				dv = map[string]any{}
				dst[k] = dv
			}
			mergePatch(dv, pv)
		default:
			dst[k] = v
		}
	}
}

func TestInvalidObjectsAreRejected(t *testing.T) {
	ensureNamespace(t, "demo")
	cases := []struct {
		name, kind, patch string
		// wantField and wantMessage must both appear in the apiserver's error.
		wantField, wantMessage string
	}{
		{"cron in words", "BackupConfiguration", `{spec: {schedule: "every hour"}}`,
			"spec.schedule", "should match"},
		{"cron with three fields", "BackupConfiguration", `{spec: {schedule: "* * *"}}`,
			"spec.schedule", "should match"},
		{"@every without duration", "BackupConfiguration", `{spec: {schedule: "@every soon"}}`,
			"spec.schedule", "should match"},
		{"no schedule and not paused", "BackupConfiguration", `{spec: {schedule: null}}`,
			"spec", "schedule is required unless paused is true"},
		{"neither target nor task", "BackupConfiguration", `{spec: {target: null}}`,
			"spec", "needs task"},
		{"repository without name", "BackupConfiguration", `{spec: {repository: {name: null, namespace: x}}}`,
			"spec.repository.name", "Required value"},
		{"unsupported target kind", "BackupConfiguration", `{spec: {target: {ref: {kind: CronJob}}}}`,
			"spec.target.ref.kind", "Unsupported value"},
		{"apiVersion does not match kind", "BackupConfiguration", `{spec: {target: {ref: {apiVersion: v1}}}}`,
			"spec.target.ref", "apiVersion does not match kind"},
		{"snapshot source for an AppBinding", "BackupConfiguration",
			`{spec: {target: {source: Snapshot, ref: {apiVersion: appcatalog.appscode.com/v1alpha1, kind: AppBinding}}}}`,
			"spec.target", "source: Snapshot needs a volume target"},
		{"unknown source", "BackupConfiguration", `{spec: {target: {source: Copy}}}`,
			"spec.target.source", "Unsupported value"},
		{"relative target path", "BackupConfiguration", `{spec: {target: {paths: [data]}}}`,
			"spec.target.paths[0]", "should match"},
		{"negative keepLast", "BackupConfiguration", `{spec: {retentionPolicy: {keepLast: -1}}}`,
			"spec.retentionPolicy.keepLast", "greater than or equal to 0"},
		{"negative keepDaily", "BackupConfiguration", `{spec: {retentionPolicy: {keepDaily: -3}}}`,
			"spec.retentionPolicy.keepDaily", "greater than or equal to 0"},
		{"nice 25", "BackupConfiguration", `{spec: {runtimeSettings: {container: {nice: {adjustment: 25}}}}}`,
			"spec.runtimeSettings.container.nice.adjustment", "less than or equal to 19"},
		{"nice -21", "BackupConfiguration", `{spec: {runtimeSettings: {container: {nice: {adjustment: -21}}}}}`,
			"spec.runtimeSettings.container.nice.adjustment", "greater than or equal to -20"},
		{"ionice class 7", "BackupConfiguration", `{spec: {runtimeSettings: {container: {ionice: {class: 7}}}}}`,
			"spec.runtimeSettings.container.ionice.class", "less than or equal to 3"},
		{"ionice class data 8", "BackupConfiguration", `{spec: {runtimeSettings: {container: {ionice: {classData: 8}}}}}`,
			"spec.runtimeSettings.container.ionice.classData", "less than or equal to 7"},
		{"negative upload limit", "BackupConfiguration", `{spec: {runtimeSettings: {container: {limitUploadKiBps: -5}}}}`,
			"spec.runtimeSettings.container.limitUploadKiBps", "greater than or equal to 0"},
		{"hook with exec and httpGet", "BackupConfiguration",
			`{spec: {hooks: {preBackup: {exec: {command: [sync]}, httpGet: {port: 80}}}}}`,
			"spec.hooks.preBackup", "exactly one of exec or httpGet must be set"},
		{"unknown hook execution policy", "BackupConfiguration",
			`{spec: {hooks: {postBackup: {exec: {command: [sync]}, executionPolicy: Sometimes}}}}`,
			"spec.hooks.postBackup.executionPolicy", "Unsupported value"},
		{"negative history limit", "BackupConfiguration", `{spec: {backupHistoryLimit: -1}}`,
			"spec.backupHistoryLimit", "greater than or equal to 0"},
		{"two backends", "Repository", `{spec: {backend: {gcs: {bucket: other}}}}`,
			"spec.backend", "exactly one backend"},
		{"no backend", "Repository", `{spec: {backend: {s3: null}}}`,
			"spec.backend", "exactly one backend"},
		{"empty storage secret name", "Repository", `{spec: {backend: {storageSecretName: ""}}}`,
			"spec.backend.storageSecretName", "at least 1 chars long"},
		{"s3 without bucket", "Repository", `{spec: {backend: {s3: {bucket: null}}}}`,
			"spec.backend.s3.bucket", "Required value"},
		{"credentials in a rest URL", "Repository",
			`{spec: {backend: {s3: null, rest: {url: "https://user:secret@backup.example:8000/r"}}}}`,
			"spec.backend.rest.url", "should match"},
		{"relative local mount path", "Repository",
			`{spec: {backend: {s3: null, local: {mountPath: repo, hostPath: {path: /srv}}}}}`,
			"spec.backend.local.mountPath", "should match"},
		{"sftp port out of range", "Repository",
			`{spec: {backend: {s3: null, sftp: {host: h, user: u, path: /r, port: 70000}}}}`,
			"spec.backend.sftp.port", "less than or equal to 65535"},
		{"selector scope without selector", "Repository", `{spec: {usagePolicy: {allowedNamespaces: {from: Selector}}}}`,
			"spec.usagePolicy.allowedNamespaces", "selector is required when from is Selector"},
		{"unknown namespace scope", "Repository", `{spec: {usagePolicy: {allowedNamespaces: {from: Everyone}}}}`,
			"spec.usagePolicy.allowedNamespaces.from", "Unsupported value"},
		{"unknown invoker kind", "BackupSession", `{spec: {invoker: {kind: CronJob}}}`,
			"spec.invoker.kind", "Unsupported value"},
		{"negative retries left", "BackupSession", `{spec: {retryLeft: -1}}`,
			"spec.retryLeft", "greater than or equal to 0"},
		{"restore without target or task", "RestoreSession", `{spec: {target: null}}`,
			"spec", "a restore needs a target or a task"},
		{"restore target without ref or templates", "RestoreSession", `{spec: {target: {ref: null}}}`,
			"spec", "target needs ref or volumeClaimTemplates"},
		{"restore include and exclude", "RestoreSession", `{spec: {target: {rules: [{include: [a], exclude: [b]}]}}}`,
			"spec.target.rules[0]", "include and exclude cannot both be set"},
		{"restore snapshot not an ID", "RestoreSession", `{spec: {target: {rules: [{snapshots: [yesterday]}]}}}`,
			"spec.target.rules[0].snapshots[0]", "should match"},
		{"blueprint without schedule", "BackupBlueprint", `{spec: {schedule: null}}`,
			"spec", "schedule is required"},
		{"blueprint with two backends", "BackupBlueprint", `{spec: {backend: {s3: {endpoint: e, bucket: bkt}}}}`,
			"spec.backend", "exactly one backend"},
		{"Function without image", "Function", `{spec: {image: null, args: [backup]}}`,
			"spec.image", "Required value"},
		{"Task with empty steps", "Task", `{spec: {steps: []}}`,
			"spec.steps", "should have at least 1 items"},
		{"Task step without name", "Task", `{spec: {steps: [{params: [{name: a, value: b}]}]}}`,
			"spec.steps[0].name", "Required value"},
		{"work item stable path outside /trove", "VolumeBackup", `{spec: {stablePath: /var/lib/kubelet/pods}}`,
			"spec.stablePath", "should match"},
		{"work item without node", "VolumeBackup", `{spec: {nodeName: null}}`,
			"spec.nodeName", "Required value"},
		{"work item priority out of range", "VolumeBackup", `{spec: {priority: 5000}}`,
			"spec.priority", "less than or equal to 1000"},
		{"maintenance with a bad check subset", "RepositoryMaintenance", `{spec: {check: {readDataSubset: "half"}}}`,
			"spec.check.readDataSubset", "should match"},
		{"maintenance with a negative retention", "RepositoryMaintenance", `{spec: {forget: [{policy: {keepDaily: -1}}]}}`,
			"spec.forget[0].policy.keepDaily", "greater than or equal to 0"},
		{"restore item snapshot not an ID", "VolumeRestore", `{spec: {snapshot: "../../etc"}}`,
			"spec.snapshot", "should match"},
	}
	require.GreaterOrEqual(t, len(cases), 25)
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			obj := map[string]any{}
			require.NoError(t, yaml.Unmarshal([]byte(bases[tc.kind]), &obj), tc.kind)
			patch := map[string]any{}
			require.NoError(t, yaml.Unmarshal([]byte(tc.patch), &patch))
			mergePatch(obj, patch)
			u := &unstructured.Unstructured{Object: obj}
			u.SetName(fmt.Sprintf("invalid-%d", i))

			err := cp.Client.Create(context.Background(), u, client.DryRunAll)
			require.Error(t, err, "the apiserver accepted an invalid %s", tc.kind)
			assert.Contains(t, err.Error(), tc.wantField)
			assert.Contains(t, err.Error(), tc.wantMessage)
		})
	}
}

// TestBasesAreValid keeps the invalid table honest: each base alone is accepted.
func TestBasesAreValid(t *testing.T) {
	ensureNamespace(t, "demo")
	for kind, base := range bases {
		t.Run(kind, func(t *testing.T) {
			obj := map[string]any{}
			require.NoError(t, yaml.Unmarshal([]byte(base), &obj))
			u := &unstructured.Unstructured{Object: obj}
			u.SetName("valid-base")
			require.NoError(t, cp.Client.Create(context.Background(), u, client.DryRunAll))
		})
	}
}

// TestWorkItemsSelectableByNode: agents list only their node's items with a field
// selector, which the CRDs declare as selectable.
func TestWorkItemsSelectableByNode(t *testing.T) {
	ensureNamespace(t, "select")
	for i, node := range []string{"node-a", "node-b", "node-a"} {
		obj := map[string]any{}
		require.NoError(t, yaml.Unmarshal([]byte(bases["VolumeBackup"]), &obj))
		u := &unstructured.Unstructured{Object: obj}
		u.SetNamespace("select")
		u.SetName(fmt.Sprintf("item-%d", i))
		require.NoError(t, unstructured.SetNestedField(u.Object, node, "spec", "nodeName"))
		require.NoError(t, cp.Client.Create(context.Background(), u))
	}
	list := &unstructured.UnstructuredList{}
	list.SetAPIVersion("trove.dev/v1alpha1")
	list.SetKind("VolumeBackupList")
	require.NoError(t, cp.Client.List(context.Background(), list, client.InNamespace("select"),
		client.MatchingFields{"spec.nodeName": "node-a"}))
	var names []string
	for _, it := range list.Items {
		names = append(names, it.GetName())
	}
	assert.ElementsMatch(t, []string{"item-0", "item-2"}, names)
}
