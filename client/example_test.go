package client_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"obkv/client"
	"obkv/client/internal/fakekv"
)

// cluster starts an in-process fake of three servers: s1 (z1, FULL, leader), s2 (z2, FULL),
// s3 (z3, READONLY); a real program passes the observers' addresses to client.New instead.
func cluster() (*fakekv.Cluster, []string) {
	c := fakekv.NewCluster(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	var addrs []string
	for _, s := range [][2]string{{"s1", "z1"}, {"s2", "z2"}, {"s3", "z3"}} {
		srv, err := c.AddServer(s[0], s[1], "r1")
		if err != nil {
			panic(err)
		}
		addrs = append(addrs, srv.Addr())
	}
	c.CreateTable("t1", "users", 4, []fakekv.Replica{
		{Server: "s1", Type: "FULL", Leader: true},
		{Server: "s2", Type: "FULL"},
		{Server: "s3", Type: "READONLY"},
	})
	return c, addrs
}

func Example() {
	c, addrs := cluster()
	defer c.Close()
	ctx := context.Background()

	cl, err := client.New(ctx, addrs, client.WithZone("z2"), client.WithClock(c.Now))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cl.Close()

	if _, err := cl.Put(ctx, "t1", "users", []byte("alice"), []byte("admin")); err != nil {
		fmt.Println(err)
		return
	}
	// Strong read (the default), from the leader (the default preference).
	res, err := cl.Get(ctx, "t1", "users", []byte("alice"))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%s by %s (%s %s), tried %d\n", res.Value, res.Meta.Server, res.Meta.Type, res.Meta.Role, res.Meta.Tried)

	// Bounded-staleness read from the closest replica (the client is in z2).
	res, err = cl.Get(ctx, "t1", "users", []byte("alice"),
		client.Prefer(client.Closest), client.MaxStaleness(5*time.Second))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%s by %s (%s %s), staleness %v\n", res.Value, res.Meta.Server, res.Meta.Type, res.Meta.Role, res.Meta.Staleness)
	// Output:
	// admin by s1 (FULL LEADER), tried 1
	// admin by s2 (FULL FOLLOWER), staleness 0s
}

func ExampleClient_Scan() {
	c, addrs := cluster()
	defer c.Close()
	ctx := context.Background()
	cl, err := client.New(ctx, addrs, client.WithClock(c.Now))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cl.Close()
	for _, k := range []string{"a", "b", "c", "d", "e"} {
		if _, err := cl.Put(ctx, "t1", "users", []byte(k), []byte("v"+k)); err != nil {
			fmt.Println(err)
			return
		}
	}
	// A weak scan over the 4 partitions, read at one snapshot version from READONLY replicas.
	res, err := cl.Scan(ctx, "t1", "users", []byte("b"), nil, 3,
		client.Weak(), client.Prefer(client.ReadonlyOnly))
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, kv := range res.Rows {
		fmt.Printf("%s=%s ", kv.Key, kv.Value)
	}
	fmt.Println("more:", res.More, "one snapshot:", res.SnapshotVersion > 0)
	// Output:
	// b=vb c=vc d=vd more: true one snapshot: true
}

func ExampleClient_Batch() {
	c, addrs := cluster()
	defer c.Close()
	ctx := context.Background()
	cl, err := client.New(ctx, addrs, client.WithClock(c.Now))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cl.Close()
	// "a" and "b" hash to different partitions of the 4: an atomic batch must not span them.
	_, err = cl.Batch(ctx, "t1", "users", []client.Op{
		client.PutOp([]byte("a"), []byte("1")),
		client.PutOp([]byte("b"), []byte("2")),
	})
	fmt.Println(errors.Is(err, client.ErrCrossPartition))

	_, err = cl.Put(ctx, "t1", "users", []byte("a"), []byte("1"))
	switch {
	case client.IsOutcomeUnknown(err):
		fmt.Println("maybe applied: read it back")
	case err != nil:
		fmt.Println("not applied:", err)
	default:
		fmt.Println("applied")
	}
	// Output:
	// true
	// applied
}

func ExampleParseReadPreference() {
	p, err := client.ParseReadPreference("follower-preferred")
	fmt.Println(p, err)
	_, err = client.ParseReadPreference("nearest")
	fmt.Println(err)
	// Output:
	// follower-preferred <nil>
	// read preference "nearest": not one of leader, follower, follower-preferred, leader-and-follower, prefer-leader, closest, closest-adaptive, readonly-first, readonly-only: client: invalid request
}
