// Command hydra is Ory Hydra built from the Go module proxy; it runs the
// upstream command tree exactly as upstream's main package does.
package main

import (
	"github.com/ory/x/profilex"

	"github.com/ory/hydra/v2/cmd"
)

func main() {
	defer profilex.Profile().Stop()

	cmd.Execute()
}
