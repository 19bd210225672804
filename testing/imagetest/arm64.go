package main

import (
	"archive/tar"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/cloudbill/alicloud-billing-source/testing/bssfake"
)

// The connector's path in the image, as the image's entrypoint names it.
const connectorPath = "usr/local/bin/connector"

// Bounds on what is read from the layout: it is the build's output, but a damaged one
// must fail the check, not exhaust the machine.
const (
	maxManifest  = 1 << 20
	maxConnector = 256 << 20
)

// descriptor is an OCI content descriptor, with the platform of an index's entry.
type descriptor struct {
	MediaType string `json:"mediaType"`
	Digest    string `json:"digest"`
	Platform  *struct {
		OS           string `json:"os"`
		Architecture string `json:"architecture"`
	} `json:"platform,omitempty"`
}

// manifest is an OCI index (manifests) or image manifest (layers).
type manifest struct {
	MediaType string       `json:"mediaType"`
	Manifests []descriptor `json:"manifests"`
	Layers    []descriptor `json:"layers"`
}

// arm64 takes the linux/arm64 connector out of the image index and runs it under qemu:
// --version says the image's version, and --once delivers a day from the fake to the sink.
func (c *checker) arm64() error {
	bin := filepath.Join(c.dir, "connector-arm64")
	if err := extractConnector(c.layout, "arm64", bin); err != nil {
		return err
	}
	out, err := exec.Command(c.qemu, bin, "--version").CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s connector --version: %v: %s", c.qemu, err, out)
	}
	if v := strings.TrimSpace(string(out)); !strings.HasPrefix(v, "alicloud-billing-source connector ") || strings.HasSuffix(v, " dev") {
		return fmt.Errorf("--version says %q, want the release's version", v)
	}
	day := c.recentDay(2)
	c.api.SetDay(day.String(), bssfake.SampleDay(day.String(), 40, 13))
	c.sink.Reset()
	cfg, err := c.config(map[string]any{"state_path": filepath.Join(c.dir, "arm64-state.db")})
	if err != nil {
		return err
	}
	cmd := exec.Command(c.qemu, bin, "--config", cfg, "--once", "--date", day.String())
	cmd.Env = []string{"TZ=UTC"} // nothing of the test's environment (STATE_PATH, LISTEN) reaches it
	out, err = cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("--once under qemu: %v:\n%s", err, out)
	}
	if strings.Contains(string(out), secret) {
		return fmt.Errorf("the secret appeared in the output")
	}
	if n := len(c.sink.Events()); n != 40 || !strings.Contains(string(out), `"delivered":40,"failed":0`) {
		return fmt.Errorf("the sink got %d events, want 40:\n%s", n, out)
	}
	return nil
}

// extractConnector writes the connector of the image for linux/arch in the OCI layout to
// dst: index.json, the index (of indexes) down to the platform's manifest, its layers.
func extractConnector(layout, arch, dst string) error {
	var idx manifest
	if err := readJSON(filepath.Join(layout, "index.json"), &idx); err != nil {
		return err
	}
	m, err := findPlatform(layout, idx, arch, 0)
	if err != nil {
		return err
	}
	for i := len(m.Layers) - 1; i >= 0; i-- { // the last layer that has it wins
		ok, err := extractFrom(blobPath(layout, m.Layers[i].Digest), dst)
		if err != nil || ok {
			return err
		}
	}
	return fmt.Errorf("no /%s in the linux/%s image's layers", connectorPath, arch)
}

// findPlatform descends from an index to the image manifest of linux/arch.
func findPlatform(layout string, idx manifest, arch string, depth int) (manifest, error) {
	if depth > 3 {
		return manifest{}, errors.New("indexes nested deeper than 3")
	}
	for _, d := range idx.Manifests {
		var m manifest
		switch {
		case strings.HasSuffix(d.MediaType, ".index.v1+json") || strings.HasSuffix(d.MediaType, ".manifest.list.v2+json"):
			if err := readJSON(blobPath(layout, d.Digest), &m); err != nil {
				return manifest{}, err
			}
			if found, err := findPlatform(layout, m, arch, depth+1); err == nil {
				return found, nil
			}
		case d.Platform != nil && d.Platform.OS == "linux" && d.Platform.Architecture == arch:
			return m, readJSON(blobPath(layout, d.Digest), &m)
		}
	}
	return manifest{}, fmt.Errorf("the index has no linux/%s image", arch)
}

func blobPath(layout, digest string) string {
	algo, hex, _ := strings.Cut(digest, ":")
	return filepath.Join(layout, "blobs", filepath.Base(algo), filepath.Base(hex))
}

func readJSON(path string, v any) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxManifest+1))
	if err != nil {
		return err
	}
	if len(b) > maxManifest {
		return fmt.Errorf("%s: over %d bytes", path, maxManifest)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// extractFrom copies the connector out of one layer (a gzip'd tar, or a plain one) to dst,
// executable; false if the layer does not have it.
func extractFrom(layer, dst string) (bool, error) {
	f, err := os.Open(layer)
	if err != nil {
		return false, err
	}
	defer f.Close()
	var r io.Reader = f
	if zr, err := gzip.NewReader(f); err == nil {
		defer zr.Close()
		r = zr
	} else if _, err := f.Seek(0, io.SeekStart); err != nil {
		return false, err
	}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("layer %s: %w", filepath.Base(layer), err)
		}
		if strings.TrimPrefix(strings.TrimPrefix(h.Name, "./"), "/") != connectorPath || h.Typeflag != tar.TypeReg {
			continue
		}
		if h.Size > maxConnector {
			return false, fmt.Errorf("/%s: %d bytes, over %d", connectorPath, h.Size, maxConnector)
		}
		out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
		if err != nil {
			return false, err
		}
		if _, err := io.Copy(out, tr); err != nil {
			out.Close()
			return false, err
		}
		return true, out.Close()
	}
}
