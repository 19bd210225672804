// Package kubernetes_test checks the manifests of deploy/kubernetes: each document decodes
// strictly into the real Kubernetes (k8s.io/api) or prometheus-operator type, the way the
// API server decodes with strict field validation, and what they say about the connector
// matches the connector and its image: the probe paths are what connector/ops serves, the
// port is the config's listen, config.json loads with the real loader, the mounts are
// where the connector and the image look, the arguments are flags the CLI accepts, and the
// image is the one //images:load builds.
package kubernetes_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/jonboulle/clockwork"
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"github.com/cloudbill/alicloud-billing-source/connector/calendar"
	"github.com/cloudbill/alicloud-billing-source/connector/cli"
	"github.com/cloudbill/alicloud-billing-source/connector/clock"
	"github.com/cloudbill/alicloud-billing-source/connector/config"
	"github.com/cloudbill/alicloud-billing-source/connector/ops"
	"github.com/cloudbill/alicloud-billing-source/testing/bssfake"
	"github.com/cloudbill/alicloud-billing-source/testing/harness"
)

// RRSA on ACK (ack-pod-identity-webhook): the namespace (or pod) label that turns the
// injection on, and the ServiceAccount annotation that names the RAM role.
const (
	rrsaInjectionLabel = "pod-identity.alibabacloud.com/injection"
	rrsaRoleAnnotation = "pod-identity.alibabacloud.com/role-name"
)

// kinds are the types a manifest may hold, by apiVersion and kind.
var kinds = map[string]func() any{
	"v1/Namespace":             func() any { return &corev1.Namespace{} },
	"v1/ServiceAccount":        func() any { return &corev1.ServiceAccount{} },
	"v1/Secret":                func() any { return &corev1.Secret{} },
	"v1/PersistentVolumeClaim": func() any { return &corev1.PersistentVolumeClaim{} },
	"v1/Service":               func() any { return &corev1.Service{} },
	"apps/v1/Deployment":       func() any { return &appsv1.Deployment{} },
	"apps/v1/StatefulSet":      func() any { return &appsv1.StatefulSet{} },
	"batch/v1/CronJob":         func() any { return &batchv1.CronJob{} },
	monitoringv1.SchemeGroupVersion.String() + "/" + monitoringv1.ServiceMonitorsKind: func() any { return &monitoringv1.ServiceMonitor{} },
}

var docSeparator = regexp.MustCompile(`(?m)^---[ \t]*$`)

// decode turns one YAML file into typed objects. YAML keys must be unique, and the JSON is
// decoded as the API server does with strict field validation (sigs.k8s.io/json: field
// names case-sensitive, unknown and duplicate fields refused).
func decode(file string, data []byte) ([]any, error) {
	var out []any
	for i, doc := range docSeparator.Split(string(data), -1) {
		j, err := yaml.YAMLToJSONStrict([]byte(doc))
		if err != nil {
			return nil, fmt.Errorf("%s document %d: %w", file, i+1, err)
		}
		if string(j) == "null" { // only comments
			continue
		}
		var tm metav1.TypeMeta
		if err := json.Unmarshal(j, &tm); err != nil {
			return nil, fmt.Errorf("%s document %d: %w", file, i+1, err)
		}
		newObj, ok := kinds[tm.APIVersion+"/"+tm.Kind]
		if !ok {
			return nil, fmt.Errorf("%s document %d: apiVersion %q kind %q is not a type this test knows", file, i+1, tm.APIVersion, tm.Kind)
		}
		obj := newObj()
		strict, err := sigsjson.UnmarshalStrict(j, obj, sigsjson.DisallowDuplicateFields, sigsjson.DisallowUnknownFields)
		if err != nil {
			return nil, fmt.Errorf("%s document %d (%s): %w", file, i+1, tm.Kind, err)
		}
		if len(strict) > 0 {
			return nil, fmt.Errorf("%s document %d (%s): %v", file, i+1, tm.Kind, strict)
		}
		out = append(out, obj)
	}
	return out, nil
}

// set is every object of the manifests, one of each kind except the claims.
type set struct {
	namespace      *corev1.Namespace
	serviceAccount *corev1.ServiceAccount
	secret         *corev1.Secret
	claims         map[string]*corev1.PersistentVolumeClaim
	deployment     *appsv1.Deployment
	service        *corev1.Service // the Deployment's
	statefulSet    *appsv1.StatefulSet
	shardService   *corev1.Service // the StatefulSet's governing (headless) Service
	cronJob        *batchv1.CronJob
	serviceMonitor *monitoringv1.ServiceMonitor
	all            []metav1.Object
}

