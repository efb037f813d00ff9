package restic

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	v1alpha1 "trove.dev/trove/apis/v1alpha1"
	"trove.dev/trove/mover"
)

func TestFromRepository(t *testing.T) {
	tests := []struct {
		backend v1alpha1.Backend
		want    BackendSpec
	}{
		{v1alpha1.Backend{Local: &v1alpha1.LocalSpec{MountPath: "/repo", SubPath: "team/a"}}, BackendSpec{Local: &LocalBackend{Path: "/repo/team/a"}}},
		{v1alpha1.Backend{S3: &v1alpha1.S3Spec{Endpoint: "http://m:9000", Bucket: "b", Prefix: "p", Region: "r", InsecureTLS: true}},
			BackendSpec{S3: &S3Backend{Endpoint: "http://m:9000", Bucket: "b", Prefix: "p", Region: "r", InsecureTLS: true}}},
		{v1alpha1.Backend{GCS: &v1alpha1.GCSSpec{Bucket: "g", Prefix: "p", MaxConnections: 4}}, BackendSpec{GCS: &GCSBackend{Bucket: "g", Prefix: "p", MaxConnections: 4}}},
		{v1alpha1.Backend{Azure: &v1alpha1.AzureSpec{Container: "c", Prefix: "p", MaxConnections: 2}}, BackendSpec{Azure: &AzureBackend{Container: "c", Prefix: "p", MaxConnections: 2}}},
		{v1alpha1.Backend{Swift: &v1alpha1.SwiftSpec{Container: "c", Prefix: "p"}}, BackendSpec{Swift: &SwiftBackend{Container: "c", Prefix: "p"}}},
		{v1alpha1.Backend{B2: &v1alpha1.B2Spec{Bucket: "b", Prefix: "p", MaxConnections: 3}}, BackendSpec{B2: &B2Backend{Bucket: "b", Prefix: "p", MaxConnections: 3}}},
		{v1alpha1.Backend{Rest: &v1alpha1.RestServerSpec{URL: "https://r/x"}}, BackendSpec{Rest: &RestBackend{URL: "https://r/x"}}},
		{v1alpha1.Backend{SFTP: &v1alpha1.SFTPSpec{Host: "h", Port: 22, User: "u", Path: "/p"}}, BackendSpec{SFTP: &SFTPBackend{Host: "h", Port: 22, User: "u", Path: "/p"}}},
	}
	for _, tc := range tests {
		got, err := FromRepository(&v1alpha1.Repository{Spec: v1alpha1.RepositorySpec{Backend: tc.backend}})
		require.NoError(t, err)
		assert.Equal(t, tc.want, got)
	}
	_, err := FromRepository(&v1alpha1.Repository{})
	assert.Error(t, err)
}

func TestThrottleAndRetentionFromAPI(t *testing.T) {
	n, c, d := int32(10), int32(2), int32(7)
	got := ThrottleFromAPI(&v1alpha1.Throttle{Nice: &v1alpha1.NiceSettings{Adjustment: &n},
		IONice: &v1alpha1.IONiceSettings{Class: &c, ClassData: &d}, LimitUploadKiBps: 100, LimitDownloadKiBps: 200})
	require.NotNil(t, got.Nice)
	require.NotNil(t, got.IOClass)
	assert.Equal(t, 10, *got.Nice)
	assert.Equal(t, 2, *got.IOClass)
	assert.Equal(t, 7, got.IOClassData)
	assert.Equal(t, 100, got.LimitUploadKiBps)
	assert.Equal(t, 200, got.LimitDownloadKiBps)
	assert.Equal(t, Throttle{}, ThrottleFromAPI(nil))

	p := mover.RetentionFromAPI(v1alpha1.RetentionPolicy{Name: "x", KeepLast: 1, KeepHourly: 2, KeepDaily: 3, KeepWeekly: 4,
		KeepMonthly: 5, KeepYearly: 6, KeepTags: []string{"a"}, Prune: true, DryRun: true})
	assert.Equal(t, mover.RetentionPolicy{KeepLast: 1, KeepHourly: 2, KeepDaily: 3, KeepWeekly: 4, KeepMonthly: 5, KeepYearly: 6,
		KeepTags: []string{"a"}, Prune: true, DryRun: true}, p)
}
