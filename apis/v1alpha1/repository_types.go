package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// BackendType names a restic storage backend.
// +kubebuilder:validation:Enum=local;s3;gcs;azure;swift;b2;rest;sftp
type BackendType string

const (
	BackendLocal BackendType = "local"
	BackendS3    BackendType = "s3"
	BackendGCS   BackendType = "gcs"
	BackendAzure BackendType = "azure"
	BackendSwift BackendType = "swift"
	BackendB2    BackendType = "b2"
	BackendREST  BackendType = "rest"
	BackendSFTP  BackendType = "sftp"
)

// Backend says where a restic repository lives. Exactly one backend is set.
// The Secret named by storageSecretName holds RESTIC_PASSWORD and the backend's keys.
// +kubebuilder:validation:XValidation:rule="[has(self.local), has(self.s3), has(self.gcs), has(self.azure), has(self.swift), has(self.b2), has(self.rest), has(self.sftp)].filter(x, x).size() == 1",message="exactly one backend (local, s3, gcs, azure, swift, b2, rest or sftp) must be set"
type Backend struct {
	// StorageSecretName is the Secret, in the Repository's namespace, that holds
	// RESTIC_PASSWORD and the credentials of the backend.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	StorageSecretName string `json:"storageSecretName"`

	// +optional
	Local *LocalSpec `json:"local,omitempty"`
	// +optional
	S3 *S3Spec `json:"s3,omitempty"`
	// +optional
	GCS *GCSSpec `json:"gcs,omitempty"`
	// +optional
	Azure *AzureSpec `json:"azure,omitempty"`
	// +optional
	Swift *SwiftSpec `json:"swift,omitempty"`
	// +optional
	B2 *B2Spec `json:"b2,omitempty"`
	// +optional
	Rest *RestServerSpec `json:"rest,omitempty"`
	// +optional
	SFTP *SFTPSpec `json:"sftp,omitempty"`
}

// LocalSpec is a repository on a volume mounted into whatever runs restic.
type LocalSpec struct {
	// VolumeSource is the volume that holds the repository.
	corev1.VolumeSource `json:",inline"`

	// MountPath is where the volume is mounted; the repository is at mountPath/subPath.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=4096
	// +kubebuilder:validation:Pattern=`^/`
	MountPath string `json:"mountPath"`

	// SubPath is a directory inside the volume.
	// +optional
	// +kubebuilder:validation:MaxLength=4096
	SubPath string `json:"subPath,omitempty"`
}

// S3Spec is an S3 or S3-compatible (MinIO, Ceph RGW, ...) bucket.
type S3Spec struct {
	// Endpoint is the server, e.g. s3.amazonaws.com or https://minio.example:9000.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=2048
	Endpoint string `json:"endpoint"`
	// +required
	// +kubebuilder:validation:MinLength=3
	// +kubebuilder:validation:MaxLength=63
	Bucket string `json:"bucket"`
	// Prefix is a directory inside the bucket.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Prefix string `json:"prefix,omitempty"`
	// +optional
	// +kubebuilder:validation:MaxLength=64
	Region string `json:"region,omitempty"`
	// InsecureTLS skips verification of the server's certificate. Prefer a CA
	// certificate in the storage Secret (key CA_CERT_DATA).
	// +optional
	InsecureTLS bool `json:"insecureTLS,omitempty"`
}

// GCSSpec is a Google Cloud Storage bucket.
type GCSSpec struct {
	// +required
	// +kubebuilder:validation:MinLength=3
	// +kubebuilder:validation:MaxLength=222
	Bucket string `json:"bucket"`
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Prefix string `json:"prefix,omitempty"`
	// MaxConnections limits parallel connections to the backend.
	// +optional
	// +kubebuilder:validation:Minimum=0
	MaxConnections int32 `json:"maxConnections,omitempty"`
}

// AzureSpec is an Azure Blob Storage container.
type AzureSpec struct {
	// +required
	// +kubebuilder:validation:MinLength=3
	// +kubebuilder:validation:MaxLength=63
	Container string `json:"container"`
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Prefix string `json:"prefix,omitempty"`
	// +optional
	// +kubebuilder:validation:Minimum=0
	MaxConnections int32 `json:"maxConnections,omitempty"`
}

// SwiftSpec is an OpenStack Swift container.
type SwiftSpec struct {
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	Container string `json:"container"`
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Prefix string `json:"prefix,omitempty"`
}