func load(t *testing.T) *set {
	t.Helper()
	files, err := filepath.Glob("*.yaml")
	require.NoError(t, err)
	require.NotEmpty(t, files, "no manifests next to the test")
	s := &set{claims: map[string]*corev1.PersistentVolumeClaim{}}
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		objs, err := decode(f, b)
		require.NoError(t, err)
		for _, o := range objs {
			s.all = append(s.all, o.(metav1.Object))
			switch v := o.(type) {
			case *corev1.Namespace:
				only(t, &s.namespace, v)
			case *corev1.ServiceAccount:
				only(t, &s.serviceAccount, v)
			case *corev1.Secret:
				only(t, &s.secret, v)
			case *corev1.Service:
				if v.Spec.ClusterIP == corev1.ClusterIPNone {
					only(t, &s.shardService, v)
				} else {
					only(t, &s.service, v)
				}
			case *appsv1.StatefulSet:
				only(t, &s.statefulSet, v)
			case *appsv1.Deployment:
				only(t, &s.deployment, v)
			case *batchv1.CronJob:
				only(t, &s.cronJob, v)
			case *monitoringv1.ServiceMonitor:
				only(t, &s.serviceMonitor, v)
			case *corev1.PersistentVolumeClaim:
				require.NotContains(t, s.claims, v.Name, "two claims named %s", v.Name)
				s.claims[v.Name] = v
			}
		}
	}
	for kind, missing := range map[string]bool{"Namespace": s.namespace == nil, "ServiceAccount": s.serviceAccount == nil,
		"Secret": s.secret == nil, "Service": s.service == nil, "Deployment": s.deployment == nil,
		"CronJob": s.cronJob == nil, "ServiceMonitor": s.serviceMonitor == nil, "StatefulSet": s.statefulSet == nil,
		"headless Service": s.shardService == nil} {
		require.False(t, missing, "no %s in the manifests", kind)
	}
	return s
}

// only sets *dst to v, the first and only object of its kind.
func only[T any](t *testing.T, dst **T, v *T) {
	t.Helper()
	require.Nil(t, *dst, "a second %T in the manifests", v)
	*dst = v
}

// workload is a pod template of the manifests: the Deployment's, the CronJob's and the
// StatefulSet's.
type workload struct {
	name string
	pod  *corev1.PodTemplateSpec
}

func (s *set) workloads() []workload {
	return []workload{
		{"Deployment", &s.deployment.Spec.Template},
		{"CronJob", &s.cronJob.Spec.JobTemplate.Spec.Template},
		{"StatefulSet", &s.statefulSet.Spec.Template},
	}
}

// connector is the pod's only container.
func connector(t *testing.T, w workload) *corev1.Container {
	t.Helper()
	require.Len(t, w.pod.Spec.Containers, 1, "%s: one container", w.name)
	require.Empty(t, w.pod.Spec.InitContainers, "%s: no init containers", w.name)
	return &w.pod.Spec.Containers[0]
}

func mountAt(c *corev1.Container, path string) *corev1.VolumeMount {
	for i := range c.VolumeMounts {
		if filepath.Clean(c.VolumeMounts[i].MountPath) == filepath.Clean(path) {
			return &c.VolumeMounts[i]
		}
	}
	return nil
}

func volume(pod *corev1.PodTemplateSpec, name string) *corev1.Volume {
	for i := range pod.Spec.Volumes {
		if pod.Spec.Volumes[i].Name == name {
			return &pod.Spec.Volumes[i]
		}
	}
	return nil
}

// image is the image //images:load builds: its tags and its config.
type image struct {
	tags   []string
	config v1.Config
}

// builtImage reads the docker-loadable tarball of //images:load: under Bazel the runfiles
// path IMAGE_TARBALL that the BUILD file sets; under `go test`, bazel-bin's copy from an
// earlier `tools/bazel build //images:load`, and without one the test is skipped.
func builtImage(t *testing.T) *image {
	t.Helper()
	path := "../../bazel-bin/images/load.tar"
	if rel := os.Getenv("IMAGE_TARBALL"); rel != "" {
		root := os.Getenv("RUNFILES_DIR")
		if root == "" {
			root = os.Getenv("TEST_SRCDIR")
		}
		path = filepath.Join(root, rel)
	} else if _, err := os.Stat(path); err != nil {
		t.Skip("no image tarball: run under Bazel (tools/bazel test //deploy/...), or tools/bazel build //images:load first")
	}
	m, err := tarball.LoadManifest(func() (io.ReadCloser, error) { return os.Open(path) })
	require.NoError(t, err, "the image tarball %s", path)
	require.Len(t, m, 1, "one image in the tarball")
	img, err := tarball.ImageFromPath(path, nil)
	require.NoError(t, err)
	cf, err := img.ConfigFile()
	require.NoError(t, err)
	return &image{tags: m[0].RepoTags, config: cf.Config}
}

// env is the image's environment (KEY=VALUE list) as a map.
func (im *image) env() map[string]string {
	out := map[string]string{}
	for _, kv := range im.config.Env {
		k, v, _ := strings.Cut(kv, "=")
		out[k] = v
	}
	return out
}

// ids are the image's user and group ("65532:65532").
func (im *image) ids(t *testing.T) (uid, gid int64) {
	t.Helper()
	u, g, ok := strings.Cut(im.config.User, ":")
	require.True(t, ok, "the image's user %q names a group", im.config.User)
	uid, err := strconv.ParseInt(u, 10, 64)
	require.NoError(t, err, "the image's user %q is numeric", im.config.User)
	gid, err = strconv.ParseInt(g, 10, 64)
	require.NoError(t, err)
	return uid, gid
}

