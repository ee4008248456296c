package fakeaws

import "context"

func (s *Server) stsHandler(op string) handlerFunc {
	if op == "GetCallerIdentity" {
		return s.stsGetCallerIdentity
	}
	return nil
}

// stsGetCallerIdentity needs no permission (as in AWS) and answers the
// principal of the request's access key: the admin user, or the
// assumed-role session of credentials the fake issued. Bad, unknown and
// expired credentials are answered before this runs (see resolveCaller).
func (s *Server) stsGetCallerIdentity(_ context.Context, r *request) (any, string, *apiError) {
	p := r.caller
	if p == nil {
		p = s.adminPrincipal()
	}
	var b xb
	b.el("Arn", p.arn)
	b.el("UserId", p.userID)
	b.el("Account", s.opts.Account)
	return b.String(), "", nil
}
