package main

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"debug/buildinfo"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime/debug"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The test binary itself is the Go program in the images: its build information lists
// this package's dependencies (testify, go-containerregistry, ...) with their checksums.
func self(t *testing.T) (string, *debug.BuildInfo) {
	t.Helper()
	exe, err := os.Executable()
	require.NoError(t, err)
	bi, err := buildinfo.ReadFile(exe)
	require.NoError(t, err)
	require.NotEmpty(t, bi.Deps, "the test binary carries its modules")
	return exe, bi
}

func layerOf(t *testing.T, files map[string][]byte) v1.Layer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, name := range sortedKeys(files) {
		require.NoError(t, tw.WriteHeader(&tar.Header{Name: name, Mode: 0o755, Size: int64(len(files[name])), Typeflag: tar.TypeReg}))
		_, err := tw.Write(files[name])
		require.NoError(t, err)
	}
	require.NoError(t, tw.Close())
	return static.NewLayer(buf.Bytes(), types.DockerLayer)
}

// indexLayout writes an index layout of one image per arch, each with files.
func indexLayout(t *testing.T, files map[string][]byte, archs ...string) string {
	t.Helper()
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, arch := range archs {
		img, err := mutate.AppendLayers(empty.Image, layerOf(t, files))
		require.NoError(t, err)
		cf, err := img.ConfigFile()
		require.NoError(t, err)
		cf = cf.DeepCopy()
		cf.OS, cf.Architecture = "linux", arch
		img, err = mutate.ConfigFile(img, cf)
		require.NoError(t, err)
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: cf.Platform()}})
	}
	dir := t.TempDir()
	p, err := layout.Write(dir, empty.Index)
	require.NoError(t, err)
	require.NoError(t, p.AppendIndex(idx))
	return dir
}

func decode(t *testing.T, b []byte) Document {
	t.Helper()
	var d Document
	require.NoError(t, json.Unmarshal(b, &d))
	return d
}

func TestMake_ListsEveryModuleOfEveryPlatformsProgramWithVersionAndChecksum(t *testing.T) {
	exe, bi := self(t)
	prog, err := os.ReadFile(exe)
	require.NoError(t, err)
	dir := indexLayout(t, map[string][]byte{"usr/local/bin/app": prog, "etc/passwd": []byte("root:x:0:0::/:\n")}, "amd64", "arm64")
	o := Options{Layout: dir, Name: "app", Version: "1.2.3", Namespace: "https://example.invalid/spdx"}
	out, err := Make(o)
	require.NoError(t, err)
	again, err := Make(o)
	require.NoError(t, err)
	assert.Equal(t, string(out), string(again), "the same image gives the same SBOM")

	d := decode(t, out)
	assert.Equal(t, "SPDX-2.3", d.SPDXVersion)
	byName := map[string]Package{}
	byID := map[string]Package{}
	for _, p := range d.Packages {
		byName[p.Name+"@"+p.VersionInfo] = p
		byID[p.SPDXID] = p
	}
	linked := map[string]int{} // module -> programs linking it
	for _, r := range d.Relationships {
		require.Contains(t, byID, r.Related, "relationship to a package that is not in the document")
		if r.Type == "STATIC_LINK" {
			linked[byID[r.Related].Name]++
		}
	}
	for _, m := range bi.Deps {
		p, ok := byName[m.Path+"@"+m.Version]
		require.True(t, ok, "module %s@%s missing", m.Path, m.Version)
		raw, err := base64.StdEncoding.DecodeString(m.Sum[len("h1:"):])
		require.NoError(t, err)
		assert.Equal(t, []Checksum{{"SHA256", hex.EncodeToString(raw)}}, p.Checksums, m.Path)
		assert.Contains(t, p.Comment, m.Sum)
		assert.Equal(t, "pkg:golang/"+m.Path+"@"+m.Version, p.ExternalRefs[0].Locator)
		assert.Equal(t, 2, linked[m.Path], "%s: linked into both platforms' program", m.Path)
	}
	assert.Contains(t, byName, "stdlib@"+bi.GoVersion)
	sum := sha256.Sum256(prog)
	programs := 0
	for _, p := range d.Packages {
		if p.Purpose == "APPLICATION" {
			programs++
			assert.Equal(t, bi.Path, p.Name)
			assert.Equal(t, []Checksum{{"SHA256", hex.EncodeToString(sum[:])}}, p.Checksums)
		}
	}
	assert.Equal(t, 2, programs, "one program per platform; /etc/passwd is no program")
	assert.Contains(t, byName, "app linux/amd64@1.2.3")
	assert.Contains(t, byName, "app linux/arm64@1.2.3")
	// The document is about this index: its digest is in the namespace and the root package.
	root := byID[d.DocumentDescribes[0]]
	assert.Contains(t, d.DocumentNamespace, root.Checksums[0].Value)
	assert.Equal(t, "CONTAINER", root.Purpose)
}

func TestMake_TracesAGeneratedFileToItsGeneratorsModules(t *testing.T) {
	exe, bi := self(t)
	prog, err := os.ReadFile(exe)
	require.NoError(t, err)
	dir := indexLayout(t, map[string][]byte{"app": prog, "etc/ssl/certs/ca.crt": []byte("pem")}, "amd64")
	out, err := Make(Options{Layout: dir, Name: "app", Version: "1", Namespace: "https://example.invalid/spdx",
		Generated: map[string]string{"/etc/ssl/certs/ca.crt": exe}})
	require.NoError(t, err)
	d := decode(t, out)
	contained := map[string]bool{}
	byID := map[string]Package{}
	for _, p := range d.Packages {
		byID[p.SPDXID] = p
	}
	for _, r := range d.Relationships {
		if r.Type == "CONTAINS" {
			contained[byID[r.Related].Name] = true
		}
	}
	for _, m := range bi.Deps {
		assert.True(t, contained[m.Path], "%s: the image contains what its generator was built from", m.Path)
	}

	_, err = Make(Options{Layout: dir, Name: "app", Version: "1", Namespace: "https://example.invalid/spdx",
		Generated: map[string]string{"/etc/missing": exe}})
	require.ErrorContains(t, err, "has no file /etc/missing")
}

func TestMake_RefusesWhatWouldMakeAnIncompleteSBOM(t *testing.T) {
	noProgram := indexLayout(t, map[string][]byte{"etc/passwd": []byte("x")}, "amd64")
	_, err := Make(Options{Layout: noProgram, Name: "app", Version: "1", Namespace: "https://example.invalid/spdx"})
	require.ErrorContains(t, err, "holds no Go program")

	d := &builder{ids: map[string]bool{}, modules: map[string]string{}}
	_, err = d.module(&debug.Module{Path: "example.com/m", Version: "v1.0.0"}, true)
	require.ErrorContains(t, err, "no go.sum checksum")
	_, err = d.module(&debug.Module{Path: "example.com/m", Version: "(devel)", Sum: "h1:x"}, true)
	require.ErrorContains(t, err, "no version")
	_, err = Make(Options{Layout: filepath.Join(t.TempDir(), "none"), Name: "a", Version: "1", Namespace: "x"})
	require.Error(t, err)
}