// podEnv is the environment the connector sees in the pod: the image's, then the
// container's literal values (valueFrom is refused: the test could not know them).
func podEnv(t *testing.T, im *image, c *corev1.Container) map[string]string {
	t.Helper()
	env := im.env()
	require.Empty(t, c.EnvFrom, "envFrom: the test cannot know what it brings")
	for _, e := range c.Env {
		require.Nil(t, e.ValueFrom, "env %s: valueFrom", e.Name)
		env[e.Name] = e.Value
	}
	if _, set := env["HOSTNAME"]; !set { // the kubelet sets it to the pod's name; a StatefulSet's first ends in -0
		env["HOSTNAME"] = "alicloud-billing-source-shard-0"
	}
	return env
}

// configFile writes the Secret's config.json (the file the pods read) to a temporary file.
func configFile(t *testing.T, s *set) string {
	t.Helper()
	key := filepath.Base(config.DefaultPaths[0])
	body, ok := s.secret.StringData[key]
	if !ok {
		b, inData := s.secret.Data[key]
		require.True(t, inData, "the Secret %s has no %s", s.secret.Name, key)
		body = string(b)
	}
	p := filepath.Join(t.TempDir(), key)
	require.NoError(t, os.WriteFile(p, []byte(body), 0o600))
	return p
}

// loadConfig loads the Secret's config.json with the real loader and the pod's environment.
func loadConfig(t *testing.T, s *set, env map[string]string) *config.Config {
	t.Helper()
	cfg, err := config.Load(config.Source{Path: configFile(t, s), Lookup: lookup(env)})
	require.NoError(t, err, "the Secret's config.json, loaded as the connector loads it")
	require.Empty(t, cfg.Warnings, "the Secret's config.json")
	return cfg
}

func lookup(env map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := env[k]; return v, ok }
}

// listenPort is the port of a listen address such as ":9090".
func listenPort(t *testing.T, listen string) int32 {
	t.Helper()
	require.NotEmpty(t, listen, "the config turns the ops listener off")
	_, p, err := net.SplitHostPort(listen)
	require.NoError(t, err)
	n, err := strconv.Atoi(p)
	require.NoError(t, err)
	return int32(n)
}

// containerPort resolves a probe's or Service's port (a number or a container port's name).
func containerPort(t *testing.T, c *corev1.Container, p intstr.IntOrString) int32 {
	t.Helper()
	if p.Type == intstr.Int {
		return p.IntVal
	}
	for _, cp := range c.Ports {
		if cp.Name == p.StrVal {
			return cp.ContainerPort
		}
	}
	require.Failf(t, "no such port", "container %s has no port named %q", c.Name, p.StrVal)
	return 0
}

func TestDecode_RefusesUnknownMisspelledAndDuplicateFields(t *testing.T) {
	for name, doc := range map[string]string{
		"unknown field":        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: x\nspecs: {}\n",
		"wrong case":           "apiVersion: v1\nkind: Namespace\nmetadata:\n  Name: x\n",
		"duplicate key":        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: x\n  name: y\n",
		"unknown kind":         "apiVersion: v1\nkind: Nothing\n",
		"wrong version":        "apiVersion: apps/v1beta1\nkind: Deployment\n",
		"unknown nested field": "apiVersion: apps/v1\nkind: Deployment\nspec:\n  replica: 1\n",
		"wrong type":           "apiVersion: apps/v1\nkind: Deployment\nspec:\n  replicas: one\n",
	} {
		_, err := decode(name, []byte(doc))
		assert.Error(t, err, name)
	}
	objs, err := decode("two documents", []byte("# comment\n---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: x\n---\n# only a comment\n"))
	require.NoError(t, err)
	require.Len(t, objs, 1)
	assert.Equal(t, "x", objs[0].(*corev1.Namespace).Name)
}

func TestManifests_DecodeStrictlyIntoOneNamespace(t *testing.T) {
	s := load(t)
	for _, o := range s.all {
		if o == metav1.Object(s.namespace) {
			continue
		}
		assert.Equal(t, s.namespace.Name, o.GetNamespace(), "%s", o.GetName())
	}
}

func TestDeployment_OneReplicaThatNeverSharesItsStateFile(t *testing.T) {
	s := load(t)
	d := s.deployment.Spec
	require.NotNil(t, d.Replicas)
	assert.EqualValues(t, 1, *d.Replicas, "one connector per state file")
	assert.Equal(t, appsv1.RecreateDeploymentStrategyType, d.Strategy.Type, "a rolling update would start a second pod on the same state file")
	assert.Nil(t, d.Strategy.RollingUpdate)
	sel, err := metav1.LabelSelectorAsSelector(d.Selector)
	require.NoError(t, err)
	assert.True(t, sel.Matches(labels.Set(d.Template.Labels)), "the selector matches the pod template")
}

