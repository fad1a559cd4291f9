package main

// Layered settings of the long-running control-plane processes (`dc2dc
// master`, `dc2dc worker`): a JSON file (--config) whose keys are the flag
// names, then environment variables DC2DC_<FLAG> (dots and dashes become
// underscores, upper case), then the command line. Flags override the
// environment, which overrides the file.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/pflag"
)

// envName is the environment variable of a flag: cluster.jwt-secret →
// DC2DC_CLUSTER_JWT_SECRET.
func envName(flag string) string {
	return "DC2DC_" + strings.ToUpper(strings.NewReplacer(".", "_", "-", "_").Replace(flag))
}

// settingName names a setting in every form an operator may have used.
func settingName(flag string) string {
	return fmt.Sprintf("--%s (env %s, config key %q)", flag, envName(flag), flag)
}

// layerSettings fills every flag not given on the command line from the
// environment, then from the JSON file. It reports every problem at once.
// skip lists flags that are not settings (e.g. config itself).
func layerSettings(fs *pflag.FlagSet, configFile string, skip ...string) error {
	var errs []error
	cmdline := map[string]bool{}
	fs.Visit(func(f *pflag.Flag) { cmdline[f.Name] = true })
	skipped := map[string]bool{}
	for _, s := range skip {
		skipped[s] = true
	}
	fromEnv := map[string]bool{}
	fs.VisitAll(func(f *pflag.Flag) {
		if cmdline[f.Name] || skipped[f.Name] {
			return
		}
		if v, ok := os.LookupEnv(envName(f.Name)); ok {
			if err := fs.Set(f.Name, v); err != nil {
				errs = append(errs, fmt.Errorf("%s: %q: %w", settingName(f.Name), v, err))
			}
			fromEnv[f.Name] = true
		}
	})
	if configFile != "" {
		errs = append(errs, layerFile(fs, configFile, func(name string) bool {
			return cmdline[name] || fromEnv[name] || skipped[name]
		})...)
	}
	return errors.Join(errs...)
}

func layerFile(fs *pflag.FlagSet, path string, given func(string) bool) []error {
	b, err := os.ReadFile(path)
	if err != nil {
		return []error{fmt.Errorf("--config %s: %w: give a readable JSON file", path, err)}
	}
	var m map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		return []error{fmt.Errorf("--config %s: not a JSON object: %w: write {\"flag-name\": value, ...}", path, err)}
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var errs []error
	for _, k := range keys {
		f := fs.Lookup(k)
		if f == nil || k == "config" {
			errs = append(errs, fmt.Errorf("--config %s: unknown setting %q: use the name of a flag of this command (see --help)", path, k))
			continue
		}
		if given(k) {
			continue
		}
		v, err := rawToFlag(m[k])
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", settingName(k), err))
			continue
		}
		if err := fs.Set(k, v); err != nil {
			errs = append(errs, fmt.Errorf("%s: %q: %w", settingName(k), v, err))
		}
	}
	return errs
}

// rawToFlag turns a JSON value into a flag's string form: strings, numbers,
// booleans, and arrays of them (joined by commas).
func rawToFlag(raw json.RawMessage) (string, error) {
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return "", err
	}
	scalar := func(x any) (string, error) {
		switch x := x.(type) {
		case string:
			return x, nil
		case json.Number:
			return x.String(), nil
		case bool:
			return strconv.FormatBool(x), nil
		}
		return "", fmt.Errorf("value %s: use a string, a number, a boolean or an array of them", raw)
	}
	if arr, ok := v.([]any); ok {
		parts := make([]string, 0, len(arr))
		for _, x := range arr {
			s, err := scalar(x)
			if err != nil {
				return "", err
			}
			parts = append(parts, s)
		}
		return strings.Join(parts, ","), nil
	}
	return scalar(v)
}
