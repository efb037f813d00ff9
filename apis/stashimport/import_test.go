package stashimport_test

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"trove.dev/trove/apis/stashimport"
	troveapi "trove.dev/trove/apis/v1alpha1"
	"trove.dev/trove/test/controlplane"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

var (
	cpOnce sync.Once
	cp     *controlplane.ControlPlane
	cpErr  error
)

// controlPlane starts the real kube-apiserver with Trove's CRDs on first use, so the
// unit tests and the fuzz workers run without one.
func controlPlane(t *testing.T) *controlplane.ControlPlane {
	t.Helper()
	cpOnce.Do(func() { cp, cpErr = controlplane.Start(controlplane.Options{}) })
	require.NoError(t, cpErr)
	return cp
}

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	if cp != nil {
		if err := cp.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stopping the control plane:", err)
		}
	}
	os.Exit(code)
}

// inputs are the Stash samples under testdata/ (the malformed one aside).
func inputs(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "*.stash.yaml"))
	require.NoError(t, err)
	var out []string
	for _, f := range files {
		if !strings.HasPrefix(filepath.Base(f), "malformed") {
			out = append(out, f)
		}
	}
	require.Len(t, out, 4)
	return out
}

func importFile(t *testing.T, path string) *stashimport.Result {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	res, err := stashimport.Import(stashimport.Input{Name: path, Data: data})
	require.NoError(t, err)
	return res
}

func render(t *testing.T, res *stashimport.Result) (yamlOut, report string) {
	t.Helper()
	var y, r bytes.Buffer
	require.NoError(t, res.WriteYAML(&y))
	require.NoError(t, res.Report.Write(&r))
	return y.String(), r.String()
}

func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test ./apis/stashimport -run TestGolden -update to write it")
	assert.Equal(t, string(want), got, "differs from %s (rerun with -update after checking the change)", path)
}

// TestGolden converts each sample and compares the YAML and the report with the
// files next to it; a second run gives the same bytes.
func TestGolden(t *testing.T) {
	for _, in := range inputs(t) {
		t.Run(filepath.Base(in), func(t *testing.T) {
			y, r := render(t, importFile(t, in))
			base := strings.TrimSuffix(in, ".stash.yaml")
			golden(t, base+".trove.yaml", y)
			golden(t, base+".report.txt", r)
			y2, r2 := render(t, importFile(t, in))
			assert.Equal(t, y, y2, "output is not deterministic")
			assert.Equal(t, r, r2, "report is not deterministic")
		})
	}
}

// TestGoldenCounts pins what each sample must give, independent of the golden bytes.
func TestGoldenCounts(t *testing.T) {
	cases := map[string]struct {
		converted, skipped, notConverted int
		complete                         bool
	}{
		"seed-functions-tasks.stash.yaml": {converted: 3, complete: true},
		"seed-functions-later.stash.yaml": {converted: 2, complete: true},
		// 1 Repository, 4 BackupConfigurations, 3 RestoreSessions, 3 BackupTemplates, 3
		// Functions, 1 Task; 2 BackupSessions, an AppBinding and a Deployment are not.
		"proposal.stash.yaml": {converted: 15, notConverted: 4},
		"released.stash.yaml": {converted: 8, skipped: 1, notConverted: 1},
	}
	for _, in := range inputs(t) {
		want, ok := cases[filepath.Base(in)]
		require.True(t, ok, in)
		res := importFile(t, in)
		c, s, n, _ := res.Report.Counts()
		assert.Equal(t, []int{want.converted, want.skipped, want.notConverted}, []int{c, s, n}, in)
		assert.Equal(t, want.complete, res.Report.Complete(), in)
		assert.Len(t, res.Objects, want.converted, in)
	}
}

