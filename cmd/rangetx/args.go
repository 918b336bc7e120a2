package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// flags is a flag set that accepts flags before, between and after
// positional arguments, and "--" to end flags.
type flags struct {
	*flag.FlagSet
	root *string
}

func newFlags(name string, withRoot bool) *flags {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	f := &flags{FlagSet: fs}
	if withRoot {
		f.root = fs.String("root", "", "store root directory (default $RANGETX_ROOT)")
	}
	return f
}

// parse returns the positional arguments. Flags may come anywhere; "--"
// ends them. An argument that starts with '-' and a digit is positional (a
// negative OFFSET:FILE), unless it is the value of a flag.
func (f *flags) parse(args []string) ([]string, error) {
	var pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return append(pos, args[i+1:]...), nil
		}
		if len(a) < 2 || a[0] != '-' || (a[1] >= '0' && a[1] <= '9') {
			pos = append(pos, a)
			continue
		}
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		fl := f.Lookup(name)
		if fl == nil {
			return nil, fmt.Errorf("%w: flag provided but not defined: %s", errUsage, a)
		}
		one := []string{a}
		if b, ok := fl.Value.(interface{ IsBoolFlag() bool }); !hasValue && !(ok && b.IsBoolFlag()) {
			if i+1 == len(args) {
				return nil, fmt.Errorf("%w: flag needs an argument: %s", errUsage, a)
			}
			i++
			one = append(one, args[i])
		}
		if err := f.Parse(one); err != nil {
			return nil, fmt.Errorf("%w: %v", errUsage, err)
		}
	}
	return pos, nil
}

// rootDir returns --root or $RANGETX_ROOT.
func (f *flags) rootDir(ev env) (string, error) {
	if r := strings.TrimSpace(*f.root); r != "" {
		return r, nil
	}
	if r := ev.getenv("RANGETX_ROOT"); r != "" {
		return r, nil
	}
	return "", fmt.Errorf("%w: --root DIR (or RANGETX_ROOT) is required", errUsage)
}

// parseRootJSON parses the arguments of a command that takes only --root
// (an existing directory) and --json.
func parseRootJSON(name string, ev env, args []string) (root string, asJSON bool, err error) {
	f := newFlags(name, true)
	j := f.Bool("json", false, "print as JSON")
	pos, err := f.parse(args)
	if err != nil {
		return "", false, err
	}
	if len(pos) != 0 {
		return "", false, fmt.Errorf("%w: unexpected argument %q", errUsage, pos[0])
	}
	if root, err = f.rootDir(ev); err != nil {
		return "", false, err
	}
	return root, *j, isDir(root)
}

// demoRoot returns the directory a demonstration works in: --root, else
// $RANGETX_ROOT, else a new temporary directory that remove deletes (for
// the others remove does nothing).
func (f *flags) demoRoot(ev env, prefix string) (root string, remove func(), err error) {
	if root = strings.TrimSpace(*f.root); root == "" {
		root = ev.getenv("RANGETX_ROOT")
	}
	if root != "" {
		return root, func() {}, nil
	}
	if root, err = os.MkdirTemp("", prefix); err != nil {
		return "", nil, err
	}
	return root, func() { os.RemoveAll(root) }, nil
}
