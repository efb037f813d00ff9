package restic

import (
	"net/url"
	"sort"
	"strings"
)

// Redacted replaces every secret value in text the mover returns or logs.
const Redacted = "[REDACTED]"

// Redactor removes secret values from text. It also removes each line of a
// multi-line secret (a PEM key, a JSON key file) and the URL-escaped forms of
// a value, since a backend error may echo them.
type Redactor struct {
	r *strings.Replacer
}

// NewRedactor builds a redactor for the given secret values.
func NewRedactor(secrets []string) *Redactor {
	seen := map[string]bool{}
	var vals []string
	add := func(v string) {
		if strings.TrimSpace(v) == "" || seen[v] {
			return
		}
		seen[v] = true
		vals = append(vals, v)
	}
	for _, s := range secrets {
		add(s)
		add(strings.TrimSpace(s))
		add(url.QueryEscape(s))
		add(url.PathEscape(s))
		if strings.Contains(s, "\n") {
			for _, line := range strings.Split(s, "\n") {
				line = strings.TrimSpace(line)
				// Lines like "-----END PRIVATE KEY-----" or "{" say nothing secret.
				if len(line) >= 8 && !strings.HasPrefix(line, "-----") {
					add(line)
				}
			}
		}
	}
	// Longest first, so a secret that contains another is removed whole.
	sort.Slice(vals, func(i, j int) bool { return len(vals[i]) > len(vals[j]) })
	pairs := make([]string, 0, 2*len(vals))
	for _, v := range vals {
		pairs = append(pairs, v, Redacted)
	}
	return &Redactor{r: strings.NewReplacer(pairs...)}
}

// String returns s with every secret value replaced.
func (r *Redactor) String(s string) string {
	if r == nil || r.r == nil {
		return s
	}
	return r.r.Replace(s)
}
