"""The `cloudscore` command and the tooling around the functions: the CLI, the demo and its
data, and the packaging of the deployed archive. None of it is deployed: the functions run
`functions/` and `shared/` only."""
