package emulatortest

import (
	"fmt"
	"os"
)

// StackEnv is what a suite needs to start the local stack itself: the emulators' endpoints and
// the host-built bootstraps, all three provided by `make test`.
type StackEnv struct {
	DynamoDB, Secrets, Bin string
}

// BinEnv names the directory of the host-built bootstraps (<LogicalId>/bootstrap).
const BinEnv = "KEYGATE_LOCAL_BIN"

// StackFromEnv reads the StackEnv for a suite's TestMain. When any part is missing it returns
// why, for the suite's tests to skip with; under KEYGATE_REQUIRE_EMULATORS=1 a missing part is an
// error instead, on which the TestMain exits non-zero rather than pass by testing nothing.
func StackFromEnv() (env StackEnv, skip string, err error) {
	env = StackEnv{DynamoDB: os.Getenv(DynamoDBEndpointEnv), Secrets: os.Getenv(SecretsEndpointEnv), Bin: os.Getenv(BinEnv)}
	if env.DynamoDB != "" && env.Secrets != "" && env.Bin != "" {
		return env, "", nil
	}
	skip = fmt.Sprintf("needs %s, %s and %s (run make test)", DynamoDBEndpointEnv, SecretsEndpointEnv, BinEnv)
	if os.Getenv(RequireEnv) == "1" {
		return env, skip, fmt.Errorf("%s=1 but the suite %s", RequireEnv, skip)
	}
	return env, skip, nil
}
