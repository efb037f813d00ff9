package expose

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// maxName is the longest object name or label value an exposure uses (a DNS label).
const maxName = 63

// Name is an exposure name for a session and a PVC (or volume): "<session>-<pvc>", cut
// to 63 characters with a hash of the whole when longer, so it is a valid DNS label,
// object name and label value, and the same for the same inputs.
func Name(session, pvc string) string {
	return LabelValue(session + "-" + pvc)
}

// LabelValue returns s if it fits a label value, else a prefix of it plus a hash of s.
func LabelValue(s string) string {
	if len(s) <= maxName {
		return s
	}
	sum := sha256.Sum256([]byte(s))
	prefix := strings.TrimRight(s[:maxName-11], "-.")
	return prefix + "-" + hex.EncodeToString(sum[:])[:10]
}
