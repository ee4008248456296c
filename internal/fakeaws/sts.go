package fakeaws

import "context"

func (s *Server) stsHandler(op string) handlerFunc {
	if op == "GetCallerIdentity" {
		return s.stsGetCallerIdentity
	}
	return nil
}

// stsGetCallerIdentity needs no permission (as in AWS). Bad credentials are
// answered before this runs (see credentialError).
func (s *Server) stsGetCallerIdentity(_ context.Context, _ *request) (any, string, *apiError) {
	var b xb
	b.el("Arn", s.callerArn())
	b.el("UserId", "AIDAFAKEPODIDLAB"+s.opts.Account)
	b.el("Account", s.opts.Account)
	return b.String(), "", nil
}
