package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// newRegistry is an in-process registry on loopback; with user set it wants HTTP basic auth.
func newRegistry(t *testing.T, referrers bool, user, pass string) string {
	t.Helper()
	h := registry.New(registry.Logger(log.New(io.Discard, "", 0)), registry.WithReferrersSupport(referrers))
	if user != "" {
		inner := h
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if u, p, ok := r.BasicAuth(); !ok || u != user || p != pass {
				w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusUnauthorized)
				_, _ = io.WriteString(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`)
				return
			}
			inner.ServeHTTP(w, r)
		})
	}
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	return strings.TrimPrefix(s.URL, "http://")
}

// indexLayout writes a layout holding one random two-image index.
func indexLayout(t *testing.T) (string, v1.Hash) {
	t.Helper()
	idx, err := random.Index(512, 1, 2)
	require.NoError(t, err)
	dir := t.TempDir()
	p, err := layout.Write(dir, empty.Index)
	require.NoError(t, err)
	require.NoError(t, p.AppendIndex(idx))
	d, err := idx.Digest()
	require.NoError(t, err)
	return dir, d
}

func sbomFile(t *testing.T) (string, []byte) {
	t.Helper()
	b := []byte(`{"spdxVersion":"SPDX-2.3"}`)
	p := filepath.Join(t.TempDir(), "sbom.spdx.json")
	require.NoError(t, os.WriteFile(p, b, 0o644))
	return p, b
}

// referredSBOM is the one SBOM referring to digest in repo, pulled back.
func referredSBOM(t *testing.T, repo name.Repository, digest v1.Hash) []byte {
	t.Helper()
	refs, err := remote.Referrers(repo.Digest(digest.String()))
	require.NoError(t, err)
	m, err := refs.IndexManifest()
	require.NoError(t, err)
	require.Len(t, m.Manifests, 1)
	// The in-process registry's referrers API reports the config's media type as the
	// artifact type (OCI 1.1 says: artifactType when present); the fallback tag and real
	// registries report artifactType. The manifest itself is checked below.
	assert.Contains(t, []string{SBOMType, "application/vnd.oci.empty.v1+json"}, m.Manifests[0].ArtifactType)
	art, err := remote.Image(repo.Digest(m.Manifests[0].Digest.String()))
	require.NoError(t, err)
	am, err := art.Manifest()
	require.NoError(t, err)
	assert.Equal(t, SBOMType, am.ArtifactType)
	assert.Equal(t, SBOMType, string(am.Layers[0].MediaType))
	require.NotNil(t, am.Subject)
	assert.Equal(t, digest, am.Subject.Digest)
	assert.Equal(t, "{}", string(am.Config.Data))
	layers, err := art.Layers()
	require.NoError(t, err)
	require.Len(t, layers, 1)
	rc, err := layers[0].Compressed()
	require.NoError(t, err)
	defer rc.Close()
	b, err := io.ReadAll(rc)
	require.NoError(t, err)
	return b
}

func TestPush_IndexUnderDefaultTagsWithTheSBOMAttached(t *testing.T) {
	for _, referrersAPI := range []bool{true, false} {
		t.Run(map[bool]string{true: "referrers API", false: "fallback tag"}[referrersAPI], func(t *testing.T) {
			host := newRegistry(t, referrersAPI, "", "")
			dir, digest := indexLayout(t)
			sbomPath, sbom := sbomFile(t)
			var out bytes.Buffer
			err := Push(context.Background(), Options{Layout: dir, SBOM: sbomPath, Repository: host + "/team/app",
				DefaultTags: []string{"1.2.3", "latest"}}, &out)
			require.NoError(t, err)
			repo, err := name.NewRepository(host + "/team/app")
			require.NoError(t, err)
			for _, tag := range []string{"1.2.3", "latest"} {
				idx, err := remote.Index(repo.Tag(tag))
				require.NoError(t, err)
				got, err := idx.Digest()
				require.NoError(t, err)
				assert.Equal(t, digest, got, "the pulled index is the local one")
				m, err := idx.IndexManifest()
				require.NoError(t, err)
				require.Len(t, m.Manifests, 2)
				for _, c := range m.Manifests {
					_, err := remote.Image(repo.Digest(c.Digest.String()))
					require.NoError(t, err, "every image of the index was pushed")
				}
			}
			assert.Equal(t, string(sbom), string(referredSBOM(t, repo, digest)))
			assert.Contains(t, out.String(), "pushed "+host+"/team/app@"+digest.String())
			assert.Contains(t, out.String(), "tagged 1.2.3, latest")
		})
	}
}

func TestPush_GivenTagsReplaceTheDefaults(t *testing.T) {
	host := newRegistry(t, true, "", "")
	dir, digest := indexLayout(t)
	require.NoError(t, Push(context.Background(), Options{Layout: dir, Repository: host + "/app",
		Tags: []string{"rc1"}, DefaultTags: []string{"1.2.3", "latest"}}, io.Discard))
	repo, _ := name.NewRepository(host + "/app")
	tags, err := remote.List(repo)
	require.NoError(t, err)
	assert.Equal(t, []string{"rc1"}, tags)
	d, err := remote.Head(repo.Tag("rc1"))
	require.NoError(t, err)
	assert.Equal(t, digest, d.Digest)
}

func TestPush_UsageErrors(t *testing.T) {
	dir, _ := indexLayout(t)
	for _, o := range []Options{
		{Layout: dir, DefaultTags: []string{"x"}},
		{Layout: dir, Repository: "registry.example.com/app:1.0", DefaultTags: []string{"x"}},
		{Layout: dir, Repository: "registry.example.com/app", Tags: []string{"bad tag"}},
		{Layout: dir, Repository: "registry.example.com/app"},
	} {
		err := Push(context.Background(), o, io.Discard)
		var u usageError
		assert.ErrorAs(t, err, &u, "%+v", o)
	}
}

// The credentials are the user's Docker ones ($DOCKER_CONFIG/config.json, as `docker
// login` writes it), read by the default keychain as main passes it; a wrong password
// fails without showing it.
func TestPush_UsesDockerCredentialsAndNeverShowsThem(t *testing.T) {
	const user, pass = "ci-bot", "s3cret-PASSWORD-value"
	host := newRegistry(t, true, user, pass)
	dir, digest := indexLayout(t)
	login := func(password string) {
		cfg := t.TempDir()
		b, _ := json.Marshal(map[string]any{"auths": map[string]any{host: map[string]string{
			"auth": base64.StdEncoding.EncodeToString([]byte(user + ":" + password))}}})
		require.NoError(t, os.WriteFile(filepath.Join(cfg, "config.json"), b, 0o600))
		t.Setenv("DOCKER_CONFIG", cfg)
	}
	o := Options{Layout: dir, Repository: host + "/app", DefaultTags: []string{"latest"}}
	keychain := remote.WithAuthFromKeychain(authn.DefaultKeychain)

	login("wrong-" + pass)
	var out bytes.Buffer
	err := Push(context.Background(), o, &out, keychain)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "refused the credentials for "+host)
	assert.Contains(t, err.Error(), "docker login "+host)
	assert.NotContains(t, err.Error()+out.String(), pass)
	assert.NotContains(t, err.Error(), base64.StdEncoding.EncodeToString([]byte(user+":wrong-"+pass)))

	login(pass)
	require.NoError(t, Push(context.Background(), o, &out, keychain))
	ref, err := name.NewTag(host + "/app:latest")
	require.NoError(t, err)
	d, err := remote.Head(ref, remote.WithAuth(&authn.Basic{Username: user, Password: pass}))
	require.NoError(t, err)
	assert.Equal(t, digest, d.Digest)
	assert.NotContains(t, out.String(), pass)
}

func TestNewArtifact_IsReproducibleAndRefersToItsSubject(t *testing.T) {
	subject := v1.Descriptor{MediaType: "application/vnd.oci.image.index.v1+json", Size: 10,
		Digest: v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("a", 64)}}
	a, err := NewArtifact(SBOMType, "sbom.spdx.json", []byte("{}"), subject)
	require.NoError(t, err)
	b, err := NewArtifact(SBOMType, "sbom.spdx.json", []byte("{}"), subject)
	require.NoError(t, err)
	da, _ := a.Digest()
	db, _ := b.Digest()
	assert.Equal(t, da, db)
	m, err := a.Manifest()
	require.NoError(t, err)
	assert.Equal(t, SBOMType, m.ArtifactType)
	assert.Equal(t, subject.Digest, m.Subject.Digest)
	c, err := NewArtifact(SBOMType, "sbom.spdx.json", []byte("{ }"), subject)
	require.NoError(t, err)
	dc, _ := c.Digest()
	assert.NotEqual(t, da, dc)
}
