package restic

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestRedactor(t *testing.T) {
	r := NewRedactor([]string{"hunter2!", "p@ss/word", "-----BEGIN KEY-----\nAAAABBBBCCCCDDDD\nEEEEFFFFGGGG\n-----END KEY-----\n", "  ", ""})
	tests := map[string]string{
		"Fatal: password hunter2! is wrong":          "Fatal: password [REDACTED] is wrong",
		"url https://u:p%40ss%2Fword@host/ failed":   "url https://u:[REDACTED]@host/ failed",
		"key line AAAABBBBCCCCDDDD leaked":           "key line [REDACTED] leaked",
		"nothing secret here":                        "nothing secret here",
		"twice hunter2! and hunter2!":                "twice [REDACTED] and [REDACTED]",
		"-----BEGIN KEY----- markers are not secret": "-----BEGIN KEY----- markers are not secret",
	}
	for in, want := range tests {
		assert.Equal(t, want, r.String(in), in)
	}
	var nilR *Redactor
	assert.Equal(t, "x", nilR.String("x"))
}
