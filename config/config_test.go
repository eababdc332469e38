// Package config_test renders the kustomize configuration the way users deploy it and checks what
// a cluster would receive: hardened manager, least-privilege RBAC, and, when envtest's binaries
// are built, that a real kube-apiserver accepts all of it.
package config_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	k8syaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	"github.com/respa-exchange/respa-exchange-operator/internal/testenv"
)

const (
	namespace      = "respa-exchange-system"
	deploymentName = "respa-exchange-controller-manager"
	serviceAccount = "respa-exchange-controller-manager"
	managerRole    = "respa-exchange-manager-role"
	defaultImage   = "respa-exchange-operator:dev"
)

// object is one rendered document with the fields every test looks at.
type object struct {
	Kind, APIVersion, Name, Namespace string
	Raw                               []byte
}

// rendered is the output of one `kubectl kustomize`, in order.
type rendered []object

func (r rendered) only(t *testing.T, kind string) []object {
	t.Helper()
	var out []object
	for _, o := range r {
		if o.Kind == kind {
			out = append(out, o)
		}
	}
	return out
}

func (r rendered) one(t *testing.T, kind, name string) object {
	t.Helper()
	for _, o := range r {
		if o.Kind == kind && o.Name == name {
			return o
		}
	}
	t.Fatalf("rendered config has no %s %q", kind, name)
	return object{}
}

// yaml joins the documents back into one multi-document stream for kubectl.
func (r rendered) yaml() []byte {
	var b bytes.Buffer
	for _, o := range r {
		b.WriteString("---\n")
		b.Write(o.Raw)
	}
	return b.Bytes()
}

// decode strictly fills a typed object, so a misspelt or misplaced field in a manifest fails.
func decode[T any](t *testing.T, o object) *T {
	t.Helper()
	v := new(T)
	if err := yaml.UnmarshalStrict(o.Raw, v); err != nil {
		t.Fatalf("%s %s does not parse as %T: %v", o.Kind, o.Name, v, err)
	}
	return v
}

// paths are the module root and the kubectl with kustomize built in.
type paths struct {
	root, assets, kubectl string
}

func toolPaths(t *testing.T) paths {
	t.Helper()
	root := testenv.ModuleRoot(t)
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		assets = filepath.Join(root, "bin", "k8s")
	}
	kubectl := filepath.Join(assets, "kubectl")
	if _, err := os.Stat(kubectl); err != nil {
		testenv.Skip(t, testenv.Envtest, "%s is absent: run `make tools`", kubectl)
	}
	return paths{root: root, assets: assets, kubectl: kubectl}
}

// kustomize renders dir and parses every document strictly by kind.
func kustomize(t *testing.T, p paths, dir string) rendered {
	t.Helper()
	cmd := exec.Command(p.kubectl, "kustomize", dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kubectl kustomize %s: %v\n%s", dir, err, stderr.String())
	}
	return parse(t, out)
}

func parse(t *testing.T, stream []byte) rendered {
	t.Helper()
	var r rendered
	reader := k8syaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(stream)))
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("split rendered YAML: %v", err)
		}
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		var head struct {
			metav1.TypeMeta   `json:",inline"`
			metav1.ObjectMeta `json:"metadata"`
		}
		if err := yaml.Unmarshal(doc, &head); err != nil {
			t.Fatalf("rendered document does not parse: %v\n%s", err, doc)
		}
		if head.Kind == "" || head.APIVersion == "" || head.Name == "" {
			t.Fatalf("rendered document lacks kind, apiVersion or name:\n%s", doc)
		}
		o := object{Kind: head.Kind, APIVersion: head.APIVersion, Name: head.Name, Namespace: head.Namespace, Raw: doc}
		checkStrict(t, o)
		r = append(r, o)
	}
	if len(r) == 0 {
		t.Fatal("kustomize rendered nothing")
	}
	return r
}

