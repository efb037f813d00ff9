// Package appbinding reads AppBindings (appcatalog.appscode.com/v1alpha1), the
// objects that tell the built-in database Functions how to reach a database:
// its address (spec.clientConfig), its credentials (spec.secret) and its kind
// (spec.type). Trove does not own the kind: KubeDB installs it, and
// deploy/optional/appbinding-crd.yaml is a minimal CRD for clusters without
// KubeDB. AppBindings are read as unstructured objects, so no scheme or Go
// types of another project are needed.
package appbinding

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// GVK is the AppBinding kind.
var GVK = schema.GroupVersionKind{Group: "appcatalog.appscode.com", Version: "v1alpha1", Kind: "AppBinding"}

// Engines, as Engine returns them.
const (
	Postgres = "postgres"
	MySQL    = "mysql"
	MariaDB  = "mariadb"
	MongoDB  = "mongodb"
	Redis    = "redis"
)

// DefaultPorts are the engines' well-known ports, used when the AppBinding
// names none.
var DefaultPorts = map[string]int32{Postgres: 5432, MySQL: 3306, MariaDB: 3306, MongoDB: 27017, Redis: 6379}

// Service is spec.clientConfig.service: a Service in the AppBinding's namespace.
type Service struct {
	Name   string
	Port   int32
	Scheme string
	// Path is the URL path, for postgres the database name.
	Path  string
	Query string
}

// AppBinding is what Trove needs of an AppBinding.
type AppBinding struct {
	Name, Namespace string
	// Type is spec.type as written, e.g. "kubedb.com/postgres"; see Engine.
	Type    string
	Version string
	// URL is spec.clientConfig.url; when empty, Service is set.
	URL     string
	Service *Service
	// SecretName is spec.secret.name: the Secret with username and password.
	SecretName string
}

// Reason says why Get failed.
type Reason string

// Reasons of Error.
const (
	// ReasonNotInstalled: the API server does not serve AppBindings.
	ReasonNotInstalled Reason = "NotInstalled"
	// ReasonNotFound: no AppBinding of that name.
	ReasonNotFound Reason = "NotFound"
	// ReasonInvalid: the object lacks what Trove needs.
	ReasonInvalid Reason = "Invalid"
)

// Error is Get's typed error.
type Error struct {
	Reason          Reason
	Namespace, Name string
	Err             error
}

func (e *Error) Error() string {
	switch e.Reason {
	case ReasonNotInstalled:
		return fmt.Sprintf("AppBinding %s/%s: the API server does not serve %s (install KubeDB, or the minimal CRD deploy/optional/appbinding-crd.yaml): %v",
			e.Namespace, e.Name, GVK.GroupVersion(), e.Err)
	case ReasonNotFound:
		return fmt.Sprintf("AppBinding %s/%s not found: create it, or fix the target's name", e.Namespace, e.Name)
	default:
		return fmt.Sprintf("AppBinding %s/%s: %v", e.Namespace, e.Name, e.Err)
	}
}

func (e *Error) Unwrap() error { return e.Err }

// IsReason reports whether err is an *Error with that reason.
func IsReason(err error, r Reason) bool {
	var e *Error
	return errors.As(err, &e) && e.Reason == r
}

// Get reads one AppBinding. Its errors are *Error when the kind is not served,
// the object does not exist or lacks a client config.
func Get(ctx context.Context, c client.Reader, namespace, name string) (*AppBinding, error) {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(GVK)
	if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, u); err != nil {
		switch {
		case meta.IsNoMatchError(err):
			return nil, &Error{Reason: ReasonNotInstalled, Namespace: namespace, Name: name, Err: err}
		case apierrors.IsNotFound(err):
			return nil, &Error{Reason: ReasonNotFound, Namespace: namespace, Name: name, Err: err}
		}
		return nil, fmt.Errorf("reading AppBinding %s/%s: %w", namespace, name, err)
	}
	return FromUnstructured(u)
}

