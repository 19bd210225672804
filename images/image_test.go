// Package images_test checks the published image as Bazel builds it: the index of both
// platforms (same contents and labels, each with its own statically linked connector), the
// tarball that `docker load` takes, the SBOM, and `bazel run //images:push` against an
// in-process registry that wants the user's Docker credentials.
package images_test

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"debug/buildinfo"
	"debug/elf"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// What //images builds, in the test's runfiles (rules_go runs a test in its package's
// directory there).
const (
	indexLayout = "image_layout"
	indexDigest = "image.digest"
	loadTar     = "load.tar"
	sbomFile    = "sbom.spdx.json"
	pushScript  = "./push.sh"

	binary = "/usr/local/bin/connector"
)

// version is //:version.bzl's VERSION, linked in by BUILD.bazel (x_defs).
var version = "unset"

var platforms = []string{"linux/amd64", "linux/arm64"}

// localIndex is the index Bazel built, checked against the digest file beside it.
func localIndex(t *testing.T) v1.ImageIndex {
	t.Helper()
	p, err := layout.FromPath(indexLayout)
	require.NoError(t, err)
	top, err := p.ImageIndex()
	require.NoError(t, err)
	m, err := top.IndexManifest()
	require.NoError(t, err)
	require.Len(t, m.Manifests, 1, "the layout holds the one index")
	idx, err := top.ImageIndex(m.Manifests[0].Digest)
	require.NoError(t, err)
	d, err := idx.Digest()
	require.NoError(t, err)
	want, err := os.ReadFile(indexDigest)
	require.NoError(t, err)
	require.Equal(t, strings.TrimSpace(string(want)), d.String())
	return idx
}

// entry is one file or directory of an image, with a hash of its content.
type entry struct {
	Type     byte
	Mode     int64
	UID, GID int
	SHA256   string
	data     []byte
}

func files(t *testing.T, img v1.Image) map[string]entry {
	t.Helper()
	layers, err := img.Layers()
	require.NoError(t, err)
	out := map[string]entry{}
	for _, l := range layers {
		rc, err := l.Uncompressed()
		require.NoError(t, err)
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			require.NoError(t, err)
			b, err := io.ReadAll(tr)
			require.NoError(t, err)
			sum := sha256.Sum256(b)
			out["/"+strings.TrimSuffix(h.Name, "/")] = entry{h.Typeflag, h.Mode, h.Uid, h.Gid, hex.EncodeToString(sum[:]), b}
		}
		rc.Close()
	}
	return out
}

func TestImage_IndexHasBothPlatformsWithTheSameContentsAndLabels(t *testing.T) {
	idx := localIndex(t)
	m, err := idx.IndexManifest()
	require.NoError(t, err)
	require.Len(t, m.Manifests, len(platforms))
	var configs []v1.Config
	var contents []map[string]entry
	for i, want := range platforms {
		d := m.Manifests[i]
		require.NotNil(t, d.Platform)
		require.Equal(t, want, d.Platform.String())
		img, err := idx.Image(d.Digest)
		require.NoError(t, err)
		cf, err := img.ConfigFile()
		require.NoError(t, err)
		assert.Equal(t, want, cf.Platform().String(), "the config's platform is the index entry's")
		assert.Equal(t, "65532:65532", cf.Config.User)
		assert.Equal(t, []string{binary}, cf.Config.Entrypoint)
		assert.Equal(t, version, cf.Config.Labels["org.opencontainers.image.version"])
		for _, l := range []string{"title", "source", "description", "licenses"} {
			assert.NotEmpty(t, cf.Config.Labels["org.opencontainers.image."+l], l)
		}
		manifest, err := img.Manifest()
		require.NoError(t, err)
		assert.Equal(t, cf.Config.Labels, manifest.Annotations, "the labels are the manifest's annotations too")
		configs = append(configs, cf.Config)

		fs := files(t, img)
		require.Contains(t, fs, binary)
		checkConnector(t, fs[binary].data, strings.TrimPrefix(want, "linux/"))
		contents = append(contents, fs)
	}
	assert.Equal(t, configs[0], configs[1], "both platforms run with the same configuration")
	// The same files with the same owners and modes; the same bytes except the connector.
	require.Equal(t, len(contents[0]), len(contents[1]))
	for p, a := range contents[0] {
		b, ok := contents[1][p]
		require.True(t, ok, "%s only in %s", p, platforms[0])
		if p == binary {
			assert.NotEqual(t, a.SHA256, b.SHA256, "each platform has its own build of the connector")
			a.SHA256, b.SHA256 = "", ""
		}
		a.data, b.data = nil, nil
		assert.Equal(t, a, b, p)
	}
	for _, p := range []string{"/etc/ssl/certs/ca-certificates.crt", "/etc/passwd", "/etc/group", "/var/lib/alicloud-billing-source", "/tmp"} {
		assert.Contains(t, contents[0], p)
	}
}

