// Package variables resolves the variables of Function and Task templates, exactly as
// Stash users write them:
//
//	${NAME}            the variable's value; "" (and reported missing) when nobody sets it
//	${NAME:=default}   the variable's value; default when it is unset or empty
//	$(NAME)            the variable's value when it is set; otherwise left verbatim, so the
//	                   kubelet can still expand a container environment variable of that name
//	$$                 kept verbatim and never starts a variable: the kubelet turns it into "$"
//	                   in command, args and env values, so "$${HOME}" reaches a shell as "${HOME}"
//
// A name is [A-Za-z_][A-Za-z0-9_]*. A default is everything up to the first "}" and may be
// empty or hold ":", "/", "=", spaces and a lone "$", but not "${". Resolution is a single
// pass: a value that itself holds "${X}" is inserted as is and never expanded again, so
// resolving resolved text (with no "$" left in it) changes nothing.
package variables

import (
	"fmt"
	"strings"
)

// Vars maps variable names to values. A name that is present with an empty value is set:
// ${NAME} gives "" without being reported missing, and ${NAME:=d} gives d.
type Vars map[string]string

// Result is one resolved string and what could not be resolved in it.
type Result struct {
	// Text is the resolved string.
	Text string
	// Missing are the names of ${NAME} references without default that no variable sets,
	// in order of appearance, each once. They were replaced by "".
	Missing []string
	// Deferred are the names of $(NAME) references that no variable sets, in order of
	// appearance, each once. They were left verbatim for the kubelet.
	Deferred []string
	// Used are the names of every variable referenced, set or not, in order of
	// appearance, each once.
	Used []string
}

// SyntaxError is a malformed template. Function, Task and Field say where it was found
// when the caller knows; Offset is the byte offset in the template string.
type SyntaxError struct {
	Function string
	Task     string
	Field    string
	Offset   int
	Problem  string
}

func (e *SyntaxError) Error() string {
	var b strings.Builder
	switch {
	case e.Function != "":
		fmt.Fprintf(&b, "function %q: ", e.Function)
	case e.Task != "":
		fmt.Fprintf(&b, "task %q: ", e.Task)
	}
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	fmt.Fprintf(&b, "%s at offset %d", e.Problem, e.Offset)
	return b.String()
}

// Expand resolves the variables of s against vars. It returns a *SyntaxError (without
// Function, Task or Field) for a malformed template.
func Expand(s string, vars Vars) (Result, error) {
	if !strings.Contains(s, "$") {
		return Result{Text: s}, nil
	}
	var (
		b        strings.Builder
		res      Result
		missing  = map[string]bool{}
		deferred = map[string]bool{}
		used     = map[string]bool{}
	)
	use := func(name string) {
		if !used[name] {
			used[name] = true
			res.Used = append(res.Used, name)
		}
	}
	b.Grow(len(s))
	for i := 0; i < len(s); {
		c := s[i]
		if c != '$' || i+1 == len(s) {
			b.WriteByte(c)
			i++
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteString("$$")
			i += 2
		case '{':
			name, def, hasDef, end, err := parseBrace(s, i)
			if err != nil {
				return Result{}, err
			}
			use(name)
			v, ok := vars[name]
			switch {
			case hasDef && v == "":
				b.WriteString(def)
			case ok:
				b.WriteString(v)
			default:
				if !missing[name] {
					missing[name] = true
					res.Missing = append(res.Missing, name)
				}
			}
			i = end
		case '(':
			end := strings.IndexByte(s[i+2:], ')')
			if end < 0 || !validName(s[i+2:i+2+end]) {
				// Not a variable reference (e.g. a shell "$(date)"): left as is.
				b.WriteString("$(")
				i += 2
				continue
			}
			name := s[i+2 : i+2+end]
			use(name)
			if v, ok := vars[name]; ok {
				b.WriteString(v)
			} else {
				b.WriteString(s[i : i+3+end])
				if !deferred[name] {
					deferred[name] = true
					res.Deferred = append(res.Deferred, name)
				}
			}
			i += 3 + end
		default:
			b.WriteByte(c)
			i++
		}
	}
	res.Text = b.String()
	return res, nil
}

// parseBrace parses the "${...}" starting at s[start]. It returns the variable's name,
// its default (and whether it has one) and the offset just past the closing brace.
func parseBrace(s string, start int) (name, def string, hasDef bool, end int, err error) {
	fail := func(off int, format string, args ...any) error {
		return &SyntaxError{Offset: off, Problem: fmt.Sprintf(format, args...)}
	}
	closing := strings.IndexByte(s[start+2:], '}')
	if closing < 0 {
		return "", "", false, 0, fail(start, `unterminated "${"`)
	}
	end = start + 2 + closing + 1
	body := s[start+2 : end-1]
	n := 0
	for n < len(body) && isNameByte(body[n]) {
		n++
	}
	name = body[:n]
	rest := body[n:]
	switch {
	case name == "":
		if rest == "" || strings.HasPrefix(rest, ":=") {
			return "", "", false, 0, fail(start, `empty variable name in "${%s}"`, body)
		}
		return "", "", false, 0, fail(start+2, "invalid character %q in variable name", firstRune(rest))
	case name[0] >= '0' && name[0] <= '9':
		return "", "", false, 0, fail(start+2, "variable name %q starts with a digit", name)
	case rest == "":
		return name, "", false, end, nil
	case strings.HasPrefix(rest, ":="):
		def = rest[2:]
		if k := strings.Index(def, "${"); k >= 0 {
			return "", "", false, 0, fail(start+2+n+2+k, "nested %q in the default of %q is not supported", "${", name)
		}
		return name, def, true, end, nil
	case rest[0] == ':' || rest[0] == '-' || rest[0] == '=' || rest[0] == '?' || rest[0] == '+':
		return "", "", false, 0, fail(start+2+n, "unsupported operator after %q: only \"${%s}\" and \"${%s:=default}\" are supported", name, name, name)
	default:
		return "", "", false, 0, fail(start+2+n, "invalid character %q in variable name", firstRune(rest))
	}
}

func firstRune(s string) string {
	for _, r := range s {
		return string(r)
	}
	return ""
}

func isNameByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// ValidName reports whether name can be referenced as ${name}.
func ValidName(name string) bool { return validName(name) }

func validName(name string) bool {
	if name == "" || name[0] >= '0' && name[0] <= '9' {
		return false
	}
	for i := 0; i < len(name); i++ {
		if !isNameByte(name[i]) {
			return false
		}
	}
	return true
}
