// Command ocibuild assembles an OCI image from scratch with go-containerregistry: one
// layer of files (and directories) with fixed owners, modes and times, and an image config
// with entrypoint, user, environment, labels and volumes. It writes an OCI image layout
// and/or a `docker load`-able tarball. The same inputs give the same digest.
//
// With -index-of it writes an OCI image index of several such images, one per platform;
// with -from-layout of an index it takes one platform's image (by default the platform it
// runs on) for the tarball.
//
// It is the action behind oci_image, oci_image_index and oci_load in //tools/oci:defs.bzl.
package main

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// list is a repeatable string flag.
type list []string

func (l *list) String() string     { return strings.Join(*l, ",") }
func (l *list) Set(v string) error { *l = append(*l, v); return nil }

// epoch is every file's and the image's time: reproducible builds.
var epoch = time.Unix(0, 0).UTC()

// Spec is what goes into the image (written by oci_image as JSON).
type Spec struct {
	Files      []File            `json:"files"`      // regular files
	Dirs       []File            `json:"dirs"`       // empty directories (Src unused)
	Entrypoint []string          `json:"entrypoint"` // exec form
	Cmd        []string          `json:"cmd"`
	User       string            `json:"user"` // "uid:gid"
	Env        []string          `json:"env"`  // KEY=VALUE
	Labels     map[string]string `json:"labels"`
	Volumes    []string          `json:"volumes"`
	Ports      []string          `json:"ports"` // exposed, "9090/tcp"
	WorkingDir string            `json:"workdir"`
	Arch       string            `json:"arch"`
}

// File is one entry of the layer.
type File struct {
	Dest string `json:"dest"`
	Src  string `json:"src"`
	Mode string `json:"mode"` // octal, e.g. "0755"
	UID  int    `json:"uid"`
	GID  int    `json:"gid"`
}

func main() {
	var tags, indexOf list
	specPath := flag.String("spec", "", "image spec (JSON) to build")
	layoutIn := flag.String("from-layout", "", "read the image from this OCI layout instead of a spec")
	flag.Var(&indexOf, "index-of", "OCI layout of one platform's image: build an image index of them (repeatable)")
	platform := flag.String("platform", runtime.GOOS+"/"+runtime.GOARCH, "with -from-layout of an index: the platform (os/arch) to take")
	layoutOut := flag.String("layout", "", "write an OCI image layout directory here")
	tarOut := flag.String("tarball", "", "write a docker-loadable tarball here")
	digestOut := flag.String("digest", "", "write the image (or index) digest (sha256:...) here")
	flag.Var(&tags, "tag", "repo:tag recorded in the tarball (repeatable)")
	flag.Parse()
	var err error
	if len(indexOf) > 0 {
		err = runIndex(indexOf, *layoutOut, *digestOut)
	} else {
		err = run(*specPath, *layoutIn, *platform, *layoutOut, *tarOut, *digestOut, tags)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "ocibuild:", err)
		os.Exit(1)
	}
}

func run(specPath, layoutIn, platform, layoutOut, tarOut, digestOut string, tags []string) error {
	var img v1.Image
	var err error
	switch {
	case specPath != "":
		img, err = fromSpec(specPath)
	case layoutIn != "":
		img, err = fromLayout(layoutIn, platform)
	default:
		return fmt.Errorf("give -spec, -from-layout or -index-of")
	}
	if err != nil {
		return err
	}
	if layoutOut != "" {
		p, err := layout.Write(layoutOut, empty.Index)
		if err != nil {
			return fmt.Errorf("write layout: %w", err)
		}
		if err := p.AppendImage(img); err != nil {
			return fmt.Errorf("write layout: %w", err)
		}
	}
	if tarOut != "" {
		if len(tags) == 0 {
			return fmt.Errorf("-tarball needs at least one -tag")
		}
		var refs []name.Tag
		for _, t := range tags {
			ref, err := name.NewTag(t)
			if err != nil {
				return fmt.Errorf("tag %q: %w", t, err)
			}
			refs = append(refs, ref)
		}
		f, err := os.Create(tarOut)
		if err != nil {
			return err
		}
		if err := writeDockerArchive(f, img, refs); err != nil {
			f.Close()
			return fmt.Errorf("write tarball: %w", err)
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	d, err := img.Digest()
	if err != nil {
		return err
	}
	return writeDigest(digestOut, d)
}

// runIndex writes an OCI image index of the images in the given layouts, one per platform,
// each platform taken from its image's config. The order of the layouts is the order of
// the index, so the same inputs give the same digest.
func runIndex(layouts []string, layoutOut, digestOut string) error {
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	seen := map[string]string{}
	for _, dir := range layouts {
		img, err := fromLayout(dir, "")
		if err != nil {
			return err
		}
		cf, err := img.ConfigFile()
		if err != nil {
			return fmt.Errorf("%s: %w", dir, err)
		}
		p := v1.Platform{OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant}
		if p.OS == "" || p.Architecture == "" {
			return fmt.Errorf("%s: the image config names no os/architecture", dir)
		}
		if other, ok := seen[p.String()]; ok {
			return fmt.Errorf("%s and %s are both %s", other, dir, p.String())
		}
		seen[p.String()] = dir
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: plainImage{img}, Descriptor: v1.Descriptor{Platform: &p}})
	}
	if layoutOut != "" {
		// As rules_oci writes it: the layout's index.json names the one image index.
		p, err := layout.Write(layoutOut, empty.Index)
		if err != nil {
			return fmt.Errorf("write layout: %w", err)
		}
		if err := p.AppendIndex(idx); err != nil {
			return fmt.Errorf("write layout: %w", err)
		}
	}
	d, err := idx.Digest()
	if err != nil {
		return err
	}
	return writeDigest(digestOut, d)
}

