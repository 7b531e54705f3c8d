// A Keyring holds the JWT signing keys of one Secrets Manager secret in memory: the
// AWSCURRENT version signs, AWSCURRENT and AWSPREVIOUS verify, AWSPENDING is never used. The
// version labelled KEYGATE_TESTED (a pending key that passed the rotation's testSecret) is only
// published, so outside verifiers learn it before it signs; it never signs or verifies here.
//
// A new AWSCURRENT signs only ActivationDelay after its promotion, which the rotation's
// finishSecret records in a staging label (secret.PromotedPrefix) the keyring reads with the
// version; until then AWSPREVIOUS signs. See Signing.
//
// Keys are loaded on first use and refreshed on access once the refresh interval has passed, so
// a warm container verifies tokens without network I/O. An unknown kid triggers at most one
// refresh per interval (shared by all callers), so a flood of forged kids cannot turn into a
// flood of Secrets Manager reads. If Secrets Manager fails while warm, the cached keys keep
// working for MaxStale, then the keyring fails closed.

package signing

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/keygate/keygate/shared/secret"
)

// Errors callers map to responses: ErrUnknownKid → 401; ErrUnavailable → 503.
var (
	ErrUnknownKid  = errors.New("keyring: unknown kid")
	ErrUnavailable = errors.New("keyring: signing keys unavailable")
)

// MaxKidLen bounds a kid from a token header before it is looked at (thumbprints are 43 chars).
const MaxKidLen = 64

// Options tune the keyring; zero values take the defaults.
type Options struct {
	RefreshEvery time.Duration // default 5 min
	MaxStale     time.Duration // default 1 h
	RetryEvery   time.Duration // after a failed refresh, serve the stale keys this long before retrying; default 5 s
	// ActivationDelay is how long after its promotion a new AWSCURRENT starts signing (see
	// Signing); zero signs with AWSCURRENT at once. Functions that sign use
	// DefaultActivationDelay(RefreshEvery).
	ActivationDelay time.Duration
	// Publish makes the keyring also read the pending key once the rotation has tested it
	// (KEYGATE_TESTED), for Published. Only the JWKS function needs it; the others would pay
	// a Secrets Manager read per refresh for nothing.
	Publish bool
	Now     func() time.Time // default time.Now
}

// Keyring is safe for concurrent use.
type Keyring struct {
	api      secret.Getter
	secretID string
	opts     Options

	snap        atomic.Pointer[snapshot]
	group       singleflight.Group
	mu          sync.Mutex // guards lastForced and lastFailed
	lastForced  time.Time
	lastFailed  time.Time
	fetchCalled atomic.Int64
}

type snapshot struct {
	current   *Key
	previous  *Key      // nil for the first key of a secret
	signsFrom time.Time // when current starts signing (see activation)
	firstSeen time.Time // when this keyring first loaded current as AWSCURRENT
	byKid     map[string]*Key
	ordered   []*Key // current first
	published []*Key // ordered, then the tested pending key
	loadedAt  time.Time
}

// DefaultActivationDelay is the ActivationDelay for keyrings whose verifiers refresh every
// refreshEvery: one interval for every keyring (the JWKS function's included) to load the new
// key as AWSCURRENT, then PublishedMaxAge for outside verifiers' cached copies of the JWKS to
// expire, plus a margin for what the promotion time does not capture: the moment between
// finishSecret writing its label and moving AWSCURRENT, and clocks of different hosts.
func DefaultActivationDelay(refreshEvery time.Duration) time.Duration {
	return refreshEvery + PublishedMaxAge(refreshEvery) + min(refreshEvery, 30*time.Second)
}

// PublishedMaxAge is how long outside verifiers may cache the published keys (the JWKS's
// Cache-Control max-age): five minutes, or the refresh interval when that is shorter, so
// that stacks with short intervals also get short activation delays.
func PublishedMaxAge(refreshEvery time.Duration) time.Duration {
	return min(refreshEvery, 5*time.Minute)
}

