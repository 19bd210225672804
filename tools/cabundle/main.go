// Command cabundle writes the public root certificates of golang.org/x/crypto/x509roots/fallback
// (Mozilla's NSS roots) as a PEM bundle, for the image's /etc/ssl/certs/ca-certificates.crt.
// The build machine's own bundle is deliberately not used: it may hold local authorities.
package main

import (
	"bufio"
	"encoding/pem"
	"fmt"
	"os"

	"golang.org/x/crypto/x509roots/fallback/bundle"
)

func main() {
	if err := write(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "cabundle:", err)
		os.Exit(1)
	}
}

func write(args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("usage: cabundle OUT.pem")
	}
	f, err := os.Create(args[0])
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	n := 0
	for root := range bundle.Roots() {
		// A root with a constraint (a distrust date) cannot be expressed in PEM: leave it out
		// rather than trust it without the constraint.
		if root.Constraint != nil {
			continue
		}
		if err := pem.Encode(w, &pem.Block{Type: "CERTIFICATE", Bytes: root.Certificate}); err != nil {
			return err
		}
		n++
	}
	if n == 0 {
		return fmt.Errorf("no certificates in the fallback bundle")
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return f.Close()
}
