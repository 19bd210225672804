// Command ocibuild assembles an OCI image from scratch with go-containerregistry: one
// layer of files (and directories) with fixed owners, modes and times, and an image config
// with entrypoint, user, environment, labels and volumes. It writes an OCI image layout
// and/or a `docker load`-able tarball. The same inputs give the same digest.
//
// It is the action behind oci_image and oci_load in //tools/oci:defs.bzl.
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
	var tags list
	specPath := flag.String("spec", "", "image spec (JSON) to build")
	layoutIn := flag.String("from-layout", "", "read the image from this OCI layout instead of a spec")
	layoutOut := flag.String("layout", "", "write an OCI image layout directory here")
	tarOut := flag.String("tarball", "", "write a docker-loadable tarball here")
	digestOut := flag.String("digest", "", "write the image digest (sha256:...) here")
	flag.Var(&tags, "tag", "repo:tag recorded in the tarball (repeatable)")
	flag.Parse()
	if err := run(*specPath, *layoutIn, *layoutOut, *tarOut, *digestOut, tags); err != nil {
		fmt.Fprintln(os.Stderr, "ocibuild:", err)
		os.Exit(1)
	}
}

func run(specPath, layoutIn, layoutOut, tarOut, digestOut string, tags []string) error {
	var img v1.Image
	var err error
	switch {
	case specPath != "":
		img, err = fromSpec(specPath)
	case layoutIn != "":
		img, err = fromLayout(layoutIn)
	default:
		return fmt.Errorf("give -spec or -from-layout")
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
		refs := map[name.Reference]v1.Image{}
		for _, t := range tags {
			ref, err := name.NewTag(t)
			if err != nil {
				return fmt.Errorf("tag %q: %w", t, err)
			}
			refs[ref] = img
		}
		f, err := os.Create(tarOut)
		if err != nil {
			return err
		}
		if err := tarball.MultiRefWrite(refs, f); err != nil {
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
	if digestOut != "" {
		return os.WriteFile(digestOut, []byte(d.String()+"\n"), 0o644)
	}
	return nil
}

func fromLayout(dir string) (v1.Image, error) {
	p, err := layout.FromPath(dir)
	if err != nil {
		return nil, fmt.Errorf("read layout %s: %w", dir, err)
	}
	idx, err := p.ImageIndex()
	if err != nil {
		return nil, err
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	if len(m.Manifests) != 1 {
		return nil, fmt.Errorf("layout %s holds %d images, want 1", dir, len(m.Manifests))
	}
	return idx.Image(m.Manifests[0].Digest)
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
