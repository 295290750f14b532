package netlab

import (
	"os"
	"testing"
)

// RequireEnv names the environment variable that turns the kit's skips into
// failures (any non-empty value but "0").
const RequireEnv = "OUTFLOW_NETLAB_REQUIRE"

// skip ends a test that cannot build a lab here: skipped, or failed when
// RequireEnv says labs must run.
func skip(t testing.TB, reason string) {
	t.Helper()
	if v := os.Getenv(RequireEnv); v != "" && v != "0" {
		t.Fatalf("%s (and %s is set)", reason, RequireEnv)
	}
	t.Skip(reason)
}