// writeDockerArchive writes img as `docker load` reads it (config, layers, manifest.json)
// with the tags in the order given. go-containerregistry's tarball.MultiRefWrite would do
// the same but orders the tags as a Go map iterates, so its bytes change from run to run.
func writeDockerArchive(w io.Writer, img v1.Image, tags []name.Tag) error {
	tw := tar.NewWriter(w)
	entry := func(name string, size int64, r io.Reader) error {
		if err := tw.WriteHeader(&tar.Header{Name: name, Size: size, Mode: 0o644, Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		_, err := io.Copy(tw, r)
		return err
	}
	cfgName, err := img.ConfigName()
	if err != nil {
		return err
	}
	cfg, err := img.RawConfigFile()
	if err != nil {
		return err
	}
	if err := entry(cfgName.String(), int64(len(cfg)), bytes.NewReader(cfg)); err != nil {
		return err
	}
	desc := tarball.Descriptor{Config: cfgName.String()}
	for _, t := range tags {
		desc.RepoTags = append(desc.RepoTags, t.String())
	}
	layers, err := img.Layers()
	if err != nil {
		return err
	}
	for _, l := range layers {
		d, err := l.Digest()
		if err != nil {
			return err
		}
		size, err := l.Size()
		if err != nil {
			return err
		}
		rc, err := l.Compressed()
		if err != nil {
			return err
		}
		file := d.Hex + ".tar.gz"
		err = entry(file, size, rc)
		rc.Close()
		if err != nil {
			return err
		}
		desc.Layers = append(desc.Layers, file)
	}
	m, err := json.Marshal(tarball.Manifest{desc})
	if err != nil {
		return err
	}
	if err := entry("manifest.json", int64(len(m)), bytes.NewReader(m)); err != nil {
		return err
	}
	return tw.Close()
}

// plainImage is an image whose index entry carries no artifactType: go-containerregistry
// would copy the config's media type there, which OCI reserves for artifacts and which
// Docker's own indexes do not have.
type plainImage struct{ v1.Image }

func (plainImage) ArtifactType() (string, error) { return "", nil }

func writeDigest(path string, d v1.Hash) error {
	if path == "" {
		return nil
	}
	return os.WriteFile(path, []byte(d.String()+"\n"), 0o644)
}

// fromLayout reads the one image of an OCI layout: the layout's only image, or, when the
// layout holds an image index, that index's image for platform ("os/arch"; "" is an error
// then).
func fromLayout(dir, platform string) (v1.Image, error) {
	p, err := layout.FromPath(dir)
	if err != nil {
		return nil, fmt.Errorf("read layout %s: %w", dir, err)
	}
	top, err := p.ImageIndex()
	if err != nil {
		return nil, err
	}
	m, err := top.IndexManifest()
	if err != nil {
		return nil, err
	}
	if len(m.Manifests) != 1 {
		return nil, fmt.Errorf("layout %s holds %d manifests, want 1", dir, len(m.Manifests))
	}
	desc := m.Manifests[0]
	if !desc.MediaType.IsIndex() {
		return top.Image(desc.Digest)
	}
	idx, err := top.ImageIndex(desc.Digest)
	if err != nil {
		return nil, err
	}
	return imageFor(idx, platform)
}

// imageFor is the image of idx for platform ("os/arch").
func imageFor(idx v1.ImageIndex, platform string) (v1.Image, error) {
	want, err := v1.ParsePlatform(platform)
	if err != nil || platform == "" {
		return nil, fmt.Errorf("platform %q: want os/arch, e.g. linux/amd64", platform)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	var have []string
	for _, d := range m.Manifests {
		if d.Platform == nil {
			continue
		}
		if d.Platform.OS == want.OS && d.Platform.Architecture == want.Architecture &&
			(want.Variant == "" || d.Platform.Variant == want.Variant) {
			return idx.Image(d.Digest)
		}
		have = append(have, d.Platform.String())
	}
	return nil, fmt.Errorf("the index has no image for %s (it has %s); give -platform", platform, strings.Join(have, ", "))
}

func fromSpec(specPath string) (v1.Image, error) {
	b, err := os.ReadFile(specPath)
	if err != nil {
		return nil, err
	}
	var s Spec
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("spec %s: %w", specPath, err)
	}
	data, err := layerTar(s)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	}, tarball.WithMediaType(types.OCILayer), tarball.WithCompressedCaching)
	if err != nil {
		return nil, err
	}
	base := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err := mutate.Append(base, mutate.Addendum{Layer: layer, History: v1.History{
		Created: v1.Time{Time: epoch}, CreatedBy: "ocibuild: " + strconv.Itoa(len(s.Files)) + " files", Comment: "scratch + connector",
	}})
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS = "linux"
	cf.Architecture = s.Arch
	if cf.Architecture == "" {
		cf.Architecture = "amd64"
	}
	cf.Created = v1.Time{Time: epoch}
	cf.Config.Entrypoint = s.Entrypoint
	cf.Config.Cmd = s.Cmd
	cf.Config.User = s.User
	cf.Config.Env = s.Env
	cf.Config.Labels = s.Labels
	cf.Config.WorkingDir = s.WorkingDir
	if len(s.Ports) > 0 {
		cf.Config.ExposedPorts = map[string]struct{}{}
		for _, p := range s.Ports {
			cf.Config.ExposedPorts[p] = struct{}{}
		}
	}
	if len(s.Volumes) > 0 {
		cf.Config.Volumes = map[string]struct{}{}
		for _, v := range s.Volumes {
			cf.Config.Volumes[v] = struct{}{}
		}
	}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, err
	}
	// Annotations carry the labels in the manifest too, as OCI tooling reads them there.
	return mutate.Annotations(img, s.Labels).(v1.Image), nil
}

