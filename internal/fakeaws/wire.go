package fakeaws

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

const (
	iamXMLNS = "https://iam.amazonaws.com/doc/2010-05-08/"
	stsXMLNS = "https://sts.amazonaws.com/doc/2011-06-15/"
)

func pathUnescape(s string) (string, error) { return url.PathUnescape(s) }

// parseForm decodes an awsQuery body (application/x-www-form-urlencoded,
// with or without parameters), falling back to the URL query for GETs.
func parseForm(hr *http.Request, body []byte) (map[string][]string, error) {
	if len(body) == 0 {
		return hr.URL.Query(), nil
	}
	if ct := hr.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil {
			return nil, fmt.Errorf("content type %q does not parse: %v", ct, err)
		}
		if mt != "application/x-www-form-urlencoded" {
			return nil, fmt.Errorf("content type %s is not supported; send application/x-www-form-urlencoded", mt)
		}
	}
	v, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, fmt.Errorf("form body does not parse: %v", err)
	}
	return v, nil
}

// formList returns prefix.member.1, prefix.member.2, … until the first gap.
func formList(form map[string][]string, prefix string) []string {
	var out []string
	for i := 1; ; i++ {
		v, ok := form[prefix+".member."+strconv.Itoa(i)]
		if !ok || len(v) == 0 {
			return out
		}
		out = append(out, v[0])
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"__type":"ServerException","message":"fakeaws: encode response: ` + strings.ReplaceAll(err.Error(), `"`, `'`) + `"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// epoch marshals a time as JSON epoch seconds (restJson1 timestamps).
type epoch time.Time

func (e epoch) MarshalJSON() ([]byte, error) {
	t := time.Time(e)
	return []byte(strconv.FormatFloat(float64(t.UnixMilli())/1000, 'f', -1, 64)), nil
}

func isoTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }

// encodeDoc percent-encodes a policy document the way IAM returns it
// (spaces as %20, so QueryUnescape and PathUnescape agree).
func encodeDoc(doc string) string {
	return strings.ReplaceAll(url.QueryEscape(doc), "+", "%20")
}

// xb builds XML with escaped text.
type xb struct{ strings.Builder }

func (b *xb) el(name, val string) {
	b.WriteString("<" + name + ">")
	_ = xml.EscapeText(b, []byte(val))
	b.WriteString("</" + name + ">")
}

func (b *xb) open(name string)  { b.WriteString("<" + name + ">") }
func (b *xb) close(name string) { b.WriteString("</" + name + ">") }

func (b *xb) bool(name string, v bool) { b.el(name, strconv.FormatBool(v)) }

func xmlns(service string) string {
	if service == "sts" {
		return stsXMLNS
	}
	return iamXMLNS
}

// writeQueryResponse writes the full awsQuery envelope. result is the inner
// XML of <OpResult>, or nil for operations without output.
func writeQueryResponse(w http.ResponseWriter, service, op string, result any, reqID string) {
	var b xb
	b.WriteString(`<` + op + `Response xmlns="` + xmlns(service) + `">`)
	if inner, ok := result.(string); ok {
		b.WriteString("<" + op + "Result>" + inner + "</" + op + "Result>")
	}
	b.WriteString("<ResponseMetadata>")
	b.el("RequestId", reqID)
	b.WriteString("</ResponseMetadata></" + op + "Response>")
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte(b.String()))
}

func writeQueryError(w http.ResponseWriter, service string, e *apiError, reqID string) {
	typ := "Sender"
	if e.status >= 500 {
		typ = "Receiver"
	}
	var b xb
	b.WriteString(`<ErrorResponse xmlns="` + xmlns(service) + `"><Error>`)
	b.el("Type", typ)
	b.el("Code", e.code)
	b.el("Message", e.message)
	b.WriteString("</Error>")
	b.el("RequestId", reqID)
	b.WriteString("</ErrorResponse>")
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(e.status)
	_, _ = w.Write([]byte(b.String()))
}
