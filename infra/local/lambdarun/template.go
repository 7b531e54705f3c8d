package lambdarun

import (
	"path/filepath"

	"github.com/keygate/keygate/infra/local/samtpl"
)

// FromTemplate describes the template's functions for New, with each binary at
// <binDir>/<LogicalId>/bootstrap (the layout of .aws-sam/build, which the Makefile mirrors
// for host-architecture builds in .build/local).
func FromTemplate(tpl *samtpl.Template, binDir string) []Function {
	fns := make([]Function, 0, len(tpl.Functions))
	for _, f := range tpl.Functions {
		fns = append(fns, Function{
			ID:         f.LogicalID,
			Path:       BinaryPath(binDir, f.LogicalID),
			Env:        f.Env,
			Timeout:    f.Timeout,
			MemorySize: f.MemorySize,
			Handler:    f.Handler,
			LogFormat:  f.LogFormat,
			LogLevel:   f.LogLevel,
		})
	}
	return fns
}

// BinaryPath is where the bootstrap of logicalID lives under binDir.
func BinaryPath(binDir, logicalID string) string {
	return filepath.Join(binDir, logicalID, "bootstrap")
}
