package provision

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/apigateway"
	"github.com/aws/aws-sdk-go-v2/service/apigateway/types"

	"github.com/keygate/keygate/infra/local/samtpl"
)

// APIGateway is the part of *apigateway.Client that ApplyUsagePlans and FindRestAPI use.
type APIGateway interface {
	GetRestApis(context.Context, *apigateway.GetRestApisInput, ...func(*apigateway.Options)) (*apigateway.GetRestApisOutput, error)
	CreateRestApi(context.Context, *apigateway.CreateRestApiInput, ...func(*apigateway.Options)) (*apigateway.CreateRestApiOutput, error)
	GetUsagePlans(context.Context, *apigateway.GetUsagePlansInput, ...func(*apigateway.Options)) (*apigateway.GetUsagePlansOutput, error)
	CreateUsagePlan(context.Context, *apigateway.CreateUsagePlanInput, ...func(*apigateway.Options)) (*apigateway.CreateUsagePlanOutput, error)
}

var _ APIGateway = (*apigateway.Client)(nil)

// ErrNoRestAPI: the emulator has no REST API of the template's name (nothing provisioned it).
var ErrNoRestAPI = errors.New("provision: no REST API of that name on the emulator")

// ErrPlanDrift: a usage plan of the template's name exists with other limits or stages.
var ErrPlanDrift = errors.New("provision: usage plan differs from the template")

// RestAPIName is the name of the REST API the template's Api becomes: its Name property.
func RestAPIName(tpl *samtpl.Template) string { return tpl.API.Name }

// NeedsRestAPI reports whether the template uses API Gateway's API keys or usage plans, and
// so needs the REST API on the emulator that its usage plans' apiStages name.
func NeedsRestAPI(tpl *samtpl.Template) bool {
	if len(tpl.UsagePlans) > 0 || tpl.API.APIKeyRequired {
		return true
	}
	for _, r := range tpl.Routes {
		if r.APIKeyRequired {
			return true
		}
	}
	return false
}

// ApplyUsagePlans creates, on the emulator's API Gateway control plane, the REST API the
// template's Api stands for (found by name, RestAPIName) and every usage plan of the template
// that does not exist yet (found by name), with apiStages naming that API and the template's
// stage, as CloudFormation would. It returns the REST API's id ("" when the template needs
// none: NeedsRestAPI).
//
// A plan that exists with other limits or stages is ErrPlanDrift, never changed in place:
// moto's UpdateUsagePlan cannot set a fractional rateLimit (it fails with HTTP 500) and
// stores a patched quota limit as a string that the SDK then cannot read
// (infra/test/apigwcontract pins both), and deleting the plan would drop the keys in it. The
// emulator holds state from another run of the template: reset it.
//
// No stage or deployment is created: moto checks neither, and the local gateway serves the
// stage itself. API Gateway names are not unique, so concurrent runs on one machine (the test
// suites of make test) take turns (a file lock), or each would create its own copy.
func ApplyUsagePlans(ctx context.Context, tpl *samtpl.Template, apigw APIGateway) (string, error) {
	if !NeedsRestAPI(tpl) {
		return "", nil
	}
	unlock, err := lockUsagePlans(ctx)
	if err != nil {
		return "", err
	}
	defer unlock()
	name := RestAPIName(tpl)
	apiID, err := FindRestAPI(ctx, apigw, name)
	if errors.Is(err, ErrNoRestAPI) {
		apiID, err = createOnce(func() (string, error) {
			out, err := apigw.CreateRestApi(ctx, &apigateway.CreateRestApiInput{Name: aws.String(name),
				Description: aws.String("keygate's Api (" + tpl.API.LogicalID + "), created by the local stack for its usage plans")}, noRetry)
			if err != nil {
				return "", err
			}
			return aws.ToString(out.Id), nil
		}, func() (string, error) {
			id, err := FindRestAPI(ctx, apigw, name)
			if errors.Is(err, ErrNoRestAPI) {
				return "", nil
			}
			return id, err
		})
		if err != nil {
			return "", fmt.Errorf("provision: REST API %s: create: %w", name, err)
		}
	}
	if err != nil {
		return "", err
	}

	existing, err := plansByName(ctx, apigw)
	if err != nil {
		return "", err
	}
	for _, up := range tpl.UsagePlans {
		want := UsagePlanInput(up, apiID, tpl.API.StageName)
		switch found := existing[up.Name]; len(found) {
		case 0:
			_, err := createOnce(func() (string, error) {
				out, err := apigw.CreateUsagePlan(ctx, want, noRetry)
				if err != nil {
					return "", err
				}
				return aws.ToString(out.Id), nil
			}, func() (string, error) {
				now, err := plansByName(ctx, apigw)
				if len(now[up.Name]) > 0 {
					return aws.ToString(now[up.Name][0].Id), err
				}
				return "", err
			})
			if err != nil {
				return "", fmt.Errorf("provision: usage plan %s (%s): create: %w", up.LogicalID, up.Name, err)
			}
		case 1:
			if diff := planDiff(want, found[0]); diff != "" {
				return "", fmt.Errorf("%w: %s (%s) exists with %s; reset the emulator (down.sh, or POST /moto-api/reset)",
					ErrPlanDrift, up.LogicalID, up.Name, diff)
			}
		default:
			return "", fmt.Errorf("%w: %d usage plans are named %s; reset the emulator", ErrPlanDrift, len(found), up.Name)
		}
	}
	return apiID, nil
}

