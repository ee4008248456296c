package fakeaws

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"
)

// callerUser is the identity every request is attributed to.
const callerUser = "podid-lab"

// maxAssociationsPerCluster is the EKS quota on pod identity associations.
const maxAssociationsPerCluster = 5000

// Server is the fake. Create it with New, seed it, then Start it (or mount
// Handler in an httptest.Server). All methods are safe for concurrent use.
type Server struct {
	opts   Options
	logger *slog.Logger

	// bg is cancelled by Close; every background goroutine watches it.
	bg       context.Context
	bgCancel context.CancelFunc
	wg       sync.WaitGroup

	mu           sync.Mutex
	clusters     map[string]*clusterState
	roles        map[string]*roleState   // by lower-cased name
	policies     map[string]*policyState // by ARN
	callerPolicy *policyDoc
	callerDoc    string
	faults       *faultState
	audit        []AuditEntry
	calls        map[string]int
	keys         map[string]*credential // access keys the fake issued (identity.go)
	eksAuth      EKSAuthOptions
	exchanges    []Exchange
	issuers      *issuerCache
	closed       bool
	// maxAssociations is the per-cluster quota (tests lower it).
	maxAssociations int

	httpSrv *http.Server
	url     string
}

// HealthIssue is one entry of an add-on's health.issues.
type HealthIssue struct {
	Code        string   `json:"code"`
	Message     string   `json:"message"`
	ResourceIDs []string `json:"resourceIds,omitempty"`
}

// New returns a Server with the given options and the seeded AWS managed
// policies. It does not listen; call Start or use Handler.
func New(opts Options) *Server {
	if opts.Account == "" {
		opts.Account = DefaultAccount
	}
	if opts.Region == "" {
		opts.Region = DefaultRegion
	}
	if opts.AddonReadyTimeout <= 0 {
		opts.AddonReadyTimeout = 2 * time.Minute
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		opts:            opts,
		logger:          logger,
		bg:              ctx,
		bgCancel:        cancel,
		clusters:        map[string]*clusterState{},
		roles:           map[string]*roleState{},
		policies:        map[string]*policyState{},
		calls:           map[string]int{},
		maxAssociations: maxAssociationsPerCluster,
	}
	s.faults = newFaultState(opts.Faults)
	s.eksAuth = opts.EKSAuth.withDefaults()
	s.issuers = &issuerCache{entries: map[string]*issuerEntry{}}
	s.seedManagedPolicies()
	return s
}

// Start listens on addr (use "127.0.0.1:0"), serves in the background and
// returns the base URL, e.g. http://127.0.0.1:41234.
func (s *Server) Start(addr string) (string, error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("fakeaws: listen on %s: %w (pick a free 127.0.0.1 port or use 127.0.0.1:0)", addr, err)
	}
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	s.mu.Lock()
	s.httpSrv = srv
	s.url = "http://" + ln.Addr().String()
	u := s.url
	s.mu.Unlock()
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.logger.Error("fakeaws: serve", "err", err)
		}
	}()
	return u, nil
}

// URL is the base URL returned by Start ("" before Start).
func (s *Server) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.url
}

// Handler serves the fake (for httptest.NewServer).
func (s *Server) Handler() http.Handler { return s }

// Close stops serving and all background timers. It waits for running
// background work (backend calls see a cancelled context).
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	srv := s.httpSrv
	s.mu.Unlock()
	s.bgCancel()
	var err error
	if srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = srv.Shutdown(ctx)
		cancel()
	}
	s.wg.Wait()
	return err
}

// goBackground runs f in a goroutine tracked by Close.
func (s *Server) goBackground(f func(ctx context.Context)) {
	s.mu.Lock()
	closed := s.closed
	if !closed {
		s.wg.Add(1)
	}
	s.mu.Unlock()
	if closed {
		return
	}
	go func() {
		defer s.wg.Done()
		f(s.bg)
	}()
}

// sleepCtx waits d or until ctx ends; it reports whether d elapsed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// SetCallerPolicy makes every EKS and IAM call subject to document (an
// identity policy of the caller). "" lets the caller do anything. A document
// that does not parse denies everything (and is logged).
func (s *Server) SetCallerPolicy(document string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.callerDoc = document
	if document == "" {
		s.callerPolicy = nil
		return
	}
	p, err := parsePolicy(document)
	if err != nil {
		s.logger.Error("fakeaws: caller policy does not parse; denying everything", "err", err)
		p = &policyDoc{}
	}
	s.callerPolicy = p
}

