package bench

import (
	"bytes"
	"context"
	"sort"
	"sync"
)

// Store is what the runner needs of a key-value store. Implementations must be safe for
// concurrent use. A returned error is counted by the runner's Config.Classify; it does not stop
// the run.
type Store interface {
	// Put writes key = value in table.
	Put(ctx context.Context, table string, key, value []byte) error
	// Get reads key from table and reports whether it exists.
	Get(ctx context.Context, table string, key []byte) (found bool, err error)
	// Scan reads at most limit rows of table from start (inclusive) in key order and returns
	// how many it read.
	Scan(ctx context.Context, table string, start []byte, limit int) (rows int, err error)
}

// MapStore is an in-memory Store (a sorted map per table) for tests. Hook, when set, runs
// before every operation and can delay it or make it fail.
type MapStore struct {
	// Hook is called with the operation kind ("put", "get", "scan"), table and key; a non-nil
	// error fails the operation without applying it.
	Hook func(ctx context.Context, op, table string, key []byte) error

	mu     sync.Mutex
	tables map[string]map[string][]byte
}

var _ Store = (*MapStore)(nil)

// NewMapStore returns an empty MapStore.
func NewMapStore() *MapStore { return &MapStore{tables: map[string]map[string][]byte{}} }

// Put implements Store.
func (m *MapStore) Put(ctx context.Context, table string, key, value []byte) error {
	if m.Hook != nil {
		if err := m.Hook(ctx, "put", table, key); err != nil {
			return err
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	t := m.tables[table]
	if t == nil {
		t = map[string][]byte{}
		m.tables[table] = t
	}
	t[string(key)] = bytes.Clone(value)
	return nil
}

// Get implements Store.
func (m *MapStore) Get(ctx context.Context, table string, key []byte) (bool, error) {
	if m.Hook != nil {
		if err := m.Hook(ctx, "get", table, key); err != nil {
			return false, err
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.tables[table][string(key)]
	return ok, nil
}

// Scan implements Store. It sorts the table's keys on every call: fine for tests.
func (m *MapStore) Scan(ctx context.Context, table string, start []byte, limit int) (int, error) {
	if m.Hook != nil {
		if err := m.Hook(ctx, "scan", table, start); err != nil {
			return 0, err
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	keys := make([]string, 0, len(m.tables[table]))
	for k := range m.tables[table] {
		if k >= string(start) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return min(len(keys), limit), nil
}

// Len returns the number of keys in table.
func (m *MapStore) Len(table string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.tables[table])
}
