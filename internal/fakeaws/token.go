package fakeaws

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	_ "crypto/sha256" // RS256, ES256
	_ "crypto/sha512" // RS384/512, ES384
)

// Service account token validation for EKS Auth (EKS-AUTH.md §2.2).
//
// A token is accepted when it is a JWS signed by one of the cluster's
// service account issuer keys (Options.IssuerKeys), its iss is that
// issuer, it has not expired and is already valid, its aud contains
// pods.eks.amazonaws.com, and it names the namespace, service account and
// pod (kubernetes.io claims) with a sub that agrees.
//
// Which check EKS makes, and with which exception, is UNVERIFIED except
// for expiry (ExpiredTokenException with the message format of
// aws/eks-pod-identity-agent#89). The fake makes every check above (the
// stricter choice) and answers every other failure with
// InvalidTokenException.

// PodIdentityAudience is the audience of the tokens EKS Auth accepts.
const PodIdentityAudience = "pods.eks.amazonaws.com"

// IssuerKeys are a cluster's service account issuer and its public keys,
// as OIDC discovery serves them (/.well-known/openid-configuration and its
// jwks_uri).
type IssuerKeys struct {
	Issuer string
	JWKS   []byte // a JSON Web Key Set: {"keys":[{"kty":"RSA","kid":…,"n":…,"e":…}]}
}

// issuerCache keeps the keys of each cluster for a minute, and fetches
// again (at most every 2 s) when a token names an unknown key ID.
type issuerCache struct {
	mu      sync.Mutex
	entries map[string]*issuerEntry
}

type issuerEntry struct {
	issuer  string
	keys    []jwk
	fetched time.Time
}

type jwk struct {
	kid string
	key crypto.PublicKey
}

const (
	issuerCacheTTL    = time.Minute
	issuerMinRefetch  = 2 * time.Second
	tokenClockLeeway  = 0 * time.Second // stricter: no leeway on exp (UNVERIFIED what EKS allows)
	maxTokenBytes     = 64 << 10
	tokenSegmentRunes = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_="
)

// podToken is what a valid token says.
type podToken struct {
	namespace, serviceAccount, saUID string
	pod, podUID                      string
	expires                          time.Time
}

func invalidToken(format string, args ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, code: "InvalidTokenException", message: fmt.Sprintf(format, args...)}
}

func (s *Server) issuerKeys(ctx context.Context, cluster, kid string) (*issuerEntry, error) {
	c := s.issuers
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.entries[cluster]
	now := time.Now()
	fresh := e != nil && now.Sub(e.fetched) < issuerCacheTTL
	if fresh && (kid == "" || e.has(kid) || now.Sub(e.fetched) < issuerMinRefetch) {
		return e, nil
	}
	if s.opts.IssuerKeys == nil {
		return nil, errors.New("the fake has no service account issuer keys (Options.IssuerKeys is nil)")
	}
	ik, err := s.opts.IssuerKeys(ctx, cluster)
	if err != nil {
		if e != nil {
			return e, nil // keep serving the keys we have
		}
		return nil, err
	}
	keys, err := parseJWKS(ik.JWKS)
	if err != nil {
		return nil, fmt.Errorf("issuer keys of cluster %s: %w", cluster, err)
	}
	e = &issuerEntry{issuer: ik.Issuer, keys: keys, fetched: now}
	c.entries[cluster] = e
	return e, nil
}

func (e *issuerEntry) has(kid string) bool {
	return slices.ContainsFunc(e.keys, func(k jwk) bool { return k.kid == kid })
}

func b64(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
}

