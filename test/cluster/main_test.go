//go:build unix

package cluster

import (
	"testing"

	"obkv/test/internal/realcluster"
)

// TestMain builds observer and obctl once for every test of the package.
func TestMain(m *testing.M) { realcluster.Main(m, "test/cluster") }
