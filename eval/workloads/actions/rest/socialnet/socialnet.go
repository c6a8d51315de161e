// Package socialnet is the data of the evaluation's REST workload, shaped
// like DeathStarBench's social network: users who follow each other and
// write posts. The generator is deterministic, so the host that loads the
// data and checks the answers and the action that reads it agree on every
// record without shipping it around; Keys and Files are where the data
// lives in the key-value store and in a UnixFS directory.
package socialnet

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
)

// User is an account and the users it follows.
type User struct {
	ID        int    `json:"id"`
	Name      string `json:"name"`
	Followees []int  `json:"followees"`
}

// Post is a post; a larger ID is a later post.
type Post struct {
	ID     int    `json:"id"`
	User   int    `json:"user"`
	Text   string `json:"text"`
	TimeMS int64  `json:"time_ms"`
}

// Data is a generated social network.
type Data struct {
	Users []User
	Posts []Post
	// Timelines are each user's post IDs, latest first.
	Timelines [][]int
}

// Followees each user follows (fewer when there are fewer other users).
const Followees = 10

// epochMS is the time of post 0.
const epochMS = 1_700_000_000_000

var words = strings.Fields(`edge function wasm ring offer memory node peer latency cache
	invoke action trigger rule package data block fetch region claim lease volunteer
	network bandwidth scheduler gateway kafka couch ipfs hash image video rest`)

// Generate makes the network of users users and posts posts. The same
// arguments give the same network on every platform: ChaCha8 is fixed by
// its specification.
func Generate(users, posts int) *Data {
	r := rand.New(rand.NewChaCha8([32]byte{'s', 'o', 'c', 'i', 'a', 'l'}))
	d := &Data{Users: make([]User, users), Timelines: make([][]int, users)}
	for i := range d.Users {
		u := User{ID: i, Name: fmt.Sprintf("user%04d", i), Followees: []int{}}
		for _, f := range r.Perm(users)[:min(Followees+1, users)] {
			if f != i && len(u.Followees) < Followees {
				u.Followees = append(u.Followees, f)
			}
		}
		d.Users[i] = u
	}
	for p := range posts {
		n := 3 + r.IntN(12)
		text := make([]string, n)
		for k := range text {
			text[k] = words[r.IntN(len(words))]
		}
		post := Post{ID: p, User: r.IntN(users), Text: strings.Join(text, " "), TimeMS: epochMS + int64(p)*1000}
		d.Posts = append(d.Posts, post)
		d.Timelines[post.User] = append([]int{p}, d.Timelines[post.User]...)
	}
	for i, t := range d.Timelines {
		if t == nil {
			d.Timelines[i] = []int{}
		}
	}
	return d
}

// The record names, as keys of the store (with KeyPrefix) and as paths
// below the dataset's root directory (with ".json").
func UserName(id int) string     { return fmt.Sprintf("users/%d", id) }
func PostName(id int) string     { return fmt.Sprintf("posts/%d", id) }
func TimelineName(id int) string { return fmt.Sprintf("timelines/%d", id) }

// KeyPrefix starts every key of the dataset in the key-value store.
const KeyPrefix = "socialnet/"

// Records calls put with every record's name and JSON.
func (d *Data) Records(put func(name string, value []byte) error) error {
	for _, u := range d.Users {
		if err := put(UserName(u.ID), mustJSON(u)); err != nil {
			return err
		}
		if err := put(TimelineName(u.ID), mustJSON(d.Timelines[u.ID])); err != nil {
			return err
		}
	}
	for _, p := range d.Posts {
		if err := put(PostName(p.ID), mustJSON(p)); err != nil {
			return err
		}
	}
	return nil
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // plain structs and slices
	}
	return b
}
