package v1alpha1_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	troveapi "trove.dev/trove/apis/v1alpha1"
)

func TestMissingSecretKeys(t *testing.T) {
	pw := map[string][]byte{"RESTIC_PASSWORD": []byte("p")}
	with := func(kv ...string) map[string][]byte {
		m := map[string][]byte{"RESTIC_PASSWORD": []byte("p")}
		for _, k := range kv {
			m[k] = []byte("x")
		}
		return m
	}
	for _, tc := range []struct {
		name    string
		backend troveapi.Backend
		data    map[string][]byte
		want    []string
	}{
		{"local needs only the password", troveapi.Backend{Local: &troveapi.LocalSpec{}}, pw, nil},
		{"no password", troveapi.Backend{Local: &troveapi.LocalSpec{}}, map[string][]byte{}, []string{"RESTIC_PASSWORD"}},
		{"s3 through an instance role", troveapi.Backend{S3: &troveapi.S3Spec{}}, pw, nil},
		{"s3 with half a key pair", troveapi.Backend{S3: &troveapi.S3Spec{}}, with("AWS_ACCESS_KEY_ID"), []string{"AWS_SECRET_ACCESS_KEY"}},
		{"gcs", troveapi.Backend{GCS: &troveapi.GCSSpec{}}, with("GOOGLE_PROJECT_ID"), []string{"GOOGLE_SERVICE_ACCOUNT_JSON_KEY"}},
		{"azure with a SAS token", troveapi.Backend{Azure: &troveapi.AzureSpec{}}, with("AZURE_ACCOUNT_NAME", "AZURE_ACCOUNT_SAS"), nil},
		{"azure without key or SAS", troveapi.Backend{Azure: &troveapi.AzureSpec{}}, with("AZURE_ACCOUNT_NAME"), []string{"AZURE_ACCOUNT_KEY (or AZURE_ACCOUNT_SAS)"}},
		{"b2", troveapi.Backend{B2: &troveapi.B2Spec{}}, pw, []string{"B2_ACCOUNT_ID", "B2_ACCOUNT_KEY"}},
		{"rest with a username only", troveapi.Backend{Rest: &troveapi.RestServerSpec{}}, with("REST_SERVER_USERNAME"), []string{"REST_SERVER_PASSWORD"}},
		{"sftp", troveapi.Backend{SFTP: &troveapi.SFTPSpec{}}, pw, []string{"SSH_PRIVATE_KEY"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, tc.backend.MissingSecretKeys(tc.data))
		})
	}
}
