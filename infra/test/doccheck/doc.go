// Package doccheck keeps the documentation true to the tree: README.md's Layout section names
// every Go package of the module and no path that is gone, and every relative link in
// README.md, SECURITY.md and docs/ reaches a file (and a heading, when it names one).
//
// It has no code of its own and never edits a document: a failure says which line to change.
package doccheck
