package config

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// ErrInvalid is wrapped by every error that Parse, Load and Validate report
// about the content of a cluster file (test with errors.Is; errors.As with
// *FieldError gives the position and the field).
var ErrInvalid = errors.New("invalid cluster file")

// maxErrors bounds how many problems one Parse or Validate reports: enough to
// fix a file in one pass, few enough to read.
const maxErrors = 20

// FieldError is one problem in a cluster file.
type FieldError struct {
	// File is the name the file was parsed under ("" when the cluster was
	// built in code).
	File string
	// Line is the 1-based line of the offending node, 0 when unknown.
	Line int
	// Field is the path of the offending field, e.g. "servers[1].rpc_addr";
	// "" when the problem is not about one field (a YAML syntax error, an
	// unknown key: Rule then holds the whole message).
	Field string
	// Value is the offending value as written or as loaded; "" when the
	// field is missing.
	Value string
	// Rule says what is wrong and what is expected.
	Rule string
}

// maxValueShown bounds how much of a value an error quotes.
const maxValueShown = 80

// Error formats the problem as "file:line: field "value": rule".
func (e *FieldError) Error() string {
	var b []byte
	switch {
	case e.File != "" && e.Line > 0:
		b = fmt.Appendf(b, "%s:%d: ", e.File, e.Line)
	case e.File != "":
		b = fmt.Appendf(b, "%s: ", e.File)
	case e.Line > 0:
		b = fmt.Appendf(b, "line %d: ", e.Line)
	}
	if e.Field != "" {
		b = append(b, e.Field...)
		if v := e.Value; v != "" {
			b = append(b, ' ')
			if len(v) > maxValueShown { // a file's value may be megabytes
				b = strconv.AppendQuote(b, v[:maxValueShown])
				b = fmt.Appendf(b, "...(%d bytes)", len(v))
			} else {
				b = strconv.AppendQuote(b, v)
			}
		}
		b = append(b, ": "...)
	}
	b = append(b, e.Rule...)
	return string(b)
}

// Unwrap makes errors.Is(err, ErrInvalid) hold.
func (e *FieldError) Unwrap() error { return ErrInvalid }

// problems collects the FieldErrors of one Parse or Validate.
type problems struct {
	file  string
	lines map[string]int // field path -> line, from the parse
	errs  []error
	extra int // problems beyond maxErrors
}

// add records a problem at an explicit line.
func (p *problems) add(line int, field, value, rule string, args ...any) {
	if len(p.errs) >= maxErrors {
		p.extra++
		return
	}
	if len(args) > 0 {
		rule = fmt.Sprintf(rule, args...)
	}
	p.errs = append(p.errs, &FieldError{File: p.file, Line: line, Field: field, Value: value, Rule: rule})
}

// at records a problem about field, at the line the parse recorded for it.
// A setting the file does not set is its default: the message says so, since the reader
// would look for the key in vain.
func (p *problems) at(field, value, rule string, args ...any) {
	line, set := p.lines[field]
	if !set && p.lines != nil && strings.HasPrefix(field, "settings.") {
		if len(args) > 0 {
			rule = fmt.Sprintf(rule, args...)
			args = nil
		}
		rule += " (this is the default: the file does not set " + strings.TrimPrefix(field, "settings.") + ")"
	}
	p.add(line, field, value, rule, args...)
}

// err returns nil or all problems joined, one per line.
func (p *problems) err() error {
	if len(p.errs) == 0 {
		return nil
	}
	// File order reads best; problems on one line keep the order found.
	slices.SortStableFunc(p.errs, func(a, b error) int {
		return cmp.Compare(a.(*FieldError).Line, b.(*FieldError).Line)
	})
	if p.extra > 0 {
		p.errs = append(p.errs, fmt.Errorf("%w: %d more problems not shown", ErrInvalid, p.extra))
	}
	if len(p.errs) == 1 {
		return p.errs[0]
	}
	return errors.Join(p.errs...)
}
