// Command connector is the AliCloud Billing Source: see `connector --help`.
package main

import (
	"os"
	_ "time/tzdata" // pull_zone works in images without /usr/share/zoneinfo (scratch)

	"github.com/cloudbill/alicloud-billing-source/connector/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], cli.IO{Stdout: os.Stdout, Stderr: os.Stderr}))
}
