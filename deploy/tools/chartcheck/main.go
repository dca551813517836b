// chartcheck lints and renders one local Helm chart, as `helm lint --strict` and `helm template`
// do, with Helm's own packages (chart loader, linter, template engine, manifest sorter) and
// without the rest of the helm CLI (registries, plugins, cluster clients): it builds from the Go
// module proxy in a fraction of helm's build time.
//
//	chartcheck lint CHART_DIR NAMESPACE [VALUES_FILE...]
//	chartcheck template CHART_DIR RELEASE NAMESPACE [VALUES_FILE...]
//
// Later values files win, key by key, as with helm's --values.
package main

import (
	"fmt"
	"os"
	"strings"

	"helm.sh/helm/v4/pkg/chart/common"
	commonutil "helm.sh/helm/v4/pkg/chart/common/util"
	"helm.sh/helm/v4/pkg/chart/v2/lint"
	"helm.sh/helm/v4/pkg/chart/v2/lint/support"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/engine"
	releaseutil "helm.sh/helm/v4/pkg/release/v1/util"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "chartcheck: %v\n", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) >= 3 && args[0] == "lint" {
		return lintChart(args[1], args[2], args[3:])
	}
	if len(args) >= 4 && args[0] == "template" {
		return renderChart(args[1], args[2], args[3], args[4:])
	}
	return fmt.Errorf("usage: chartcheck lint CHART NAMESPACE [VALUES...] | template CHART RELEASE NAMESPACE [VALUES...]")
}

// readValues merges the files in order, later keys winning (nested maps merged).
func readValues(files []string) (map[string]any, error) {
	merged := map[string]any{}
	for _, file := range files {
		values, err := common.ReadValuesFile(file)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		merged = mergeMaps(merged, values)
	}
	return merged, nil
}

func mergeMaps(a, b map[string]any) map[string]any {
	out := make(map[string]any, len(a))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		if inner, ok := v.(map[string]any); ok {
			if existing, ok := out[k].(map[string]any); ok {
				out[k] = mergeMaps(existing, inner)
				continue
			}
		}
		out[k] = v
	}
	return out
}

// lintChart fails on a warning or an error, as `helm lint --strict`.
func lintChart(dir, namespace string, files []string) error {
	values, err := readValues(files)
	if err != nil {
		return err
	}
	result := lint.RunAll(dir, values, namespace)
	failed := false
	for _, message := range result.Messages {
		fmt.Println(message.Error())
		if message.Severity >= support.WarningSev {
			failed = true
		}
	}
	if failed {
		return fmt.Errorf("lint: %s has warnings or errors (above)", dir)
	}
	fmt.Printf("lint: %s: %d chart(s) linted, 0 chart(s) failed\n", dir, 1)
	return nil
}

// renderChart prints the manifests, then the hooks, in install order, as `helm template` does.
func renderChart(dir, release, namespace string, files []string) error {
	chart, err := loader.Load(dir)
	if err != nil {
		return err
	}
	values, err := readValues(files)
	if err != nil {
		return err
	}
	caps := common.DefaultCapabilities
	options := common.ReleaseOptions{Name: release, Namespace: namespace, Revision: 1, IsInstall: true}
	renderValues, err := commonutil.ToRenderValues(chart, values, options, caps)
	if err != nil {
		return err
	}
	rendered, err := engine.Render(chart, renderValues)
	if err != nil {
		return err
	}
	for name := range rendered {
		if strings.HasSuffix(name, "NOTES.txt") {
			delete(rendered, name)
		}
	}
	hooks, manifests, err := releaseutil.SortManifests(rendered, caps.APIVersions, releaseutil.InstallOrder)
	if err != nil {
		return err
	}
	var out strings.Builder
	for _, manifest := range manifests {
		fmt.Fprintf(&out, "---\n# Source: %s\n%s\n", manifest.Name, manifest.Content)
	}
	for _, hook := range hooks {
		fmt.Fprintf(&out, "---\n# Source: %s\n%s\n", hook.Path, hook.Manifest)
	}
	_, err = os.Stdout.WriteString(out.String())
	return err
}
