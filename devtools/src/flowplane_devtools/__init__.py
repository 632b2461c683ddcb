"""Development and test tools for flowplane; not part of the product's wheel or image.

* :mod:`flowplane_devtools.cluster`: a local Kubernetes control plane (``flowplane-cluster``);
* :mod:`flowplane_devtools.kube`: a small toolkit over the official client for tests;
* :mod:`flowplane_devtools.operator_process`: the operator and the runtime as child processes;
* :mod:`flowplane_devtools.sink`: a local HTTP sink standing in for the outside world.
"""
