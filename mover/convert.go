package mover

import (
	v1alpha1 "trove.dev/trove/apis/v1alpha1"
)

// RetentionFromAPI converts a RetentionPolicy of the API.
func RetentionFromAPI(p v1alpha1.RetentionPolicy) RetentionPolicy {
	return RetentionPolicy{
		KeepLast: int(p.KeepLast), KeepHourly: int(p.KeepHourly), KeepDaily: int(p.KeepDaily),
		KeepWeekly: int(p.KeepWeekly), KeepMonthly: int(p.KeepMonthly), KeepYearly: int(p.KeepYearly),
		KeepTags: append([]string(nil), p.KeepTags...), Prune: p.Prune, DryRun: p.DryRun,
	}
}
