package agent

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// knownAlgs are the JWS algorithms golang-jwt v5 registers; the real agent's
// jwt.ParseUnverified refuses a header naming any other.
var knownAlgs = map[string]bool{
	"HS256": true, "HS384": true, "HS512": true,
	"RS256": true, "RS384": true, "RS512": true,
	"PS256": true, "PS384": true, "PS512": true,
	"ES256": true, "ES384": true, "ES512": true,
	"EdDSA": true, "none": true,
}

// claims are the registered claims the agent looks at, plus the pod the
// token is bound to (for logs and the cache's pod-UID mode).
type claims struct {
	Exp        *numericDate `json:"exp"`
	Nbf        *numericDate `json:"nbf"`
	Kubernetes struct {
		Namespace      string `json:"namespace"`
		ServiceAccount struct {
			Name string `json:"name"`
		} `json:"serviceaccount"`
		Pod struct {
			Name string `json:"name"`
			UID  string `json:"uid"`
		} `json:"pod"`
	} `json:"kubernetes.io"`
}

// numericDate is a JWT NumericDate (seconds since the epoch, fractions allowed).
type numericDate struct{ time.Time }

func (d *numericDate) UnmarshalJSON(b []byte) error {
	var f json.Number
	if err := json.Unmarshal(b, &f); err != nil {
		return fmt.Errorf("could not JSON decode claim: %w", err)
	}
	v, err := f.Float64()
	if err != nil {
		return err
	}
	sec := int64(v)
	d.Time = time.Unix(sec, int64((v-float64(sec))*1e9))
	return nil
}

// parseToken does what the agent does with the Authorization header before
// it calls EKS Auth: split and decode the JWT without verifying the
// signature (only EKS Auth has the cluster's keys), insist on a known
// algorithm, then check exp and nbf against now. The audience is not
// checked, as in agent v0.1.37. Messages follow golang-jwt v5's wording.
func parseToken(token string, now time.Time) (*claims, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, &requestError{status: 400, msg: "Service account token cannot be parsed: token is malformed: token contains an invalid number of segments"}
	}
	malformed := func(format string, args ...any) error {
		return &requestError{status: 400, msg: "Service account token cannot be parsed: token is malformed: " + fmt.Sprintf(format, args...)}
	}
	hb, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return nil, malformed("could not base64 decode header: %v", err)
	}
	var header map[string]any
	if err := json.Unmarshal(hb, &header); err != nil {
		return nil, malformed("could not JSON decode header: %v", err)
	}
	cb, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, malformed("could not base64 decode claim: %v", err)
	}
	var c claims
	if err := json.Unmarshal(cb, &c); err != nil {
		return nil, malformed("could not JSON decode claim: %v", err)
	}
	alg, ok := header["alg"].(string)
	if !ok {
		return nil, &requestError{status: 400, msg: "Service account token cannot be parsed: token is unverifiable: signing method (alg) is unspecified"}
	}
	if !knownAlgs[alg] {
		return nil, &requestError{status: 400, msg: "Service account token cannot be parsed: token is unverifiable: signing method (alg) is unavailable"}
	}
	switch {
	case c.Exp != nil && !now.Before(c.Exp.Time):
		return nil, &requestError{status: 400, msg: "Service account token failed basic claim validations: token has invalid claims: token is expired"}
	case c.Nbf != nil && now.Before(c.Nbf.Time):
		return nil, &requestError{status: 400, msg: "Service account token failed basic claim validations: token has invalid claims: token is not valid yet"}
	}
	return &c, nil
}