// checkConnector: a static executable for arch, pure Go, with its build information.
func checkConnector(t *testing.T, data []byte, arch string) {
	t.Helper()
	f, err := elf.NewFile(bytes.NewReader(data))
	require.NoError(t, err)
	machine := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}[arch]
	assert.Equal(t, machine, f.Machine, "the %s image's connector is built for %s", arch, arch)
	for _, p := range f.Progs {
		assert.NotEqual(t, elf.PT_INTERP, p.Type, "statically linked: no program interpreter")
	}
	bi, err := buildinfo.Read(bytes.NewReader(data))
	require.NoError(t, err)
	settings := map[string]string{}
	for _, s := range bi.Settings {
		settings[s.Key] = s.Value
	}
	assert.Equal(t, arch, settings["GOARCH"])
	assert.Equal(t, "linux", settings["GOOS"])
	assert.Equal(t, "0", settings["CGO_ENABLED"])
	assert.Equal(t, "github.com/cloudbill/alicloud-billing-source/connector/cmd/connector", bi.Path)
	if arch != runtime.GOARCH {
		return
	}
	// The host's platform runs here: it says its version (linked in with -X).
	exe := filepath.Join(t.TempDir(), "connector")
	require.NoError(t, os.WriteFile(exe, data, 0o755))
	out, err := exec.Command(exe, "--version").CombinedOutput()
	require.NoError(t, err, string(out))
	assert.Equal(t, "alicloud-billing-source connector "+version+"\n", string(out))
}

func TestImage_LoadTarballIsTheHostPlatformsImageWithItsTags(t *testing.T) {
	idx := localIndex(t)
	m, err := idx.IndexManifest()
	require.NoError(t, err)
	host := "linux/" + runtime.GOARCH
	var want v1.Hash
	for _, d := range m.Manifests {
		if d.Platform.String() == host {
			img, err := idx.Image(d.Digest)
			require.NoError(t, err)
			want, err = img.ConfigName()
			require.NoError(t, err)
		}
	}
	require.NotEmpty(t, want.Hex, "the index has the host's platform %s", host)
	img, err := tarball.ImageFromPath(loadTar, nil)
	require.NoError(t, err)
	got, err := img.ConfigName()
	require.NoError(t, err)
	assert.Equal(t, want, got, "docker load gets the %s image of the index", host)
	tm, err := tarball.LoadManifest(func() (io.ReadCloser, error) { return os.Open(loadTar) })
	require.NoError(t, err)
	require.Len(t, tm, 1)
	assert.ElementsMatch(t, []string{"alicloud-billing-source:latest", "alicloud-billing-source:" + version}, tm[0].RepoTags)
}

// spdx is the part of the SBOM checked here.
type spdx struct {
	DocumentNamespace string `json:"documentNamespace"`
	Packages          []struct {
		SPDXID    string `json:"SPDXID"`
		Name      string `json:"name"`
		Version   string `json:"versionInfo"`
		Checksums []struct {
			Algorithm string `json:"algorithm"`
			Value     string `json:"checksumValue"`
		} `json:"checksums"`
	} `json:"packages"`
	Relationships []struct {
		Element string `json:"spdxElementId"`
		Type    string `json:"relationshipType"`
		Related string `json:"relatedSpdxElement"`
	} `json:"relationships"`
}

