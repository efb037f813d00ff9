package cluster

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// identity is a client or serving certificate issued by the node's CA.
type identity struct {
	file   string // base name under pki/: <file>.crt, <file>.key
	cn     string
	org    []string
	server bool
	dns    []string
	ips    []string
}

// identities the node's components use. Client identities match the
// bootstrap RBAC of Kubernetes (system:kube-controller-manager,
// system:kube-scheduler, system:kube-proxy, system:node:<name>).
func (c Config) identities() []identity {
	return []identity{
		{file: "apiserver", cn: "kube-apiserver", server: true,
			dns: []string{"kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local", "localhost", c.NodeName},
			ips: []string{c.NodeIP, c.KubernetesServiceIP, "127.0.0.1"}},
		{file: "apiserver-kubelet-client", cn: "kube-apiserver-kubelet-client", org: []string{"system:masters"}},
		{file: "admin", cn: "trove-admin", org: []string{"system:masters"}},
		{file: "controller-manager", cn: "system:kube-controller-manager"},
		{file: "scheduler", cn: "system:kube-scheduler"},
		{file: "kube-proxy", cn: "system:kube-proxy"},
		{file: "kubelet", cn: "system:node:" + c.NodeName, org: []string{"system:nodes"}},
		{file: "kubelet-serving", cn: c.NodeName, server: true, dns: []string{c.NodeName, "localhost"}, ips: []string{c.NodeIP, "127.0.0.1"}},
	}
}

// kubeconfigs maps a kubeconfig file (under StateDir) to the identity it uses.
func (c Config) kubeconfigs() map[string]string {
	return map[string]string{
		c.path("kubeconfig"):                    "admin",
		c.path("controller-manager.kubeconfig"): "controller-manager",
		c.path("scheduler.kubeconfig"):          "scheduler",
		c.path("kube-proxy.kubeconfig"):         "kube-proxy",
		c.path("kubelet.kubeconfig"):            "kubelet",
	}
}

func (c Config) pki(name string) string { return filepath.Join(c.pkiDir(), name) }

// writePKI creates the CA, every identity, the service-account key pair and the
// kubeconfigs, unless they exist already (Down removes them with the state).
func (c Config) writePKI() error {
	if _, err := os.Stat(c.pki("done")); err == nil {
		return nil
	}
	if err := os.MkdirAll(c.pkiDir(), 0o700); err != nil {
		return err
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	now := time.Now().Add(-time.Hour)
	caTmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "trove-dev-ca"},
		NotBefore:             now,
		NotAfter:              now.Add(10 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return err
	}
	if err := writeCertKey(c.pki("ca"), caDER, caKey); err != nil {
		return err
	}
	for _, id := range c.identities() {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return err
		}
		tmpl := &x509.Certificate{
			SerialNumber: serial(),
			Subject:      pkix.Name{CommonName: id.cn, Organization: id.org},
			NotBefore:    now,
			NotAfter:     now.Add(365 * 24 * time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
			ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
			DNSNames:     id.dns,
		}
		if id.server {
			tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
		}
		for _, ip := range id.ips {
			tmpl.IPAddresses = append(tmpl.IPAddresses, net.ParseIP(ip))
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			return fmt.Errorf("issuing %s: %w", id.file, err)
		}
		if err := writeCertKey(c.pki(id.file), der, key); err != nil {
			return err
		}
	}
	// The service-account token signer: RSA, the algorithm every client expects.
	saKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	saPub, err := x509.MarshalPKIXPublicKey(&saKey.PublicKey)
	if err != nil {
		return err
	}
	if err := writePEM(c.pki("sa.key"), "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(saKey), 0o600); err != nil {
		return err
	}
	if err := writePEM(c.pki("sa.pub"), "PUBLIC KEY", saPub, 0o644); err != nil {
		return err
	}
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	for file, id := range c.kubeconfigs() {
		if err := c.writeKubeconfig(file, id, caPEM); err != nil {
			return err
		}
	}
	return os.WriteFile(c.pki("done"), nil, 0o600)
}

func (c Config) writeKubeconfig(file, id string, caPEM []byte) error {
	crt, err := os.ReadFile(c.pki(id + ".crt"))
	if err != nil {
		return err
	}
	key, err := os.ReadFile(c.pki(id + ".key"))
	if err != nil {
		return err
	}
	b64 := base64.StdEncoding.EncodeToString
	kc := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: trove-dev
  cluster:
    server: %s
    certificate-authority-data: %s
users:
- name: %s
  user:
    client-certificate-data: %s
    client-key-data: %s
contexts:
- name: trove-dev
  context:
    cluster: trove-dev
    user: %s
current-context: trove-dev
`, c.APIServerURL(), b64(caPEM), id, b64(crt), b64(key), id)
	return os.WriteFile(file, []byte(kc), 0o600)
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err)
	}
	return n
}

func writeCertKey(base string, der []byte, key *ecdsa.PrivateKey) error {
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	if err := writePEM(base+".crt", "CERTIFICATE", der, 0o644); err != nil {
		return err
	}
	return writePEM(base+".key", "EC PRIVATE KEY", keyDER, 0o600)
}

func writePEM(file, typ string, der []byte, mode os.FileMode) error {
	return os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), mode)
}
