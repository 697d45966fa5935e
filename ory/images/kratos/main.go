// Command kratos is Ory Kratos built from the Go module proxy; it runs the
// upstream command tree exactly as upstream's main package does.
package main

import (
	"os"

	"github.com/ory/kratos/cmd"
)

func main() {
	os.Exit(cmd.Execute())
}
