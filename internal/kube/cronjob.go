package kube

import (
	"context"
	"fmt"
	"time"
	_ "time/tzdata" // CronJob time zones must resolve on hosts without a zoneinfo database

	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/robfig/cron/v3"
)

// KindCronJob and KindJob are the batch kinds podid accounts for but does
// not restart.
const (
	KindCronJob = "CronJob"
	KindJob     = "Job"
)

// CronJob is a CronJob whose job template runs under a service account:
// podid does not restart it; its next run gets what the webhook injects
// then.
type CronJob struct {
	Name      string
	Namespace string
	Schedule  string
	TimeZone  string // spec.timeZone; "" means the controller's time zone (UTC on EKS)
	Suspended bool
	// Next is the next scheduled run after the time FindCronJobs was given
	// (zero when suspended or when the schedule does not parse).
	Next time.Time
	// ScheduleError says why Next is unknown.
	ScheduleError string
}

// Ref is "cronjob/NAME".
func (c CronJob) Ref() string { return "cronjob/" + c.Name }

// NextRun is the CronJob controller's next run of schedule after now: the
// standard five fields or a descriptor (@hourly, @daily, ...), in time
// zone tz (an IANA name; "" is UTC, the kube-controller-manager's zone on
// EKS). It parses as the controller does, with robfig/cron's standard
// parser and a CRON_TZ prefix; a schedule that carries its own TZ= or
// CRON_TZ= prefix is refused, as the apiserver refuses it when timeZone is
// set.
func NextRun(schedule, tz string, now time.Time) (time.Time, error) {
	loc := time.UTC
	if tz != "" {
		l, err := time.LoadLocation(tz)
		if err != nil {
			return time.Time{}, fmt.Errorf("time zone %q: %w", tz, err)
		}
		loc = l
	}
	sched, err := cron.ParseStandard(schedule)
	if err != nil {
		return time.Time{}, fmt.Errorf("schedule %q: %w", schedule, err)
	}
	next := sched.Next(now.In(loc))
	if next.IsZero() {
		return time.Time{}, fmt.Errorf("schedule %q never runs", schedule)
	}
	return next, nil
}

// FindCronJobs lists the CronJobs of namespace ns whose job template runs
// under service account sa, each with its next run after now.
func FindCronJobs(ctx context.Context, client kubernetes.Interface, ns, sa string, now time.Time) ([]CronJob, error) {
	list, err := client.BatchV1().CronJobs(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list cronjobs in namespace %s: %w", ns, err)
	}
	var out []CronJob
	for i := range list.Items {
		cj := &list.Items[i]
		if templateSA(&cj.Spec.JobTemplate.Spec.Template.Spec) != sa {
			continue
		}
		out = append(out, cronJobOf(cj, now))
	}
	return out, nil
}

func cronJobOf(cj *batchv1.CronJob, now time.Time) CronJob {
	c := CronJob{Name: cj.Name, Namespace: cj.Namespace, Schedule: cj.Spec.Schedule, Suspended: cj.Spec.Suspend != nil && *cj.Spec.Suspend}
	if cj.Spec.TimeZone != nil {
		c.TimeZone = *cj.Spec.TimeZone
	}
	if c.Suspended {
		return c
	}
	next, err := NextRun(c.Schedule, c.TimeZone, now)
	if err != nil {
		c.ScheduleError = err.Error()
		return c
	}
	c.Next = next
	return c
}

// NextRunText says when the CronJob runs next, for messages: "at
// 2026-12-02T03:00:00Z", "at 2026-12-02T04:00:00+01:00 (Europe/Paris)",
// or why that is unknown.
func (c CronJob) NextRunText() string {
	switch {
	case c.Suspended:
		return "never while it is suspended (kubectl -n " + c.Namespace + " patch cronjob " + c.Name + ` -p '{"spec":{"suspend":false}}')`
	case c.ScheduleError != "":
		return "unknown: " + c.ScheduleError
	case c.TimeZone != "":
		return "at " + c.Next.Format(time.RFC3339) + " (" + c.TimeZone + ")"
	}
	return "at " + c.Next.UTC().Format(time.RFC3339)
}