// checkStrict decodes each kind into its Go type; an unknown kind fails so that a new manifest
// gets a look here.
func checkStrict(t *testing.T, o object) {
	t.Helper()
	switch o.Kind {
	case "Namespace":
		decode[corev1.Namespace](t, o)
	case "CustomResourceDefinition":
		decode[apiextensionsv1.CustomResourceDefinition](t, o)
	case "ServiceAccount":
		decode[corev1.ServiceAccount](t, o)
	case "Service":
		decode[corev1.Service](t, o)
	case "Role":
		decode[rbacv1.Role](t, o)
	case "ClusterRole":
		decode[rbacv1.ClusterRole](t, o)
	case "RoleBinding":
		decode[rbacv1.RoleBinding](t, o)
	case "ClusterRoleBinding":
		decode[rbacv1.ClusterRoleBinding](t, o)
	case "Deployment":
		decode[appsv1.Deployment](t, o)
	case "NetworkPolicy":
		decode[networkingv1.NetworkPolicy](t, o)
	case "ServiceMonitor":
		decode[unstructured.Unstructured](t, o)
	default:
		t.Errorf("unexpected kind %s (%s) in the rendered config", o.Kind, o.Name)
	}
}

// overlay writes a kustomization in a temporary directory whose resources are config/default;
// extra is appended as is. Kustomize wants relative paths to other kustomization roots.
func overlay(t *testing.T, p paths, extra string) string {
	t.Helper()
	dir := t.TempDir()
	rel := func(sub string) string {
		r, err := filepath.Rel(dir, filepath.Join(p.root, "config", sub))
		if err != nil {
			t.Fatal(err)
		}
		return filepath.ToSlash(r)
	}
	body := fmt.Sprintf("resources:\n- %s\n%s", rel("default"), strings.ReplaceAll(extra, "$CONFIG", rel(".")))
	if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// withComponents is the overlay docs/deploy.md shows for the two optional components.
const withComponents = "components:\n- $CONFIG/prometheus\n- $CONFIG/network-policy\n"

func TestDefaultConfig(t *testing.T) {
	p := toolPaths(t)
	r := kustomize(t, p, filepath.Join(p.root, "config", "default"))

	t.Run("namespace", func(t *testing.T) {
		ns := r.only(t, "Namespace")
		if len(ns) != 1 || ns[0].Name != namespace {
			t.Fatalf("want exactly the Namespace %s, got %v", namespace, names(ns))
		}
		for _, o := range r {
			switch o.Kind {
			case "Namespace", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding":
				if o.Namespace != "" {
					t.Errorf("cluster-scoped %s %s has namespace %q", o.Kind, o.Name, o.Namespace)
				}
			default:
				if o.Namespace != namespace {
					t.Errorf("%s %s is in namespace %q, want %s", o.Kind, o.Name, o.Namespace, namespace)
				}
			}
		}
	})

	t.Run("crds", func(t *testing.T) {
		var got []string
		for _, o := range r.only(t, "CustomResourceDefinition") {
			crd := decode[apiextensionsv1.CustomResourceDefinition](t, o)
			if crd.Spec.Group != "respa-exchange.io" || crd.Spec.Scope != apiextensionsv1.NamespaceScoped {
				t.Errorf("CRD %s: group %q scope %q", crd.Name, crd.Spec.Group, crd.Spec.Scope)
			}
			got = append(got, crd.Spec.Names.Kind)
		}
		slices.Sort(got)
		if want := []string{"ExchangeMailbox", "ExchangeResource"}; !slices.Equal(got, want) {
			t.Errorf("CRD kinds %v, want %v", got, want)
		}
	})

	t.Run("deployment", func(t *testing.T) {
		checkDeployment(t, decode[appsv1.Deployment](t, r.one(t, "Deployment", deploymentName)), defaultImage)
	})

	t.Run("labels", func(t *testing.T) {
		for _, o := range r {
			var meta struct {
				Metadata metav1.ObjectMeta `json:"metadata"`
			}
			if err := yaml.Unmarshal(o.Raw, &meta); err != nil {
				t.Fatalf("%s %s: %v", o.Kind, o.Name, err)
			}
			if got := meta.Metadata.Labels["app.kubernetes.io/name"]; got != "respa-exchange-operator" {
				t.Errorf("%s %s: label app.kubernetes.io/name=%q", o.Kind, o.Name, got)
			}
		}
	})

	t.Run("secrets read-only", func(t *testing.T) {
		checkSecretsReadOnly(t, r)
		// The manager must still be able to read them, or no mailbox ever authenticates.
		role := decode[rbacv1.ClusterRole](t, r.one(t, "ClusterRole", managerRole))
		for _, verb := range []string{"get", "list", "watch"} {
			if !grants(role.Rules, "", "secrets", verb) {
				t.Errorf("%s cannot %s secrets", managerRole, verb)
			}
		}
	})

	t.Run("bindings", func(t *testing.T) {
		crb := r.only(t, "ClusterRoleBinding")
		if len(crb) != 1 {
			t.Fatalf("want one ClusterRoleBinding, got %v", names(crb))
		}
		b := decode[rbacv1.ClusterRoleBinding](t, crb[0])
		if b.RoleRef.Kind != "ClusterRole" || b.RoleRef.Name != managerRole {
			t.Errorf("ClusterRoleBinding %s binds %s %s, want ClusterRole %s", b.Name, b.RoleRef.Kind, b.RoleRef.Name, managerRole)
		}
		checkSubject(t, b.Name, b.Subjects)
		r.one(t, "ServiceAccount", serviceAccount)

		rbs := r.only(t, "RoleBinding")
		if len(rbs) != 1 {
			t.Fatalf("want one RoleBinding (leader election), got %v", names(rbs))
		}
		rb := decode[rbacv1.RoleBinding](t, rbs[0])
		checkSubject(t, rb.Name, rb.Subjects)
		if rb.RoleRef.Kind != "Role" {
			t.Fatalf("RoleBinding %s binds a %s, want a Role", rb.Name, rb.RoleRef.Kind)
		}
		le := decode[rbacv1.Role](t, r.one(t, "Role", rb.RoleRef.Name))
		for _, verb := range []string{"get", "create", "update"} {
			if !grants(le.Rules, "coordination.k8s.io", "leases", verb) {
				t.Errorf("leader election Role %s cannot %s leases", le.Name, verb)
			}
		}
		if !grants(le.Rules, "", "events", "create") && !grants(le.Rules, "events.k8s.io", "events", "create") {
			t.Errorf("leader election Role %s cannot create events", le.Name)
		}
	})

	t.Run("metrics service", func(t *testing.T) {
		svcs := r.only(t, "Service")
		if len(svcs) != 1 {
			t.Fatalf("want one Service, got %v", names(svcs))
		}
		svc := decode[corev1.Service](t, svcs[0])
		if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Name != "metrics" || svc.Spec.Ports[0].Port != 8080 ||
			svc.Spec.Ports[0].TargetPort.String() != "metrics" {
			t.Errorf("Service %s ports %+v, want metrics 8080 -> metrics", svc.Name, svc.Spec.Ports)
		}
		dep := decode[appsv1.Deployment](t, r.one(t, "Deployment", deploymentName))
		if len(svc.Spec.Selector) == 0 || !selects(svc.Spec.Selector, dep.Spec.Template.Labels) {
			t.Errorf("Service selector %v does not select the manager's pods %v", svc.Spec.Selector, dep.Spec.Template.Labels)
		}
	})
}

func TestComponents(t *testing.T) {
	p := toolPaths(t)
	base := kustomize(t, p, filepath.Join(p.root, "config", "default"))
	r := kustomize(t, p, overlay(t, p, withComponents))

	if got, want := len(r), len(base)+2; got != want {
		t.Errorf("with both components %d documents, want %d (config/default plus a ServiceMonitor and a NetworkPolicy)", got, want)
	}
	dep := decode[appsv1.Deployment](t, r.one(t, "Deployment", deploymentName))
	svc := decode[corev1.Service](t, r.only(t, "Service")[0])
	checkSecretsReadOnly(t, r)

	t.Run("servicemonitor", func(t *testing.T) {
		sms := r.only(t, "ServiceMonitor")
		if len(sms) != 1 {
			t.Fatalf("want one ServiceMonitor, got %v", names(sms))
		}
		sm := decode[unstructured.Unstructured](t, sms[0])
		if sm.GetNamespace() != namespace {
			t.Errorf("ServiceMonitor in %q, want %s", sm.GetNamespace(), namespace)
		}
		sel, _, _ := unstructured.NestedStringMap(sm.Object, "spec", "selector", "matchLabels")
		if len(sel) == 0 || !selects(sel, svc.Labels) {
			t.Errorf("ServiceMonitor selector %v does not select the metrics Service's labels %v", sel, svc.Labels)
		}
		endpoints, _, _ := unstructured.NestedSlice(sm.Object, "spec", "endpoints")
		if len(endpoints) != 1 {
			t.Fatalf("ServiceMonitor endpoints %v, want one", endpoints)
		}
		if port, _, _ := unstructured.NestedString(endpoints[0].(map[string]any), "port"); port != "metrics" {
			t.Errorf("ServiceMonitor scrapes port %q, want metrics", port)
		}
	})

	t.Run("networkpolicy", func(t *testing.T) {
		nps := r.only(t, "NetworkPolicy")
		if len(nps) != 1 {
			t.Fatalf("want one NetworkPolicy, got %v", names(nps))
		}
		np := decode[networkingv1.NetworkPolicy](t, nps[0])
		if np.Namespace != namespace {
			t.Errorf("NetworkPolicy in %q, want %s", np.Namespace, namespace)
		}
		if !selects(np.Spec.PodSelector.MatchLabels, dep.Spec.Template.Labels) || len(np.Spec.PodSelector.MatchLabels) == 0 {
			t.Errorf("NetworkPolicy podSelector %v does not select the manager's pods %v", np.Spec.PodSelector.MatchLabels, dep.Spec.Template.Labels)
		}
		types := slices.Clone(np.Spec.PolicyTypes)
		slices.Sort(types)
		if !slices.Equal(types, []networkingv1.PolicyType{networkingv1.PolicyTypeEgress, networkingv1.PolicyTypeIngress}) {
			t.Errorf("policyTypes %v, want both Ingress and Egress", np.Spec.PolicyTypes)
		}
		var in []int32
		for _, rule := range np.Spec.Ingress {
			if len(rule.Ports) == 0 {
				t.Errorf("ingress rule %+v admits every port", rule)
			}
			for _, port := range rule.Ports {
				in = append(in, port.Port.IntVal)
			}
		}
		slices.Sort(in)
		if !slices.Equal(in, []int32{8080, 8081}) {
			t.Errorf("ingress ports %v, want only metrics 8080 and probes 8081", in)
		}
		var dns bool
		for _, rule := range np.Spec.Egress {
			if len(rule.To) == 0 || len(rule.Ports) == 0 {
				t.Errorf("egress rule %+v is open to every destination or port", rule)
			}
			for _, port := range rule.Ports {
				dns = dns || port.Port.IntVal == 53
			}
		}
		if !dns {
			t.Error("egress has no DNS rule")
		}
		// API server, DNS, Exchange, Respa.
		if len(np.Spec.Egress) != 4 {
			t.Errorf("%d egress rules, want 4 (API server, DNS, Exchange, Respa)", len(np.Spec.Egress))
		}
	})
}

func TestImageOverride(t *testing.T) {
	p := toolPaths(t)
	const image = "registry.example.org/respa-exchange-operator"
	r := kustomize(t, p, overlay(t, p, "images:\n- name: respa-exchange-operator\n  newName: "+image+"\n  newTag: v0.1.0\n"))
	dep := decode[appsv1.Deployment](t, r.one(t, "Deployment", deploymentName))
	if got := dep.Spec.Template.Spec.Containers[0].Image; got != image+":v0.1.0" {
		t.Errorf("image %q after kustomize images:, want %s:v0.1.0", got, image)
	}
}

// TestApply server-side applies config/default and the NetworkPolicy to a real kube-apiserver
// (the ServiceMonitor is left out: envtest has no monitoring.coreos.com CRDs), then checks that
// the manager's pod passes the namespace's "restricted" Pod Security level and that its
// ServiceAccount can read but not write Secrets.
func TestApply(t *testing.T) {
	p := toolPaths(t)
	for _, bin := range []string{"kube-apiserver", "etcd"} {
		if _, err := os.Stat(filepath.Join(p.assets, bin)); err != nil {
			testenv.Skip(t, testenv.Envtest, "%s is absent from %s: run `make tools`", bin, p.assets)
		}
	}
	var apply rendered
	for _, o := range kustomize(t, p, overlay(t, p, withComponents)) {
		if o.Kind != "ServiceMonitor" {
			apply = append(apply, o)
		}
	}
	dir := t.TempDir()
	manifests := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(manifests, apply.yaml(), 0o644); err != nil {
		t.Fatal(err)
	}

	env := &envtest.Environment{BinaryAssetsDirectory: p.assets}
	if _, err := env.Start(); err != nil {
		t.Fatalf("start envtest: %v", err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("stop envtest: %v", err)
		}
	})
	kubectl := env.ControlPlane.KubeCtl()
	kubectl.Path = p.kubectl
	run := func(args ...string) (string, error) {
		stdout, stderr, err := kubectl.Run(args...)
		out, _ := io.ReadAll(stdout)
		errOut, _ := io.ReadAll(stderr)
		if err != nil {
			return string(out), fmt.Errorf("kubectl %s: %w\n%s", strings.Join(args, " "), err, errOut)
		}
		return string(out), nil
	}

	if _, err := run("apply", "--server-side", "--field-manager=config-test", "-f", manifests); err != nil {
		t.Fatalf("the API server rejected the rendered config: %v", err)
	}
	out, err := run("get", "-f", manifests, "-o", "name")
	if err != nil {
		t.Fatal(err)
	}
	if got := len(strings.Fields(out)); got != len(apply) {
		t.Errorf("%d objects in the cluster after apply, want %d:\n%s", got, len(apply), out)
	}

	t.Run("pod security", func(t *testing.T) {
		dep := decode[appsv1.Deployment](t, apply.one(t, "Deployment", deploymentName))
		pod := func(name string, spec corev1.PodSpec) string {
			b, err := yaml.Marshal(corev1.Pod{
				TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
				ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace, Labels: dep.Spec.Template.Labels},
				Spec:       spec,
			})
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, name+".yaml")
			if err := os.WriteFile(path, b, 0o644); err != nil {
				t.Fatal(err)
			}
			return path
		}
		if _, err := run("create", "--dry-run=server", "-f", pod("manager", dep.Spec.Template.Spec)); err != nil {
			t.Errorf("the manager's pod is not admitted in %s: %v", namespace, err)
		}
		// The same pod without its securityContext must be refused, or the check above proves nothing.
		loose := *dep.Spec.Template.Spec.DeepCopy()
		loose.SecurityContext = nil
		loose.Containers[0].SecurityContext = nil
		_, err := run("create", "--dry-run=server", "-f", pod("loose", loose))
		if err == nil || !strings.Contains(err.Error(), "PodSecurity") {
			t.Errorf("a pod without securityContext was not refused by Pod Security admission: %v", err)
		}
	})

	t.Run("service account", func(t *testing.T) {
		as := "--as=system:serviceaccount:" + namespace + ":" + serviceAccount
		cases := []struct {
			args []string
			want string
		}{
			{[]string{"get", "secrets", "-n", "rooms"}, "yes"},
			{[]string{"watch", "secrets", "--all-namespaces"}, "yes"},
			{[]string{"create", "secrets", "-n", "rooms"}, "no"},
			{[]string{"update", "secrets", "-n", "rooms"}, "no"},
			{[]string{"patch", "exchangeresources.respa-exchange.io", "--subresource=status", "-n", "rooms"}, "yes"},
			{[]string{"update", "leases.coordination.k8s.io", "-n", namespace}, "yes"},
			{[]string{"update", "leases.coordination.k8s.io", "-n", "kube-system"}, "no"},
		}
		for _, c := range cases {
			// can-i exits 1 when the answer is no; the answer on stdout is what counts.
			out, _ := run(append([]string{"auth", "can-i", as}, c.args...)...)
			if got := strings.TrimSpace(out); got != c.want {
				t.Errorf("can the manager %v? %q, want %q", c.args, got, c.want)
			}
		}
	})
}

