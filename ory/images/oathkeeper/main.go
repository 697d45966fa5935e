// Command oathkeeper is Ory Oathkeeper built from the Go module proxy; it
// runs the upstream command tree exactly as upstream's main package does.
package main

import "github.com/ory/oathkeeper/cmd"

func main() {
	cmd.Execute()
}
