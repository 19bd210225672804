// Command sbom writes the SPDX 2.3 (JSON) software bill of materials of an OCI image, read
// from the image itself: every Go program in every platform's layers is found by its
// embedded build information (debug/buildinfo, which rules_go fills from the build's own
// module graph: path, version and go.sum checksum of each module linked in), and every file
// the build generated from a Go module's data (the CA bundle) is traced to that module
// through the generator program's build information. Nothing in it is typed by hand.
//
// It is the action behind oci_sbom in //tools/oci:defs.bzl.
//
//	sbom -layout IMAGE_OR_INDEX_LAYOUT -name NAME -version V -namespace URI \
//	     [-generated /path/in/image=GENERATOR_BINARY]... -o sbom.spdx.json
package main

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"debug/buildinfo"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path"
	"regexp"
	"runtime/debug"
	"sort"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
)

// list is a repeatable string flag.
type list []string

func (l *list) String() string     { return strings.Join(*l, ",") }
func (l *list) Set(v string) error { *l = append(*l, v); return nil }

// Options is what one SBOM is made of.
type Options struct {
	Layout    string            // OCI layout holding one image or one image index
	Name      string            // the image's name
	Version   string            // the image's version
	Namespace string            // URI prefix of the document namespace
	Generated map[string]string // path in the image -> the program (with build info) that generated it
}

func main() {
	var generated list
	o := Options{Generated: map[string]string{}}
	flag.StringVar(&o.Layout, "layout", "", "OCI layout of the image or image index")
	flag.StringVar(&o.Name, "name", "", "image name")
	flag.StringVar(&o.Version, "version", "", "image version")
	flag.StringVar(&o.Namespace, "namespace", "", "document namespace prefix (a URI)")
	flag.Var(&generated, "generated", "PATH_IN_IMAGE=GENERATOR: a file the build generated with a Go program (repeatable)")
	out := flag.String("o", "", "write the SPDX JSON here")
	flag.Parse()
	for _, g := range generated {
		p, bin, ok := strings.Cut(g, "=")
		if !ok {
			fmt.Fprintf(os.Stderr, "sbom: -generated %q: want PATH_IN_IMAGE=GENERATOR\n", g)
			os.Exit(2)
		}
		o.Generated[p] = bin
	}
	doc, err := Make(o)
	if err == nil {
		err = os.WriteFile(*out, doc, 0o644)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "sbom:", err)
		os.Exit(1)
	}
}

// SPDX 2.3, the parts used here.
type (
	Document struct {
		SPDXVersion       string         `json:"spdxVersion"`
		DataLicense       string         `json:"dataLicense"`
		SPDXID            string         `json:"SPDXID"`
		Name              string         `json:"name"`
		DocumentNamespace string         `json:"documentNamespace"`
		CreationInfo      CreationInfo   `json:"creationInfo"`
		DocumentDescribes []string       `json:"documentDescribes"`
		Packages          []Package      `json:"packages"`
		Relationships     []Relationship `json:"relationships"`
	}
	CreationInfo struct {
		Created  string   `json:"created"`
		Creators []string `json:"creators"`
	}
	Package struct {
		SPDXID           string        `json:"SPDXID"`
		Name             string        `json:"name"`
		VersionInfo      string        `json:"versionInfo,omitempty"`
		DownloadLocation string        `json:"downloadLocation"`
		FilesAnalyzed    bool          `json:"filesAnalyzed"`
		Purpose          string        `json:"primaryPackagePurpose,omitempty"`
		Checksums        []Checksum    `json:"checksums,omitempty"`
		ExternalRefs     []ExternalRef `json:"externalRefs,omitempty"`
		Comment          string        `json:"comment,omitempty"`
	}
	Checksum struct {
		Algorithm string `json:"algorithm"`
		Value     string `json:"checksumValue"`
	}
	ExternalRef struct {
		Category string `json:"referenceCategory"`
		Type     string `json:"referenceType"`
		Locator  string `json:"referenceLocator"`
	}
	Relationship struct {
		Element string `json:"spdxElementId"`
		Type    string `json:"relationshipType"`
		Related string `json:"relatedSpdxElement"`
	}
)

// goProgram is a Go executable found in an image.
type goProgram struct {
	path   string // in the image
	sha256 string
	info   *debug.BuildInfo
}

// platformImage is one platform's image of the index.
type platformImage struct {
	platform string
	digest   v1.Hash
	programs []goProgram
	files    map[string]bool // regular files of the image
}

