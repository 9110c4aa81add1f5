package bench

import (
	"debug/dwarf"
	"debug/elf"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Size is what one module contributes to the image.
type Size struct {
	Flash int `json:"flash"` // .text (code, flash tables) + .data initialisers
	RAM   int `json:"ram"`   // .data + .bss + .noinit
}

// ModuleSizes attributes the sized symbols of an AVR ELF image to
// modules. A symbol's module is its compilation unit from the DWARF
// information (crypto/aes.c gives "crypto/aes", the naming of the
// firmware's size report); local symbols without debug information take
// the preceding FILE symbol; anything else (libc, libgcc, assembly
// without debug information) is "other". The figures count symbols only,
// so they can be a little below the map-file figures of the size report
// (alignment padding, unnamed code).
func ModuleSizes(path string) (map[string]Size, error) {
	f, err := elf.Open(path)
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	defer f.Close()
	syms, err := f.Symbols()
	if err != nil {
		return nil, fmt.Errorf("bench: %s: %w", path, err)
	}
	byAddrName := map[string]string{} // name -> module, from DWARF
	if d, err := f.DWARF(); err == nil {
		byAddrName = dwarfModules(d)
	}
	out := map[string]Size{}
	file := ""
	for _, s := range syms {
		typ := elf.ST_TYPE(s.Info)
		if typ == elf.STT_FILE {
			file = moduleOf(s.Name)
			continue
		}
		if s.Size == 0 || int(s.Section) <= 0 || int(s.Section) >= len(f.Sections) {
			continue
		}
		if typ != elf.STT_FUNC && typ != elf.STT_OBJECT {
			continue
		}
		sec := f.Sections[s.Section].Name
		mod, ok := byAddrName[s.Name]
		if !ok {
			if elf.ST_BIND(s.Info) == elf.STB_LOCAL && file != "" {
				mod = file
			} else {
				mod = "other"
			}
		}
		sz := out[mod]
		switch sec {
		case ".text":
			sz.Flash += int(s.Size)
		case ".data":
			sz.Flash += int(s.Size)
			sz.RAM += int(s.Size)
		case ".bss", ".noinit":
			sz.RAM += int(s.Size)
		default:
			continue
		}
		out[mod] = sz
	}
	return out, nil
}

func moduleOf(file string) string {
	file = filepath.ToSlash(file)
	if i := strings.LastIndex(file, "firmware/"); i >= 0 {
		file = file[i+len("firmware/"):]
	}
	return strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(file, ".c"), ".S"), ".s")
}

// dwarfModules maps function and variable names to their compilation
// unit's module name.
func dwarfModules(d *dwarf.Data) map[string]string {
	m := map[string]string{}
	r := d.Reader()
	cu := ""
	for {
		e, err := r.Next()
		if err != nil || e == nil {
			break
		}
		switch e.Tag {
		case dwarf.TagCompileUnit:
			name, _ := e.Val(dwarf.AttrName).(string)
			cu = moduleOf(name)
		case dwarf.TagSubprogram, dwarf.TagVariable:
			name, _ := e.Val(dwarf.AttrName).(string)
			if name == "" || cu == "" {
				continue
			}
			// Only definitions: declarations carry no code or storage.
			if decl, _ := e.Val(dwarf.AttrDeclaration).(bool); decl {
				continue
			}
			if e.Tag == dwarf.TagSubprogram && e.Val(dwarf.AttrLowpc) == nil {
				continue
			}
			if e.Tag == dwarf.TagVariable && e.Val(dwarf.AttrLocation) == nil {
				continue
			}
			if _, dup := m[name]; !dup {
				m[name] = cu
			}
		}
	}
	return m
}

// CryptoTotal sums the crypto/* modules.
func CryptoTotal(sizes map[string]Size) Size {
	var t Size
	names := make([]string, 0, len(sizes))
	for n := range sizes {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if strings.HasPrefix(n, "crypto/") {
			t.Flash += sizes[n].Flash
			t.RAM += sizes[n].RAM
		}
	}
	return t
}

// ImageSizes returns module sizes for the firmware image at elfPath. The
// build writes size-report.json next to the ELF (firmware/tools/
// sizereport.py, from the linker map: exact per-object figures); it is
// used when present and not older than the ELF. Otherwise the sizes come
// from the ELF itself (ModuleSizes). source says which.
func ImageSizes(elfPath string) (sizes map[string]Size, source string, err error) {
	rep := filepath.Join(filepath.Dir(elfPath), "size-report.json")
	if st, err1 := os.Stat(rep); err1 == nil {
		if est, err2 := os.Stat(elfPath); err2 == nil && !st.ModTime().Before(est.ModTime()) {
			if b, err3 := os.ReadFile(rep); err3 == nil {
				var r struct {
					Modules map[string]Size `json:"modules"`
				}
				if json.Unmarshal(b, &r) == nil && len(r.Modules) > 0 {
					return r.Modules, rep, nil
				}
			}
		}
	}
	sizes, err = ModuleSizes(elfPath)
	return sizes, elfPath, err
}
