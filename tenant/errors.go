package tenant

import (
	"errors"
	"fmt"
)

// Sentinel errors, one per kind of failure. Every error this package returns matches exactly one
// of them with errors.Is; its text names the value and the rule that rejected it.
var (
	// ErrInvalid: a value breaks a rule (syntax, range, placement, quorum).
	ErrInvalid = errors.New("tenant: invalid")
	// ErrNotFound: a named unit, pool, tenant, table or zone does not exist.
	ErrNotFound = errors.New("tenant: not found")
	// ErrExists: an object with that name already exists.
	ErrExists = errors.New("tenant: already exists")
	// ErrInUse: an object is still used by another (a unit by a pool, a pool by a tenant, a
	// tenant by its tables).
	ErrInUse = errors.New("tenant: in use")
)

// kindError carries a user-facing message and the sentinel it wraps. Its text is the message
// alone (the sentinel's text would only repeat the kind), so messages read as the docs list
// them; errors.Is still finds the sentinel through Unwrap.
type kindError struct {
	kind error
	msg  string
}

func (e *kindError) Error() string { return e.msg }
func (e *kindError) Unwrap() error { return e.kind }

func errorf(kind error, format string, args ...any) error {
	return &kindError{kind: kind, msg: fmt.Sprintf(format, args...)}
}

// MaxNameLen bounds every identifier. OceanBase's CREATE TENANT reference limits a tenant name to
// 64 bytes (translated from https://www.w3cschool.cn/oceanbase/oceanbase-tpyu3fxv.html); we apply
// the same bound to units, pools, tables and zones.
const MaxNameLen = 64

// ValidName reports whether s is an identifier: a letter or '_' first, then letters, digits and
// '_', at most MaxNameLen bytes. OceanBase's CREATE TENANT reference gives this rule for tenant
// names (same page as MaxNameLen, paraphrased); we use it for units, pools, tenants and tables.
func ValidName(s string) bool {
	if s == "" || len(s) > MaxNameLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'):
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// ValidZoneName reports whether s can name a zone: letters, digits, '_', '-' and '.', starting
// with a letter, digit or '_', at most MaxNameLen bytes. Zones are looser than identifiers
// because operators name them after data centers ("cn-hangzhou-h").
func ValidZoneName(s string) bool {
	if s == "" || len(s) > MaxNameLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'):
		case (c == '-' || c == '.') && i > 0:
		default:
			return false
		}
	}
	return true
}

func checkName(kind, name string) error {
	if !ValidName(name) {
		return errorf(ErrInvalid, "%s name %q is not valid: it must start with a letter or '_' and hold only letters, digits and '_' (at most %d bytes)", kind, name, MaxNameLen)
	}
	return nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}
