package main

import (
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

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
		require.NoError(t, run(spec, "", filepath.Join(out, "layout"), "", filepath.Join(out, "digest"), nil))
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
	require.NoError(t, run(spec, "", layoutDir, "", "", nil))
	tarPath := filepath.Join(dir, "image.tar")
	require.NoError(t, run("", layoutDir, "", tarPath, "", []string{"example/app:latest", "example/app:1.2.3"}))

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

	require.Error(t, run("", layoutDir, "", tarPath, "", nil), "a tarball needs a tag")
}