// The state volume is where the image keeps its state (its declared volume, the directory
// of its STATE_PATH), on a claim of the manifests that one node mounts at a time.
func TestPods_StateOnAReadWriteOnceClaimWhereTheImageKeepsIt(t *testing.T) {
	s := load(t)
	im := builtImage(t)
	require.Len(t, im.config.Volumes, 1, "the image declares one volume")
	statePath := im.env()["STATE_PATH"]
	require.NotEmpty(t, statePath, "the image sets STATE_PATH")
	claimsSeen := map[string]string{}
	for _, w := range s.workloads() {
		c := connector(t, w)
		for dir := range im.config.Volumes {
			assert.Equal(t, filepath.Clean(dir), filepath.Dir(statePath), "the image's STATE_PATH is in its volume")
			m := mountAt(c, dir)
			require.NotNil(t, m, "%s: nothing mounted at the image's state volume %s", w.name, dir)
			assert.False(t, m.ReadOnly, "%s: the state volume is written", w.name)
			assert.Empty(t, m.SubPath, "%s: the lock file sits beside the state file", w.name)
			claim := s.stateClaim(t, w, m.Name)
			assert.Equal(t, []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}, claim.Spec.AccessModes, "%s", claim.Name)
			claimsSeen[w.name] = claim.Name
		}
		// The connector reads the state path from the config: loaded with the pod's
		// environment, it lands in the mounted volume.
		cfg := loadConfig(t, s, podEnv(t, im, c))
		assert.Equal(t, statePath, cfg.StatePath, "%s: the state file the connector opens", w.name)
	}
	assert.NotEqual(t, claimsSeen["Deployment"], claimsSeen["CronJob"], "the CronJob keeps its own state claim")
	assert.NotContains(t, []string{claimsSeen["Deployment"], claimsSeen["CronJob"]}, claimsSeen["StatefulSet"])
}

// stateClaim is the claim behind the pod's volume name: a claim of the manifests, or for
// the StatefulSet one of its volumeClaimTemplates (a claim per pod).
func (s *set) stateClaim(t *testing.T, w workload, name string) *corev1.PersistentVolumeClaim {
	t.Helper()
	if w.pod == &s.statefulSet.Spec.Template {
		require.Nil(t, volume(w.pod, name), "%s: the state volume %s is a claim template, not a pod volume", w.name, name)
		for i := range s.statefulSet.Spec.VolumeClaimTemplates {
			if c := &s.statefulSet.Spec.VolumeClaimTemplates[i]; c.Name == name {
				return c
			}
		}
		require.Failf(t, "no claim template", "%s: no volumeClaimTemplate %s", w.name, name)
	}
	v := volume(w.pod, name)
	require.NotNil(t, v, "%s: no volume %s", w.name, name)
	require.NotNil(t, v.PersistentVolumeClaim, "%s: the state must outlive the pod: a PersistentVolumeClaim", w.name)
	claim := s.claims[v.PersistentVolumeClaim.ClaimName]
	require.NotNil(t, claim, "%s: the claim %s is not in the manifests", w.name, v.PersistentVolumeClaim.ClaimName)
	return claim
}

// The config Secret is mounted where the connector looks when no --config is given, and
// the file in it is readable by the pod's user.
func TestPods_ConfigSecretMountedAtTheConnectorsDefaultPath(t *testing.T) {
	s := load(t)
	dir, key := filepath.Dir(config.DefaultPaths[0]), filepath.Base(config.DefaultPaths[0])
	for _, w := range s.workloads() {
		c := connector(t, w)
		for _, a := range append(append([]string{}, c.Command...), c.Args...) {
			assert.False(t, strings.HasPrefix(strings.TrimLeft(a, "-"), "config"),
				"%s: --config in the arguments: the pods rely on the default path %s", w.name, config.DefaultPaths[0])
		}
		m := mountAt(c, dir)
		require.NotNil(t, m, "%s: nothing mounted at %s", w.name, dir)
		assert.True(t, m.ReadOnly, "%s: the config is mounted read-only", w.name)
		assert.Empty(t, m.SubPath, "%s: a subPath mount would not see the Secret change", w.name)
		v := volume(w.pod, m.Name)
		require.NotNil(t, v)
		require.NotNil(t, v.Secret, "%s: the config comes from a Secret", w.name)
		assert.Equal(t, s.secret.Name, v.Secret.SecretName, w.name)
		if len(v.Secret.Items) > 0 {
			found := false
			for _, it := range v.Secret.Items {
				found = found || (it.Key == key && it.Path == key)
			}
			assert.True(t, found, "%s: the Secret's items do not put %s at %s", w.name, key, config.DefaultPaths[0])
		}
		_, inString := s.secret.StringData[key]
		_, inData := s.secret.Data[key]
		assert.True(t, inString || inData, "the Secret has no key %s", key)
		// Readable: by others, or by the group when the pod's fsGroup owns the files.
		mode := int32(0o644)
		if v.Secret.DefaultMode != nil {
			mode = *v.Secret.DefaultMode
		}
		sc := w.pod.Spec.SecurityContext
		readable := mode&0o004 != 0 || (mode&0o040 != 0 && sc != nil && sc.FSGroup != nil)
		assert.True(t, readable, "%s: config.json mode %o is not readable by the connector's user", w.name, mode)
	}
}

