// Package templatecheck holds the checks that read template.yaml the way CloudFormation and
// SAM read it, rather than through samtpl's local view: least-privilege IAM (no wildcard
// action or resource outside an explicit allow-list, each function's permissions exactly what
// its code calls, and every call the real binaries make on the emulators granted by their
// role), the customer-managed key (its policy and the roles' kms: grants, both derived from the
// same data access), the deployed API's routes against the local gateway's route table, the
// production settings the operations runbooks rely on (tables, logs, alarms, dashboard,
// detection filters against the lines they count, concurrency reservations), the web ACL the
// local gateway does not emulate, a reason on every scanner skip, and the samconfig.toml
// environments.
//
// It has no code of its own: the tests are the product. They must never be loosened to make
// a template change pass; change the allow-list or the expected permissions
// (function-permissions.yaml) deliberately, with the reason next to the entry.
package templatecheck