// The SBOM lists every module linked into each platform's connector, as the binaries in the
// image say (read here independently of //tools/sbom), with version and go.sum checksum.
func TestSBOM_ListsEveryModuleLinkedIntoEachPlatformsConnector(t *testing.T) {
	idx := localIndex(t)
	b, err := os.ReadFile(sbomFile)
	require.NoError(t, err)
	var doc spdx
	require.NoError(t, json.Unmarshal(b, &doc))
	d, err := idx.Digest()
	require.NoError(t, err)
	assert.Contains(t, doc.DocumentNamespace, d.Hex, "the SBOM is of this index")

	byKey := map[string]string{} // path@version -> hex checksum
	names := map[string]string{} // SPDXID -> name
	for _, p := range doc.Packages {
		names[p.SPDXID] = p.Name
		sum := ""
		if len(p.Checksums) == 1 && p.Checksums[0].Algorithm == "SHA256" {
			sum = p.Checksums[0].Value
		}
		byKey[p.Name+"@"+p.Version] = sum
	}
	m, err := idx.IndexManifest()
	require.NoError(t, err)
	modules := 0
	for _, desc := range m.Manifests {
		img, err := idx.Image(desc.Digest)
		require.NoError(t, err)
		bi, err := buildinfo.Read(bytes.NewReader(files(t, img)[binary].data))
		require.NoError(t, err)
		require.NotEmpty(t, bi.Deps)
		modules = max(modules, len(bi.Deps))
		for _, dep := range bi.Deps {
			h, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(dep.Sum, "h1:"))
			require.NoError(t, err, "%s has a go.sum checksum", dep.Path)
			sum, ok := byKey[dep.Path+"@"+dep.Version]
			require.True(t, ok, "%s@%s (%s) is missing from the SBOM", dep.Path, dep.Version, desc.Platform)
			assert.Equal(t, hex.EncodeToString(h), sum, dep.Path)
		}
		assert.Contains(t, byKey, "stdlib@"+bi.GoVersion)
	}
	for _, direct := range []string{"go.uber.org/fx", "go.etcd.io/bbolt", "github.com/cloudevents/sdk-go/v2", "github.com/aliyun/alibaba-cloud-sdk-go"} {
		found := false
		for k := range byKey {
			found = found || strings.HasPrefix(k, direct+"@v")
		}
		assert.True(t, found, "%s is in the SBOM", direct)
	}
	// The CA bundle is traced to the module it is made from.
	contained := map[string]bool{}
	for _, r := range doc.Relationships {
		if r.Type == "CONTAINS" {
			contained[names[r.Related]] = true
		}
	}
	assert.True(t, contained["golang.org/x/crypto/x509roots/fallback"], "the CA bundle's module")
	assert.Greater(t, modules, 15, "the connector links its dependencies")
}

// registryWithLogin is an in-process registry (go-containerregistry's pkg/registry) on
// loopback that wants HTTP basic auth, as a private registry does.
func registryWithLogin(t *testing.T, user, pass string) string {
	t.Helper()
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)), registry.WithReferrersSupport(true))
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != user || p != pass {
			w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		reg.ServeHTTP(w, r)
	}))
	t.Cleanup(s.Close)
	return strings.TrimPrefix(s.URL, "http://")
}

// push runs `bazel run //images:push -- args...` as Bazel would (the script in runfiles),
// with dockerConfig as the user's Docker configuration directory.
func push(t *testing.T, dockerConfig string, args ...string) (string, error) {
	t.Helper()
	runfiles := os.Getenv("RUNFILES_DIR")
	if runfiles == "" {
		runfiles = os.Getenv("TEST_SRCDIR")
	}
	cmd := exec.Command(pushScript, args...)
	cmd.Env = append(os.Environ(), "RUNFILES_DIR="+runfiles, "DOCKER_CONFIG="+dockerConfig, "HOME="+t.TempDir())
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func dockerLogin(t *testing.T, host, user, pass string) string {
	t.Helper()
	dir := t.TempDir()
	b, err := json.Marshal(map[string]any{"auths": map[string]any{host: map[string]string{
		"auth": base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))}}})
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "config.json"), b, 0o600))
	return dir
}

