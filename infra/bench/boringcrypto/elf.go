package main

import (
	"cmp"
	"debug/buildinfo"
	"debug/elf"
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
)

// ELFInfo is one bootstrap's entry in elf.json.
type ELFInfo struct {
	Name   string   `json:"name"`
	Path   string   `json:"path"`
	Bytes  int64    `json:"bytes"`
	Arch   string   `json:"arch"`
	Static bool     `json:"static"` // no interpreter, no shared libraries
	Interp string   `json:"interpreter,omitempty"`
	Needed []string `json:"needed,omitempty"`
	// Glibc counts the imported symbols per GLIBC_x.y version; GlibcMax is the newest.
	Glibc    map[string]int `json:"glibc,omitempty"`
	GlibcMax string         `json:"glibc_max,omitempty"`
	// TooNew lists the symbols that need a glibc newer than the runtime's (-glibc).
	TooNew   []string          `json:"too_new,omitempty"`
	Settings map[string]string `json:"settings"` // go version -m's build settings of interest
}

func runELF(args []string) error {
	fs := flag.NewFlagSet("elf", flag.ExitOnError)
	glibc := fs.String("glibc", "2.34", "the glibc of the Lambda runtime (provided.al2023)")
	dir := fs.String("dir", ".", "where to write elf.json")
	fs.Parse(args)
	var bins namedPaths
	for _, a := range fs.Args() {
		if err := bins.Set(a); err != nil {
			return fmt.Errorf("elf: %q: %w", a, err)
		}
	}
	if len(bins) == 0 {
		return errors.New("elf: name=path arguments required")
	}
	limit, ok := glibcVersion("GLIBC_" + *glibc)
	if !ok {
		return fmt.Errorf("elf: -glibc %q is not a version", *glibc)
	}
	var out []ELFInfo
	for _, b := range bins {
		info, err := inspect(b.Name, b.Path, limit)
		if err != nil {
			return err
		}
		link := "static"
		if !info.Static {
			link = "dynamic, glibc ≥ " + strings.TrimPrefix(info.GlibcMax, "GLIBC_")
		}
		fmt.Fprintf(os.Stderr, "%-28s %10d bytes (%5.2f MiB), %s\n", b.Name, info.Bytes, float64(info.Bytes)/(1<<20), link)
		out = append(out, info)
	}
	return writeJSON(*dir, elfFile, out)
}

func inspect(name, path string, limit [2]int) (ELFInfo, error) {
	info := ELFInfo{Name: name, Path: path, Settings: map[string]string{}}
	fi, err := os.Stat(path)
	if err != nil {
		return info, err
	}
	info.Bytes = fi.Size()
	f, err := elf.Open(path)
	if err != nil {
		return info, err
	}
	defer f.Close()
	info.Arch = f.Machine.String()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			b := make([]byte, p.Filesz)
			if _, err := p.ReadAt(b, 0); err == nil {
				info.Interp = strings.TrimRight(string(b), "\x00")
			}
		}
	}
	info.Needed, _ = f.ImportedLibraries()
	syms, _ := f.ImportedSymbols()
	info.Static = info.Interp == "" && len(info.Needed) == 0
	var newest [2]int
	for _, s := range syms {
		v, ok := glibcVersion(s.Version)
		if !ok {
			continue
		}
		if info.Glibc == nil {
			info.Glibc = map[string]int{}
		}
		info.Glibc[s.Version]++
		if cmpVersion(v, newest) > 0 {
			newest, info.GlibcMax = v, s.Version
		}
		if cmpVersion(v, limit) > 0 {
			info.TooNew = append(info.TooNew, s.Name+"@"+s.Version)
		}
	}
	slices.Sort(info.TooNew)
	if bi, err := buildinfo.ReadFile(path); err == nil {
		info.Settings["go"] = bi.GoVersion
		for _, s := range bi.Settings {
			switch s.Key {
			case "CGO_ENABLED", "GOEXPERIMENT", "-tags", "-ldflags", "GOARCH":
				info.Settings[s.Key] = s.Value
			}
		}
	}
	return info, nil
}

// glibcVersion parses "GLIBC_2.34" (GLIBC_PRIVATE and the like are not versions).
func glibcVersion(s string) ([2]int, bool) {
	v, ok := strings.CutPrefix(s, "GLIBC_")
	if !ok {
		return [2]int{}, false
	}
	major, minor, _ := strings.Cut(v, ".")
	minor, _, _ = strings.Cut(minor, ".")
	a, err1 := strconv.Atoi(major)
	b, err2 := strconv.Atoi(minor)
	if err1 != nil || err2 != nil {
		return [2]int{}, false
	}
	return [2]int{a, b}, true
}

func cmpVersion(a, b [2]int) int {
	if c := cmp.Compare(a[0], b[0]); c != 0 {
		return c
	}
	return cmp.Compare(a[1], b[1])
}