func TestPods_SecurityContextAsTheImageRuns(t *testing.T) {
	s := load(t)
	im := builtImage(t)
	uid, gid := im.ids(t)
	assert.NotEqualValues(t, 0, uid, "the image runs as root")
	for _, w := range s.workloads() {
		c := connector(t, w)
		psc := w.pod.Spec.SecurityContext
		require.NotNil(t, psc, w.name)
		require.NotNil(t, psc.RunAsNonRoot, w.name)
		assert.True(t, *psc.RunAsNonRoot, w.name)
		require.NotNil(t, psc.RunAsUser, w.name)
		assert.Equal(t, uid, *psc.RunAsUser, "%s: the image's user", w.name)
		require.NotNil(t, psc.RunAsGroup, w.name)
		assert.Equal(t, gid, *psc.RunAsGroup, "%s: the image's group", w.name)
		require.NotNil(t, psc.FSGroup, "%s: the state volume must be writable by the image's group", w.name)
		assert.Equal(t, gid, *psc.FSGroup, w.name)
		require.NotNil(t, psc.SeccompProfile, w.name)
		assert.Equal(t, corev1.SeccompProfileTypeRuntimeDefault, psc.SeccompProfile.Type, w.name)

		csc := c.SecurityContext
		require.NotNil(t, csc, w.name)
		require.NotNil(t, csc.ReadOnlyRootFilesystem, w.name)
		assert.True(t, *csc.ReadOnlyRootFilesystem, w.name)
		require.NotNil(t, csc.AllowPrivilegeEscalation, w.name)
		assert.False(t, *csc.AllowPrivilegeEscalation, w.name)
		require.NotNil(t, csc.Capabilities, w.name)
		assert.Equal(t, []corev1.Capability{"ALL"}, csc.Capabilities.Drop, w.name)
		assert.Empty(t, csc.Capabilities.Add, w.name)
		assert.Nil(t, csc.Privileged, w.name)
		assert.Nil(t, csc.RunAsUser, "%s: the pod's runAsUser applies", w.name)

		// The root file system is read-only: the one other place the connector writes is
		// the temporary directory (--dry-run copies the state file there); the image does not
		// move it with TMPDIR, so it is /tmp, and it must be a volume.
		_, tmpdir := im.env()["TMPDIR"]
		require.False(t, tmpdir, "the image sets TMPDIR: mount that instead of /tmp")
		m := mountAt(c, "/tmp")
		require.NotNil(t, m, "%s: /tmp is not writable", w.name)
		v := volume(w.pod, m.Name)
		require.NotNil(t, v)
		assert.NotNil(t, v.EmptyDir, "%s: /tmp is an emptyDir", w.name)
	}
}

// The image reference is the image //images:load builds, at its version tag, under a
// placeholder registry in a domain reserved for examples (RFC 2606): the repository names
// no real registry; users put theirs.
func TestPods_ImageIsTheOneBazelBuildsUnderAPlaceholderRegistry(t *testing.T) {
	s := load(t)
	im := builtImage(t)
	for _, w := range s.workloads() {
		c := connector(t, w)
		ref, err := name.NewTag(c.Image, name.StrictValidation)
		require.NoError(t, err, "%s: image %q names a tag", w.name, c.Image)
		host := ref.RegistryStr()
		assert.Regexp(t, `(^|\.)example(\.(com|net|org))?$`, host, "%s: %q is not a placeholder registry", w.name, host)
		local := strings.TrimPrefix(c.Image, host+"/")
		assert.Contains(t, im.tags, local, "%s: %s is not one of the tags //images:load writes", w.name, local)
		assert.NotEqual(t, "latest", ref.TagStr(), "%s: pin the version tag", w.name)
		assert.Equal(t, corev1.PullIfNotPresent, c.ImagePullPolicy, w.name)
	}
}

func TestPods_RRSAServiceAccountAndInjection(t *testing.T) {
	s := load(t)
	assert.Equal(t, "on", s.namespace.Labels[rrsaInjectionLabel], "the namespace turns the RRSA injection on")
	assert.NotEmpty(t, s.serviceAccount.Annotations[rrsaRoleAnnotation], "the ServiceAccount names the RAM role")
	assert.NotContains(t, s.serviceAccount.Annotations[rrsaRoleAnnotation], "acs:ram::", "role-name is the role's name, not its ARN")
	for _, w := range s.workloads() {
		assert.Equal(t, s.serviceAccount.Name, w.pod.Spec.ServiceAccountName, w.name)
		assert.Equal(t, "on", w.pod.Labels[rrsaInjectionLabel], "%s: the pod turns the RRSA injection on", w.name)
	}
	// The config names no credentials: the default chain finds the role that RRSA injects.
	cfg := loadConfig(t, s, map[string]string{"ALIBABA_CLOUD_ROLE_ARN": "acs:ram::1:role/billing",
		"ALIBABA_CLOUD_OIDC_PROVIDER_ARN": "acs:ram::1:oidc-provider/ack", "ALIBABA_CLOUD_OIDC_TOKEN_FILE": "/var/run/secrets/token"})
	require.Len(t, cfg.Accounts, 1)
	assert.Equal(t, config.CredDefaultChain, cfg.Accounts[0].Credentials.Kind(), "no AccessKey in the Secret: RRSA through the SDK's chain")
}

