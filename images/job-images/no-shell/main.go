// The only program of the no-shell test image: it prints one line and exits.
package main

import "fmt"

func main() {
	fmt.Println("sgr-hello: a static binary in an image without a shell")
}
