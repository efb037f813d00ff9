package appbinding_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"trove.dev/trove/apis/appbinding"
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
	_ = cp.Stop()
	os.Exit(code)
}

func object(spec map[string]any) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{"spec": spec}}
	u.SetGroupVersionKind(appbinding.GVK)
	u.SetNamespace("db")
	u.SetName("pg")
	return u
}

func TestEngineAndAddress(t *testing.T) {
	for _, tc := range []struct {
		name   string
		spec   map[string]any
		engine string
		host   string
		port   int32
		db     string
	}{
		{"kubedb service", map[string]any{"type": "kubedb.com/postgres", "clientConfig": map[string]any{"service": map[string]any{"name": "pg", "port": int64(5433), "scheme": "postgresql", "path": "app"}}},
			appbinding.Postgres, "pg.db.svc", 5433, "app"},
		{"service default port", map[string]any{"type": "MySQL", "clientConfig": map[string]any{"service": map[string]any{"name": "my"}}},
			appbinding.MySQL, "my.db.svc", 3306, ""},
		{"url", map[string]any{"type": "postgres", "clientConfig": map[string]any{"url": "postgres://10.0.0.1:6000/shop?sslmode=disable"}},
			appbinding.Postgres, "10.0.0.1", 6000, "shop"},
		{"type from url scheme", map[string]any{"clientConfig": map[string]any{"url": "redis://cache.example:7000"}},
			appbinding.Redis, "cache.example", 7000, ""},
		{"host:port url", map[string]any{"type": "kubedb.com/mariadb", "clientConfig": map[string]any{"url": "maria:3307"}},
			appbinding.MariaDB, "maria", 3307, ""},
		{"mongodb default", map[string]any{"type": "kubedb.com/mongodb", "clientConfig": map[string]any{"url": "mongodb://m0.example"}},
			appbinding.MongoDB, "m0.example", 27017, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := appbinding.FromUnstructured(object(tc.spec))
			require.NoError(t, err)
			assert.Equal(t, tc.engine, a.Engine())
			host, port, err := a.Address()
			require.NoError(t, err)
			assert.Equal(t, tc.host, host)
			assert.Equal(t, tc.port, port)
			assert.Equal(t, tc.db, a.Database())
		})
	}
}

func TestInvalid(t *testing.T) {
	_, err := appbinding.FromUnstructured(object(map[string]any{"type": "postgres"}))
	assert.True(t, appbinding.IsReason(err, appbinding.ReasonInvalid), "%v", err)
	assert.ErrorContains(t, err, "neither url nor service")
	_, err = appbinding.FromUnstructured(object(map[string]any{"clientConfig": map[string]any{"service": map[string]any{"port": int64(1)}}}))
	assert.ErrorContains(t, err, "no name")
	a, err := appbinding.FromUnstructured(object(map[string]any{"type": "oracle", "clientConfig": map[string]any{"url": "oracle://x"}}))
	require.NoError(t, err)
	assert.Equal(t, "", a.Engine())
	_, _, err = a.Address()
	assert.ErrorContains(t, err, "set the port")
}

// TestGetOnAPIServer reads AppBindings from a real API server: first without
// the CRD (a typed NotInstalled error), then with deploy/optional's CRD.
func TestGetOnAPIServer(t *testing.T) {
	ctx := context.Background()
	c := cp.Client
	_, err := appbinding.Get(ctx, c, "default", "pg")
	require.Error(t, err)
	assert.True(t, appbinding.IsReason(err, appbinding.ReasonNotInstalled), "%v", err)
	assert.ErrorContains(t, err, "appbinding-crd.yaml")

	_, err = envtest.InstallCRDs(cp.Config, envtest.CRDInstallOptions{
		Paths: []string{filepath.Join(controlplane.RepoRoot(), "deploy", "optional", "appbinding-crd.yaml")}, ErrorIfPathMissing: true})
	require.NoError(t, err)

	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "ab-"}}
	require.NoError(t, c.Create(ctx, ns))
	// A fresh client: the first one cached that the group did not exist.
	c2, err := client.New(cp.Config, client.Options{Scheme: controlplane.Scheme()})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		_, err := appbinding.Get(ctx, c2, ns.Name, "missing")
		return appbinding.IsReason(err, appbinding.ReasonNotFound)
	}, 30*time.Second, 200*time.Millisecond)

	u := object(map[string]any{
		"type":         "kubedb.com/postgres",
		"version":      "16.4",
		"clientConfig": map[string]any{"service": map[string]any{"name": "pg", "port": int64(5432), "scheme": "postgresql", "path": "shop", "query": "sslmode=disable"}},
		"secret":       map[string]any{"name": "pg-auth"},
		"extra":        "kept by KubeDB, ignored by Trove",
	})
	u.SetNamespace(ns.Name)
	require.NoError(t, c2.Create(ctx, u))
	a, err := appbinding.Get(ctx, c2, ns.Name, "pg")
	require.NoError(t, err)
	assert.Equal(t, &appbinding.AppBinding{Name: "pg", Namespace: ns.Name, Type: "kubedb.com/postgres", Version: "16.4",
		Service: &appbinding.Service{Name: "pg", Port: 5432, Scheme: "postgresql", Path: "shop", Query: "sslmode=disable"}, SecretName: "pg-auth"}, a)
	host, port, err := a.Address()
	require.NoError(t, err)
	assert.Equal(t, "pg."+ns.Name+".svc", host)
	assert.Equal(t, int32(5432), port)
	assert.Equal(t, appbinding.Postgres, a.Engine())

	_, err = appbinding.Get(ctx, c2, ns.Name, "missing")
	assert.ErrorContains(t, err, "not found")
}
