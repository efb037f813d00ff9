package cluster

import (
	"context"
	"fmt"
	"net"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// setupNodeLink creates the veth pair that carries the node IP. Its subnet
// exists only on this machine: nothing is routed off it.
func (c Config) setupNodeLink(ctx context.Context) error {
	if _, err := net.InterfaceByName(nodeLink); err != nil {
		if _, err := c.run(ctx, nil, "ip", "link", "add", nodeLink, "type", "veth", "peer", "name", nodeLinkPeer); err != nil {
			return err
		}
	}
	addr := fmt.Sprintf("%s/%d", c.NodeIP, c.NodeCIDR)
	out, err := c.run(ctx, nil, "ip", "-o", "addr", "show", "dev", nodeLink)
	if err != nil {
		return err
	}
	if !strings.Contains(out, " "+addr+" ") {
		if _, err := c.run(ctx, nil, "ip", "addr", "add", addr, "dev", nodeLink); err != nil {
			return err
		}
	}
	for _, l := range []string{nodeLink, nodeLinkPeer} {
		if _, err := c.run(ctx, nil, "ip", "link", "set", l, "up"); err != nil {
			return err
		}
	}
	return nil
}

// nodeLinks lists the interfaces of the node still present: the veth pair, the
// CNI bridge and the pods' host-side veths attached to it.
func (c Config) nodeLinks(ctx context.Context) []string {
	out, err := c.run(ctx, nil, "ip", "-o", "link", "show")
	if err != nil {
		return nil
	}
	var links []string
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		name, _, _ := strings.Cut(strings.TrimSuffix(f[1], ":"), "@")
		if name == nodeLink || name == nodeLinkPeer || name == bridgeLink || strings.Contains(line, " master "+bridgeLink+" ") {
			links = append(links, name)
		}
	}
	return links
}

func (c Config) removeLinks(ctx context.Context) error {
	var errs []string
	for _, l := range c.nodeLinks(ctx) {
		if _, err := net.InterfaceByName(l); err != nil {
			continue // gone with its peer
		}
		if _, err := c.run(ctx, nil, "ip", "link", "delete", l); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("removing interfaces: %s", strings.Join(errs, "; "))
	}
	return nil
}

// ourChain matches the iptables chains kube-proxy, the kubelet and the CNI
// plugins create.
var ourChain = regexp.MustCompile(`^(KUBE-|CNI-)`)

var iptablesTables = []string{"filter", "nat", "mangle", "raw"}

// iptablesChains lists "<tool> <table> <chain>" for every chain of ours.
func (c Config) iptablesChains(ctx context.Context) []string {
	var chains []string
	for _, tool := range []string{"iptables", "ip6tables"} {
		for _, table := range iptablesTables {
			out, err := c.run(ctx, nil, tool, "-w", "-t", table, "-S")
			if err != nil {
				continue
			}
			for _, line := range strings.Split(out, "\n") {
				if name, ok := strings.CutPrefix(line, "-N "); ok && ourChain.MatchString(name) {
					chains = append(chains, tool+" "+table+" "+name)
				}
			}
		}
	}
	return chains
}

// removeIptables deletes every rule that jumps to one of our chains from the
// built-in chains, then flushes and deletes our chains.
func (c Config) removeIptables(ctx context.Context) error {
	var errs []string
	for _, tool := range []string{"iptables", "ip6tables"} {
		for _, table := range iptablesTables {
			out, err := c.run(ctx, nil, tool, "-w", "-t", table, "-S")
			if err != nil {
				continue
			}
			var ours, builtin []string
			for _, line := range strings.Split(out, "\n") {
				if name, ok := strings.CutPrefix(line, "-N "); ok && ourChain.MatchString(name) {
					ours = append(ours, name)
				}
				if name, ok := strings.CutPrefix(line, "-P "); ok {
					builtin = append(builtin, strings.Fields(name)[0])
				}
			}
			if len(ours) == 0 {
				continue
			}
			for _, chain := range builtin {
				for _, n := range c.jumpsToOurs(ctx, tool, table, chain) {
					if _, err := c.run(ctx, nil, tool, "-w", "-t", table, "-D", chain, strconv.Itoa(n)); err != nil {
						errs = append(errs, err.Error())
					}
				}
			}
			for _, chain := range ours {
				if _, err := c.run(ctx, nil, tool, "-w", "-t", table, "-F", chain); err != nil {
					errs = append(errs, err.Error())
				}
			}
			for _, chain := range ours {
				if _, err := c.run(ctx, nil, tool, "-w", "-t", table, "-X", chain); err != nil {
					errs = append(errs, err.Error())
				}
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("removing iptables chains: %s", strings.Join(errs, "; "))
	}
	return nil
}

// jumpsToOurs returns the rule numbers of chain whose target is one of our
// chains, highest first (so deleting them in order keeps the others' numbers).
func (c Config) jumpsToOurs(ctx context.Context, tool, table, chain string) []int {
	out, err := c.run(ctx, nil, tool, "-w", "-t", table, "-L", chain, "-n", "--line-numbers")
	if err != nil {
		return nil
	}
	var nums []int
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		n, err := strconv.Atoi(f[0])
		if err == nil && ourChain.MatchString(f[1]) {
			nums = append(nums, n)
		}
	}
	sort.Sort(sort.Reverse(sort.IntSlice(nums)))
	return nums
}
