package restic

import (
	"fmt"
	"path"

	v1alpha1 "trove.dev/trove/apis/v1alpha1"
)

// FromRepository turns a Repository's backend into a BackendSpec. A local
// backend's repository is at mountPath/subPath, as mounted where restic runs.
func FromRepository(repo *v1alpha1.Repository) (BackendSpec, error) {
	b := repo.Spec.Backend
	var s BackendSpec
	switch b.Type() {
	case v1alpha1.BackendLocal:
		s.Local = &LocalBackend{Path: path.Join(b.Local.MountPath, b.Local.SubPath)}
	case v1alpha1.BackendS3:
		s.S3 = &S3Backend{Endpoint: b.S3.Endpoint, Bucket: b.S3.Bucket, Prefix: b.S3.Prefix, Region: b.S3.Region, InsecureTLS: b.S3.InsecureTLS}
	case v1alpha1.BackendGCS:
		s.GCS = &GCSBackend{Bucket: b.GCS.Bucket, Prefix: b.GCS.Prefix, MaxConnections: int(b.GCS.MaxConnections)}
	case v1alpha1.BackendAzure:
		s.Azure = &AzureBackend{Container: b.Azure.Container, Prefix: b.Azure.Prefix, MaxConnections: int(b.Azure.MaxConnections)}
	case v1alpha1.BackendSwift:
		s.Swift = &SwiftBackend{Container: b.Swift.Container, Prefix: b.Swift.Prefix}
	case v1alpha1.BackendB2:
		s.B2 = &B2Backend{Bucket: b.B2.Bucket, Prefix: b.B2.Prefix, MaxConnections: int(b.B2.MaxConnections)}
	case v1alpha1.BackendREST:
		s.Rest = &RestBackend{URL: b.Rest.URL}
	case v1alpha1.BackendSFTP:
		s.SFTP = &SFTPBackend{Host: b.SFTP.Host, Port: int(b.SFTP.Port), User: b.SFTP.User, Path: b.SFTP.Path}
	default:
		return s, fmt.Errorf("repository %s/%s has no backend", repo.Namespace, repo.Name)
	}
	return s, nil
}

// ThrottleFromAPI converts a work item's Throttle.
func ThrottleFromAPI(t *v1alpha1.Throttle) Throttle {
	var out Throttle
	if t == nil {
		return out
	}
	if t.Nice != nil && t.Nice.Adjustment != nil {
		n := int(*t.Nice.Adjustment)
		out.Nice = &n
	}
	if t.IONice != nil && t.IONice.Class != nil {
		c := int(*t.IONice.Class)
		out.IOClass = &c
		if t.IONice.ClassData != nil {
			out.IOClassData = int(*t.IONice.ClassData)
		}
	}
	out.LimitUploadKiBps = int(t.LimitUploadKiBps)
	out.LimitDownloadKiBps = int(t.LimitDownloadKiBps)
	return out
}