// TestConvertedObjectsAreAccepted creates every converted object on the real
// kube-apiserver with Trove's CRDs, reads it back and checks that the apiserver kept
// every field it was sent (nothing pruned as unknown).
func TestConvertedObjectsAreAccepted(t *testing.T) {
	ctx := context.Background()
	cp := controlPlane(t)
	created := 0
	for _, in := range inputs(t) {
		t.Run(filepath.Base(in), func(t *testing.T) {
			y, _ := render(t, importFile(t, in))
			for _, obj := range parseObjects(t, y) {
				t.Run(obj.GetKind()+"/"+obj.GetName(), func(t *testing.T) {
					if ns := obj.GetNamespace(); ns != "" {
						ensureNamespace(t, ns)
					}
					sent := obj.DeepCopy()
					require.NoError(t, cp.Client.Create(ctx, obj))
					created++
					t.Cleanup(func() { _ = cp.Client.Delete(ctx, obj) })
					got := &unstructured.Unstructured{}
					got.SetGroupVersionKind(obj.GroupVersionKind())
					require.NoError(t, cp.Client.Get(ctx, client.ObjectKeyFromObject(obj), got))
					assertSubset(t, "spec", sent.Object["spec"], got.Object["spec"])
				})
			}
		})
	}
	assert.Equal(t, 28, created, "every converted object of every sample is created")
}

// assertSubset fails for every value of want that got does not hold (got may hold
// more: the CRD's defaults).
func assertSubset(t *testing.T, path string, want, got any) {
	t.Helper()
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !assert.True(t, ok, "%s: not an object on the server", path) {
			return
		}
		for k, v := range w {
			assertSubset(t, path+"."+k, v, g[k])
		}
	case []any:
		g, ok := got.([]any)
		if !assert.True(t, ok && len(g) == len(w), "%s: list differs on the server", path) {
			return
		}
		for i := range w {
			assertSubset(t, fmt.Sprintf("%s[%d]", path, i), w[i], g[i])
		}
	default:
		assert.Equal(t, fmt.Sprint(want), fmt.Sprint(got), "%s: the server holds another value", path)
	}
}

func ensureNamespace(t *testing.T, name string) {
	t.Helper()
	err := controlPlane(t).Client.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		require.NoError(t, err)
	}
}

func parseObjects(t *testing.T, stream string) []*unstructured.Unstructured {
	t.Helper()
	var out []*unstructured.Unstructured
	for _, doc := range strings.Split(stream, "\n---\n") {
		m := map[string]any{}
		require.NoError(t, yaml.Unmarshal([]byte(doc), &m))
		if len(m) > 0 {
			out = append(out, &unstructured.Unstructured{Object: m})
		}
	}
	return out
}

// TestSeedFunctionsAndTaskChangeOnlyAPIVersion: a Stash Function or Task works in
// Trove after changing only apiVersion, so that is all the import changes.
func TestSeedFunctionsAndTaskChangeOnlyAPIVersion(t *testing.T) {
	for _, in := range []string{"testdata/seed-functions-tasks.stash.yaml", "testdata/seed-functions-later.stash.yaml"} {
		data, err := os.ReadFile(in)
		require.NoError(t, err)
		stash := parseObjects(t, strings.TrimPrefix(string(data), "---\n"))
		res := importFile(t, in)
		require.True(t, res.Report.Complete(), in)
		y, _ := render(t, res)
		trove := parseObjects(t, y)
		require.Len(t, trove, len(stash), in)
		for i := range stash {
			want := stash[i].DeepCopy()
			want.SetAPIVersion("trove.dev/v1alpha1")
			assert.Equal(t, want.Object, trove[i].Object, "%s: %s", in, want.GetName())
		}
	}
}

func importOne(t *testing.T, doc string) (*stashimport.Result, *stashimport.ObjectReport) {
	t.Helper()
	res, err := stashimport.Import(stashimport.Input{Name: "test.yaml", Data: []byte(doc)})
	require.NoError(t, err)
	require.Len(t, res.Report.Objects, 1)
	return res, res.Report.Objects[0]
}

func unmappedPaths(r *stashimport.ObjectReport) []string {
	var out []string
	for _, f := range r.Unmapped {
		out = append(out, f.Path)
	}
	return out
}

const bcHead = `apiVersion: stash.appscode.com/v1beta1
kind: BackupConfiguration
metadata: {name: bc, namespace: demo}
spec:
  repository: {name: repo}
  schedule: "@daily"
`