// parseJWKS reads the RSA and EC P-256/P-384 keys of a JWKS; others are skipped.
func parseJWKS(b []byte) ([]jwk, error) {
	var set struct {
		Keys []struct {
			Kty string `json:"kty"`
			Kid string `json:"kid"`
			Use string `json:"use"`
			N   string `json:"n"`
			E   string `json:"e"`
			Crv string `json:"crv"`
			X   string `json:"x"`
			Y   string `json:"y"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(b, &set); err != nil {
		return nil, fmt.Errorf("JWKS does not parse: %w", err)
	}
	var out []jwk
	for _, k := range set.Keys {
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		switch k.Kty {
		case "RSA":
			n, err1 := b64(k.N)
			e, err2 := b64(k.E)
			if err1 != nil || err2 != nil || len(n) == 0 || len(e) == 0 || len(e) > 4 {
				return nil, fmt.Errorf("JWKS key %q: bad RSA modulus or exponent", k.Kid)
			}
			out = append(out, jwk{kid: k.Kid, key: &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}})
		case "EC":
			var curve elliptic.Curve
			switch k.Crv {
			case "P-256":
				curve = elliptic.P256()
			case "P-384":
				curve = elliptic.P384()
			default:
				continue
			}
			x, err1 := b64(k.X)
			y, err2 := b64(k.Y)
			if err1 != nil || err2 != nil {
				return nil, fmt.Errorf("JWKS key %q: bad EC point", k.Kid)
			}
			out = append(out, jwk{kid: k.Kid, key: &ecdsa.PublicKey{Curve: curve, X: new(big.Int).SetBytes(x), Y: new(big.Int).SetBytes(y)}})
		}
	}
	if len(out) == 0 {
		return nil, errors.New("JWKS has no RSA or EC signing key")
	}
	return out, nil
}

// audience is the aud claim: a string or a list of strings.
type audience []string

func (a *audience) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*a = audience{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return errors.New("aud must be a string or a list of strings")
	}
	*a = many
	return nil
}

type objRef struct {
	Name string `json:"name"`
	UID  string `json:"uid"`
}

type tokenClaims struct {
	Issuer    string       `json:"iss"`
	Subject   string       `json:"sub"`
	Audience  audience     `json:"aud"`
	Expiry    *json.Number `json:"exp"`
	NotBefore *json.Number `json:"nbf"`
	K8s       *struct {
		Namespace      string  `json:"namespace"`
		ServiceAccount *objRef `json:"serviceaccount"`
		Pod            *objRef `json:"pod"`
		Node           *objRef `json:"node"`
	} `json:"kubernetes.io"`
}

func numericDate(n *json.Number) (time.Time, bool) {
	if n == nil {
		return time.Time{}, false
	}
	f, err := n.Float64()
	if err != nil {
		return time.Time{}, false
	}
	sec := int64(f)
	return time.Unix(sec, int64((f-float64(sec))*1e9)).UTC(), true
}

// verifyToken checks a service account token for cluster (§2.2). It must
// be called without s.mu held (fetching keys may call the apiserver).
func (s *Server) verifyToken(ctx context.Context, cluster, token string) (*podToken, *apiError) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, invalidToken("The token is not a JWT: it must have three dot-separated parts")
	}
	hb, err := b64(parts[0])
	if err != nil {
		return nil, invalidToken("The token header is not base64url: %v", err)
	}
	var hdr struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
	}
	if err := json.Unmarshal(hb, &hdr); err != nil {
		return nil, invalidToken("The token header is not JSON: %v", err)
	}
	hash, isRSA, ok := jwsAlg(hdr.Alg)
	if !ok {
		return nil, invalidToken("The token's signing algorithm %q is not supported (want RS256, RS384, RS512, ES256 or ES384)", hdr.Alg)
	}
	sig, err := b64(parts[2])
	if err != nil {
		return nil, invalidToken("The token signature is not base64url: %v", err)
	}
	keys, err := s.issuerKeys(ctx, cluster, hdr.Kid)
	if err != nil {
		s.logger.Error("fakeaws: eks-auth: no issuer keys", "cluster", cluster, "err", err)
		return nil, invalidToken("The token cannot be verified: no service account issuer keys for cluster %s (%v)", cluster, err)
	}
	h := hash.New()
	h.Write([]byte(parts[0] + "." + parts[1]))
	digest := h.Sum(nil)
	verified := false
	for _, k := range keys.keys {
		if hdr.Kid != "" && k.kid != "" && k.kid != hdr.Kid {
			continue
		}
		switch pub := k.key.(type) {
		case *rsa.PublicKey:
			if isRSA && rsa.VerifyPKCS1v15(pub, hash, digest, sig) == nil {
				verified = true
			}
		case *ecdsa.PublicKey:
			size := (pub.Curve.Params().BitSize + 7) / 8
			if !isRSA && len(sig) == 2*size {
				r, ss := new(big.Int).SetBytes(sig[:size]), new(big.Int).SetBytes(sig[size:])
				verified = ecdsa.Verify(pub, digest, r, ss)
			}
		}
		if verified {
			break
		}
	}
	if !verified {
		return nil, invalidToken("The token signature is not valid: it was not signed by the service account issuer of cluster %s", cluster)
	}
	cb, err := b64(parts[1])
	if err != nil {
		return nil, invalidToken("The token claims are not base64url: %v", err)
	}
	var c tokenClaims
	dec := json.NewDecoder(strings.NewReader(string(cb)))
	dec.UseNumber()
	if err := dec.Decode(&c); err != nil {
		return nil, invalidToken("The token claims are not valid JSON: %v", err)
	}
	if c.Issuer != keys.issuer {
		return nil, invalidToken("The token issuer %q is not the issuer of cluster %s", c.Issuer, cluster)
	}
	now := s.now().UTC()
	exp, ok := numericDate(c.Expiry)
	if !ok {
		// Stricter choice (UNVERIFIED what EKS does): a token must expire.
		return nil, invalidToken("The token has no valid exp claim")
	}
	if !now.Before(exp.Add(tokenClockLeeway)) {
		return nil, &apiError{status: http.StatusBadRequest, code: "ExpiredTokenException",
			message: fmt.Sprintf("The token included in the request is expired: current date/time %s must be before the expiration date/time %s.",
				now.Format(time.RFC3339Nano), exp.Format(time.RFC3339))}
	}
	if nbf, ok := numericDate(c.NotBefore); ok && now.Before(nbf) {
		return nil, invalidToken("The token is not valid yet: current date/time %s is before the not-before date/time %s", now.Format(time.RFC3339Nano), nbf.Format(time.RFC3339))
	}
	if !slices.Contains(c.Audience, PodIdentityAudience) {
		return nil, invalidToken("The token audience %v does not include %s; request the token with audience %s", []string(c.Audience), PodIdentityAudience, PodIdentityAudience)
	}
	k := c.K8s
	if k == nil || k.Namespace == "" || k.ServiceAccount == nil || k.ServiceAccount.Name == "" {
		return nil, invalidToken("The token has no kubernetes.io namespace and service account claims")
	}
	// Stricter choice (UNVERIFIED whether EKS requires it): the token must
	// be bound to a pod, since the session name and tags need the pod.
	if k.Pod == nil || k.Pod.Name == "" || k.Pod.UID == "" {
		return nil, invalidToken("The token is not bound to a pod (no kubernetes.io pod name and uid); request it with a Pod bound object reference")
	}
	if want := "system:serviceaccount:" + k.Namespace + ":" + k.ServiceAccount.Name; c.Subject != want {
		return nil, invalidToken("The token subject %q does not match its kubernetes.io claims (%s)", c.Subject, want)
	}
	return &podToken{
		namespace: k.Namespace, serviceAccount: k.ServiceAccount.Name, saUID: k.ServiceAccount.UID,
		pod: k.Pod.Name, podUID: k.Pod.UID, expires: exp,
	}, nil
}

func jwsAlg(alg string) (hash crypto.Hash, isRSA, ok bool) {
	switch alg {
	case "RS256":
		return crypto.SHA256, true, true
	case "RS384":
		return crypto.SHA384, true, true
	case "RS512":
		return crypto.SHA512, true, true
	case "ES256":
		return crypto.SHA256, false, true
	case "ES384":
		return crypto.SHA384, false, true
	}
	return 0, false, false
}

// validTokenSyntax is the model's pattern for token:
// ^[A-Za-z0-9-_=]+\.[A-Za-z0-9-_=]+\.[A-Za-z0-9-_=]+$
func validTokenSyntax(t string) bool {
	if len(t) == 0 || len(t) > maxTokenBytes {
		return false
	}
	parts := strings.Split(t, ".")
	if len(parts) != 3 {
		return false
	}
	for _, p := range parts {
		if p == "" || strings.Trim(p, tokenSegmentRunes) != "" {
			return false
		}
	}
	return true
}
