// Command headscale_peer compiles per-node packet filters for every node of a
// generated tailnet with Headscale's own policy engine (hscontrol/policy/v2), timed.
//
// Benchmark support for `python -m benchmarks peer` (benchmarks/peer.py), which writes
// the Headscale-dialect policy and the inventory (users and devices) and builds this
// program into ~/.cache. Usage: headscale_peer POLICY.json INVENTORY.json [SAMPLE.json]
// (SAMPLE: the names of the nodes whose filters to compile, a JSON list; default all).
// Prints one JSON line: load (users, nodes, NewPolicyManager) and filter seconds.
package main

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"time"

	policyv2 "github.com/juanfont/headscale/hscontrol/policy/v2"
	"github.com/juanfont/headscale/hscontrol/types"
	"github.com/rs/zerolog"
	"gorm.io/gorm"
	"tailscale.com/tailcfg"
)

type inventory struct {
	Users []struct {
		Login string `json:"login"`
	} `json:"users"`
	Devices []struct {
		Name           string   `json:"name"`
		User           string   `json:"user"`
		Tags           []string `json:"tags"`
		IPv4           string   `json:"ipv4"`
		IPv6           string   `json:"ipv6"`
		ApprovedRoutes []string `json:"approved_routes"`
	} `json:"devices"`
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "headscale_peer:", err)
	os.Exit(1)
}

func main() {
	// Headscale logs every policy change at debug level: not part of the job timed.
	zerolog.SetGlobalLevel(zerolog.ErrorLevel)
	if len(os.Args) != 3 && len(os.Args) != 4 {
		fail(fmt.Errorf("usage: headscale_peer POLICY.json INVENTORY.json [SAMPLE.json]"))
	}
	var sample map[string]bool
	if len(os.Args) == 4 {
		raw, err := os.ReadFile(os.Args[3])
		if err != nil {
			fail(err)
		}
		var names []string
		if err := json.Unmarshal(raw, &names); err != nil {
			fail(err)
		}
		sample = map[string]bool{}
		for _, n := range names {
			sample[n] = true
		}
	}
	policy, err := os.ReadFile(os.Args[1])
	if err != nil {
		fail(err)
	}
	raw, err := os.ReadFile(os.Args[2])
	if err != nil {
		fail(err)
	}
	start := time.Now()
	var inv inventory
	if err := json.Unmarshal(raw, &inv); err != nil {
		fail(err)
	}
	// A login "name@example.com" is Headscale's user with that email and name "name",
	// which the policy's "name@example.com" resolves to (Username.resolveUser).
	users := make(types.Users, 0, len(inv.Users))
	byLogin := map[string]int{}
	for i, u := range inv.Users {
		users = append(users, types.User{Model: gorm.Model{ID: uint(i + 1)},
			Name: strings.SplitN(u.Login, "@", 2)[0], Email: u.Login})
		byLogin[u.Login] = i
	}
	nodes := make(types.Nodes, 0, len(inv.Devices))
	for i, d := range inv.Devices {
		v4, err := netip.ParseAddr(d.IPv4)
		if err != nil {
			fail(err)
		}
		v6, err := netip.ParseAddr(d.IPv6)
		if err != nil {
			fail(err)
		}
		n := &types.Node{ID: types.NodeID(i + 1), Hostname: d.Name, GivenName: d.Name,
			IPv4: &v4, IPv6: &v6, Hostinfo: &tailcfg.Hostinfo{}}
		if len(d.Tags) > 0 { // tagged: owned by its tags, no user
			n.Tags = d.Tags
		} else {
			j, ok := byLogin[d.User]
			if !ok {
				fail(fmt.Errorf("device %s: unknown user %q", d.Name, d.User))
			}
			user := users[j]
			n.User = &user
			n.UserID = &user.ID
		}
		for _, r := range d.ApprovedRoutes {
			p, err := netip.ParsePrefix(r)
			if err != nil {
				fail(err)
			}
			n.ApprovedRoutes = append(n.ApprovedRoutes, p)
			n.Hostinfo.RoutableIPs = append(n.Hostinfo.RoutableIPs, p) // announced too
		}
		nodes = append(nodes, n)
	}
	views := nodes.ViewSlice()
	pm, err := policyv2.NewPolicyManager(policy, users, views)
	if err != nil {
		fail(err)
	}
	loaded := time.Now()
	rules, entries, done := 0, 0, 0
	for i := range views.Len() {
		if sample != nil && !sample[views.At(i).Hostname()] {
			continue
		}
		done++
		filter, err := pm.FilterForNode(views.At(i))
		if err != nil {
			fail(err)
		}
		if len(filter) > 0 {
			rules++
		}
		for _, r := range filter {
			entries += len(r.SrcIPs) * len(r.DstPorts)
		}
	}
	finished := time.Now()
	var mem runtime.MemStats
	runtime.ReadMemStats(&mem)
	out, _ := json.Marshal(map[string]any{
		"load_seconds":      loaded.Sub(start).Seconds(),
		"filter_seconds":    finished.Sub(loaded).Seconds(),
		"total_seconds":     finished.Sub(start).Seconds(),
		"nodes":             done,
		"nodes_with_filter": rules,
		"src_x_dst_entries": entries,
		"go_heap_sys_mb":    float64(mem.HeapSys) / (1 << 20),
	})
	fmt.Println(string(out))
}
