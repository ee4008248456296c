package fakeaws

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// SigV4 signature check for credentials the fake issued (their secret is
// known; the admin's long-term keys accept any secret). It rebuilds the
// canonical request from the headers the client says it signed, as the
// services do, so any SDK that signs correctly passes.

func hmacSHA256(key []byte, data string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(data))
	return h.Sum(nil)
}

// awsURIEscape escapes like the SigV4 canonical URI rule (RFC 3986
// unreserved characters kept, '/' kept).
func awsURIEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.IndexByte("-_.~/", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}

func canonicalQuery(raw string) string {
	q, err := url.ParseQuery(raw)
	if err != nil {
		return raw
	}
	var parts []string
	for k, vs := range q {
		for _, v := range vs {
			parts = append(parts, awsQueryEscape(k)+"="+awsQueryEscape(v))
		}
	}
	sort.Strings(parts)
	return strings.Join(parts, "&")
}

func awsQueryEscape(s string) string {
	return strings.ReplaceAll(awsURIEscape(s), "/", "%2F")
}

// verifySigV4 checks the Authorization header of hr (whose body is body)
// against secret.
func verifySigV4(hr *http.Request, body []byte, secret string) error {
	auth := hr.Header.Get("Authorization")
	const algo = "AWS4-HMAC-SHA256"
	if !strings.HasPrefix(auth, algo+" ") {
		return errors.New("not an AWS4-HMAC-SHA256 signature")
	}
	fields := map[string]string{}
	for _, f := range strings.Split(strings.TrimPrefix(auth, algo+" "), ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(f), "=")
		fields[k] = v
	}
	cred, signed, sig := fields["Credential"], fields["SignedHeaders"], fields["Signature"]
	parts := strings.SplitN(cred, "/", 2)
	if len(parts) != 2 || signed == "" || sig == "" {
		return errors.New("the Authorization header lacks Credential, SignedHeaders or Signature")
	}
	scope := parts[1]
	sp := strings.Split(scope, "/")
	if len(sp) != 4 {
		return errors.New("the credential scope is not date/region/service/aws4_request")
	}
	amzDate := hr.Header.Get("X-Amz-Date")
	if len(amzDate) < 8 || amzDate[:8] != sp[0] {
		return errors.New("X-Amz-Date does not match the credential scope's date")
	}
	var ch strings.Builder
	for _, name := range strings.Split(signed, ";") {
		var val string
		switch name {
		case "host":
			val = hr.Host
		case "content-length":
			if hr.ContentLength >= 0 {
				val = strconv.FormatInt(hr.ContentLength, 10)
			} else {
				val = strconv.Itoa(len(body))
			}
		default:
			vals := hr.Header.Values(name)
			for i := range vals {
				vals[i] = strings.Join(strings.Fields(vals[i]), " ")
			}
			val = strings.Join(vals, ",")
		}
		ch.WriteString(name + ":" + val + "\n")
	}
	payload := hr.Header.Get("X-Amz-Content-Sha256")
	if payload == "" {
		sum := sha256.Sum256(body)
		payload = hex.EncodeToString(sum[:])
	}
	uri := hr.URL.EscapedPath()
	if uri == "" {
		uri = "/"
	}
	canonical := strings.Join([]string{hr.Method, awsURIEscape(uri), canonicalQuery(hr.URL.RawQuery), ch.String(), signed, payload}, "\n")
	sum := sha256.Sum256([]byte(canonical))
	toSign := algo + "\n" + amzDate + "\n" + scope + "\n" + hex.EncodeToString(sum[:])
	key := hmacSHA256([]byte("AWS4"+secret), sp[0])
	key = hmacSHA256(key, sp[1])
	key = hmacSHA256(key, sp[2])
	key = hmacSHA256(key, sp[3])
	want := hex.EncodeToString(hmacSHA256(key, toSign))
	if !hmac.Equal([]byte(want), []byte(sig)) {
		return errors.New("signature mismatch")
	}
	return nil
}

func signatureMismatch(service string) *apiError {
	const msg = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
	switch service {
	case "iam", "sts":
		return &apiError{status: http.StatusForbidden, code: "SignatureDoesNotMatch", message: msg}
	}
	return &apiError{status: http.StatusForbidden, code: "InvalidSignatureException", message: msg}
}
