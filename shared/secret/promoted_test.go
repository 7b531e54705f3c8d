package secret_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/keygate/keygate/infra/test/emulatortest"
	"github.com/keygate/keygate/shared/secret"
)

var promotedAt = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// The label format is a contract between rotation functions and keyrings of different
// releases: spelled out here.
func TestPromotedLabelIsThePrefixAndTheUnixMillisecondsRoundedUp(t *testing.T) {
	tests := []struct {
		name string
		at   time.Time
		want string
	}{
		{"a whole second", promotedAt, "KEYGATE_PROMOTED_1748779200000"},
		{"a whole millisecond", promotedAt.Add(5 * time.Millisecond), "KEYGATE_PROMOTED_1748779200005"},
		{"a nanosecond past is the next millisecond", promotedAt.Add(time.Nanosecond), "KEYGATE_PROMOTED_1748779200001"},
		{"the zone does not matter", promotedAt.In(time.FixedZone("x", 3600)), "KEYGATE_PROMOTED_1748779200000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := secret.PromotedLabel(tt.at)
			if got != tt.want {
				t.Errorf("PromotedLabel = %q, want %q", got, tt.want)
			}
			if len(got) > 256 { // Secrets Manager's limit for a staging label
				t.Errorf("a %d-character label", len(got))
			}
			if at, ok := secret.ParsePromoted(got); !ok || at.Before(tt.at) || at.Sub(tt.at) >= time.Millisecond {
				t.Errorf("ParsePromoted(%q) = %v, %v; want the time rounded up to the millisecond", got, at, ok)
			}
		})
	}
}

func TestParsePromotedAcceptsOnlyThePromotionLabelsSpelling(t *testing.T) {
	for _, label := range []string{
		"", "KEYGATE_PROMOTED_", "KEYGATE_PROMOTED", "KEYGATE_PROMOTED_x", "KEYGATE_PROMOTED_-1748779200",
		"KEYGATE_PROMOTED_+1748779200", "KEYGATE_PROMOTED_01748779200", "KEYGATE_PROMOTED_0",
		"KEYGATE_PROMOTED_1748779200x", "KEYGATE_PROMOTED_1748779200.5", "KEYGATE_PROMOTED_1e9",
		" KEYGATE_PROMOTED_1748779200", "KEYGATE_PROMOTED_1748779200 ", "keygate_promoted_1748779200",
		"KEYGATE_PROMOTED_174877920\x00", "KEYGATE_PROMOTED_١٧٤٨٧٧٩٢٠٠", "KEYGATE_PROMOTED_999999999999999",
		"KEYGATE_PROMOTED_99999999999999999999", secret.StageCurrent, secret.StageTested,
	} {
		if at, ok := secret.ParsePromoted(label); ok {
			t.Errorf("ParsePromoted(%q) = %v, want no promotion label", label, at)
		}
	}
	if at, ok := secret.ParsePromoted("KEYGATE_PROMOTED_99999999999999"); !ok || at.Year() != 5138 {
		t.Errorf("the largest label = %v, %v; want the year 5138", at, ok)
	}
}

func TestPromotedAtIsTheLatestPromotionLabel(t *testing.T) {
	early, late := secret.PromotedLabel(promotedAt), secret.PromotedLabel(promotedAt.Add(time.Hour))
	tests := []struct {
		name   string
		stages []string
		want   time.Time
		ok     bool
	}{
		{"no labels", nil, time.Time{}, false},
		{"only Secrets Manager's stages", []string{secret.StageCurrent, secret.StagePending}, time.Time{}, false},
		{"one promotion label", []string{secret.StageCurrent, early}, promotedAt, true},
		{"the later of two, in either order", []string{late, secret.StageCurrent, early}, promotedAt.Add(time.Hour), true},
		{"a malformed one is ignored", []string{"KEYGATE_PROMOTED_9x", early}, promotedAt, true},
		{"only malformed ones", []string{"KEYGATE_PROMOTED_9x"}, time.Time{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, ok := secret.PromotedAt(tt.stages); ok != tt.ok || !got.Equal(tt.want) {
				t.Errorf("PromotedAt = %v, %v; want %v, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

// FuzzParsePromoted: a label is accepted only in the exact spelling PromotedLabel writes for
// the time it yields.
func FuzzParsePromoted(f *testing.F) {
	for _, s := range []string{secret.PromotedLabel(promotedAt), "KEYGATE_PROMOTED_0", "KEYGATE_PROMOTED_-1", "KEYGATE_PROMOTED_99999999999999", "AWSCURRENT"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, label string) {
		at, ok := secret.ParsePromoted(label)
		if !ok {
			return
		}
		if again := secret.PromotedLabel(at); again != label {
			t.Fatalf("ParsePromoted(%q) = %v, written back as %q", label, at, again)
		}
		if !strings.HasPrefix(label, secret.PromotedPrefix) || at.UnixMilli() <= 0 || at.Year() > 5138 {
			t.Fatalf("ParsePromoted(%q) = %v", label, at)
		}
	})
}

// On moto: Read returns the version's staging labels, keygate's own among them, so the keyring
// learns the promotion time from the read it makes anyway.
func TestReadReturnsTheVersionsStagingLabels(t *testing.T) {
	sm := emulatortest.SecretsManager(t)
	name := emulatortest.Secret(t, sm)
	putString(t, sm, name, firstValue)
	id := putString(t, sm, name, secondValue)
	label := secret.PromotedLabel(promotedAt)
	if _, err := sm.UpdateSecretVersionStage(testContext(t), &secretsmanager.UpdateSecretVersionStageInput{
		SecretId: aws.String(name), VersionStage: aws.String(label), MoveToVersionId: aws.String(id),
	}); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		stage string
		want  []string
	}{
		{secret.StageCurrent, []string{secret.StageCurrent, label}},
		{secret.StagePrevious, []string{secret.StagePrevious}},
	} {
		v, err := secret.Read(testContext(t), sm, name, tt.stage)
		if err != nil {
			t.Fatal(err)
		}
		if got := slices.Sorted(slices.Values(v.Stages)); !slices.Equal(got, slices.Sorted(slices.Values(tt.want))) {
			t.Errorf("Read(%s).Stages = %v, want %v", tt.stage, v.Stages, tt.want)
		}
	}
}
