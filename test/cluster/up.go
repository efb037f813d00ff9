package cluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// How long Up waits for each stage; the measured times are far below (node
// Ready ~5 s after the kubelet starts).
const (
	apiserverTimeout = 90 * time.Second
	nodeReadyTimeout = 90 * time.Second
)

// Up brings the node up and waits until it is Ready. It is idempotent: on a
// node that is up it returns at once; a half-up node (a crashed component, a
// failed earlier Up) is torn down and brought up afresh. If Up fails, it tears
// down what it started before returning the error.
func (c Config) Up(ctx context.Context) error {
	err := c.up(ctx)
	var early *earlyExitError
	if errors.As(err, &early) {
		// Seen rarely right after heavy test runs: a component dies in its first second
		// (its log says how). The failed attempt was torn down; one more try.
		c.logf("%v: trying once more", err)
		err = c.up(ctx)
	}
	return err
}

// earlyExitError is a component that exited while the node came up.
type earlyExitError struct{ name, log string }

func (e *earlyExitError) Error() string { return fmt.Sprintf("%s exited (see %s)", e.name, e.log) }

func (c Config) up(ctx context.Context) (err error) {
	if err := CheckHost(); err != nil {
		return err
	}
	if err := c.validate(); err != nil {
		return err
	}
	if err := c.EnsurePackages(ctx); err != nil {
		return err
	}
	bins, err := c.ResolveBinaries(ctx)
	if err != nil {
		return err
	}
	st := c.Status(ctx)
	if st.Ready() {
		c.logf("node is up already (%s)", c.Kubeconfig())
		return nil
	}
	if left := c.Leftovers(ctx); st.Any() || len(left) > 0 {
		c.logf("node is partly up or was not cleaned (%s; %s): tearing it down first", st.Summary(), strings.Join(left, "; "))
		if err := c.Down(ctx); err != nil {
			return err
		}
	}
	if err := c.claimKubeletRoot(); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			c.logf("up failed: %v; tearing down (logs are kept in %s until then)", err, c.logDir())
			c.dumpLogTails()
			if derr := c.Down(context.WithoutCancel(ctx)); derr != nil {
				err = errors.Join(err, derr)
			}
		}
	}()
	start := time.Now()
	if err := os.MkdirAll(c.StateDir, 0o755); err != nil {
		return err
	}
	if err := c.setupNodeLink(ctx); err != nil {
		return err
	}
	// Bridge traffic must traverse iptables for Services to reach pods on the
	// same bridge; the module may be built in (then this is a no-op) or absent.
	_, _ = c.run(ctx, nil, "modprobe", "br_netfilter")
	if err := c.writePKI(); err != nil {
		return fmt.Errorf("writing certificates: %w", err)
	}
	if err := c.writeConfigs(); err != nil {
		return err
	}
	comps := c.components(bins)
	byName := map[string]component{}
	for _, comp := range comps {
		byName[comp.name] = comp
	}
	for _, name := range []string{"containerd", "etcd", "kube-apiserver"} {
		if err := c.start(byName[name]); err != nil {
			return err
		}
	}
	if err := c.waitAPIServer(ctx); err != nil {
		return err
	}
	c.logf("apiserver ready after %s", time.Since(start).Round(100*time.Millisecond))
	for _, name := range []string{"kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy"} {
		if err := c.start(byName[name]); err != nil {
			return err
		}
	}
	if err := c.waitNodeReady(ctx); err != nil {
		return err
	}
	c.logf("node %s Ready after %s; kubeconfig %s", c.NodeName, time.Since(start).Round(100*time.Millisecond), c.Kubeconfig())
	return nil
}

// claimKubeletRoot creates the kubelet root with our marker, refusing to take
// over a kubelet root that another installation uses.
func (c Config) claimKubeletRoot() error {
	marker := filepath.Join(c.KubeletRoot, ownerMarker)
	if _, err := os.Stat(marker); err == nil {
		return nil
	}
	if entries, err := os.ReadDir(c.KubeletRoot); err == nil && len(entries) > 0 {
		return fmt.Errorf("%s is in use by another kubelet (it has no %s marker): set TROVE_KUBELET_ROOT to another directory", c.KubeletRoot, ownerMarker)
	}
	if err := os.MkdirAll(c.KubeletRoot, 0o750); err != nil {
		return err
	}
	return os.WriteFile(marker, []byte("created by Trove's dev node (test/cluster); removed by its down\n"), 0o644)
}

// httpClient returns a client that authenticates as the admin.
func (c Config) httpClient() (*http.Client, error) {
	caPEM, err := os.ReadFile(c.pki("ca.crt"))
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	cert, err := tls.LoadX509KeyPair(c.pki("admin.crt"), c.pki("admin.key"))
	if err != nil {
		return nil, err
	}
	return &http.Client{
		Timeout:   2 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}}},
	}, nil
}

func (c Config) apiserverReady(ctx context.Context) bool {
	hc, err := c.httpClient()
	if err != nil {
		return false
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.APIServerURL()+"/readyz", nil)
	if err != nil {
		return false
	}
	resp, err := hc.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func (c Config) waitAPIServer(ctx context.Context) error {
	return c.poll(ctx, apiserverTimeout, "kube-apiserver ready", func() (bool, error) {
		for _, name := range []string{"containerd", "etcd", "kube-apiserver"} {
			if c.runningPid(name) == 0 {
				return false, &earlyExitError{name, c.LogFile(name)}
			}
		}
		return c.apiserverReady(ctx), nil
	})
}

// Clientset returns a client of the node's apiserver as the admin.
func (c Config) Clientset() (*kubernetes.Clientset, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig())
	if err != nil {
		return nil, err
	}
	return kubernetes.NewForConfig(cfg)
}

func (c Config) waitNodeReady(ctx context.Context) error {
	cs, err := c.Clientset()
	if err != nil {
		return err
	}
	return c.poll(ctx, nodeReadyTimeout, "node Ready", func() (bool, error) {
		for _, comp := range []string{"kubelet", "containerd"} {
			if c.runningPid(comp) == 0 {
				return false, &earlyExitError{comp, c.LogFile(comp)}
			}
		}
		return nodeReady(ctx, cs, c.NodeName), nil
	})
}

func nodeReady(ctx context.Context, cs kubernetes.Interface, name string) bool {
	node, err := cs.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return false
	}
	for _, cond := range node.Status.Conditions {
		if cond.Type == corev1.NodeReady {
			return cond.Status == corev1.ConditionTrue
		}
	}
	return false
}

// poll calls check every 200 ms until it returns true or an error, or timeout.
func (c Config) poll(ctx context.Context, timeout time.Duration, what string, check func() (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, err := check()
		if err != nil {
			return fmt.Errorf("waiting for %s: %w", what, err)
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		case <-tick.C:
		}
	}
}

// dumpLogTails prints the end of every component's log, for a failed Up.
func (c Config) dumpLogTails() {
	logs, _ := filepath.Glob(filepath.Join(c.logDir(), "*.log"))
	for _, l := range logs {
		b, err := os.ReadFile(l)
		if err != nil {
			continue
		}
		if len(b) > 3000 {
			b = b[len(b)-3000:]
		}
		fmt.Fprintf(os.Stderr, "---- tail of %s ----\n%s\n", l, b)
	}
}
