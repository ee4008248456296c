# podid — see README.md. The two commands that matter: `make demo` and `make test`.
SHELL := /bin/bash
GO    ?= go
BIN   := $(CURDIR)/bin
LAB   := $(CURDIR)/.lab
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse HEAD 2>/dev/null)
LDFLAGS := -s -w -X github.com/podid/podid/internal/app.Version=$(VERSION) -X github.com/podid/podid/internal/app.Commit=$(COMMIT)
export GOTOOLCHAIN := local
export GOFLAGS := -modcacherw -buildvcs=false

.PHONY: golden all build podid podid-lab podid-lab-whoami lab-bin lab lab-down demo test test-short vet fmt bench clean fuzz-smoke

all: build

build: podid podid-lab podid-lab-whoami

podid:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/podid ./cmd/podid

podid-lab:
	$(GO) build -trimpath -o $(BIN)/podid-lab ./cmd/podid-lab

## podid-lab-whoami: an app on the AWS SDK's default credential chain that prints its STS caller identity
podid-lab-whoami:
	$(GO) build -trimpath -o $(BIN)/podid-lab-whoami ./internal/lab/whoami

## lab-bin: build the lab's binaries (etcd, kube-apiserver, ..., the webhook) from the Go module proxy
## into the user cache, with progress; a no-op when they are cached. The first build takes minutes.
lab-bin: podid-lab
	$(BIN)/podid-lab build

## lab: build what is missing and start the lab (control plane + fake AWS) in .lab/
lab: podid-lab
	$(BIN)/podid-lab up --dir $(LAB)

lab-down:
	@if [ -x $(BIN)/podid-lab ]; then $(BIN)/podid-lab down --dir $(LAB); fi

## demo: podid's main job on the lab, then what the workshop shows
demo: build lab
	@set -euo pipefail; eval "$$($(BIN)/podid-lab env --dir $(LAB))"; export PATH="$(BIN):$$PATH"; \
	echo; echo "\$$ podid enable --cluster eks-workshop --ns carts --sa carts"; \
	podid enable --cluster eks-workshop --ns carts --sa carts; \
	echo; echo "\$$ kubectl -n kube-system get daemonset eks-pod-identity-agent"; \
	kubectl -n kube-system get daemonset eks-pod-identity-agent; \
	echo; echo "\$$ podid-lab aws    # the fake's view: aws eks describe-addon / list-pod-identity-associations"; \
	podid-lab aws --dir $(LAB); \
	echo; echo "\$$ kubectl -n carts get pods -o yaml | grep AWS_   # the new pods' Pod Identity variables (kwok pods do not run, so read the spec)"; \
	kubectl -n carts get pods -l app.kubernetes.io/name=carts -o jsonpath='{range .items[*]}{.metadata.name}{"\n"}{range .spec.containers[0].env[*]}{"  "}{.name}={.value}{"\n"}{end}{end}'; \
	echo; echo "\$$ podid enable --cluster eks-workshop --ns carts --sa carts   # again: nothing to do"; \
	podid enable --cluster eks-workshop --ns carts --sa carts; \
	pod=$$(kubectl -n carts get pods -l app.kubernetes.io/name=carts,eks.amazonaws.com/pod-identity=enabled \
	  --field-selector=status.phase=Running -o jsonpath='{.items[0].metadata.name}'); \
	echo; echo "\$$ podid-lab exec --ns carts $$pod -- podid-lab-whoami   # the identity the carts app gets: the SDK's default chain, the lab's agent, EKS Auth"; \
	podid-lab exec --dir $(LAB) --ns carts "$$pod" -- podid-lab-whoami; \
	if command -v aws >/dev/null; then \
	  echo; echo "\$$ podid-lab exec --ns carts $$pod -- aws sts get-caller-identity"; \
	  podid-lab exec --dir $(LAB) --ns carts "$$pod" -- aws sts get-caller-identity; \
	fi; \
	echo; echo "The lab is still running. Use it:  eval \"\$$($(BIN)/podid-lab env --dir $(LAB))\""; \
	echo "Stop it:                            make lab-down"

## test: vet, build the lab binaries first (with progress, and without the race-compiled tests competing
## for the cores), then every test including the lab integration tests, with the race detector (the lab
## tests wait on the control plane, so -race costs them little)
test: vet lab-bin
	$(GO) test -race -count=1 -timeout 25m ./...

## fuzz-smoke: every fuzz target for FUZZTIME each (CI runs it; seed corpora also run in make test)
FUZZTIME ?= 5s
fuzz-smoke:
	@set -euo pipefail; for f in $$(grep -rl --include='*_test.go' '^func Fuzz' internal cmd); do \
	  pkg=./$$(dirname $$f); \
	  for t in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' $$f); do \
	    echo "fuzz $$pkg $$t ($(FUZZTIME))"; \
	    $(GO) test -run '^$$' -fuzz "^$$t\$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; \
	done

## test-short: the quick loop; skips the lab tests (and says so)
test-short:
	$(GO) test -short ./...

## golden: rewrite the golden files (testdata/golden/<command>/) from podid's output on the lab; review the diff
golden:
	$(GO) test ./internal/e2e/ -run Golden -count=1 -update

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }
	$(GO) vet ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

## bench: performance figures on the lab (not part of make test)
bench: build
	$(GO) test -run '^$$' -bench . -benchtime 5x -timeout 60m ./internal/bench/...

clean: lab-down
	rm -rf $(BIN)
