package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func writeSpec(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "app")
	require.NoError(t, os.WriteFile(bin, []byte("#!/bin/true\n"), 0o755))
	s := Spec{
		Files:      []File{{Dest: "/usr/local/bin/app", Src: bin, Mode: "0755"}},
		Dirs:       []File{{Dest: "/vance/config", Mode: "0755"}, {Dest: "/data", Mode: "0700", UID: 65532, GID: 65532}},
		Entrypoint: []string{"/usr/local/bin/app"}, User: "65532:65532",
		Labels: map[string]string{"org.opencontainers.image.version": "1.2.3"},
	}
	b, _ := json.Marshal(s)
	p := filepath.Join(dir, "spec.json")
	require.NoError(t, os.WriteFile(p, b, 0o644))
	return p
}

func TestOcibuild_SameInputsSameDigest(t *testing.T) {
	dir := t.TempDir()
	spec := writeSpec(t, dir)
	digest := func(sub string) string {
		out := filepath.Join(dir, sub)
		require.NoError(t, os.MkdirAll(out, 0o755))
		require.NoError(t, run(spec, "", "", filepath.Join(out, "layout"), "", filepath.Join(out, "digest"), nil))
		b, err := os.ReadFile(filepath.Join(out, "digest"))
		require.NoError(t, err)
		return string(b)
	}
	first := digest("a")
	// A newer modification time of the input must not change the image.
	later := time.Now().Add(time.Hour)
	require.NoError(t, os.Chtimes(filepath.Join(dir, "app"), later, later))
	assert.Equal(t, first, digest("b"))
	assert.Regexp(t, `^sha256:[0-9a-f]{64}\n$`, first)

	// Changing the content does change it.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "app"), []byte("#!/bin/false\n"), 0o755))
	assert.NotEqual(t, first, digest("c"))
}

func TestOcibuild_TarballCarriesTagsConfigAndOwners(t *testing.T) {
	dir := t.TempDir()
	spec := writeSpec(t, dir)
	layoutDir := filepath.Join(dir, "layout")
	require.NoError(t, run(spec, "", "", layoutDir, "", "", nil))
	tarPath := filepath.Join(dir, "image.tar")
	require.NoError(t, run("", layoutDir, "", "", tarPath, "", []string{"example/app:latest", "example/app:1.2.3"}))

	img, err := tarball.ImageFromPath(tarPath, nil)
	require.NoError(t, err)
	cf, err := img.ConfigFile()
	require.NoError(t, err)
	assert.Equal(t, "65532:65532", cf.Config.User)
	assert.Equal(t, []string{"/usr/local/bin/app"}, cf.Config.Entrypoint)
	assert.Equal(t, "1.2.3", cf.Config.Labels["org.opencontainers.image.version"])
	assert.Equal(t, "linux", cf.OS)

	m, err := tarball.LoadManifest(func() (io.ReadCloser, error) { return os.Open(tarPath) })
	require.NoError(t, err)
	require.Len(t, m, 1)
	assert.ElementsMatch(t, []string{"example/app:latest", "example/app:1.2.3"}, m[0].RepoTags)

	require.Error(t, run("", layoutDir, "", "", tarPath, "", nil), "a tarball needs a tag")

	// The same image and tags give the same bytes, the tags in the order given.
	first, err := os.ReadFile(tarPath)
	require.NoError(t, err)
	for i := 0; i < 10; i++ {
		again := filepath.Join(dir, fmt.Sprintf("again-%d.tar", i))
		require.NoError(t, run("", layoutDir, "", "", again, "", []string{"example/app:latest", "example/app:1.2.3"}))
		b, err := os.ReadFile(again)
		require.NoError(t, err)
		require.True(t, bytes.Equal(first, b), "run %d wrote other bytes", i)
	}
	assert.Equal(t, []string{"example/app:latest", "example/app:1.2.3"}, m[0].RepoTags)
}

// archLayouts builds one image layout per architecture from the same spec.
func archLayouts(t *testing.T, dir string, archs ...string) []string {
	t.Helper()
	base := writeSpec(t, dir)
	var out []string
	for _, arch := range archs {
		b, err := os.ReadFile(base)
		require.NoError(t, err)
		var s Spec
		require.NoError(t, json.Unmarshal(b, &s))
		s.Arch = arch
		b, _ = json.Marshal(s)
		spec := filepath.Join(dir, arch+".json")
		require.NoError(t, os.WriteFile(spec, b, 0o644))
		l := filepath.Join(dir, arch)
		require.NoError(t, run(spec, "", "", l, "", "", nil))
		out = append(out, l)
	}
	return out
}

func TestOcibuild_IndexOfPlatformsIsReproducibleAndLoadsOnePlatform(t *testing.T) {
	dir := t.TempDir()
	layouts := archLayouts(t, dir, "amd64", "arm64")
	index := func(sub string) (string, string) {
		out := filepath.Join(dir, sub)
		require.NoError(t, runIndex(layouts, filepath.Join(out, "layout"), filepath.Join(out, "digest")))
		b, err := os.ReadFile(filepath.Join(out, "digest"))
		require.NoError(t, err)
		return filepath.Join(out, "layout"), string(b)
	}
	l1, d1 := index("i1")
	_, d2 := index("i2")
	assert.Equal(t, d1, d2, "the same images give the same index digest")
	assert.Regexp(t, `^sha256:[0-9a-f]{64}\n$`, d1)
	lp, err := layout.FromPath(l1)
	require.NoError(t, err)
	top, err := lp.ImageIndex()
	require.NoError(t, err)
	tm, err := top.IndexManifest()
	require.NoError(t, err)
	require.Len(t, tm.Manifests, 1)
	idx, err := top.ImageIndex(tm.Manifests[0].Digest)
	require.NoError(t, err)
	im, err := idx.IndexManifest()
	require.NoError(t, err)
	require.Len(t, im.Manifests, 2)
	for i, arch := range []string{"amd64", "arm64"} {
		assert.Equal(t, "linux/"+arch, im.Manifests[i].Platform.String())
		assert.Empty(t, im.Manifests[i].ArtifactType, "an image, not an artifact")
	}

	for _, arch := range []string{"amd64", "arm64"} {
		tarPath := filepath.Join(dir, arch+".tar")
		require.NoError(t, run("", l1, "linux/"+arch, "", tarPath, "", []string{"example/app:latest"}))
		img, err := tarball.ImageFromPath(tarPath, nil)
		require.NoError(t, err)
		cf, err := img.ConfigFile()
		require.NoError(t, err)
		assert.Equal(t, arch, cf.Architecture)
		assert.Equal(t, "linux", cf.OS)
	}
	err = run("", l1, "linux/s390x", "", filepath.Join(dir, "x.tar"), "", []string{"example/app:latest"})
	require.ErrorContains(t, err, "no image for linux/s390x")
	assert.ErrorContains(t, err, "linux/amd64, linux/arm64")

	// Two images of one platform are refused.
	require.ErrorContains(t, runIndex([]string{layouts[0], layouts[0]}, "", ""), "are both linux/amd64")
	// A different image changes the index.
	other := archLayouts(t, t.TempDir(), "arm64", "amd64")
	require.NoError(t, runIndex(other, "", filepath.Join(dir, "other.digest")))
	b, err := os.ReadFile(filepath.Join(dir, "other.digest"))
	require.NoError(t, err)
	assert.NotEqual(t, d1, string(b), "the order of the platforms is part of the index")
}
