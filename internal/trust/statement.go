package trust

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

func parseStatement(i int, raw json.RawMessage) (*Statement, error) {
	o, err := parseObject(raw)
	if err != nil {
		return nil, fmt.Errorf("statement %d: %w", i, err)
	}
	s := &Statement{Index: i, members: o}
	if err := s.decode(); err != nil {
		return nil, fmt.Errorf("statement %d: %w", i, err)
	}
	return s, nil
}

// decode fills the typed fields from s.members.
func (s *Statement) decode() error {
	o := s.members
	if v, ok := o.get("Sid"); ok {
		if err := json.Unmarshal(v, &s.Sid); err != nil {
			return fmt.Errorf("Sid must be a string, got %s", describe(v))
		}
	}
	v, ok := o.get("Effect")
	if !ok {
		return errors.New("Effect is missing: want \"Allow\" or \"Deny\"")
	}
	if err := json.Unmarshal(v, &s.Effect); err != nil || (s.Effect != "Allow" && s.Effect != "Deny") {
		return fmt.Errorf("Effect must be \"Allow\" or \"Deny\", got %s", v)
	}
	var err error
	if s.Principal, err = principal(o, "Principal"); err != nil {
		return err
	}
	if s.NotPrincipal, err = principal(o, "NotPrincipal"); err != nil {
		return err
	}
	if s.Principal != nil && s.NotPrincipal != nil {
		return errors.New("has both Principal and NotPrincipal: keep one")
	}
	for _, f := range []struct {
		name string
		dst  *[]string
	}{{"Action", &s.Action}, {"NotAction", &s.NotAction}, {"Resource", &s.Resource}, {"NotResource", &s.NotResource}} {
		v, ok := o.get(f.name)
		if !ok {
			continue
		}
		if *f.dst, err = stringOrList(v); err != nil {
			return fmt.Errorf("%s %w", f.name, err)
		}
	}
	_, hasA := o.get("Action")
	_, hasNA := o.get("NotAction")
	switch {
	case hasA && hasNA:
		return errors.New("has both Action and NotAction: keep one")
	case !hasA && !hasNA:
		return errors.New("has neither Action nor NotAction: want e.g. \"Action\": [\"sts:AssumeRole\", \"sts:TagSession\"]")
	}
	if _, ok := o.get("Resource"); ok {
		if _, ok := o.get("NotResource"); ok {
			return errors.New("has both Resource and NotResource: keep one")
		}
	}
	if v, ok := o.get("Condition"); ok {
		if s.Condition, err = condition(v); err != nil {
			return fmt.Errorf("Condition %w", err)
		}
	}
	return nil
}

func principal(o object, name string) (*Principal, error) {
	v, ok := o.get(name)
	if !ok {
		return nil, nil
	}
	var str string
	if json.Unmarshal(v, &str) == nil {
		if str != "*" {
			return nil, fmt.Errorf("%s must be \"*\" or an object such as {\"Service\": \"pods.eks.amazonaws.com\"}, got %q", name, str)
		}
		return &Principal{Wildcard: true}, nil
	}
	po, err := parseObject(v)
	if err != nil {
		return nil, fmt.Errorf("%s must be \"*\" or an object such as {\"Service\": \"pods.eks.amazonaws.com\"}: %w", name, err)
	}
	p := &Principal{Values: map[string][]string{}}
	for _, m := range po {
		vals, err := stringOrList(m.Value)
		if err != nil {
			return nil, fmt.Errorf("%s.%s %w", name, m.Key, err)
		}
		p.Values[m.Key] = vals
	}
	return p, nil
}

// stringOrList decodes a string or a list of strings.
func stringOrList(v json.RawMessage) ([]string, error) {
	var s string
	if json.Unmarshal(v, &s) == nil {
		return []string{s}, nil
	}
	var l []string
	if describe(v) == "a list" && json.Unmarshal(v, &l) == nil {
		if l == nil {
			l = []string{}
		}
		return l, nil
	}
	return nil, fmt.Errorf("must be a string or a list of strings, got %s", describe(v))
}

// condition decodes operator → key → string, bool, number or a list of them.
func condition(v json.RawMessage) (map[string]map[string][]string, error) {
	ops, err := parseObject(v)
	if err != nil {
		return nil, fmt.Errorf("must be an object such as {\"StringEquals\": {\"aws:SourceAccount\": \"111122223333\"}}: %w", err)
	}
	out := map[string]map[string][]string{}
	for _, op := range ops {
		keys, err := parseObject(op.Value)
		if err != nil {
			return nil, fmt.Errorf("%s must be an object of condition keys: %w", op.Key, err)
		}
		out[op.Key] = map[string][]string{}
		for _, k := range keys {
			vals, err := scalarOrList(k.Value)
			if err != nil {
				return nil, fmt.Errorf("%s.%s %w", op.Key, k.Key, err)
			}
			out[op.Key][k.Key] = vals
		}
	}
	return out, nil
}

func scalarOrList(v json.RawMessage) ([]string, error) {
	const want = "must be a string, boolean, number or a list of them"
	switch describe(v) {
	case "a list":
		var items []json.RawMessage
		if err := json.Unmarshal(v, &items); err != nil {
			return nil, fmt.Errorf("%s: %w", want, err)
		}
		out := []string{}
		for _, it := range items {
			s, err := scalar(it)
			if err != nil {
				return nil, fmt.Errorf("%s, got a list holding %s", want, describe(it))
			}
			out = append(out, s)
		}
		return out, nil
	default:
		s, err := scalar(v)
		if err != nil {
			return nil, fmt.Errorf("%s, got %s", want, describe(v))
		}
		return []string{s}, nil
	}
}

func scalar(v json.RawMessage) (string, error) {
	switch describe(v) {
	case "a string":
		var s string
		err := json.Unmarshal(v, &s)
		return s, err
	case "a boolean", "a number":
		var x any
		if err := json.Unmarshal(v, &x); err != nil {
			return "", err
		}
		return string(bytes.TrimSpace(v)), nil
	}
	return "", errors.New("not a scalar")
}
