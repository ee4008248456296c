// Package bench measures podid on the lab against the way the EKS workshop
// does the same job, and writes the figures to testdata/bench/latest.txt
// and latest.json. It holds no production code; everything lives in its
// tests:
//
//	make bench   # go test -run '^$' -bench . -benchtime 5x ./internal/bench/...
//
// BenchmarkPodid runs these scenarios on one lab, each repetition side by
// side with its anchor, and prints one table (scenario, podid median,
// anchor median, ratio, API calls, target):
//
//   - addon-wait: from the fake's switch of the agent add-on to ACTIVE to
//     podid's Poller noticing it; anchor: the SDK's eks.AddonActiveWaiter
//     with its defaults (MinDelay 10 s, MaxDelay 120 s).
//   - assoc-restart: from the association taking effect (the webhook's
//     identities file rewritten) to the restart's patch of the Deployment;
//     anchor: the workshop's fixed `sleep 30` after creating the
//     association (30 s − P after the effect, by construction).
//   - restart: `podid restart --force` of carts to verified new pods;
//     anchor: `kubectl rollout restart` + `kubectl rollout status`.
//   - enable: `podid enable` end to end with a new add-on; anchor: the sum
//     of the per-step anchors.
//   - credentials: the credentials step of `podid verify` (the agent's
//     exchange for one pod per workload, then the node role check) on
//     namespaces where enable ran: its own duration, the API calls it adds
//     per workload and per run; anchor: `podid verify --credentials off`.
//   - apply: `podid apply` of 50 workloads in 10 namespaces under an EKS
//     rate limit; anchor: the same 50 `podid enable` runs one at a time.
//   - startup: `podid --help` and `podid --version`; anchor: `kubectl
//     version --client`.
//
// The ordinary tests of the package (run by make test) check on the lab
// what the benchmarks rely on: that the add-on wait ends on ACTIVE, that the
// restart's patch comes after the association took effect, that the
// credentials check adds at most 3 calls per workload, and the harness's
// own arithmetic.
package bench
