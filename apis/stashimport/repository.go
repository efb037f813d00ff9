package stashimport

import (
	"fmt"
	"net/url"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	troveapi "trove.dev/trove/apis/v1alpha1"
)

func convertRepository(spec *fields, rep *ObjectReport) client.Object {
	rs, ok := repositorySpec(spec, rep)
	if !ok {
		return nil
	}
	return &troveapi.Repository{Spec: rs}
}

// repositorySpec takes backend, usagePolicy and wipeOut (a Repository's spec, or
// inline in a BackupBlueprint's).
func repositorySpec(spec *fields, rep *ObjectReport) (troveapi.RepositorySpec, bool) {
	var rs troveapi.RepositorySpec
	b := spec.child("backend")
	if b == nil {
		rep.Reason = "spec.backend is missing: Trove needs to know where the repository lives"
		return rs, false
	}
	be, ok := backend(b, rep)
	if !ok {
		return rs, false
	}
	rs.Backend = be
	rs.WipeOut = spec.boolean("wipeOut")
	if u := spec.child("usagePolicy"); u != nil {
		rs.UsagePolicy = usagePolicy(u)
	}
	return rs, true
}

func usagePolicy(u *fields) *troveapi.UsagePolicy {
	defer u.leftovers()
	a := u.child("allowedNamespaces")
	if a == nil {
		return nil
	}
	defer a.leftovers()
	p := &troveapi.UsagePolicy{}
	from := troveapi.NamespaceScope(a.str("from"))
	switch from {
	case "", troveapi.NamespacesSame, troveapi.NamespacesAll:
		p.AllowedNamespaces.From = from
		a.ignore("selector")
	case troveapi.NamespacesSelector:
		sel := &metav1.LabelSelector{}
		if a.decode("selector", sel) {
			p.AllowedNamespaces.From, p.AllowedNamespaces.Selector = from, sel
		} else {
			a.rep.unmapped(a.at("from"), "Selector without a usable selector; left at Trove's default, Same")
		}
	default:
		a.rep.unmapped(a.at("from"), fmt.Sprintf("%q is not Same, Selector or All; left at Trove's default, Same", from))
	}
	if p.AllowedNamespaces.From == "" {
		return nil
	}
	return p
}

// backendKeys are Stash's backends in the order one is chosen when several are set.
var backendKeys = []string{"local", "s3", "gcs", "azure", "swift", "b2", "rest", "sftp"}

func backend(b *fields, rep *ObjectReport) (troveapi.Backend, bool) {
	be := troveapi.Backend{StorageSecretName: b.str("storageSecretName")}
	if be.StorageSecretName == "" {
		rep.Reason = "spec.backend.storageSecretName is missing: Trove needs the Secret with RESTIC_PASSWORD and the backend's keys"
		b.leftovers()
		return be, false
	}
	chosen := ""
	for _, k := range backendKeys {
		f := b.child(k)
		if f == nil {
			continue
		}
		if chosen != "" {
			rep.unmapped(f.path, fmt.Sprintf("a second backend besides %s; Trove takes exactly one; dropped", chosen))
			f.ignore(keys(f.m)...)
			continue
		}
		if backendOf(f, &be) {
			chosen = k
		}
		f.leftovers()
	}
	b.leftovers()
	if chosen == "" {
		rep.Reason = "spec.backend has no backend Trove can use (local, s3, gcs, azure, swift, b2, rest or sftp)"
		return be, false
	}
	return be, true
}

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// backendOf fills the backend f names; false when it is unusable (reported).
func backendOf(f *fields, be *troveapi.Backend) bool {
	rep := f.rep
	switch f.path[len("spec.backend."):] {
	case "local":
		l := &troveapi.LocalSpec{MountPath: f.str("mountPath"), SubPath: f.str("subPath")}
		if l.MountPath == "" || l.MountPath[0] != '/' {
			rep.unmapped(f.at("mountPath"), "Trove needs an absolute mountPath for a local backend; backend dropped")
			f.ignore(keys(f.m)...)
			return false
		}
		var vs corev1.VolumeSource
		if f.decodeRest(&vs) {
			l.VolumeSource = vs
		}
		be.Local = l
	case "s3":
		s := &troveapi.S3Spec{Endpoint: f.str("endpoint"), Bucket: f.str("bucket"), Prefix: f.str("prefix"), Region: f.str("region"), InsecureTLS: f.boolean("insecureTLS")}
		if s.Endpoint == "" {
			s.Endpoint = "s3.amazonaws.com"
			rep.note(f.at("endpoint"), "not set: Trove needs one; written as s3.amazonaws.com, the AWS endpoint restic uses by default")
		}
		be.S3 = s
	case "gcs":
		be.GCS = &troveapi.GCSSpec{Bucket: f.str("bucket"), Prefix: f.str("prefix"), MaxConnections: f.int32v("maxConnections", 0, 1<<31-1)}
	case "azure":
		be.Azure = &troveapi.AzureSpec{Container: f.str("container"), Prefix: f.str("prefix"), MaxConnections: f.int32v("maxConnections", 0, 1<<31-1)}
		f.drop("storageAccount", "Trove reads the account from AZURE_ACCOUNT_NAME in the storage Secret; dropped")
	case "swift":
		be.Swift = &troveapi.SwiftSpec{Container: f.str("container"), Prefix: f.str("prefix")}
	case "b2":
		be.B2 = &troveapi.B2Spec{Bucket: f.str("bucket"), Prefix: f.str("prefix"), MaxConnections: f.int32v("maxConnections", 0, 1<<31-1)}
	case "rest":
		raw := f.str("url")
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			// the URL is not printed: it may hold credentials
			rep.unmapped(f.at("url"), "not an http(s) URL; backend dropped")
			return false
		}
		if u.User != nil {
			u.User = nil
			rep.unmapped(f.at("url"), "credentials in the URL are removed (never printed): put REST_SERVER_USERNAME and REST_SERVER_PASSWORD into the storage Secret")
		}
		be.Rest = &troveapi.RestServerSpec{URL: u.String()}
	case "sftp":
		be.SFTP = &troveapi.SFTPSpec{Host: f.str("host"), Port: f.int32v("port", 1, 65535), User: f.str("user"), Path: f.str("path")}
	}
	return true
}