func checkDeployment(t *testing.T, dep *appsv1.Deployment, image string) {
	t.Helper()
	spec := dep.Spec.Template.Spec
	if !selects(dep.Spec.Selector.MatchLabels, dep.Spec.Template.Labels) {
		t.Errorf("selector %v does not match the pod labels %v", dep.Spec.Selector.MatchLabels, dep.Spec.Template.Labels)
	}
	if spec.ServiceAccountName != serviceAccount {
		t.Errorf("serviceAccountName %q, want %s", spec.ServiceAccountName, serviceAccount)
	}
	if spec.AutomountServiceAccountToken == nil || !*spec.AutomountServiceAccountToken {
		t.Error("automountServiceAccountToken is not true: the manager needs its token")
	}
	if psc := spec.SecurityContext; psc == nil || !isTrue(psc.RunAsNonRoot) || psc.SeccompProfile == nil ||
		psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod securityContext %+v: want runAsNonRoot and seccomp RuntimeDefault", psc)
	}
	if len(spec.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(spec.Containers))
	}
	c := spec.Containers[0]
	if c.Image != image {
		t.Errorf("image %q, want %s", c.Image, image)
	}
	sc := c.SecurityContext
	switch {
	case sc == nil:
		t.Fatal("the manager container has no securityContext")
	case !isTrue(sc.RunAsNonRoot) || sc.RunAsUser == nil || *sc.RunAsUser != 65534:
		t.Errorf("container runs as %v (runAsNonRoot %v), want non-root 65534", sc.RunAsUser, sc.RunAsNonRoot)
	case !isTrue(sc.ReadOnlyRootFilesystem):
		t.Error("root filesystem is writable")
	case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
		t.Error("allowPrivilegeEscalation is not false")
	case sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) != 0:
		t.Errorf("capabilities %+v, want drop ALL and add none", sc.Capabilities)
	case sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault:
		t.Errorf("container seccompProfile %+v, want RuntimeDefault", sc.SeccompProfile)
	}
	for _, arg := range []string{"--leader-elect", "--health-probe-bind-address=:8081", "--metrics-bind-address=:8080"} {
		if !slices.Contains(c.Args, arg) {
			t.Errorf("args %v lack %s", c.Args, arg)
		}
	}
	ports := map[string]int32{}
	for _, port := range c.Ports {
		ports[port.Name] = port.ContainerPort
	}
	if ports["metrics"] != 8080 {
		t.Errorf("container ports %v: want metrics on 8080", c.Ports)
	}
	probe := func(what string, pr *corev1.Probe, path string) {
		if pr == nil || pr.HTTPGet == nil {
			t.Errorf("no HTTP %s probe", what)
			return
		}
		port := pr.HTTPGet.Port.IntVal
		if name := pr.HTTPGet.Port.StrVal; name != "" {
			port = ports[name]
		}
		if pr.HTTPGet.Path != path || port != 8081 {
			t.Errorf("%s probe on %s port %d, want %s on 8081", what, pr.HTTPGet.Path, port, path)
		}
	}
	probe("liveness", c.LivenessProbe, "/healthz")
	probe("readiness", c.ReadinessProbe, "/readyz")
	for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		req, lim := c.Resources.Requests[res], c.Resources.Limits[res]
		if req.IsZero() || lim.IsZero() || req.Cmp(lim) > 0 {
			t.Errorf("%s request %s limit %s: want both set, request <= limit", res, req.String(), lim.String())
		}
	}
}