// TestFieldsTroveLacksAreReported: each Stash field Trove has no place for is named
// in the report with its path, and the object is still converted.
func TestFieldsTroveLacksAreReported(t *testing.T) {
	cases := []struct {
		name, doc string
		want      []string
	}{
		{"volumeMounts, alias, replicas", bcHead + `  target:
    ref: {apiVersion: apps/v1, kind: Deployment, name: app}
    paths: [/data]
    volumeMounts: [{name: data, mountPath: /data}]
    alias: app
    replicas: 1`, []string{"spec.target.volumeMounts", "spec.target.alias", "spec.target.replicas"}},
		{"tempDir", bcHead + `  target: {ref: {apiVersion: apps/v1, kind: Deployment, name: app}}
  tempDir: {medium: Memory}`, []string{"spec.tempDir"}},
		{"hooks Trove does not run", bcHead + `  target: {ref: {apiVersion: apps/v1, kind: Deployment, name: app}}
  hooks:
    preBackup: {tcpSocket: {port: 80}}
    postBackup: {httpPost: {port: 80}, exec: {command: [sync]}}`, []string{"spec.hooks.preBackup.tcpSocket", "spec.hooks.preBackup", "spec.hooks.postBackup.httpPost"}},
		{"pod settings", bcHead + `  target: {ref: {apiVersion: apps/v1, kind: Deployment, name: app}}
  runtimeSettings:
    pod: {nodeName: n1, podLabels: {a: b}, serviceAccountAnnotations: {a: b}, topologySpreadConstraints: [{maxSkew: 1}]}`,
			[]string{"spec.runtimeSettings.pod.nodeName", "spec.runtimeSettings.pod.podLabels", "spec.runtimeSettings.pod.serviceAccountAnnotations", "spec.runtimeSettings.pod.topologySpreadConstraints"}},
		{"out of range and ill-typed", bcHead + `  target: {ref: {apiVersion: apps/v1, kind: Deployment, name: app}}
  backupHistoryLimit: 5000
  timeOut: soon
  runtimeSettings:
    container:
      nice: {adjustment: 40}
      ionice: {class: 9}
      resources: {requests: {cpu: 1}, bogus: 1}`,
			[]string{"spec.backupHistoryLimit", "spec.timeOut", "spec.runtimeSettings.container.nice.adjustment", "spec.runtimeSettings.container.ionice.class", "spec.runtimeSettings.container.resources"}},
		{"unknown fields anywhere", bcHead + `  someday: true
  target:
    ref: {apiVersion: apps/v1, kind: Deployment, name: app}
    future: {deep: {leaf: 1}}`, []string{"spec.someday", "spec.target.future.deep.leaf"}},
		{"a schedule Trove cannot read", strings.Replace(bcHead, `"@daily"`, `"@every 1d"`, 1) + `  target: {ref: {apiVersion: apps/v1, kind: Deployment, name: app}}`, []string{"spec.schedule"}},
		{"a target kind Trove lacks, with a task", bcHead + `  task: {name: cluster-backup}
  target: {ref: {apiVersion: v1, kind: ReplicationController, name: rc}}`, []string{"spec.target.ref"}},
		{"restore driver VolumeSnapshotter", `apiVersion: stash.appscode.com/v1beta1
kind: RestoreSession
metadata: {name: r, namespace: demo}
spec:
  driver: VolumeSnapshotter
  repository: {name: repo}
  target:
    ref: {apiVersion: apps/v1, kind: Deployment, name: app}
    rules: [{snapshots: [latest], paths: [relative]}]`, []string{"spec.driver", "spec.target.rules[0].paths[0]"}},
		{"credentials in a rest URL", `apiVersion: stash.appscode.com/v1alpha1
kind: Repository
metadata: {name: r, namespace: demo}
spec:
  backend:
    storageSecretName: s
    rest: {url: "http://u:p@rest:8000/"}
    sftp: {host: second}`, []string{"spec.backend.rest.url", "spec.backend.sftp"}},
		{"azure storageAccount", `apiVersion: stash.appscode.com/v1alpha1
kind: Repository
metadata: {name: r, namespace: demo}
spec:
  backend:
    storageSecretName: s
    azure: {container: c, storageAccount: acct}`, []string{"spec.backend.azure.storageAccount"}},
		{"Function and Task fields", `apiVersion: stash.appscode.com/v1beta1
kind: Task
metadata: {name: t}
spec:
  steps: [{name: f, params: [{name: a, value: b, secret: x}], when: always}]`, []string{"spec.steps[0].params[0].secret", "spec.steps[0].when"}},
		{"Function with a field Kubernetes lacks", `apiVersion: stash.appscode.com/v1beta1
kind: Function
metadata: {name: f, ownerReferences: [{name: x}]}
spec:
  image: busybox
  volumeMounts: [{name: v, mountPath: /v, readonlyy: true}]`, []string{"metadata.ownerReferences", "spec.volumeMounts"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, rep := importOne(t, c.doc)
			assert.Equal(t, stashimport.Converted, rep.Outcome, rep.Reason)
			assert.Subset(t, unmappedPaths(rep), c.want)
			assert.Len(t, rep.Unmapped, len(c.want), "%v", rep.Unmapped)
			assert.False(t, res.Report.Complete())
			for _, f := range rep.Unmapped {
				assert.NotEmpty(t, f.Message, f.Path)
			}
		})
	}
}