// The probes and the port are what the ops listener serves: the port of the config's
// listen (loaded from the Secret with the pod's environment), the one the image exposes;
// the paths answer as liveness and readiness must (checked on connector/ops's handler and
// on the listener of the daemon run with the Deployment's arguments).
func TestDeployment_ProbesAndPortAreWhatTheOpsListenerServes(t *testing.T) {
	s := load(t)
	im := builtImage(t)
	w := s.workloads()[0]
	c := connector(t, w)
	cfg := loadConfig(t, s, podEnv(t, im, c))
	port := listenPort(t, cfg.Listen)
	_, exposed := im.config.ExposedPorts[fmt.Sprintf("%d/tcp", port)]
	assert.True(t, exposed, "the image does not expose %d/tcp (it exposes %v)", port, im.config.ExposedPorts)
	require.Len(t, c.Ports, 1)
	assert.Equal(t, port, c.Ports[0].ContainerPort, "the container port is the config's listen")
	assert.Equal(t, corev1.ProtocolTCP, c.Ports[0].Protocol)

	require.NotNil(t, c.LivenessProbe, "liveness probe")
	require.NotNil(t, c.ReadinessProbe, "readiness probe")
	probes := map[string]*corev1.Probe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe}
	if c.StartupProbe != nil {
		probes["startup"] = c.StartupProbe
	}
	for what, p := range probes {
		require.NotNil(t, p.HTTPGet, "%s: an HTTP GET", what)
		assert.Equal(t, port, containerPort(t, c, p.HTTPGet.Port), "%s probe port", what)
		assert.Contains(t, []corev1.URIScheme{"", corev1.URISchemeHTTP}, p.HTTPGet.Scheme, what)
	}

	// What the paths answer: liveness 200 from the start, readiness 503 until started.
	get := func(h http.Handler, path string) int {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		return rec.Code
	}
	health := &ops.Health{}
	h := ops.Handler(ops.NewMetrics(), health)
	assert.Equal(t, http.StatusOK, get(h, c.LivenessProbe.HTTPGet.Path), "liveness before the start")
	assert.Equal(t, http.StatusServiceUnavailable, get(h, c.ReadinessProbe.HTTPGet.Path), "readiness before the start")
	health.Started()
	assert.Equal(t, http.StatusOK, get(h, c.ReadinessProbe.HTTPGet.Path), "readiness once started")
	health.CredentialsRefused("default", "SignatureDoesNotMatch")
	assert.Equal(t, http.StatusServiceUnavailable, get(h, c.ReadinessProbe.HTTPGet.Path), "readiness while the credentials are refused")
	assert.Equal(t, http.StatusOK, get(h, c.LivenessProbe.HTTPGet.Path), "liveness while the credentials are refused")

	// The daemon itself, run with the Deployment's arguments, answers them on its listener.
	d := startDaemon(t, s, im, c)
	for what, p := range probes {
		code, _ := d.get(t, p.HTTPGet.Path)
		assert.Equal(t, http.StatusOK, code, "%s probe %s on the running daemon", what, p.HTTPGet.Path)
	}
}

// The ServiceMonitor reaches the daemon: it selects the Service, which selects the
// Deployment's pods and forwards the named port to the ops listener; the path is the one
// the daemon serves Prometheus metrics on.
func TestServiceMonitor_ScrapesTheDaemonsMetrics(t *testing.T) {
	s := load(t)
	im := builtImage(t)
	c := connector(t, s.workloads()[0])
	sm := s.serviceMonitor.Spec
	sel, err := metav1.LabelSelectorAsSelector(&sm.Selector)
	require.NoError(t, err)
	assert.True(t, sel.Matches(labels.Set(s.service.Labels)), "the ServiceMonitor selects the Service")
	assert.False(t, sel.Empty(), "an empty selector selects every Service")
	assert.True(t, labels.SelectorFromSet(s.service.Spec.Selector).Matches(labels.Set(s.deployment.Spec.Template.Labels)),
		"the Service selects the Deployment's pods")
	assert.False(t, labels.SelectorFromSet(s.service.Spec.Selector).Matches(labels.Set(s.cronJob.Spec.JobTemplate.Spec.Template.Labels)),
		"the Service would also select the CronJob's pods")

	require.Len(t, sm.Endpoints, 1)
	ep := sm.Endpoints[0]
	var sp *corev1.ServicePort
	for i := range s.service.Spec.Ports {
		if s.service.Spec.Ports[i].Name == ep.Port {
			sp = &s.service.Spec.Ports[i]
		}
	}
	require.NotNil(t, sp, "the Service has no port named %q", ep.Port)
	cfg := loadConfig(t, s, podEnv(t, im, c))
	assert.Equal(t, listenPort(t, cfg.Listen), containerPort(t, c, sp.TargetPort), "the Service port reaches the ops listener")

	require.NotEmpty(t, ep.Path)
	d := startDaemon(t, s, im, c)
	code, body := d.get(t, ep.Path)
	require.Equal(t, http.StatusOK, code, "GET %s on the running daemon", ep.Path)
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(body))
	require.NoError(t, err, "%s is not Prometheus text format", ep.Path)
	found := false
	for n := range families {
		found = found || strings.HasPrefix(n, "alicloud_billing_")
	}
	assert.True(t, found, "%s has none of the connector's metrics", ep.Path)
}

