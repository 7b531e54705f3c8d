// Package fuzzsh holds the tests of infra/test/fuzz.sh, the script behind make fuzz. They run the
// script against a stand-in go command, so each of its verdicts (pass, a real finding, Go's
// fuzztime shutdown race) is proven without fuzzing anything.
package fuzzsh
