package trust

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// member is one name/value pair of a JSON object, kept in document order.
type member struct {
	Key   string
	Value json.RawMessage
}

type object []member

func (o object) get(key string) (json.RawMessage, bool) {
	for _, m := range o {
		if m.Key == key {
			return m.Value, true
		}
	}
	return nil, false
}

func (o object) set(key string, v json.RawMessage) object {
	for i, m := range o {
		if m.Key == key {
			o[i].Value = v
			return o
		}
	}
	return append(o, member{Key: key, Value: v})
}

// marshal writes the object compactly, values as stored.
func (o object) marshal(buf *bytes.Buffer) {
	buf.WriteByte('{')
	for i, m := range o {
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.Write(marshalString(m.Key))
		buf.WriteByte(':')
		buf.Write(m.Value)
	}
	buf.WriteByte('}')
}

func marshalString(s string) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	return bytes.TrimRight(buf.Bytes(), "\n")
}

func marshalValue(v any) json.RawMessage {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic(fmt.Sprintf("trust: marshal %T: %v", v, err)) // only called with strings, slices and objects
	}
	return json.RawMessage(bytes.TrimRight(buf.Bytes(), "\n"))
}

// parseObject reads a JSON object keeping member order. It rejects duplicate
// names, which IAM rejects too and which would make the typed view ambiguous.
func parseObject(raw []byte) (object, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, fmt.Errorf("want a JSON object, got %s", describe(raw))
	}
	var o object
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, ok := tok.(string)
		if !ok {
			return nil, fmt.Errorf("want a member name, got %v", tok)
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("member %q: %w", key, err)
		}
		if seen[key] {
			return nil, fmt.Errorf("member %q appears twice", key)
		}
		seen[key] = true
		o = append(o, member{Key: key, Value: v})
	}
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err == nil {
		return nil, errors.New("unexpected data after the JSON object")
	}
	return o, nil
}

// describe names the JSON type of raw for error messages.
func describe(raw []byte) string {
	t := bytes.TrimLeft(raw, " \t\r\n")
	if len(t) == 0 {
		return "nothing"
	}
	switch t[0] {
	case '{':
		return "an object"
	case '[':
		return "a list"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	default:
		return "a number"
	}
}

func pretty(b []byte) string {
	var compact, out bytes.Buffer
	if err := json.Compact(&compact, b); err != nil {
		// Every value was produced by the JSON decoder or encoder, so this cannot happen.
		panic(fmt.Sprintf("trust: compact policy document: %v", err))
	}
	if err := json.Indent(&out, compact.Bytes(), "", "  "); err != nil {
		panic(fmt.Sprintf("trust: indent policy document: %v", err))
	}
	out.WriteByte('\n')
	return out.String()
}
