// Command ocipush pushes the image index (or image) of an OCI layout to a registry, tags
// it, checks that every tag answers with the local digest, and attaches an SBOM to it as an
// OCI 1.1 referrer (an artifact whose subject is the index; registries without the
// referrers API get the fallback tag sha256-<digest>). Credentials are the user's ordinary
// ones: go-containerregistry's default keychain (~/.docker/config.json or $DOCKER_CONFIG,
// with credential helpers, then podman's auth.json). They are never printed.
//
// It is the program behind oci_push in //tools/oci:defs.bzl:
//
//	bazel run //images:push -- --repository registry.example.com/team/app [--tag T]...
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// SBOMType is the artifact type (and layer media type) of the attached SBOM.
const SBOMType = "application/spdx+json"

// list is a repeatable string flag.
type list []string

func (l *list) String() string     { return strings.Join(*l, ",") }
func (l *list) Set(v string) error { *l = append(*l, v); return nil }

// Options is one push.
type Options struct {
	Layout      string   // OCI layout holding one image index or image
	SBOM        string   // SPDX JSON to attach ("" for none)
	Repository  string   // e.g. registry.example.com/team/app
	Tags        []string // the user's; when empty, DefaultTags
	DefaultTags []string
}

func main() {
	var o Options
	var tags, defaults list
	fs := flag.NewFlagSet("push", flag.ContinueOnError)
	fs.StringVar(&o.Layout, "layout", "", "OCI layout of the image index to push")
	fs.StringVar(&o.SBOM, "sbom", "", "SPDX JSON to attach to the index")
	fs.StringVar(&o.Repository, "repository", "", "repository to push to, e.g. registry.example.com/team/alicloud-billing-source")
	fs.Var(&tags, "tag", "tag to push (repeatable; default: the version and latest)")
	fs.Var(&defaults, "default-tag", "tag pushed when no -tag is given (repeatable; set by the rule)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: bazel run //images:push -- --repository REGISTRY/PATH [--tag TAG]...")
		fs.PrintDefaults()
	}
	if err := fs.Parse(os.Args[1:]); err != nil {
		os.Exit(2)
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "push: unexpected argument %q (use --repository and --tag)\n", fs.Arg(0))
		os.Exit(2)
	}
	o.Tags, o.DefaultTags = tags, defaults
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := Push(ctx, o, os.Stdout, remote.WithAuthFromKeychain(authn.DefaultKeychain)); err != nil {
		fmt.Fprintln(os.Stderr, "push:", err)
		var usage usageError
		if errors.As(err, &usage) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

type usageError struct{ error }

// Push pushes o.Layout's index to o.Repository under each tag and attaches o.SBOM to it.
// It reports what it did on out.
func Push(ctx context.Context, o Options, out io.Writer, opts ...remote.Option) error {
	if o.Repository == "" {
		return usageError{errors.New("give the repository to push to: --repository REGISTRY/PATH (e.g. registry.example.com/team/alicloud-billing-source)")}
	}
	repo, err := name.NewRepository(o.Repository)
	if err != nil {
		return usageError{fmt.Errorf("--repository %q: %w (tags go in --tag)", o.Repository, err)}
	}
	tags := o.Tags
	if len(tags) == 0 {
		tags = o.DefaultTags
	}
	if len(tags) == 0 {
		return usageError{errors.New("no tag: give --tag")}
	}
	var refs []name.Tag
	for _, t := range tags {
		ref, err := name.NewTag(repo.String()+":"+t, name.StrictValidation)
		if err != nil {
			return usageError{fmt.Errorf("--tag %q: %w", t, err)}
		}
		refs = append(refs, ref)
	}
	local, err := read(o.Layout)
	if err != nil {
		return err
	}
	opts = append([]remote.Option{remote.WithContext(ctx), remote.WithReferrersTagFallback(true),
		remote.WithUserAgent("alicloud-billing-source-push")}, opts...)
	byDigest := repo.Digest(local.desc.Digest.String())

	if err := local.write(byDigest, opts); err != nil {
		return fmt.Errorf("push %s: %w", byDigest, hint(repo, err))
	}
	for _, ref := range refs {
		if err := remote.Tag(ref, local.taggable, opts...); err != nil {
			return fmt.Errorf("tag %s: %w", ref, hint(repo, err))
		}
		// The registry's answer for the tag must be the local digest.
		got, err := remote.Head(ref, opts...)
		if err != nil {
			return fmt.Errorf("check %s: %w", ref, err)
		}
		if got.Digest != local.desc.Digest {
			return fmt.Errorf("check %s: the registry answers %s, the local build is %s", ref, got.Digest, local.desc.Digest)
		}
	}
	fmt.Fprintf(out, "pushed %s (%s)\n", byDigest, local.what)
	fmt.Fprintf(out, "tagged %s\n", strings.Join(tags, ", "))
	if o.SBOM == "" {
		return nil
	}
	sbom, err := os.ReadFile(o.SBOM)
	if err != nil {
		return err
	}
	art, err := NewArtifact(SBOMType, "sbom.spdx.json", sbom, local.desc)
	if err != nil {
		return err
	}
	d, err := art.Digest()
	if err != nil {
		return err
	}
	if err := remote.Write(repo.Digest(d.String()), art, opts...); err != nil {
		return fmt.Errorf("attach the SBOM: %w", hint(repo, err))
	}
	fmt.Fprintf(out, "sbom   %s (%s, refers to %s)\n", repo.Digest(d.String()), SBOMType, local.desc.Digest)
	return nil
}

// hint says what to do about a registry that refuses the credentials. The error itself
// names the URL and status only: go-containerregistry never puts credentials in errors.
func hint(repo name.Repository, err error) error {
	var te *transport.Error
	if errors.As(err, &te) && (te.StatusCode == http.StatusUnauthorized || te.StatusCode == http.StatusForbidden) {
		host := repo.RegistryStr()
		return fmt.Errorf("the registry refused the credentials for %s (%w); log in with `docker login %s` "+
			"(read from ~/.docker/config.json or $DOCKER_CONFIG) and check the account may push to %s", host, err, host, repo.RepositoryStr())
	}
	return err
}

// layoutContent is the one index (or image) of a layout.
type layoutContent struct {
	desc     v1.Descriptor
	index    v1.ImageIndex
	image    v1.Image
	taggable remote.Taggable
	what     string
}

func (c layoutContent) write(ref name.Reference, opts []remote.Option) error {
	if c.index != nil {
		return remote.WriteIndex(ref, c.index, opts...)
	}
	return remote.Write(ref, c.image, opts...)
}

func read(dir string) (layoutContent, error) {
	p, err := layout.FromPath(dir)
	if err != nil {
		return layoutContent{}, fmt.Errorf("read layout %s: %w", dir, err)
	}
	top, err := p.ImageIndex()
	if err != nil {
		return layoutContent{}, err
	}
	m, err := top.IndexManifest()
	if err != nil {
		return layoutContent{}, err
	}
	if len(m.Manifests) != 1 {
		return layoutContent{}, fmt.Errorf("layout %s holds %d manifests, want 1", dir, len(m.Manifests))
	}
	c := layoutContent{desc: m.Manifests[0]}
	c.desc.Annotations, c.desc.Platform = nil, nil // the layout's own annotations are not part of a subject
	if c.desc.MediaType.IsIndex() {
		if c.index, err = top.ImageIndex(c.desc.Digest); err != nil {
			return layoutContent{}, err
		}
		im, err := c.index.IndexManifest()
		if err != nil {
			return layoutContent{}, err
		}
		var plats []string
		for _, d := range im.Manifests {
			if d.Platform != nil {
				plats = append(plats, d.Platform.String())
			}
		}
		c.taggable, c.what = c.index, "image index: "+strings.Join(plats, ", ")
		return c, nil
	}
	if c.image, err = top.Image(c.desc.Digest); err != nil {
		return layoutContent{}, err
	}
	c.taggable, c.what = c.image, "image"
	return c, nil
}

// emptyJSON is the OCI empty descriptor's content: the config of an artifact.
var emptyJSON = []byte("{}")

// Artifact is an OCI 1.1 artifact manifest: an empty config, one blob, and a subject.
type Artifact struct {
	manifest []byte
	blob     v1.Layer
	config   v1.Layer
}

// NewArtifact makes the artifact of one blob of mediaType (its artifactType too), titled
// title, that refers to subject. The same inputs give the same digest.
func NewArtifact(mediaType types.MediaType, title string, blob []byte, subject v1.Descriptor) (v1.Image, error) {
	digest := func(b []byte) v1.Hash {
		s := sha256.Sum256(b)
		return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(s[:])}
	}
	m := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		ArtifactType:  string(mediaType),
		Config:        v1.Descriptor{MediaType: types.OCIEmptyJSON, Size: int64(len(emptyJSON)), Digest: digest(emptyJSON), Data: emptyJSON},
		Layers: []v1.Descriptor{{MediaType: mediaType, Size: int64(len(blob)), Digest: digest(blob),
			Annotations: map[string]string{"org.opencontainers.image.title": title}}},
		Subject: &v1.Descriptor{MediaType: subject.MediaType, Size: subject.Size, Digest: subject.Digest},
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	return partial.CompressedToImage(&Artifact{manifest: raw, blob: static.NewLayer(blob, mediaType),
		config: static.NewLayer(emptyJSON, types.OCIEmptyJSON)})
}

// The partial.CompressedImageCore of an artifact.

func (a *Artifact) RawConfigFile() ([]byte, error)      { return emptyJSON, nil }
func (a *Artifact) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }
func (a *Artifact) RawManifest() ([]byte, error)        { return a.manifest, nil }
func (a *Artifact) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	for _, l := range []v1.Layer{a.blob, a.config} {
		if d, err := l.Digest(); err == nil && d == h {
			return l, nil
		}
	}
	return nil, fmt.Errorf("artifact has no blob %s", h)
}
