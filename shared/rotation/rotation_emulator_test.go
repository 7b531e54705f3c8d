package rotation_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/keygate/keygate/infra/test/emulatortest"
	"github.com/keygate/keygate/shared/clocktest"
	"github.com/keygate/keygate/shared/rotation"
	"github.com/keygate/keygate/shared/secret"
	"github.com/keygate/keygate/shared/signing"
)

// The tests in this file run the rotation function's steps on moto through the real Secrets
// Manager client, and read the result back with DescribeSecret and a keyring.

func emuContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// emuStages returns version id → labels of the versions that carry any, sorted.
func emuStages(t *testing.T, sm *secretsmanager.Client, name string) map[string][]string {
	t.Helper()
	out, err := sm.DescribeSecret(emuContext(t), &secretsmanager.DescribeSecretInput{SecretId: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	m := map[string][]string{}
	for id, ss := range out.VersionIdsToStages {
		if len(ss) > 0 {
			m[id] = slices.Sorted(slices.Values(ss))
		}
	}
	return m
}

// A late finishSecret on moto: createSecret and testSecret at start, finishSecret an hour
// later and again (a retry) an hour after that. The promoted version carries the first
// finishSecret's time, the demoted one no promotion label, and a signing keyring reading the
// secret keeps signing with the old key until the activation delay has passed since the
// promotion; the next rotation moves the label on.
func TestALateFinishOnSecretsManager(t *testing.T) {
	const every = 5 * time.Minute
	delay := signing.DefaultActivationDelay(every)
	sm := emulatortest.SecretsManager(t)
	name := emulatortest.Secret(t, sm)
	clk := clocktest.New(start.Add(-48 * time.Hour))
	r, _ := newRotator(nil, signing.EdDSA)
	r.API, r.Now = sm, clk.Now
	tok := func(i int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", i) }
	run := func(token string, steps ...string) {
		t.Helper()
		for _, s := range steps {
			if err := r.Handle(emuContext(t), rotation.Event{SecretID: name, ClientRequestToken: token, Step: s}); err != nil {
				t.Fatalf("%s(%s) at %v: %v", s, token, clk.Now(), err)
			}
		}
	}
	check := func(what string, want map[string][]string) {
		t.Helper()
		for id := range want {
			slices.Sort(want[id])
		}
		if got := emuStages(t, sm, name); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("%s: stages = %v, want %v", what, got, want)
		}
	}
	v1, v2, v3 := tok(1), tok(2), tok(3)
	run(v1, allSteps...)
	check("the first key", map[string][]string{v1: {secret.StageCurrent}})

	clk.Set(start)
	ring := signing.New(sm, name, signing.Options{RefreshEvery: every, Now: clk.Now, ActivationDelay: delay})
	signs := func(want string) {
		t.Helper()
		v, err := sm.GetSecretValue(emuContext(t), &secretsmanager.GetSecretValueInput{SecretId: aws.String(name), VersionId: aws.String(want)})
		if err == nil {
			var wk, gk *signing.Key
			if wk, err = signing.Parse([]byte(aws.ToString(v.SecretString))); err == nil {
				if gk, err = ring.Signing(emuContext(t)); err == nil && gk.Kid != wk.Kid {
					err = fmt.Errorf("signs with %s", gk.Kid)
				}
			}
		}
		if err != nil {
			t.Errorf("at start+%v, want version %s to sign: %v", clk.Now().Sub(start), want, err)
		}
	}
	signs(v1)
	run(v2, rotation.StepCreate, rotation.StepSet, rotation.StepTest)
	check("after testSecret", map[string][]string{v1: {secret.StageCurrent}, v2: {secret.StagePending, secret.StageTested}})

	promotion := start.Add(time.Hour)
	clk.Set(promotion)
	run(v2, rotation.StepFinish)
	check("after a late finishSecret", map[string][]string{v1: {secret.StagePrevious}, v2: {secret.StageCurrent, promotedLabel(promotion)}})
	signs(v1)
	clk.Set(promotion.Add(every))
	signs(v1)
	clk.Set(promotion.Add(every + time.Minute))
	run(v2, rotation.StepFinish) // retried
	check("after a retried finishSecret", map[string][]string{v1: {secret.StagePrevious}, v2: {secret.StageCurrent, promotedLabel(promotion)}})
	clk.Set(promotion.Add(delay - time.Second))
	signs(v1)
	clk.Set(promotion.Add(delay))
	signs(v2)

	next := promotion.Add(24 * time.Hour)
	clk.Set(next)
	run(v3, allSteps...)
	check("after the next rotation", map[string][]string{v2: {secret.StagePrevious}, v3: {secret.StageCurrent, promotedLabel(next)}})
}

// A finishSecret that died after labelling and before promoting, retried later on moto: the
// label carries the retry's time, the earlier one is gone.
func TestAFinishRetriedBeforeItsPromotionOnSecretsManager(t *testing.T) {
	sm := emulatortest.SecretsManager(t)
	name := emulatortest.Secret(t, sm)
	clk := clocktest.New(start)
	r, _ := newRotator(nil, signing.EdDSA)
	r.API, r.Now = sm, clk.Now
	v1, v2 := "00000000-0000-4000-8000-000000000001", "00000000-0000-4000-8000-000000000002"
	for _, ev := range []struct{ token, step string }{
		{v1, rotation.StepCreate}, {v1, rotation.StepTest}, {v1, rotation.StepFinish},
		{v2, rotation.StepCreate}, {v2, rotation.StepTest},
	} {
		if err := r.Handle(emuContext(t), rotation.Event{SecretID: name, ClientRequestToken: ev.token, Step: ev.step}); err != nil {
			t.Fatalf("%s(%s): %v", ev.step, ev.token, err)
		}
	}
	early := promotedLabel(start.Add(time.Hour))
	if _, err := sm.UpdateSecretVersionStage(emuContext(t), &secretsmanager.UpdateSecretVersionStageInput{
		SecretId: aws.String(name), VersionStage: aws.String(early), MoveToVersionId: aws.String(v2),
	}); err != nil {
		t.Fatal(err)
	}
	clk.Set(start.Add(3 * time.Hour))
	if err := r.Handle(emuContext(t), rotation.Event{SecretID: name, ClientRequestToken: v2, Step: rotation.StepFinish}); err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{v1: {secret.StagePrevious}, v2: slices.Sorted(slices.Values([]string{secret.StageCurrent, promotedLabel(clk.Now())}))}
	if got := emuStages(t, sm, name); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("stages = %v, want %v", got, want)
	}
}
