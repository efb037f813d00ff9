package v1alpha1

import "sort"

// Type names the backend that is set (exactly one is, by validation).
func (b *Backend) Type() BackendType {
	switch {
	case b.Local != nil:
		return BackendLocal
	case b.S3 != nil:
		return BackendS3
	case b.GCS != nil:
		return BackendGCS
	case b.Azure != nil:
		return BackendAzure
	case b.Swift != nil:
		return BackendSwift
	case b.B2 != nil:
		return BackendB2
	case b.Rest != nil:
		return BackendREST
	case b.SFTP != nil:
		return BackendSFTP
	}
	return ""
}

// Storage Secret keys. RESTIC_PASSWORD is always required; the rest per backend.
const (
	SecretResticPassword      = "RESTIC_PASSWORD"
	SecretAWSAccessKeyID      = "AWS_ACCESS_KEY_ID"
	SecretAWSSecretAccessKey  = "AWS_SECRET_ACCESS_KEY"
	SecretAWSSessionToken     = "AWS_SESSION_TOKEN"
	SecretCACertData          = "CA_CERT_DATA"
	SecretGoogleProjectID     = "GOOGLE_PROJECT_ID"
	SecretGoogleServiceKey    = "GOOGLE_SERVICE_ACCOUNT_JSON_KEY"
	SecretAzureAccountName    = "AZURE_ACCOUNT_NAME"
	SecretAzureAccountKey     = "AZURE_ACCOUNT_KEY"
	SecretAzureAccountSAS     = "AZURE_ACCOUNT_SAS"
	SecretAzureEndpointSuffix = "AZURE_ENDPOINT_SUFFIX"
	SecretB2AccountID         = "B2_ACCOUNT_ID"
	SecretB2AccountKey        = "B2_ACCOUNT_KEY"
	SecretRestServerUsername  = "REST_SERVER_USERNAME"
	SecretRestServerPassword  = "REST_SERVER_PASSWORD"
	SecretSSHPrivateKey       = "SSH_PRIVATE_KEY"
	SecretSSHKnownHosts       = "SSH_KNOWN_HOSTS"
)

// RequiredSecretKeys lists the storage Secret keys a backend cannot work without.
// Credentials a platform can supply otherwise (S3 through an instance role, Swift's
// many OS_* schemes) are not required.
func (b *Backend) RequiredSecretKeys() []string {
	keys := []string{SecretResticPassword}
	switch b.Type() {
	case BackendGCS:
		keys = append(keys, SecretGoogleProjectID, SecretGoogleServiceKey)
	case BackendAzure:
		keys = append(keys, SecretAzureAccountName)
	case BackendB2:
		keys = append(keys, SecretB2AccountID, SecretB2AccountKey)
	case BackendSFTP:
		keys = append(keys, SecretSSHPrivateKey)
	}
	return keys
}

// PairedSecretKeys are keys that must be set together or not at all.
func (b *Backend) PairedSecretKeys() [][2]string {
	switch b.Type() {
	case BackendS3:
		return [][2]string{{SecretAWSAccessKeyID, SecretAWSSecretAccessKey}}
	case BackendREST:
		return [][2]string{{SecretRestServerUsername, SecretRestServerPassword}}
	}
	return nil
}

// MissingSecretKeys lists the storage Secret keys the backend needs that data lacks
// (required keys, and the missing half of a pair), sorted.
func (b *Backend) MissingSecretKeys(data map[string][]byte) []string {
	var missing []string
	for _, key := range b.RequiredSecretKeys() {
		if len(data[key]) == 0 {
			missing = append(missing, key)
		}
	}
	for _, pair := range b.PairedSecretKeys() {
		a, c := len(data[pair[0]]) > 0, len(data[pair[1]]) > 0
		if a && !c {
			missing = append(missing, pair[1])
		} else if c && !a {
			missing = append(missing, pair[0])
		}
	}
	if b.Type() == BackendAzure && len(data[SecretAzureAccountKey]) == 0 && len(data[SecretAzureAccountSAS]) == 0 {
		missing = append(missing, SecretAzureAccountKey+" (or "+SecretAzureAccountSAS+")")
	}
	sort.Strings(missing)
	return missing
}