// Make returns the SPDX JSON document of the image in o.Layout.
func Make(o Options) ([]byte, error) {
	if o.Name == "" || o.Version == "" || o.Namespace == "" {
		return nil, errors.New("-name, -version and -namespace are required")
	}
	top, images, err := readLayout(o.Layout)
	if err != nil {
		return nil, err
	}
	generators := map[string]*debug.BuildInfo{}
	for p, bin := range o.Generated {
		bi, err := buildinfo.ReadFile(bin)
		if err != nil {
			return nil, fmt.Errorf("generator of %s: %w", p, err)
		}
		generators[path.Clean("/"+p)] = bi
	}

	d := &builder{ids: map[string]bool{}, modules: map[string]string{}}
	root := d.add(Package{
		Name: o.Name, VersionInfo: o.Version, Purpose: "CONTAINER",
		Checksums:    []Checksum{{"SHA256", top.Hex}},
		ExternalRefs: []ExternalRef{purl("pkg:oci/" + o.Name + "@" + strings.ReplaceAll(top.String(), ":", "%3A"))},
		Comment:      "the image index " + top.String(),
	}, "Image")
	d.rel("SPDXRef-DOCUMENT", "DESCRIBES", root)
	for _, img := range images {
		pid := d.add(Package{
			Name: o.Name + " " + img.platform, VersionInfo: o.Version, Purpose: "CONTAINER",
			Checksums: []Checksum{{"SHA256", img.digest.Hex}},
			Comment:   "the " + img.platform + " image " + img.digest.String(),
		}, "Image-"+img.platform)
		d.rel(root, "CONTAINS", pid)
		if len(img.programs) == 0 {
			return nil, fmt.Errorf("the %s image holds no Go program with build information", img.platform)
		}
		for _, prog := range img.programs {
			bid := d.add(Package{
				Name: prog.info.Path, VersionInfo: o.Version, Purpose: "APPLICATION",
				Checksums: []Checksum{{"SHA256", prog.sha256}},
				Comment:   fmt.Sprintf("%s in the %s image, built with %s", prog.path, img.platform, prog.info.GoVersion),
			}, "Program-"+img.platform+"-"+prog.path)
			d.rel(pid, "CONTAINS", bid)
			std, err := d.module(&debug.Module{Path: "stdlib", Version: prog.info.GoVersion}, false)
			if err != nil {
				return nil, err
			}
			d.rel(bid, "STATIC_LINK", std)
			for _, m := range prog.info.Deps {
				id, err := d.module(m, true)
				if err != nil {
					return nil, fmt.Errorf("%s in the %s image: %w", prog.path, img.platform, err)
				}
				d.rel(bid, "STATIC_LINK", id)
			}
		}
		for _, p := range sortedKeys(generators) {
			if !img.files[p] {
				return nil, fmt.Errorf("the %s image has no file %s", img.platform, p)
			}
			for _, m := range generators[p].Deps {
				id, err := d.module(m, true)
				if err != nil {
					return nil, fmt.Errorf("generator of %s: %w", p, err)
				}
				d.rel(pid, "CONTAINS", id)
			}
		}
	}
	doc := Document{
		SPDXVersion: "SPDX-2.3", DataLicense: "CC0-1.0", SPDXID: "SPDXRef-DOCUMENT",
		Name:              o.Name + "-" + o.Version,
		DocumentNamespace: strings.TrimSuffix(o.Namespace, "/") + "/" + o.Name + "-" + o.Version + "-" + top.Hex,
		// The image's own time (reproducible builds): the epoch.
		CreationInfo:      CreationInfo{Created: "1970-01-01T00:00:00Z", Creators: []string{"Tool: " + o.Name + "-sbom (debug/buildinfo of the image's programs)"}},
		DocumentDescribes: []string{root},
		Packages:          d.packages,
		Relationships:     d.rels,
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// builder collects packages and relationships, each once, in a stable order.
type builder struct {
	packages []Package
	rels     []Relationship
	ids      map[string]bool
	relSeen  map[Relationship]bool
	modules  map[string]string // path@version -> SPDXID
}

var notIDChar = regexp.MustCompile(`[^A-Za-z0-9.-]+`)

// add adds p under an SPDXID made of hint and returns the ID.
func (d *builder) add(p Package, hint string) string {
	base := "SPDXRef-" + strings.Trim(notIDChar.ReplaceAllString(hint, "-"), "-")
	id := base
	for n := 2; d.ids[id]; n++ {
		id = fmt.Sprintf("%s-%d", base, n)
	}
	d.ids[id] = true
	p.SPDXID = id
	if p.DownloadLocation == "" {
		p.DownloadLocation = "NOASSERTION"
	}
	d.packages = append(d.packages, p)
	return id
}

func (d *builder) rel(a, typ, b string) {
	r := Relationship{a, typ, b}
	if d.relSeen == nil {
		d.relSeen = map[Relationship]bool{}
	}
	if !d.relSeen[r] {
		d.relSeen[r] = true
		d.rels = append(d.rels, r)
	}
}

// module is the package of a Go module (added on first use). A module must have a version
// and, when needSum, its go.sum checksum: an SBOM without them would not say what was built.
func (d *builder) module(m *debug.Module, needSum bool) (string, error) {
	if m.Replace != nil {
		m = m.Replace
	}
	key := m.Path + "@" + m.Version
	if id, ok := d.modules[key]; ok {
		return id, nil
	}
	if m.Version == "" || m.Version == "(devel)" {
		return "", fmt.Errorf("module %s has no version in the build information", m.Path)
	}
	p := Package{Name: m.Path, VersionInfo: m.Version, Purpose: "LIBRARY",
		ExternalRefs: []ExternalRef{purl("pkg:golang/" + m.Path + "@" + m.Version)}}
	if m.Path == "stdlib" {
		p.Comment = "the Go standard library"
	}
	if needSum {
		h, ok := strings.CutPrefix(m.Sum, "h1:")
		raw, err := base64.StdEncoding.DecodeString(h)
		if !ok || err != nil || len(raw) != sha256.Size {
			return "", fmt.Errorf("module %s@%s has no go.sum checksum (h1:) in the build information: %q", m.Path, m.Version, m.Sum)
		}
		p.Checksums = []Checksum{{"SHA256", hex.EncodeToString(raw)}}
		p.Comment = "go.sum checksum " + m.Sum + " (the SHA256 above is this h1 directory hash in hex)"
	}
	id := d.add(p, "GoModule-"+m.Path+"-"+m.Version)
	d.modules[key] = id
	return id, nil
}

func purl(locator string) ExternalRef {
	return ExternalRef{Category: "PACKAGE-MANAGER", Type: "purl", Locator: locator}
}

// readLayout returns the digest of the layout's one image index (or image) and each
// platform's image with the Go programs in it, in the index's order.
func readLayout(dir string) (v1.Hash, []platformImage, error) {
	p, err := layout.FromPath(dir)
	if err != nil {
		return v1.Hash{}, nil, fmt.Errorf("read layout %s: %w", dir, err)
	}
	top, err := p.ImageIndex()
	if err != nil {
		return v1.Hash{}, nil, err
	}
	m, err := top.IndexManifest()
	if err != nil {
		return v1.Hash{}, nil, err
	}
	if len(m.Manifests) != 1 {
		return v1.Hash{}, nil, fmt.Errorf("layout %s holds %d manifests, want 1", dir, len(m.Manifests))
	}
	desc := m.Manifests[0]
	var images []platformImage
	add := func(img v1.Image, digest v1.Hash) error {
		cf, err := img.ConfigFile()
		if err != nil {
			return err
		}
		plat := cf.Platform()
		if plat == nil {
			return fmt.Errorf("image %s: its config names no platform", digest)
		}
		pi := platformImage{platform: plat.String(), digest: digest, files: map[string]bool{}}
		if err := scan(img, &pi); err != nil {
			return fmt.Errorf("%s image: %w", pi.platform, err)
		}
		images = append(images, pi)
		return nil
	}
	if !desc.MediaType.IsIndex() {
		img, err := top.Image(desc.Digest)
		if err != nil {
			return v1.Hash{}, nil, err
		}
		return desc.Digest, images, add(img, desc.Digest)
	}
	idx, err := top.ImageIndex(desc.Digest)
	if err != nil {
		return v1.Hash{}, nil, err
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return v1.Hash{}, nil, err
	}
	for _, c := range im.Manifests {
		img, err := idx.Image(c.Digest)
		if err != nil {
			return v1.Hash{}, nil, err
		}
		if err := add(img, c.Digest); err != nil {
			return v1.Hash{}, nil, err
		}
	}
	return desc.Digest, images, nil
}

// scan finds the regular files of img and the Go programs among them.
func scan(img v1.Image, pi *platformImage) error {
	layers, err := img.Layers()
	if err != nil {
		return err
	}
	for _, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			return err
		}
		err = scanLayer(rc, pi)
		rc.Close()
		if err != nil {
			return err
		}
	}
	sort.Slice(pi.programs, func(i, j int) bool { return pi.programs[i].path < pi.programs[j].path })
	return nil
}

func scanLayer(r io.Reader, pi *platformImage) error {
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		p := path.Clean("/" + h.Name)
		pi.files[p] = true
		data, err := io.ReadAll(tr)
		if err != nil {
			return err
		}
		bi, err := buildinfo.Read(bytes.NewReader(data))
		if err != nil {
			continue // not a Go program
		}
		sum := sha256.Sum256(data)
		pi.programs = append(pi.programs, goProgram{path: p, sha256: hex.EncodeToString(sum[:]), info: bi})
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
