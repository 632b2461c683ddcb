// Command flowplane-controlplane is a multi-call binary that runs the pieces of
// a Kubernetes control plane needed by flowplane's tests and local demo:
// an embedded etcd, kube-apiserver, kube-controller-manager and kubectl, all of
// one Kubernetes release. It is built from the official Go modules because no
// container engine (and so no kind) is available on the machines that run CI.
//
// Usage: flowplane-controlplane <etcd|apiserver|controller-manager|kubectl> [flags]
// or invoke it through a symlink named after the component.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"go.etcd.io/etcd/server/v3/etcdmain"
	"k8s.io/component-base/cli"
	kubectlcmd "k8s.io/kubectl/pkg/cmd"
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
)

const usage = "usage: flowplane-controlplane <etcd|apiserver|controller-manager|kubectl> [flags]"

func main() {
	component, args := splitInvocation(os.Args)
	switch component {
	case "etcd":
		etcdmain.Main(append([]string{"etcd"}, args...))
	case "apiserver", "kube-apiserver":
		cmd := apiserver.NewAPIServerCommand()
		cmd.SetArgs(args)
		os.Exit(cli.Run(cmd))
	case "controller-manager", "kube-controller-manager":
		cmd := controllermanager.NewControllerManagerCommand()
		cmd.SetArgs(args)
		os.Exit(cli.Run(cmd))
	case "kubectl":
		cmd := kubectlcmd.NewDefaultKubectlCommand()
		cmd.SetArgs(args)
		if err := cli.RunNoErrOutput(cmd); err != nil {
			os.Exit(1)
		}
	default:
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
}

// splitInvocation picks the component from a symlink name (busybox style) or
// from the first argument.
func splitInvocation(argv []string) (string, []string) {
	base := strings.TrimSuffix(filepath.Base(argv[0]), ".exe")
	switch base {
	case "etcd", "kube-apiserver", "kube-controller-manager", "kubectl":
		return base, argv[1:]
	}
	if len(argv) < 2 {
		return "", nil
	}
	return argv[1], argv[2:]
}