// New returns a keyring for secretID. Nothing is fetched until first use.
func New(api secret.Getter, secretID string, opts Options) *Keyring {
	if opts.RefreshEvery <= 0 {
		opts.RefreshEvery = 5 * time.Minute
	}
	if opts.MaxStale <= 0 {
		opts.MaxStale = time.Hour
	}
	if opts.RetryEvery <= 0 {
		opts.RetryEvery = 5 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Keyring{api: api, secretID: secretID, opts: opts}
}

// Signing returns the key to sign with: AWSCURRENT once it has been AWSCURRENT long enough
// that every verifier has loaded it, AWSPREVIOUS until then.
//
// A new AWSCURRENT is activated ActivationDelay after its promotion (DefaultActivationDelay:
// RefreshEvery, plus PublishedMaxAge, plus the smaller of RefreshEvery and 30 s). Every
// verifier's keyring refreshes at least once per RefreshEvery, and a JWKS fetched before the
// key was published expires within PublishedMaxAge, so by then each verifier has the new key,
// and a token never carries a kid a verifier has not loaded; the unknown-kid refresh (limited,
// so that forged kids cannot drive Secrets Manager reads) is then only a fallback. The delay
// counts from the promotion, not from the key's creation, because a rotation whose finishSecret
// runs late (retries, an outage) promotes a key created long before. The first key of a
// secret signs at once.
func (k *Keyring) Signing(ctx context.Context) (*Key, error) {
	s, err := k.fresh(ctx)
	if err != nil {
		return nil, err
	}
	if s.previous != nil && k.opts.ActivationDelay > 0 && k.opts.Now().Before(s.signsFrom) {
		return s.previous, nil
	}
	return s.current, nil
}

// activation returns when a version that became AWSCURRENT starts signing: ActivationDelay
// after its promotion time, read from its promotion label, but
//   - never before ActivationDelay after its creation, whatever the label says (a label is
//     only a staging label: it must not make a key sign earlier than before labels existed);
//   - never after ActivationDelay after this keyring first saw it AWSCURRENT (it cannot have
//     been promoted later than that, so a label in the future, from a skewed clock or by hand,
//     cannot keep the old key signing indefinitely);
//   - without a well-formed label (rotation functions older than the label, the first key of
//     a secret, hand-made versions), ActivationDelay after its creation, as before.
func (k *Keyring) activation(created time.Time, stages []string, firstSeen time.Time) time.Time {
	from := created
	if promoted, ok := secret.PromotedAt(stages); ok {
		if firstSeen.Before(promoted) {
			promoted = firstSeen
		}
		if promoted.After(from) {
			from = promoted
		}
	}
	return from.Add(k.opts.ActivationDelay)
}

// Verification returns the key for kid if it is AWSCURRENT or AWSPREVIOUS.
func (k *Keyring) Verification(ctx context.Context, kid string) (*Key, error) {
	if kid == "" || len(kid) > MaxKidLen {
		return nil, ErrUnknownKid
	}
	s, err := k.fresh(ctx)
	if err != nil {
		return nil, err
	}
	if key, ok := s.byKid[kid]; ok {
		return key, nil
	}
	// Maybe the secret rotated since the last load: refresh, but at most once per interval.
	if !k.mayForce() {
		return nil, ErrUnknownKid
	}
	if s, err = k.load(ctx); err != nil {
		// Not "unknown": the kid may be a real new key that could not be loaded, and the 401
		// an unknown kid gets is an answer API Gateway caches. Known keys keep being served.
		return nil, err
	}
	if key, ok := s.byKid[kid]; ok {
		return key, nil
	}
	return nil, ErrUnknownKid
}

// Keys returns the verification keys (AWSCURRENT and AWSPREVIOUS), AWSCURRENT first.
func (k *Keyring) Keys(ctx context.Context) ([]*Key, error) {
	s, err := k.fresh(ctx)
	if err != nil {
		return nil, err
	}
	return s.ordered, nil
}

// Published returns the keys to publish in the JWKS: the verification keys (AWSCURRENT
// first), then, with Options.Publish, the pending key once the rotation has tested it (KEYGATE_TESTED).
func (k *Keyring) Published(ctx context.Context) ([]*Key, error) {
	s, err := k.fresh(ctx)
	if err != nil {
		return nil, err
	}
	return s.published, nil
}

// Fetches reports how many times the keyring read Secrets Manager (for tests and benchmarks).
func (k *Keyring) Fetches() int64 { return k.fetchCalled.Load() }

func (k *Keyring) mayForce() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	now := k.opts.Now()
	if !k.lastForced.IsZero() && now.Sub(k.lastForced) < k.opts.RefreshEvery {
		return false
	}
	k.lastForced = now
	return true
}