// layerTar is the uncompressed layer: parent directories first, entries sorted, fixed times.
func layerTar(s Spec) ([]byte, error) {
	type entry struct {
		f   File
		dir bool
	}
	entries := map[string]entry{}
	addParents := func(p string) {
		for d := path.Dir(p); d != "." && d != "/"; d = path.Dir(d) {
			if _, ok := entries[d]; !ok {
				entries[d] = entry{f: File{Dest: d, Mode: "0755"}, dir: true}
			}
		}
	}
	clean := func(p string) string { return strings.TrimPrefix(path.Clean("/"+p), "/") }
	for _, d := range s.Dirs {
		d.Dest = clean(d.Dest)
		addParents(d.Dest)
		entries[d.Dest] = entry{f: d, dir: true}
	}
	for _, f := range s.Files {
		f.Dest = clean(f.Dest)
		addParents(f.Dest)
		entries[f.Dest] = entry{f: f}
	}
	names := make([]string, 0, len(entries))
	for n := range entries {
		names = append(names, n)
	}
	sort.Strings(names)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, n := range names {
		e := entries[n]
		mode, err := strconv.ParseInt(orDefault(e.f.Mode, "0644"), 8, 64)
		if err != nil {
			return nil, fmt.Errorf("%s: mode %q: %w", n, e.f.Mode, err)
		}
		h := &tar.Header{Name: n, Mode: mode, Uid: e.f.UID, Gid: e.f.GID, ModTime: epoch, Format: tar.FormatPAX}
		if e.dir {
			h.Typeflag, h.Name = tar.TypeDir, n+"/"
			if err := tw.WriteHeader(h); err != nil {
				return nil, err
			}
			continue
		}
		data, err := os.ReadFile(e.f.Src)
		if err != nil {
			return nil, err
		}
		h.Typeflag, h.Size = tar.TypeReg, int64(len(data))
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}