func TestPush_PushesTheIndexAndSBOMWithDockerCredentialsAndPullsBackTheSameDigest(t *testing.T) {
	const user, pass = "release-bot", "Registry-Password-0123"
	idx := localIndex(t)
	digest, err := idx.Digest()
	require.NoError(t, err)
	host := registryWithLogin(t, user, pass)
	repoName := host + "/cloudbill/alicloud-billing-source"
	auth := remote.WithAuth(&authn.Basic{Username: user, Password: pass})

	// Without credentials the registry refuses, and the message says how to log in.
	out, err := push(t, t.TempDir(), "--repository", repoName)
	require.Error(t, err, out)
	assert.Contains(t, out, "docker login "+host)

	out, err = push(t, dockerLogin(t, host, user, pass), "--repository", repoName)
	require.NoError(t, err, out)
	assert.NotContains(t, out, pass)
	assert.NotContains(t, out, base64.StdEncoding.EncodeToString([]byte(user+":"+pass)))
	assert.Contains(t, out, "pushed "+repoName+"@"+digest.String()+" (image index: linux/amd64, linux/arm64)")

	repo, err := name.NewRepository(repoName)
	require.NoError(t, err)
	tags, err := remote.List(repo, auth)
	require.NoError(t, err)
	assert.Subset(t, tags, []string{version, "latest"}, "the default tags")
	for _, tag := range []string{version, "latest"} {
		pulled, err := remote.Index(repo.Tag(tag), auth)
		require.NoError(t, err)
		got, err := pulled.Digest()
		require.NoError(t, err)
		assert.Equal(t, digest, got, "%s pulled back is the local build", tag)
	}
	// Each platform's image pulled back: the same config and layers as built.
	pulled, err := remote.Index(repo.Tag(version), auth)
	require.NoError(t, err)
	pm, err := pulled.IndexManifest()
	require.NoError(t, err)
	require.Len(t, pm.Manifests, len(platforms))
	for i, d := range pm.Manifests {
		assert.Equal(t, platforms[i], d.Platform.String())
		img, err := remote.Image(repo.Digest(d.Digest.String()), auth)
		require.NoError(t, err)
		cf, err := img.ConfigFile()
		require.NoError(t, err)
		assert.Equal(t, platforms[i], cf.Platform().String())
		local, err := idx.Image(d.Digest)
		require.NoError(t, err)
		lc, err := local.RawConfigFile()
		require.NoError(t, err)
		rc, err := img.RawConfigFile()
		require.NoError(t, err)
		assert.Equal(t, string(lc), string(rc))
		layers, err := img.Layers()
		require.NoError(t, err)
		for _, l := range layers {
			ld, err := l.Digest()
			require.NoError(t, err)
			_, err = local.LayerByDigest(ld)
			require.NoError(t, err, "layer %s", ld)
			r, err := l.Compressed()
			require.NoError(t, err, "layer %s was pushed", ld)
			n, err := io.Copy(io.Discard, r)
			require.NoError(t, err)
			r.Close()
			assert.Positive(t, n)
		}
	}
	// The SBOM is attached: a referrer of the index whose one blob is the local SBOM.
	refs, err := remote.Referrers(repo.Digest(digest.String()), auth)
	require.NoError(t, err)
	rm, err := refs.IndexManifest()
	require.NoError(t, err)
	require.Len(t, rm.Manifests, 1)
	art, err := remote.Image(repo.Digest(rm.Manifests[0].Digest.String()), auth)
	require.NoError(t, err)
	am, err := art.Manifest()
	require.NoError(t, err)
	assert.Equal(t, "application/spdx+json", am.ArtifactType)
	require.NotNil(t, am.Subject)
	assert.Equal(t, digest, am.Subject.Digest)
	layers, err := art.Layers()
	require.NoError(t, err)
	require.Len(t, layers, 1)
	r, err := layers[0].Compressed()
	require.NoError(t, err)
	got, err := io.ReadAll(r)
	require.NoError(t, err)
	r.Close()
	want, err := os.ReadFile(sbomFile)
	require.NoError(t, err)
	assert.Equal(t, string(want), string(got))
	assert.Contains(t, out, "sbom   "+repoName+"@"+rm.Manifests[0].Digest.String())

	// --tag replaces the default tags.
	other := host + "/cloudbill/rc"
	out, err = push(t, dockerLogin(t, host, user, pass), "--repository", other, "--tag", "0.1.0-rc1")
	require.NoError(t, err, out)
	otherRepo, err := name.NewRepository(other)
	require.NoError(t, err)
	tags, err = remote.List(otherRepo, auth)
	require.NoError(t, err)
	for _, tag := range tags {
		assert.False(t, tag == "latest" || tag == version, "tag %s pushed although --tag was given", tag)
	}
	assert.Contains(t, tags, "0.1.0-rc1")
}

// The version comes from one place, //:version.bzl: the image (above) and the connector
// that `bazel run //:connector` runs say it, it heads CHANGELOG.md and it is the module's.
func TestVersion_OneSourceForTheImageTheConnectorTheChangelogAndTheModule(t *testing.T) {
	require.NotEqual(t, "unset", version, "x_defs in BUILD.bazel did not set the version")

	// //:connector, as `tools/bazel run //:connector -- --version` runs it (runfiles).
	out, err := exec.Command("../connector/cmd/connector/connector_/connector", "--version").CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Equal(t, "alicloud-billing-source connector "+version+"\n", string(out))

	changelog, err := os.ReadFile("../CHANGELOG.md")
	require.NoError(t, err)
	var newest string
	for _, line := range strings.Split(string(changelog), "\n") {
		if strings.HasPrefix(line, "## [") {
			newest, _, _ = strings.Cut(strings.TrimPrefix(line, "## ["), "]")
			break
		}
	}
	assert.Equal(t, version, newest, "CHANGELOG.md's newest section")

	module, err := os.ReadFile("../MODULE.bazel")
	require.NoError(t, err)
	assert.Contains(t, string(module), "version = \""+version+"\"", "MODULE.bazel's module(version = ...)")
}
