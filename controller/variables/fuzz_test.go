package variables

import (
	"errors"
	"strings"
	"testing"
)

// FuzzResolve: Expand never panics; a syntax error points inside the template; text
// without "$" is returned unchanged; resolved text without "$" is a fixed point; and
// every missing or deferred name was referenced.
func FuzzResolve(f *testing.F) {
	for _, s := range []string{
		"--provider=${REPOSITORY_PROVIDER:=}",
		"--hostname=${HOSTNAME:=host-0}",
		"${secretVolume}",
		"$(databaseSecret)",
		"${URL:=http://a:1/b?c=d e}",
		"$${HOME} $$ $(date)",
		"${",
		"${}",
		"${:=x}",
		"${a:=${b}}",
		"${a-b}",
		"plain text",
	} {
		f.Add(s, "value")
	}
	f.Fuzz(func(t *testing.T, tmpl, value string) {
		vars := Vars{
			"REPOSITORY_PROVIDER": "s3", "HOSTNAME": "", "secretVolume": value,
			"databaseSecret": value, "a": value, "URL": "${URL}",
		}
		res, err := Expand(tmpl, vars)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("error %v is not a *SyntaxError", err)
			}
			if se.Offset < 0 || se.Offset >= len(tmpl) {
				t.Fatalf("offset %d outside %q", se.Offset, tmpl)
			}
			if se.Problem == "" {
				t.Fatalf("empty problem for %q", tmpl)
			}
			return
		}
		if !strings.Contains(tmpl, "$") && res.Text != tmpl {
			t.Fatalf("text without $ changed: %q -> %q", tmpl, res.Text)
		}
		for _, n := range append(append([]string{}, res.Missing...), res.Deferred...) {
			if !strings.Contains(tmpl, n) {
				t.Fatalf("reported name %q not in %q", n, tmpl)
			}
			if _, ok := vars[n]; ok {
				t.Fatalf("reported name %q is set", n)
			}
		}
		if !strings.Contains(res.Text, "$") {
			again, err := Expand(res.Text, vars)
			if err != nil || again.Text != res.Text || len(again.Missing)+len(again.Deferred) != 0 {
				t.Fatalf("not idempotent: %q -> %q -> %q (%v)", tmpl, res.Text, again.Text, err)
			}
		}
		// Resolving twice (a caller retrying) gives the same answer.
		res2, err := Expand(tmpl, vars)
		if err != nil || res2.Text != res.Text {
			t.Fatalf("not deterministic for %q", tmpl)
		}
	})
}
