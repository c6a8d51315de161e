package workloads

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"testing/fstest"

	"github.com/faasedge/faasedge/activation"
	"github.com/faasedge/faasedge/eval/workloads/actions/rest/socialnet"
	"github.com/faasedge/faasedge/whisk"
)

// The REST workload's default size: hundreds of users, thousands of posts.
const (
	RESTUsers = 500
	RESTPosts = 5000
)

// restWindow is the page a timeline read asks for, as DeathStarBench's
// wrk2 scripts read ten posts.
const restWindow = 10

// REST is the REST API workload, shaped like DeathStarBench's social
// network: of every ten requests, six read a home timeline, three a user
// timeline and one composes a post (with IPFS data, which is read-only, a
// user timeline instead), as its mixed workload does. The action eval/rest
// reads the generated network from the namespace's key-value store (Local;
// Deploy has the action write it there) or from a UnixFS directory
// (IPFS). Every timeline is checked against the one computed here from the
// same generated data, by a plain scan rather than the action's merge.
// Local needs the executing nodes to share the namespace's store (one
// Redis), as the standalone's edge nodes do: Deploy writes it once.
type REST struct {
	data *socialnet.Data
	cid  string
}

var _ Workload = (*REST)(nil)

// NewREST is the workload over a network of users and posts (RESTUsers and
// RESTPosts when zero).
func NewREST(users, posts int) *REST {
	if users <= 0 {
		users = RESTUsers
	}
	if posts <= 0 {
		posts = RESTPosts
	}
	return &REST{data: socialnet.Generate(users, posts)}
}

// Name implements Workload.
func (*REST) Name() string { return "rest" }

// Deploy implements Workload: Local has the action seed the key-value
// store, IPFS adds the records as one directory, socialnet/.
func (r *REST) Deploy(ctx context.Context, env Env, p Placement) error {
	a := action{name: "rest", annotations: map[string]any{activation.AnnotationKV: true},
		limits: whisk.Limits{Timeout: 60_000, Memory: 256, Logs: 10, Concurrency: 1}}
	if err := deploy(ctx, env, a); err != nil {
		return err
	}
	if p == Local {
		seed := Request{Action: Package + "/rest", Params: params(map[string]any{
			"op": "seed", "users": len(r.data.Users), "posts": len(r.data.Posts)})}
		rec, err := invoke(ctx, env, seed)
		if err != nil {
			return fmt.Errorf("workloads: rest: seed the key-value store: %w", err)
		}
		var got struct{ Records int }
		if err := json.Unmarshal(rec.Response.Result, &got); err != nil || got.Records != 2*len(r.data.Users)+len(r.data.Posts) {
			return fmt.Errorf("workloads: rest: seed wrote %s", rec.Response.Result)
		}
		return nil
	}
	fsys := fstest.MapFS{}
	r.data.Records(func(name string, v []byte) error {
		fsys["socialnet/"+name+".json"] = &fstest.MapFile{Data: v, Mode: 0o444}
		return nil
	})
	var err error
	r.cid, err = place(ctx, env, p, fsys, "socialnet")
	return err
}

// restOp is what request i does.
func restOp(p Placement, i int) string {
	switch k := i % 10; {
	case k < 6:
		return "home_timeline"
	case k < 9 || p == IPFS:
		return "user_timeline"
	}
	return "compose"
}

// restUser spreads the requests over the users.
func (r *REST) restUser(i int) int { return i * 7919 % len(r.data.Users) }

// Request implements Workload.
func (r *REST) Request(p Placement, i int) Request {
	op, user := restOp(p, i), r.restUser(i)
	m := map[string]any{"op": op, "user": user}
	switch op {
	case "compose":
		m["id"], m["text"] = composedID(i), composedText(i, user)
	default:
		m["start"], m["stop"] = 0, restWindow
		m["store"] = "kv"
		if p == IPFS {
			m["store"] = "/ipfs/" + r.cid
		}
	}
	return Request{Action: Package + "/rest", Params: params(m), Kind: op}
}

func composedID(i int) int { return 1_000_000 + i }
func composedText(i, user int) string {
	return fmt.Sprintf("post %d of user %d, composed by the evaluation", i, user)
}

// Check implements Workload.
func (r *REST) Check(p Placement, i int, result json.RawMessage) error {
	var got struct {
		Posts []socialnet.Post `json:"posts"`
		Post  *socialnet.Post  `json:"post"`
	}
	if err := json.Unmarshal(result, &got); err != nil {
		return fmt.Errorf("rest: result %.200s: %w", result, err)
	}
	op, user := restOp(p, i), r.restUser(i)
	if op == "compose" {
		want := socialnet.Post{ID: composedID(i), User: user, Text: composedText(i, user)}
		if got.Post == nil || got.Post.TimeMS <= 0 {
			return fmt.Errorf("rest: compose %d: got %s", i, result)
		}
		if g := *got.Post; g.ID != want.ID || g.User != want.User || g.Text != want.Text {
			return fmt.Errorf("rest: compose %d: got %+v, want %+v", i, g, want)
		}
		return nil
	}
	authors := []int{user}
	if op == "home_timeline" {
		authors = r.data.Users[user].Followees
	}
	of := map[int]bool{}
	for _, a := range authors {
		of[a] = true
	}
	want := []socialnet.Post{}
	for k := len(r.data.Posts) - 1; k >= 0 && len(want) < restWindow; k-- {
		if of[r.data.Posts[k].User] {
			want = append(want, r.data.Posts[k])
		}
	}
	if got.Posts == nil {
		got.Posts = []socialnet.Post{}
	}
	if !reflect.DeepEqual(got.Posts, want) {
		return fmt.Errorf("rest: %s of user %d: got %d posts %+v, want %d %+v", op, user, len(got.Posts), got.Posts, len(want), want)
	}
	return nil
}
