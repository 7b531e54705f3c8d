// Package stacksh holds the tests of infra/local/stack's shell helpers (lib.sh), which start, watch
// and stop the emulators of every local stack. They run the real functions in bash against
// stand-in processes, so a verdict such as "the emulator died during startup" is proven
// without starting an emulator.
package stacksh