// The CronJob pulls once a day, one run at a time, at pull_hour in pull_zone; its
// arguments run a one-off pull to completion (the real CLI against the fake API), and an
// exit status the CLI keeps for what retrying cannot fix fails the job at once.
func TestCronJob_OnceADayAtPullHourOneRunAtATime(t *testing.T) {
	s := load(t)
	im := builtImage(t)
	cj := s.cronJob.Spec
	w := s.workloads()[1]
	c := connector(t, w)
	assert.Equal(t, batchv1.ForbidConcurrent, cj.ConcurrencyPolicy, "two runs would share the state file")
	cfg := loadConfig(t, s, podEnv(t, im, c))
	fields := strings.Fields(cj.Schedule)
	require.Len(t, fields, 5, "schedule %q", cj.Schedule)
	assert.Equal(t, "0", fields[0], "minute")
	assert.Equal(t, strconv.Itoa(cfg.PullHour), fields[1], "the schedule's hour is pull_hour")
	assert.Equal(t, []string{"*", "*", "*"}, fields[2:], "every day")
	require.NotNil(t, cj.TimeZone, "the schedule's time zone")
	assert.Equal(t, cfg.PullZone.String(), *cj.TimeZone, "the schedule's zone is pull_zone")

	job := cj.JobTemplate.Spec
	assert.Equal(t, corev1.RestartPolicyNever, w.pod.Spec.RestartPolicy)
	require.NotNil(t, job.PodFailurePolicy)
	failsAtOnce := false
	for _, r := range job.PodFailurePolicy.Rules {
		if r.Action == batchv1.PodFailurePolicyActionFailJob && r.OnExitCodes != nil &&
			r.OnExitCodes.Operator == batchv1.PodFailurePolicyOnExitCodesOpIn &&
			r.OnExitCodes.ContainerName != nil && *r.OnExitCodes.ContainerName == c.Name {
			for _, v := range r.OnExitCodes.Values {
				failsAtOnce = failsAtOnce || v == cli.ExitConfig
			}
		}
	}
	assert.True(t, failsAtOnce, "exit status %d (bad config or credentials) should fail the job, not be retried", cli.ExitConfig)
	for _, r := range job.PodFailurePolicy.Rules {
		if r.OnExitCodes != nil && r.OnExitCodes.Operator == batchv1.PodFailurePolicyOnExitCodesOpIn {
			assert.NotContains(t, r.OnExitCodes.Values, int32(cli.ExitIncomplete), "exit status %d (not every row delivered) is worth a retry", cli.ExitIncomplete)
		}
	}

	// The arguments, as the CLI takes them, pull yesterday in pull_zone and exit 0.
	e := harness.NewEnv(t, "LTAI5tDeployTestKey", "deploy-Secret-Never-Printed-1a2b")
	now := time.Date(2026, 11, 5, 12, 0, 0, 0, cfg.PullZone)
	yesterday := calendar.Yesterday(now, cfg.PullZone).String()
	e.API.SetDay(yesterday, bssfake.SampleDay(yesterday, 30, 5))
	args := append([]string{"--config", configFile(t, s)}, append(append([]string{}, c.Command...), c.Args...)...)
	log := e.Log()
	code := cli.Main(args, cli.IO{Stdout: log, Stderr: log, Lookup: lookup(fakesEnv(e, podEnv(t, im, c)))},
		fx.Decorate(func(clock.Clock) clock.Clock { return clockwork.NewFakeClockAt(now) }))
	require.Equal(t, cli.ExitOK, code, "the CronJob's arguments %q: %s", c.Args, harness.Tail(log.String(), 20))
	assert.Len(t, harness.IDs(e.Sink.Events()), 30, "yesterday's rows delivered")
}

// fakesEnv is the pod's environment pointed at the fake API and sink, with the state in the
// test's directory and the ops listener on a free loopback port.
func fakesEnv(e *harness.Env, env map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range env {
		out[k] = v
	}
	out["V_TARGET"] = e.Sink.URL()
	out["ENDPOINT"] = e.API.URL()
	out["ACCESS_KEY_ID"] = e.KeyID
	out["SECRET_ACCESS_KEY"] = e.Secret
	out["STATE_PATH"] = e.StatePath
	out["LISTEN"] = "127.0.0.1:0"
	return out
}

// daemon is the connector run in this process with the Deployment's arguments.
type daemon struct{ srv *ops.Server }

