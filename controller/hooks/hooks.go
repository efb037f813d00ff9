// Package hooks runs a session's hooks against a target pod: an exec in one of its
// containers (through the API server, as `kubectl exec` does) or an HTTP GET to it.
// A hook fails on a non-zero exit, an HTTP status outside 200-399, or its timeout.
package hooks

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"

	troveapi "trove.dev/trove/apis/v1alpha1"
)

// DefaultTimeout bounds a hook without timeoutSeconds.
const DefaultTimeout = time.Minute

// maxOutput bounds the output a failed hook reports.
const maxOutput = 1024

// Runner runs hooks.
type Runner struct {
	Config *rest.Config
	// HTTP is the client for httpGet hooks (a default client when nil).
	HTTP *http.Client
}

// Run runs h against pod; the error says what failed, with the hook's output.
func (r *Runner) Run(ctx context.Context, pod *corev1.Pod, h *troveapi.HookHandler) error {
	timeout := DefaultTimeout
	if h.TimeoutSeconds > 0 {
		timeout = time.Duration(h.TimeoutSeconds) * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	switch {
	case h.Exec != nil:
		return r.exec(ctx, pod, h)
	case h.HTTPGet != nil:
		return r.httpGet(ctx, pod, h.HTTPGet)
	}
	return fmt.Errorf("the hook has neither exec nor httpGet")
}

func (r *Runner) exec(ctx context.Context, pod *corev1.Pod, h *troveapi.HookHandler) error {
	container := h.ContainerName
	if container == "" {
		container = pod.Spec.Containers[0].Name
	}
	cs, err := kubernetes.NewForConfig(r.Config)
	if err != nil {
		return err
	}
	req := cs.CoreV1().RESTClient().Post().Resource("pods").Namespace(pod.Namespace).Name(pod.Name).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{Container: container, Command: h.Exec.Command, Stdout: true, Stderr: true}, scheme.ParameterCodec)
	ws, err := remotecommand.NewWebSocketExecutor(r.Config, "GET", req.URL().String())
	if err != nil {
		return err
	}
	spdy, err := remotecommand.NewSPDYExecutor(r.Config, "POST", req.URL())
	if err != nil {
		return err
	}
	exec, err := remotecommand.NewFallbackExecutor(ws, spdy, func(err error) bool {
		return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
	})
	if err != nil {
		return err
	}
	var out bytes.Buffer
	err = exec.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: &out, Stderr: &out})
	if err != nil {
		return fmt.Errorf("exec %q in %s/%s (container %s): %w; output: %s", strings.Join(h.Exec.Command, " "), pod.Namespace, pod.Name, container, err, clip(out.String()))
	}
	return nil
}

func (r *Runner) httpGet(ctx context.Context, pod *corev1.Pod, g *corev1.HTTPGetAction) error {
	host := g.Host
	if host == "" {
		host = pod.Status.PodIP
	}
	port, err := portOf(pod, g.Port.String())
	if err != nil {
		return err
	}
	scheme := strings.ToLower(string(g.Scheme))
	if scheme == "" {
		scheme = "http"
	}
	u := url.URL{Scheme: scheme, Host: net.JoinHostPort(host, strconv.Itoa(port)), Path: g.Path}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return err
	}
	for _, h := range g.HTTPHeaders {
		req.Header.Add(h.Name, h.Value)
	}
	client := r.HTTP
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", u.String(), err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxOutput))
	if resp.StatusCode < 200 || resp.StatusCode >= 400 {
		return fmt.Errorf("GET %s: %s: %s", u.String(), resp.Status, clip(string(body)))
	}
	return nil
}

// portOf resolves a number or a named container port.
func portOf(pod *corev1.Pod, port string) (int, error) {
	if n, err := strconv.Atoi(port); err == nil {
		return n, nil
	}
	for _, c := range pod.Spec.Containers {
		for _, p := range c.Ports {
			if p.Name == port {
				return int(p.ContainerPort), nil
			}
		}
	}
	return 0, fmt.Errorf("pod %s/%s has no port named %q", pod.Namespace, pod.Name, port)
}

func clip(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > maxOutput {
		return s[:maxOutput] + "…"
	}
	return s
}
