package ui

import _ "embed"

// Schema is the JSON Schema of the `-o json` document (podid.schema.json).
//
//go:embed podid.schema.json
var Schema []byte