// TestNotes: fields carried over with a change are converted and noted, not reported
// as lost.
func TestNotes(t *testing.T) {
	res, rep := importOne(t, `apiVersion: stash.appscode.com/v1beta1
kind: BackupConfiguration
metadata: {name: bc, namespace: demo, labels: {b: 2, a: x}}
spec:
  driver: VolumeSnapshotter
  repository: {name: myRepo}
  target: {ref: {apiVersion: apps/v1beta2, kind: Deployment, name: app}, paths: [/data]}`)
	require.Len(t, res.Objects, 1)
	bc := res.Objects[0].Object.(*troveapi.BackupConfiguration)
	assert.True(t, bc.Spec.Paused, "no schedule: imported paused")
	assert.Equal(t, troveapi.SourceSnapshot, bc.Spec.Target.Source)
	assert.Equal(t, "apps/v1", bc.Spec.Target.Ref.APIVersion)
	assert.Equal(t, "my-repo", bc.Spec.Repository.Name)
	assert.Equal(t, map[string]string{"a": "x", "b": "2"}, bc.Labels)
	assert.Empty(t, rep.Unmapped)
	var notes []string
	for _, n := range rep.Notes {
		notes = append(notes, n.Path)
	}
	assert.ElementsMatch(t, []string{"spec.schedule", "spec.driver", "spec.target.ref.apiVersion", "spec.repository.name"}, notes)
	assert.True(t, res.Report.Complete())
}

// TestNotConverted: objects Trove could not hold valid, and other kinds, are reported
// with the reason and not written.
func TestNotConverted(t *testing.T) {
	cases := []struct{ name, doc, reason string }{
		{"unknown kind", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {a: b}", "not a Stash kind"},
		{"Stash kind Trove lacks", "apiVersion: stash.appscode.com/v1beta1\nkind: RestoreBatch\nmetadata: {name: r}", "RestoreBatch"},
		{"no repository", "apiVersion: stash.appscode.com/v1beta1\nkind: BackupConfiguration\nmetadata: {name: b}\nspec: {schedule: '@daily'}", "spec.repository.name"},
		{"no backend", "apiVersion: stash.appscode.com/v1alpha1\nkind: Repository\nmetadata: {name: r}\nspec: {}", "spec.backend"},
		{"no secret", "apiVersion: stash.appscode.com/v1alpha1\nkind: Repository\nmetadata: {name: r}\nspec: {backend: {gcs: {bucket: b}}}", "storageSecretName"},
		{"no image", "apiVersion: stash.appscode.com/v1beta1\nkind: Function\nmetadata: {name: f}\nspec: {args: [a]}", "spec.image"},
		{"no steps", "apiVersion: stash.appscode.com/v1beta1\nkind: Task\nmetadata: {name: t}\nspec: {steps: []}", "spec.steps"},
		{"no name", "apiVersion: stash.appscode.com/v1beta1\nkind: Task\nspec: {steps: [{name: a}]}", "metadata.name"},
		{"blueprint without schedule", "apiVersion: stash.appscode.com/v1beta1\nkind: BackupBlueprint\nmetadata: {name: b}\nspec: {backend: {storageSecretName: s, gcs: {bucket: b}}}", "spec.schedule"},
		{"nothing to back up", bcHead + "  target: {ref: {apiVersion: v1, kind: Service, name: s}}", "neither a target nor a task"},
		{"no apiVersion", "kind: Task\nmetadata: {name: t}", "no apiVersion or kind"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, rep := importOne(t, c.doc)
			assert.Equal(t, stashimport.NotConverted, rep.Outcome)
			assert.Contains(t, rep.Reason, c.reason)
			assert.Empty(t, res.Objects)
			assert.False(t, res.Report.Complete())
		})
	}
}

