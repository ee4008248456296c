// Package schemacheck validates podid's `-o json` documents against the JSON
// Schema in internal/ui (tests only: podid itself does not link it).
package schemacheck

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/podid/podid/internal/ui"
)

var (
	once   sync.Once
	schema *jsonschema.Schema
	errC   error
)

func compiled() (*jsonschema.Schema, error) {
	once.Do(func() {
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(ui.Schema))
		if err != nil {
			errC = fmt.Errorf("podid.schema.json: %w", err)
			return
		}
		c := jsonschema.NewCompiler()
		const url = "podid.schema.json"
		if err := c.AddResource(url, doc); err != nil {
			errC = fmt.Errorf("podid.schema.json: %w", err)
			return
		}
		schema, errC = c.Compile(url)
	})
	return schema, errC
}

// Validate checks that data is exactly one JSON document that the schema
// accepts.
func Validate(data []byte) error {
	s, err := compiled()
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return fmt.Errorf("not a JSON document: %w", err)
	}
	if dec.More() {
		return fmt.Errorf("more than one JSON document")
	}
	// The validator wants the library's own number handling.
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return err
	}
	if err := s.Validate(inst); err != nil {
		return fmt.Errorf("the document does not match podid.schema.json: %w", err)
	}
	return nil
}