// checkSecretsReadOnly fails for any Role or ClusterRole that grants more than get, list and watch
// on Secrets, including through wildcards.
func checkSecretsReadOnly(t *testing.T, r rendered) {
	t.Helper()
	var roles []object
	roles = append(roles, r.only(t, "ClusterRole")...)
	roles = append(roles, r.only(t, "Role")...)
	if len(roles) == 0 {
		t.Fatal("no Roles or ClusterRoles rendered")
	}
	for _, o := range roles {
		rules := decode[rbacv1.ClusterRole](t, o).Rules
		for _, verb := range []string{"create", "update", "patch", "delete", "deletecollection", "*"} {
			if grants(rules, "", "secrets", verb) {
				t.Errorf("%s %s grants %q on secrets; Secrets are read-only", o.Kind, o.Name, verb)
			}
		}
	}
}

// grants reports whether rules allow verb on resource in group, wildcards included.
func grants(rules []rbacv1.PolicyRule, group, resource, verb string) bool {
	match := func(list []string, v string) bool { return slices.Contains(list, v) || slices.Contains(list, "*") }
	for _, rule := range rules {
		if match(rule.APIGroups, group) && match(rule.Resources, resource) && match(rule.Verbs, verb) {
			return true
		}
	}
	return false
}

func checkSubject(t *testing.T, binding string, subjects []rbacv1.Subject) {
	t.Helper()
	want := rbacv1.Subject{Kind: "ServiceAccount", Name: serviceAccount, Namespace: namespace}
	if len(subjects) != 1 || subjects[0] != want {
		t.Errorf("%s binds %+v, want only %+v", binding, subjects, want)
	}
}

// selects reports whether every label of selector is on labels.
func selects(selector, labels map[string]string) bool {
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func isTrue(b *bool) bool { return b != nil && *b }

func names(objs []object) []string {
	var out []string
	for _, o := range objs {
		out = append(out, o.Kind+"/"+o.Name)
	}
	return out
}
