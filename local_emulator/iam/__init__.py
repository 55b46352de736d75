"""Identities and permissions in the local cloud, as Google Cloud enforces them.

Each function runs as the service account infra/ creates for it, and reaches Cloud Storage and
BigQuery only through its own small reverse proxy (`proxy`), which works out the IAM permissions
Google checks for each REST call (`calls`, `sql`), allows the call only when the roles infra/iam.tf
grants that account (`grants`, expanded by `roles`) hold the permission on that resource or one
above it, and otherwise answers 403 with the API's own error body, so the client raises
`Forbidden` exactly as in the cloud. What each account used, and was refused, is kept (`usage`)
for `cloudscore local permissions`.

People using the CLI act as a project owner, as they would: they reach the emulators directly.
"""
