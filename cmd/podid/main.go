// Command podid turns on Amazon EKS Pod Identity for a workload, end to end.
package main

import (
	"os"

	"github.com/podid/podid/internal/app"
)

func main() { os.Exit(app.Main()) }