// B2Spec is a Backblaze B2 bucket.
type B2Spec struct {
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Bucket string `json:"bucket"`
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Prefix string `json:"prefix,omitempty"`
	// +optional
	// +kubebuilder:validation:Minimum=0
	MaxConnections int32 `json:"maxConnections,omitempty"`
}

// RestServerSpec is a restic rest-server. Credentials (REST_SERVER_USERNAME,
// REST_SERVER_PASSWORD) come from the storage Secret, never from the URL.
type RestServerSpec struct {
	// URL of the repository, e.g. https://backup.example:8000/trove.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:Pattern=`^https?://[^@]+$`
	URL string `json:"url"`
}

// SFTPSpec is a directory on an SFTP server. The private key (SSH_PRIVATE_KEY) and
// known hosts (SSH_KNOWN_HOSTS) come from the storage Secret.
type SFTPSpec struct {
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Host string `json:"host"`
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	Port int32 `json:"port,omitempty"`
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	User string `json:"user"`
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=4096
	Path string `json:"path"`
}

// NamespaceScope says which namespaces may use a Repository.
// +kubebuilder:validation:Enum=Same;Selector;All
type NamespaceScope string

const (
	NamespacesSame     NamespaceScope = "Same"
	NamespacesSelector NamespaceScope = "Selector"
	NamespacesAll      NamespaceScope = "All"
)

// AllowedNamespaces says which namespaces may use a Repository.
// +kubebuilder:validation:XValidation:rule="self.from == 'Selector' ? has(self.selector) : !has(self.selector)",message="selector is required when from is Selector and not allowed otherwise"
type AllowedNamespaces struct {
	// From is Same (default: only the Repository's namespace), Selector or All.
	// +optional
	// +kubebuilder:default=Same
	From NamespaceScope `json:"from,omitempty"`
	// Selector picks namespaces by label when from is Selector.
	// +optional
	Selector *metav1.LabelSelector `json:"selector,omitempty"`
}

// UsagePolicy limits who may use a Repository.
type UsagePolicy struct {
	// +optional
	AllowedNamespaces AllowedNamespaces `json:"allowedNamespaces,omitempty"`
}

// RepositorySpec is a restic repository and who may use it.
type RepositorySpec struct {
	// +required
	Backend Backend `json:"backend"`
	// UsagePolicy says which namespaces' configurations may back up into this repository.
	// +optional
	UsagePolicy *UsagePolicy `json:"usagePolicy,omitempty"`
	// WipeOut deletes the backed up data from the backend when the Repository is deleted.
	// +optional
	WipeOut bool `json:"wipeOut,omitempty"`
}

// IntegrityState is the result of the last `restic check`.
// +kubebuilder:validation:Enum=Unknown;Healthy;Corrupted
type IntegrityState string

const (
	IntegrityUnknown   IntegrityState = "Unknown"
	IntegrityHealthy   IntegrityState = "Healthy"
	IntegrityCorrupted IntegrityState = "Corrupted"
)

// RepositoryStatus reports what the repository holds.
type RepositoryStatus struct {
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// SnapshotCount is the number of snapshots in the repository.
	// +optional
	SnapshotCount int64 `json:"snapshotCount,omitempty"`
	// TotalSize is the repository's size on the backend, e.g. "1.2 GiB".
	// +optional
	TotalSize string `json:"totalSize,omitempty"`
	// +optional
	LastBackupTime *metav1.Time `json:"lastBackupTime,omitempty"`
	// +optional
	LastCheckTime *metav1.Time `json:"lastCheckTime,omitempty"`
	// +optional
	Integrity IntegrityState `json:"integrity,omitempty"`
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// Repository is a restic repository on a storage backend.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=repo,categories=trove
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Snapshots",type=integer,JSONPath=`.status.snapshotCount`
// +kubebuilder:printcolumn:name="Size",type=string,JSONPath=`.status.totalSize`
// +kubebuilder:printcolumn:name="Last Backup",type=date,JSONPath=`.status.lastBackupTime`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Repository struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec RepositorySpec `json:"spec"`
	// +optional
	Status RepositoryStatus `json:"status,omitempty"`
}

// RepositoryList is a list of Repositories.
// +kubebuilder:object:root=true
type RepositoryList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Repository `json:"items"`
}

func init() { SchemeBuilder.Register(&Repository{}, &RepositoryList{}) }