// noRetry turns the SDK's retries off for one call: a create whose answer is lost (seen from
// the emulator under load) and is sent again makes a second REST API or plan of the name.
func noRetry(o *apigateway.Options) { o.RetryMaxAttempts = 1 }

// createOnce runs create, which makes a resource whose name is not unique and returns its id,
// at most three times, and never again once find reports that an earlier attempt made it (its
// answer was lost; find returns "" while there is none).
func createOnce(create func() (string, error), find func() (string, error)) (string, error) {
	var err error
	for range 3 {
		var id string
		if id, err = create(); err == nil {
			return id, nil
		}
		id, ferr := find()
		if ferr != nil {
			return "", fmt.Errorf("%w (and then: %v)", err, ferr)
		}
		if id != "" {
			return id, nil
		}
	}
	return "", err
}

func plansByName(ctx context.Context, apigw APIGateway) (map[string][]types.UsagePlan, error) {
	byName := map[string][]types.UsagePlan{}
	pp := apigateway.NewGetUsagePlansPaginator(apigw, &apigateway.GetUsagePlansInput{Limit: aws.Int32(500)})
	for pp.HasMorePages() {
		page, err := pp.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("provision: list usage plans: %w", err)
		}
		for _, p := range page.Items {
			byName[aws.ToString(p.Name)] = append(byName[aws.ToString(p.Name)], p)
		}
	}
	return byName, nil
}

// FindRestAPI returns the id of the REST API named name, or ErrNoRestAPI. More than one of
// that name (moto allows it) is an error: which one the usage plans name would be a guess.
func FindRestAPI(ctx context.Context, apigw APIGateway, name string) (string, error) {
	var ids []string
	p := apigateway.NewGetRestApisPaginator(apigw, &apigateway.GetRestApisInput{Limit: aws.Int32(500)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return "", fmt.Errorf("provision: list REST APIs: %w", err)
		}
		for _, a := range page.Items {
			if aws.ToString(a.Name) == name {
				ids = append(ids, aws.ToString(a.Id))
			}
		}
	}
	switch len(ids) {
	case 0:
		return "", fmt.Errorf("%w: %s", ErrNoRestAPI, name)
	case 1:
		return ids[0], nil
	}
	return "", fmt.Errorf("provision: %d REST APIs are named %s (%s); reset the emulator", len(ids), name, strings.Join(ids, ", "))
}

// UsagePlanInput is the CreateUsagePlan request for the template's plan on apiID's stage.
func UsagePlanInput(up samtpl.UsagePlan, apiID, stage string) *apigateway.CreateUsagePlanInput {
	in := &apigateway.CreateUsagePlanInput{
		Name:      aws.String(up.Name),
		ApiStages: []types.ApiStage{{ApiId: aws.String(apiID), Stage: aws.String(stage)}},
	}
	if up.RateLimit > 0 || up.BurstLimit > 0 {
		in.Throttle = &types.ThrottleSettings{RateLimit: up.RateLimit, BurstLimit: int32(up.BurstLimit)}
	}
	if up.QuotaPeriod != "" {
		in.Quota = &types.QuotaSettings{Limit: int32(up.QuotaLimit), Period: types.QuotaPeriodType(up.QuotaPeriod)}
	}
	return in
}

// planDiff describes how an existing plan differs from want ("" when it does not).
func planDiff(want *apigateway.CreateUsagePlanInput, got types.UsagePlan) string {
	var diffs []string
	if w, g := fmtThrottle(want.Throttle), fmtThrottle(got.Throttle); w != g {
		diffs = append(diffs, fmt.Sprintf("throttle %s (template: %s)", g, w))
	}
	if w, g := fmtQuota(want.Quota), fmtQuota(got.Quota); w != g {
		diffs = append(diffs, fmt.Sprintf("quota %s (template: %s)", g, w))
	}
	stage := want.ApiStages[0]
	onStage := false
	for _, s := range got.ApiStages {
		onStage = onStage || aws.ToString(s.ApiId) == aws.ToString(stage.ApiId) && aws.ToString(s.Stage) == aws.ToString(stage.Stage)
	}
	if !onStage {
		diffs = append(diffs, fmt.Sprintf("no apiStage %s:%s", aws.ToString(stage.ApiId), aws.ToString(stage.Stage)))
	}
	return strings.Join(diffs, ", ")
}

func fmtThrottle(t *types.ThrottleSettings) string {
	if t == nil || t.RateLimit == 0 && t.BurstLimit == 0 {
		return "none"
	}
	return fmt.Sprintf("%g/s burst %d", t.RateLimit, t.BurstLimit)
}

func fmtQuota(q *types.QuotaSettings) string {
	if q == nil || q.Period == "" {
		return "none"
	}
	return fmt.Sprintf("%d per %s (offset %d)", q.Limit, q.Period, q.Offset)
}

// NewAPIGatewayClient returns an API Gateway control-plane client for endpoint (the emulator,
// or the local stack's control plane in front of it) with dummy credentials, configured
// explicitly as NewClients configures its clients.
func NewAPIGatewayClient(endpoint, region string) *apigateway.Client {
	creds := credentials.NewStaticCredentialsProvider(localAccessKeyID, localSecretAccessKey, "")
	return apigateway.New(apigateway.Options{Region: region, Credentials: creds, BaseEndpoint: aws.String(endpoint)})
}
