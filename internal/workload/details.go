package workload

import "k8s.io/apimachinery/pkg/types"

// The typed details of workload's steps (their "details" in `-o json`).

// PodReport is one pod after (or before) a restart, as printed and in JSON.
// Every restart step (enable's, disable's, migrate's) reports pods this way.
type PodReport struct {
	Workload string   `json:"workload"`
	Pod      string   `json:"pod"`
	Node     string   `json:"node,omitempty"`
	Injected bool     `json:"injected"`           // the pod has the complete Pod Identity injection
	OK       bool     `json:"ok"`                 // the pod is as the step wants it
	Problems []string `json:"problems,omitempty"` // why it is not
	Warnings []string `json:"warnings,omitempty"`
	// UID binds the credentials check's token to the pod without reading
	// it again.
	UID types.UID `json:"-"`
}

// RestartDetails are the restart step's facts.
type RestartDetails struct {
	Want      string      `json:"want"`                // what every new pod must be: "have Pod Identity credentials"
	Restart   []string    `json:"restart,omitempty"`   // planned: the workloads to restart (KIND/NAME)
	Restarted []string    `json:"restarted,omitempty"` // done: the workloads restarted
	Pods      []PodReport `json:"pods"`
	// NotRestarted are the service account's other pods: kept by OnDelete
	// or a partition, of a CronJob, a Job, no controller or another
	// controller (planned only).
	NotRestarted []NotRestarted `json:"notRestarted,omitempty"`
}

// NotRestarted is a pod of the service account that the restart step does
// not replace, as in JSON: its owner, why and the fix that works for it.
type NotRestarted struct {
	Pod      string   `json:"pod"`
	Owner    string   `json:"owner,omitempty"` // kind/name; empty: no controller
	OK       bool     `json:"ok"`
	Problems []string `json:"problems,omitempty"`
	Cause    string   `json:"cause"`
	Fix      string   `json:"fix,omitempty"`
}

// PropagationDetails are the facts of the steps that wait for the webhook to
// start (enable) or stop (disable) injecting new pods.
type PropagationDetails struct {
	Injected      bool    `json:"injected"` // a new pod gets the injection now
	Probes        int     `json:"probes,omitempty"`
	WaitedSeconds float64 `json:"waitedSeconds,omitempty"`
}
