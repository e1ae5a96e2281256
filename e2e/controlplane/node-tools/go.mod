// Small programs the e2e cluster's Nodes need as images, built here because nothing can be
// pulled: pause (the pod sandbox) and volume-helper (local-path-provisioner's helper pod).
// No dependencies.
module omring.local/e2e/node-tools

go 1.25.0
