// The pod sandbox's pause process, built by ../../install-tools.sh into the
// local pause image for real test nodes (nothing can be pulled here).
module flotilla.test/envtest/tools/pause

go 1.26.0