// TestSecretsNeverPrinted: a Secret in the input is skipped and its data, like
// credentials in a URL, appears neither in the output nor in the report.
func TestSecretsNeverPrinted(t *testing.T) {
	y, r := render(t, importFile(t, "testdata/released.stash.yaml"))
	for _, secret := range []string{"c3VwZXItc2VjcmV0LXJlc3RpYw==", "super-secret-restic", "QUtJQUVYQU1QTEU=", "plain-text-aws-secret-key", "rest-pass-w0rd", "backup-user"} {
		assert.NotContains(t, y, secret)
		assert.NotContains(t, r, secret)
	}
	res, rep := importOne(t, "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData: {RESTIC_PASSWORD: hunter2}")
	assert.Equal(t, stashimport.Skipped, rep.Outcome)
	assert.True(t, res.Report.Complete(), "a skipped Secret loses nothing")
	assert.Empty(t, res.Objects)
}

// TestListsAreExpanded: `kubectl get ... -o yaml` writes a List.
func TestListsAreExpanded(t *testing.T) {
	res, err := stashimport.Import(stashimport.Input{Name: "list.yaml", Data: []byte(`apiVersion: v1
kind: List
items:
- apiVersion: stash.appscode.com/v1beta1
  kind: Task
  metadata: {name: a}
  spec: {steps: [{name: f}]}
- apiVersion: stash.appscode.com/v1beta1
  kind: Task
  metadata: {name: b}
  spec: {steps: [{name: f}]}
`)})
	require.NoError(t, err)
	require.Len(t, res.Objects, 2)
	assert.Equal(t, "b", res.Objects[1].Object.GetName())
	assert.True(t, res.Report.Complete())
}

// TestMalformedInput names the file and the document.
func TestMalformedInput(t *testing.T) {
	data, err := os.ReadFile("testdata/malformed.stash.yaml")
	require.NoError(t, err)
	_, err = stashimport.Import(stashimport.Input{Name: "in.yaml", Data: []byte("apiVersion: v1\nkind: List\nitems: []\n")}, stashimport.Input{Name: "testdata/malformed.stash.yaml", Data: data})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "testdata/malformed.stash.yaml: document 2: not valid YAML")
	_, err = stashimport.Import(stashimport.Input{Name: "x.yaml", Data: []byte("apiVersion: v1\nkind: List\n---\n- a\n- b\n")})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "x.yaml: document 2")
	_, err = stashimport.Import(stashimport.Input{Name: "x.yaml", Data: []byte("# only a comment\n---\n")})
	assert.NoError(t, err, "empty documents are not errors")
}

// TestSourceNamesFileWithSeveralInputs: with several inputs the report says which file.
func TestSourceNamesFileWithSeveralInputs(t *testing.T) {
	doc := []byte("apiVersion: stash.appscode.com/v1beta1\nkind: Task\nmetadata: {name: t}\nspec: {steps: [{name: f}]}\n")
	res, err := stashimport.Import(stashimport.Input{Name: "a.yaml", Data: doc}, stashimport.Input{Name: "b.yaml", Data: doc})
	require.NoError(t, err)
	require.Len(t, res.Report.Objects, 2)
	assert.True(t, strings.HasPrefix(res.Report.Objects[1].Source, "b.yaml: "), res.Report.Objects[1].Source)
	assert.True(t, reflect.DeepEqual(res.Objects[0].Object, res.Objects[1].Object))
}

// FuzzImport: any input gives an error or a result that writes; never a panic.
func FuzzImport(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.stash.yaml"))
	for _, p := range files {
		data, err := os.ReadFile(p)
		if err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte(bcHead + "  target: {ref: {kind: 1, name: [x]}}\n  retentionPolicy: {keepLast: 1.5}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		res, err := stashimport.Import(stashimport.Input{Name: "fuzz.yaml", Data: data})
		if err != nil {
			return
		}
		var b bytes.Buffer
		if err := res.WriteYAML(&b); err != nil {
			t.Fatalf("WriteYAML: %v", err)
		}
		if err := res.Report.Write(&b); err != nil {
			t.Fatalf("Report.Write: %v", err)
		}
	})
}
