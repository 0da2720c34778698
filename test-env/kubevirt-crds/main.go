// Command kubevirt-crds writes KubeVirt's VirtualMachineInstance CRD, as KubeVirt's own operator
// generates it (kubevirt.io/kubevirt/pkg/virt-operator/resource/generate/components), into the
// directory given, for the e2e tests' API server.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"kubevirt.io/kubevirt/pkg/virt-operator/resource/generate/components"
	"sigs.k8s.io/yaml"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: kubevirt-crds <directory>")
		os.Exit(2)
	}
	crd, err := components.NewVirtualMachineInstanceCrd()
	if err != nil {
		fmt.Fprintln(os.Stderr, "kubevirt-crds: generating the VirtualMachineInstance CRD:", err)
		os.Exit(1)
	}
	out, err := yaml.Marshal(crd)
	if err != nil {
		fmt.Fprintln(os.Stderr, "kubevirt-crds:", err)
		os.Exit(1)
	}
	file := filepath.Join(os.Args[1], crd.Name+".yaml")
	if err := os.WriteFile(file, out, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "kubevirt-crds:", err)
		os.Exit(1)
	}
}
