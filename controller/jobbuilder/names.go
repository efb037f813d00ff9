package jobbuilder

import (
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
)

// maxNameLen is the length of a DNS-1123 label: container names, and Job names (their
// pods carry the name in a label).
const maxNameLen = 63

// dnsLabel turns s into a DNS-1123 label: lower case, [a-z0-9-], starting and ending
// alphanumeric, at most 63 characters (a hash of s keeps shortened names distinct).
// fallback is used when nothing of s survives.
func dnsLabel(s, fallback string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
			dash = false
		} else if !dash && b.Len() > 0 {
			b.WriteByte('-')
			dash = true
		}
	}
	out := strings.Trim(b.String(), "-")
	if out == "" {
		out = fallback
	}
	return shorten(out, s, maxNameLen)
}

// shorten cuts name to max characters, ending it with a hash of key so that two long
// names with the same beginning stay distinct.
func shorten(name, key string, max int) string {
	if len(name) <= max {
		return name
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(key))
	suffix := fmt.Sprintf("-%08x", h.Sum32())
	return strings.TrimRight(name[:max-len(suffix)], "-") + suffix
}

// containerNames gives each step a DNS-1123-safe container name from its Function's
// name, unique within the pod: a repeated name gets "-2", "-3", ...
func containerNames(steps []string) []string {
	used := map[string]bool{}
	out := make([]string, len(steps))
	for i, s := range steps {
		base := dnsLabel(s, "step")
		name := base
		for n := 2; used[name]; n++ {
			suffix := "-" + strconv.Itoa(n)
			name = shorten(base, base, maxNameLen-len(suffix)) + suffix
		}
		used[name] = true
		out[i] = name
	}
	return out
}