func startDaemon(t *testing.T, s *set, im *image, c *corev1.Container) *daemon {
	t.Helper()
	e := harness.NewEnv(t, "LTAI5tDeployTestKey", "deploy-Secret-Never-Printed-1a2b")
	args := append([]string{"--config", configFile(t, s)}, append(append([]string{}, c.Command...), c.Args...)...)
	d := &daemon{}
	var shut fx.Shutdowner
	done := make(chan int, 1)
	started := make(chan struct{})
	log := e.Log()
	stdio := cli.IO{Stdout: log, Stderr: log, Lookup: lookup(fakesEnv(e, podEnv(t, im, c)))}
	fc := clockwork.NewFakeClockAt(time.Date(2026, 11, 5, 12, 0, 0, 0, time.UTC))
	go func() {
		done <- cli.Main(args, stdio,
			fx.Decorate(func(clock.Clock) clock.Clock { return fc }),
			fx.Populate(&d.srv, &shut),
			fx.Invoke(func(lc fx.Lifecycle) { lc.Append(fx.StartHook(func() { close(started); e.Changed.Notify() })) }))
		e.Changed.Notify()
	}()
	e.Changed.Wait(t, "the daemon to start", log, func() bool {
		select {
		case <-started:
			return true
		default:
			return len(done) > 0
		}
	})
	select {
	case <-started:
	default:
		require.FailNow(t, "the daemon exited", "status %d with the Deployment's arguments %q: %s", <-done, c.Args, harness.Tail(log.String(), 20))
	}
	t.Cleanup(func() {
		require.NoError(t, shut.Shutdown())
		assert.Equal(t, cli.ExitOK, <-done, "the daemon's exit status")
	})
	require.NotNil(t, d.srv.Addr(), "the daemon has no ops listener")
	return d
}

func (d *daemon) get(t *testing.T, path string) (int, string) {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get("http://" + d.srv.Addr().String() + path)
	require.NoError(t, err)
	defer resp.Body.Close()
	var b bytes.Buffer
	_, err = io.Copy(&b, resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, b.String()
}

// containerEnv is the container's literal environment (valueFrom is refused, as podEnv does).
func containerEnv(t *testing.T, c *corev1.Container) map[string]string {
	t.Helper()
	env := map[string]string{}
	for _, e := range c.Env {
		require.Nil(t, e.ValueFrom, "env %s: valueFrom", e.Name)
		env[e.Name] = e.Value
	}
	return env
}

// The StatefulSet's pods are the shards: the pod with ordinal K (its name ends in -K, the
// kubelet's HOSTNAME) loads the Secret's config as shard K of N = replicas, with the real
// loader; an ordinal at or above N (replicas raised, SHARD not) is refused. Each pod has
// its own state claim, pods start one by one, and the headless Service governs them.
func TestStatefulSet_OrdinalIsKReplicasIsN(t *testing.T) {
	s := load(t)
	ss := s.statefulSet.Spec
	require.NotNil(t, ss.Replicas)
	n := int(*ss.Replicas)
	require.Greater(t, n, 1, "a StatefulSet of one shard is the Deployment")
	c := connector(t, workload{"StatefulSet", &ss.Template})
	env := containerEnv(t, c)
	for k := 0; k <= n; k++ {
		env["HOSTNAME"] = fmt.Sprintf("%s-%d", s.statefulSet.Name, k)
		cfg, err := config.Load(config.Source{Path: configFile(t, s), Lookup: lookup(env)})
		if k == n {
			require.Error(t, err, "ordinal %d of %d replicas", k, n)
			assert.Contains(t, err.Error(), "config: shard: ")
			continue
		}
		require.NoError(t, err, "pod %s", env["HOSTNAME"])
		assert.Equal(t, k, cfg.Shard.K, "pod %s: K is its ordinal", env["HOSTNAME"])
		assert.Equal(t, n, cfg.Shard.N, "N is replicas")
	}
	env["POD_INDEX"] = "1" // the downward API's pod-index label wins over the name
	cfg, err := config.Load(config.Source{Path: configFile(t, s), Lookup: lookup(env)})
	require.NoError(t, err)
	assert.Equal(t, 1, cfg.Shard.K)

	require.Len(t, ss.VolumeClaimTemplates, 1, "one state claim per pod")
	assert.Equal(t, appsv1.OrderedReadyPodManagement, ss.PodManagementPolicy, "a pod starts once the one before is ready")
	require.NotNil(t, ss.PersistentVolumeClaimRetentionPolicy)
	assert.Equal(t, appsv1.DeletePersistentVolumeClaimRetentionPolicyType, ss.PersistentVolumeClaimRetentionPolicy.WhenScaled,
		"a removed shard's stale state must not come back on a scale-up")
	sel, err := metav1.LabelSelectorAsSelector(ss.Selector)
	require.NoError(t, err)
	assert.True(t, sel.Matches(labels.Set(ss.Template.Labels)), "the selector matches the pod template")
	assert.False(t, sel.Matches(labels.Set(s.deployment.Spec.Template.Labels)), "the StatefulSet would adopt the Deployment's pods")
	assert.False(t, labels.SelectorFromSet(s.service.Spec.Selector).Matches(labels.Set(ss.Template.Labels)), "the Deployment's Service would select the shards")
	assert.Equal(t, s.shardService.Name, ss.ServiceName, "the governing Service")
	assert.True(t, labels.SelectorFromSet(s.shardService.Spec.Selector).Matches(labels.Set(ss.Template.Labels)))
}