// FromUnstructured converts an AppBinding object.
func FromUnstructured(u *unstructured.Unstructured) (*AppBinding, error) {
	a := &AppBinding{Name: u.GetName(), Namespace: u.GetNamespace()}
	invalid := func(format string, args ...any) error {
		return &Error{Reason: ReasonInvalid, Namespace: a.Namespace, Name: a.Name, Err: fmt.Errorf(format, args...)}
	}
	str := func(path ...string) string {
		s, _, _ := unstructured.NestedString(u.Object, path...)
		return s
	}
	a.Type = str("spec", "type")
	a.Version = str("spec", "version")
	a.URL = str("spec", "clientConfig", "url")
	a.SecretName = str("spec", "secret", "name")
	if svc, ok, _ := unstructured.NestedMap(u.Object, "spec", "clientConfig", "service"); ok {
		s := &Service{Name: str("spec", "clientConfig", "service", "name"), Scheme: str("spec", "clientConfig", "service", "scheme"),
			Path: str("spec", "clientConfig", "service", "path"), Query: str("spec", "clientConfig", "service", "query")}
		switch p := svc["port"].(type) {
		case int64:
			s.Port = int32(p)
		case float64:
			s.Port = int32(p)
		case nil:
		default:
			return nil, invalid("spec.clientConfig.service.port %v is not a number", p)
		}
		if s.Name == "" {
			return nil, invalid("spec.clientConfig.service has no name")
		}
		a.Service = s
	}
	if a.URL == "" && a.Service == nil {
		return nil, invalid("spec.clientConfig has neither url nor service: set one so Trove can reach the database")
	}
	return a, nil
}

// Engine is the database kind, normalized: postgres, mysql, mariadb, mongodb,
// redis, or "" when unknown. It reads spec.type ("kubedb.com/postgres",
// "postgres", "PostgreSQL") and falls back to the URL's or service's scheme.
func (a *AppBinding) Engine() string {
	if e := normalize(a.Type); e != "" {
		return e
	}
	if a.URL != "" {
		if u, err := url.Parse(a.URL); err == nil {
			if e := normalize(u.Scheme); e != "" {
				return e
			}
		}
	}
	if a.Service != nil {
		return normalize(a.Service.Scheme)
	}
	return ""
}

func normalize(t string) string {
	t = strings.ToLower(strings.TrimSpace(t))
	if i := strings.LastIndexByte(t, '/'); i >= 0 {
		t = t[i+1:]
	}
	switch t {
	case "postgres", "postgresql", "pg", "pgsql":
		return Postgres
	case "mysql":
		return MySQL
	case "mariadb":
		return MariaDB
	case "mongodb", "mongo", "mongodb+srv":
		return MongoDB
	case "redis", "rediss":
		return Redis
	}
	return ""
}

// Address returns the database's host and port: from the URL, or the Service
// (<name>.<namespace>.svc). A missing port is the engine's default.
func (a *AppBinding) Address() (host string, port int32, err error) {
	var p string
	switch {
	case a.URL != "":
		u, err := url.Parse(a.URL)
		if err != nil || u.Host == "" {
			// "host:port" without a scheme.
			h, pp, splitErr := net.SplitHostPort(a.URL)
			if splitErr != nil {
				return "", 0, fmt.Errorf("AppBinding %s/%s: spec.clientConfig.url %q is neither a URL nor host:port", a.Namespace, a.Name, a.URL)
			}
			host, p = h, pp
		} else {
			host, p = u.Hostname(), u.Port()
		}
	case a.Service != nil:
		host = a.Service.Name + "." + a.Namespace + ".svc"
		port = a.Service.Port
	default:
		return "", 0, fmt.Errorf("AppBinding %s/%s has no client config", a.Namespace, a.Name)
	}
	if p != "" {
		n, err := strconv.ParseUint(p, 10, 16)
		if err != nil || n == 0 {
			return "", 0, fmt.Errorf("AppBinding %s/%s: bad port %q", a.Namespace, a.Name, p)
		}
		port = int32(n)
	}
	if port == 0 {
		port = DefaultPorts[a.Engine()]
		if port == 0 {
			return "", 0, fmt.Errorf("AppBinding %s/%s: no port, and the engine %q has no default; set the port", a.Namespace, a.Name, a.Type)
		}
	}
	return host, port, nil
}

// Database is the database the URL or service path names (postgres), or "".
func (a *AppBinding) Database() string {
	if a.URL != "" {
		if u, err := url.Parse(a.URL); err == nil && u.Host != "" {
			return strings.TrimPrefix(u.Path, "/")
		}
		return ""
	}
	if a.Service != nil {
		return strings.TrimPrefix(a.Service.Path, "/")
	}
	return ""
}