// fresh returns a snapshot no older than RefreshEvery, or a stale one within MaxStale when a
// refresh fails.
func (k *Keyring) fresh(ctx context.Context) (*snapshot, error) {
	s := k.snap.Load()
	now := k.opts.Now()
	if s != nil && now.Sub(s.loadedAt) < k.opts.RefreshEvery {
		return s, nil
	}
	usable := s != nil && now.Sub(s.loadedAt) < k.opts.MaxStale
	// During an outage, do not make every request pay the SDK's timeouts: retry at most
	// once per RetryEvery and serve the stale keys meanwhile.
	if usable && k.recentlyFailed(now) {
		return s, nil
	}
	ns, err := k.load(ctx)
	if err == nil {
		return ns, nil
	}
	k.mu.Lock()
	k.lastFailed = now
	k.mu.Unlock()
	if usable {
		return s, nil
	}
	return nil, err
}

func (k *Keyring) recentlyFailed(now time.Time) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return !k.lastFailed.IsZero() && now.Sub(k.lastFailed) < k.opts.RetryEvery
}

// load reads AWSCURRENT, AWSPREVIOUS and (with Publish) KEYGATE_TESTED once for all concurrent
// callers. The reads run in parallel, so a cold start pays one Secrets Manager round trip.
func (k *Keyring) load(ctx context.Context) (*snapshot, error) {
	v, err, _ := k.group.Do("load", func() (any, error) {
		k.fetchCalled.Add(1)
		stages := [...]string{secret.StageCurrent, secret.StagePrevious, secret.StageTested}
		var (
			got  [len(stages)]secret.Version
			errs [len(stages)]error
			wg   sync.WaitGroup
		)
		errs[2] = secret.ErrNotFound // unless Publish reads it
		for i, stage := range stages {
			if stage == secret.StageTested && !k.opts.Publish {
				continue
			}
			wg.Go(func() { got[i], errs[i] = secret.Read(ctx, k.api, k.secretID, stage) })
		}
		wg.Wait()
		cur, prev, tested := got[0], got[1], got[2]
		if err := errs[0]; err != nil {
			return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		curKey, err := Parse(cur.Value)
		if err != nil {
			return nil, fmt.Errorf("%w: AWSCURRENT: %w", ErrUnavailable, err)
		}
		now := k.opts.Now()
		s := &snapshot{
			current:   curKey,
			firstSeen: now,
			byKid:     map[string]*Key{curKey.Kid: curKey},
			ordered:   []*Key{curKey},
			loadedAt:  now,
		}
		if old := k.snap.Load(); old != nil && old.current.Kid == curKey.Kid {
			s.firstSeen = old.firstSeen
		}
		s.signsFrom = k.activation(curKey.CreatedAt, cur.Stages, s.firstSeen)
		switch err := errs[1]; {
		case errors.Is(err, secret.ErrNotFound):
			// First key ever: nothing to verify old tokens with.
		case err != nil:
			return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
		default:
			// A malformed previous version must not stop signing with a good current one.
			if pk, perr := Parse(prev.Value); perr == nil && pk.Kid != curKey.Kid {
				s.byKid[pk.Kid] = pk
				s.ordered = append(s.ordered, pk)
				s.previous = pk
			}
		}
		s.published = s.ordered
		// The tested pending key is advisory: missing, unreadable or malformed, it is left
		// out and nothing else is affected. It never enters byKid.
		if errs[2] == nil {
			if tk, perr := Parse(tested.Value); perr == nil {
				if _, dup := s.byKid[tk.Kid]; !dup {
					s.published = append(s.ordered[:len(s.ordered):len(s.ordered)], tk)
				}
			}
		}
		k.snap.Store(s)
		return s, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*snapshot), nil
}