// Audit returns the accepted mutating calls, oldest first.
func (s *Server) Audit() []AuditEntry {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]AuditEntry(nil), s.audit...)
}

// CallCounts returns how often each "service:Operation" was called, failed
// calls included.
func (s *Server) CallCounts() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.calls))
	for k, v := range s.calls {
		out[k] = v
	}
	return out
}

// ResetCounts clears CallCounts (not the audit log).
func (s *Server) ResetCounts() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = map[string]int{}
}

func (s *Server) callerArn() string {
	return "arn:aws:iam::" + s.opts.Account + ":user/" + callerUser
}

// apiError is an error answer in the service's own format.
type apiError struct {
	status  int
	code    string
	message string
	extra   map[string]any // EKS only: clusterName, addonName, …
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

// request is one decoded call.
type request struct {
	service   string
	operation string
	accessKey string
	caller    *principal // who signed the request (nil = the admin)
	method    string
	path      []string // EKS: unescaped path segments
	query     map[string][]string
	form      map[string][]string // IAM/STS: decoded form
	body      []byte
}

func (r *request) q(name string) string {
	if v := r.query[name]; len(v) > 0 {
		return v[0]
	}
	return ""
}

func (r *request) f(name string) string {
	if v := r.form[name]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// handlerFunc answers one operation. resp is a JSON value (EKS) or the inner
// XML of <OpResult> (IAM/STS; nil means no result element). auditTarget is
// non-empty for an accepted mutation.
type handlerFunc func(ctx context.Context, r *request) (resp any, auditTarget string, err *apiError)

func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// serviceFromAuth returns the service and access key id of the SigV4
// credential scope: Credential=AKID/date/region/service/aws4_request.
func serviceFromAuth(h string) (service, akid string) {
	service, akid, _ = credentialScope(h)
	return service, akid
}

// credentialScope returns the service, access key id and region of the
// SigV4 credential scope.
func credentialScope(h string) (service, akid, region string) {
	i := strings.Index(h, "Credential=")
	if i < 0 {
		return "", "", ""
	}
	cred := h[i+len("Credential="):]
	if j := strings.IndexAny(cred, ", "); j >= 0 {
		cred = cred[:j]
	}
	parts := strings.Split(cred, "/")
	if len(parts) < 5 {
		return "", "", ""
	}
	return parts[3], parts[0], parts[2]
}

// ServeHTTP routes by the SigV4 credential scope (and /_fake/ for admin).
func (s *Server) ServeHTTP(w http.ResponseWriter, hr *http.Request) {
	if strings.HasPrefix(hr.URL.Path, "/_fake/") {
		s.serveAdmin(w, hr)
		return
	}
	reqID := newRequestID()
	w.Header().Set("X-Amzn-RequestId", reqID)
	service, akid, region := credentialScope(hr.Header.Get("Authorization"))
	body, err := io.ReadAll(io.LimitReader(hr.Body, 10<<20))
	if err != nil {
		http.Error(w, "read body: "+err.Error(), http.StatusBadRequest)
		return
	}
	r := &request{service: service, accessKey: akid, method: hr.Method, body: body, query: hr.URL.Query()}

	var h handlerFunc
	switch service {
	case "eks":
		r.path = splitPath(hr.URL.EscapedPath())
		r.operation, h = s.routeEKS(r)
	case "eks-auth":
		r.path = splitPath(hr.URL.EscapedPath())
		r.operation, h = s.routeEKSAuth(r)
	case "iam", "sts":
		form, ferr := parseForm(hr, body)
		if ferr != nil {
			s.writeError(w, r, reqID, &apiError{status: 400, code: "MalformedQueryString", message: ferr.Error()})
			return
		}
		r.form = form
		r.operation = r.f("Action")
		if service == "iam" {
			h = s.iamHandler(r.operation)
		} else {
			h = s.stsHandler(r.operation)
		}
	default:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprintf(w, `{"__type":"MissingAuthenticationTokenException","message":"fakeaws: no SigV4 Authorization header with a credential scope for eks, eks-auth, iam or sts (got service %q); sign the request with region and service"}`, service)
		return
	}
	op := r.operation
	if op == "" {
		op = "Unknown"
	}
	s.mu.Lock()
	s.calls[service+":"+op]++
	s.mu.Unlock()
	s.logger.Debug("fakeaws: call", "service", service, "operation", op, "method", hr.Method, "path", hr.URL.Path)

	ctx := hr.Context()
	if d := s.faultLatency(); d > 0 {
		if !sleepCtx(ctx, d) {
			return
		}
	}
	if ferr := s.injectFault(service); ferr != nil {
		s.writeError(w, r, reqID, ferr)
		return
	}
	caller, aerr := s.resolveCaller(service, akid, hr, body)
	if aerr != nil {
		s.writeError(w, r, reqID, aerr)
		return
	}
	r.caller = caller
	if h == nil {
		s.writeError(w, r, reqID, unknownOperation(r))
		return
	}
	// EKS is regional: the fake's clusters live in its one region only.
	if (service == "eks" || service == "eks-auth") && region != "" && region != s.opts.Region {
		if len(r.path) >= 2 && r.path[0] == "clusters" {
			s.writeError(w, r, reqID, clusterNotFound(r.path[1]))
			return
		}
		if r.operation == "ListClusters" {
			writeJSON(w, http.StatusOK, map[string]any{"clusters": []string{}})
			return
		}
	}
	resp, target, aerr := h(ctx, r)
	if aerr != nil {
		s.writeError(w, r, reqID, aerr)
		return
	}
	if target != "" {
		s.mu.Lock()
		s.audit = append(s.audit, AuditEntry{Time: time.Now().UTC(), Service: service, Operation: r.operation, Target: target})
		s.mu.Unlock()
	}
	if service == "eks" || service == "eks-auth" {
		writeJSON(w, http.StatusOK, resp)
		return
	}
	writeQueryResponse(w, service, r.operation, resp, reqID)
}

func unknownOperation(r *request) *apiError {
	if r.service == "eks" || r.service == "eks-auth" {
		return &apiError{status: 404, code: "UnknownOperationException", message: fmt.Sprintf("fakeaws: %s has no operation for %s /%s", strings.ToUpper(r.service), r.method, strings.Join(r.path, "/"))}
	}
	return &apiError{status: 400, code: "InvalidAction", message: fmt.Sprintf("Could not find operation %s for version %s", r.operation, r.f("Version"))}
}

// credentialError models bad credentials by access key id prefix.
func credentialError(service, akid string) *apiError {
	switch {
	case strings.HasPrefix(akid, "EXPIRED"):
		if service == "eks" {
			return &apiError{status: 403, code: "ExpiredTokenException", message: "The security token included in the request is expired"}
		}
		return &apiError{status: 403, code: "ExpiredToken", message: "The security token included in the request is expired"}
	case strings.HasPrefix(akid, "INVALID"):
		if service == "eks" {
			return &apiError{status: 403, code: "UnrecognizedClientException", message: "The security token included in the request is invalid."}
		}
		return &apiError{status: 403, code: "InvalidClientTokenId", message: "The security token included in the request is invalid."}
	}
	return nil
}

func splitPath(p string) []string {
	var out []string
	for _, seg := range strings.Split(p, "/") {
		if seg == "" {
			continue
		}
		if u, err := pathUnescape(seg); err == nil {
			seg = u
		}
		out = append(out, seg)
	}
	return out
}

func (s *Server) writeError(w http.ResponseWriter, r *request, reqID string, e *apiError) {
	s.logger.Debug("fakeaws: error", "service", r.service, "operation", r.operation, "code", e.code, "message", e.message)
	if r.service == "eks" || (r.service != "iam" && r.service != "sts") {
		body := map[string]any{"__type": e.code, "message": e.message}
		for k, v := range e.extra {
			body[k] = v
		}
		w.Header().Set("X-Amzn-ErrorType", e.code)
		writeJSON(w, e.status, body)
		return
	}
	writeQueryError(w, r.service, e, reqID)
}

// sortedKeys returns the keys of m in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
